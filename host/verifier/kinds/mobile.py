"""OpenDSC Mobile, the phone's soft token (docs/mobile.md): the same OCRA suite
and check as the hardware token, with the PIN as an input of the response; it
ranks below the token and above the cards and the temporary passcode."""

import secrets

from host.verifier.kinds.base import ACTIVATION, SHARE, register
from host.verifier.kinds.token import Token

# The number a login page shows and the phone's user picks: two digits. (Here,
# not in host/verifier/mobile.py, which needs the server extra's cryptography.)
NUMBER_MIN, NUMBER_MAX = 10, 99


def new_number():
    return NUMBER_MIN + secrets.randbelow(NUMBER_MAX - NUMBER_MIN + 1)


@register
class MobileApp(Token):
    name = "mobile"
    level = 35
    serial_prefix = "MA-"
    # active from its activation, and its PIN is the app user's (a PIN change is
    # answered with the new PIN, as on the token); a phone is not shared
    purposes = Token.purposes - {ACTIVATION, SHARE}
    withdrawal_limits = (200000, 600000)  # the seeds' limits for the mobile app: a day, five business days
    prompt = "Open OpenDSC Mobile, enter your PIN and this challenge, and type the response"
    signing_prompt = ("Open OpenDSC Mobile and check the amount and destination it shows; offline, enter your PIN, "
                      "this challenge, the amount and the destination digits, and type the signature")

    def number_to_match(self):
        return new_number()
