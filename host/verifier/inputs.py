"""What the verifier accepts from outside, each rule once: user names, PINs,
amounts, identity data, serials. A refusal is a VerifierError, one line that
never echoes a secret."""

import re

from dsc import signing
from dsc.config import check_pin

from host.verifier.errors import VerifierError

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
SERIAL = re.compile(r"[A-Za-z0-9-]{1,64}")
# Whole currency units. The upper bound keeps every sum of a week's withdrawals
# far inside a 64-bit column and a float's exact range.
MAX_AMOUNT = 999_999_999_999
ROLES = ("user", "helpdesk")  # helpdesk: staff of the portal's help-desk console
IDENTITY = ("birth_date", "citizenship", "residence", "id_type", "id_number")
_BIRTH_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Printable text without control characters or markup-significant characters.
_IDENTITY_TEXT = re.compile(r"[^\x00-\x1f\x7f<>\"'`\\]{1,64}")


def ascii_digits(text):
    """True for a non-empty string of the ASCII digits 0-9 only (str.isdigit also takes ١٢٣)."""
    return isinstance(text, str) and text != "" and all("0" <= c <= "9" for c in text)


def username(name):
    name = (name or "").strip().lower() if isinstance(name, str) else ""
    if not USERNAME.fullmatch(name):
        raise VerifierError("bad-username", "a user name is 1-64 of a-z 0-9 . _ - (starting with a letter or digit)")
    return name


def serial(text):
    if not isinstance(text, str) or not SERIAL.fullmatch(text):
        raise VerifierError("bad-serial", "a serial is 1-64 of A-Z a-z 0-9 -")
    return text


ORIGIN_MAX = 128


def origin(text):
    """Where a login comes from, as the service describes it ("203.0.113.5, portal"):
    printable text a phone shows its user, at most ORIGIN_MAX characters."""
    if not isinstance(text, str) or not 0 < len(text) <= ORIGIN_MAX or not text.isprintable():
        raise VerifierError("bad-origin", "an origin is 1-%d printable characters" % ORIGIN_MAX)
    return text


def pin(text, what="the PIN"):
    """A PIN the token's keypad can enter (the token's own rule)."""
    try:
        return check_pin(text if isinstance(text, str) else "")
    except ValueError as e:
        raise VerifierError("bad-pin", "%s: %s" % (what, e))


def amount_text(text):
    """An amount as a person types it: ASCII digits only (not ١٢٣), then amount()."""
    if not ascii_digits(text) or len(text) > 15:
        raise VerifierError("bad-amount", "an amount is a whole number from 1 to %d, in digits 0-9" % MAX_AMOUNT)
    return amount(int(text))


def amount(value):
    """A withdrawal amount: an int from 1 to MAX_AMOUNT."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_AMOUNT:
        raise VerifierError("bad-amount", "an amount is a whole number from 1 to %d" % MAX_AMOUNT)
    return value


DESTINATION_MAX = 64


def destination(text, digits=None):
    """A withdrawal's destination: (the account as the bank shows it, 1-DESTINATION_MAX
    printable characters, "Mizuho Bank 1234567"; the digits the user keys on a signing
    device, 1-8 ASCII digits). Without `digits`, the text's last 8 digits
    (signing.destination_digits says how many are keyed)."""
    if not isinstance(text, str) or not text.isprintable() or not text.strip():
        raise VerifierError("bad-destination", "a destination is the account as your bank shows it: 1-%d printable "
                                               "characters" % DESTINATION_MAX)
    text = " ".join(text.split())  # one space between words, none at the ends
    if len(text) > DESTINATION_MAX:
        raise VerifierError("bad-destination", "a destination has at most %d characters" % DESTINATION_MAX)
    if digits is None:
        digits = "".join(c for c in text if "0" <= c <= "9")[-signing.DESTINATION_DIGITS:]
        if not digits:
            raise VerifierError("bad-destination", "a destination without digits needs the digits to key "
                                                   "(destination_digits)")
    try:
        return text, signing.destination_digits(digits)
    except ValueError:
        raise VerifierError("bad-destination", "the destination's digits to key are 1 to %d digits 0-9"
                                               % signing.DESTINATION_DIGITS)


def identity(fields):
    """Identity data as stored: birth date as YYYY-MM-DD, the rest printable text of 1-64
    characters; empty means unknown. Returns the cleaned fields."""
    out = {}
    for name in IDENTITY:
        value = fields.get(name) or ""
        if not isinstance(value, str):
            raise VerifierError("bad-identity", "%s must be text" % name.replace("_", " "))
        value = " ".join(value.split())  # one space between words, none at the ends
        if value and name == "birth_date":
            import datetime

            try:
                ok = bool(_BIRTH_DATE.fullmatch(value)) and datetime.date.fromisoformat(value) <= datetime.date.today()
            except ValueError:
                ok = False
            if not ok:
                raise VerifierError("bad-identity", "birth date must be a past date written YYYY-MM-DD")
        elif value and not _IDENTITY_TEXT.fullmatch(value):
            raise VerifierError("bad-identity", "%s must be 1-64 printable characters without < > \" ' ` \\"
                                % name.replace("_", " "))
        out[name] = value
    return out


def password(text):
    if not isinstance(text, str) or not 8 <= len(text) <= 1024:
        raise VerifierError("weak-password", "a password has 8 to 1024 characters")
    return text


def role(value):
    if value not in ROLES:
        raise VerifierError("bad-role", "a user's role is one of " + ", ".join(ROLES))
    return value
