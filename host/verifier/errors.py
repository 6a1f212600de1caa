"""The verifier's refusals: one line for people, a code for programs."""


class VerifierError(Exception):
    """A refusal to report as one line; `code` is for programs."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
