"""The temporary passcode for a misplaced token: full access for a while, then
only the issue of an online code card."""

import hmac

from host.verifier.errors import VerifierError
from host.verifier.kinds.base import CARD, DeviceKind, register

# No 0/O or 1/I: passcodes are read aloud and typed by people.
PASSCODE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PASSCODE_LENGTH = 10


@register
class TemporaryPasscode(DeviceKind):
    name = "temp-passcode"
    level = 30
    temporary = True
    serial_prefix = "TP-"
    prompt = "Type your temporary passcode"
    response_hint = "type the passcode's letters and digits only, without spaces"

    def normalize(self, response):
        response = response.upper() if isinstance(response, str) else ""
        if not 0 < len(response) <= 32 or not all(c in PASSCODE_CHARS for c in response):
            raise VerifierError("bad-response", self.response_hint)
        return response

    def check(self, device, secret, challenge, response, now, verifier, pin_hash=None, signed=None):
        return {} if hmac.compare_digest(secret, response.encode()) else None

    def may_confirm(self, purpose, device, now, policy):
        if now >= device.activated_at + policy.temp_full_access:
            return purpose == CARD  # after full access ends it only gets the user an online card
        return purpose in self.purposes
