"""OATH OCRA challenge-response (RFC 6287), portable to MicroPython: the suite's
parser, which a token needs at boot; the computation is in dsc.ocra_compute.

    suite = Suite("OCRA-1:HOTP-SHA256-8:QN06-PSHA1")   # parse once
    suite.response(key, "123456", pin="1234")          # -> "8 digits"
"""

_DIGITS = "0123456789"
_STEP_LIMITS = {"S": (1, 59, 1), "M": (1, 59, 60), "H": (1, 48, 3600)}


def _number(text, low, high, what):
    if not text or len(text) > 3 or any(c not in _DIGITS for c in text):
        raise ValueError("bad " + what + " in suite")
    n = int(text)
    if n < low or n > high:
        raise ValueError(what + " out of range in suite")
    return n


class Suite:
    """A parsed OCRA suite: 'OCRA-1:HOTP-<hash>-<digits>:<data input>'.

    Attributes: text, hash_name, digits, counter (bool), question_format
    ('N', 'A' or 'H'), question_length, pin_hash (hash name or None),
    session_length (bytes, 0 if none), time_step (seconds, 0 if none).
    """

    def __init__(self, text):
        if not isinstance(text, str):
            raise ValueError("suite must be text")
        parts = text.split(":")
        if len(parts) != 3 or parts[0] != "OCRA-1":
            raise ValueError("suite must look like OCRA-1:HOTP-SHA1-6:QN08")
        func = parts[1].split("-")
        if len(func) != 3 or func[0] != "HOTP" or func[1] not in ("SHA1", "SHA256", "SHA512"):
            raise ValueError("crypto function must be HOTP-SHA1, HOTP-SHA256 or HOTP-SHA512")
        self.text = text
        self.hash_name = func[1].lower()
        self.digits = _number(func[2], 4, 10, "digits")
        self.counter = False
        self.question_format = None
        self.question_length = 0
        self.pin_hash = None
        self.session_length = 0
        self.time_step = 0
        self._parse_inputs(parts[2].split("-"))
        self._prefix = text.encode() + b"\x00"

    def _parse_inputs(self, items):
        i = 0
        if items[i] == "C":
            self.counter = True
            i += 1
        if i >= len(items) or len(items[i]) != 4 or items[i][0] != "Q" or items[i][1] not in "NAH":
            raise ValueError("suite needs a question QN, QA or QH with 2 digits")
        self.question_format = items[i][1]
        self.question_length = _number(items[i][2:], 4, 64, "question length")
        i += 1
        if i < len(items) and items[i][:1] == "P":
            name = items[i][1:]
            if name not in ("SHA1", "SHA256", "SHA512"):
                raise ValueError("PIN hash must be PSHA1, PSHA256 or PSHA512")
            self.pin_hash = name.lower()
            i += 1
        if i < len(items) and items[i][:1] == "S":
            self.session_length = _number(items[i][1:], 1, 512, "session length")
            if len(items[i]) != 4:
                raise ValueError("session length must have 3 digits, as S064")
            i += 1
        if i < len(items) and items[i][:1] == "T" and len(items[i]) >= 3:
            unit = items[i][-1]
            if unit not in _STEP_LIMITS:
                raise ValueError("time step unit must be S, M or H")
            low, high, scale = _STEP_LIMITS[unit]
            self.time_step = _number(items[i][1:-1], low, high, "time step") * scale
            i += 1
        if i != len(items):
            raise ValueError("unexpected '" + items[i] + "' in suite data input")

    def __repr__(self):
        return "Suite(" + repr(self.text) + ")"

    def response(self, key, question, counter=None, pin=None, pin_hash=None, session=None, timestamp=None):
        """The OCRA response for `key` (bytes) and the inputs the suite declares."""
        from dsc import ocra_compute  # not loaded at boot (its module says when)

        return ocra_compute.response(self, key, question, counter, pin, pin_hash, session, timestamp)

    def verify(self, key, question, response, counter=None, pin=None, pin_hash=None, session=None, timestamp=None):
        """True when `response` matches, compared in constant time."""
        from dsc import ocra_compute

        return ocra_compute.verify(self, key, question, response, counter, pin, pin_hash, session, timestamp)

    def timestamp(self, epoch_seconds):
        """Time steps since the epoch for this suite's T input."""
        return int(epoch_seconds) // self.time_step if self.time_step else None


DEFAULT_SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
