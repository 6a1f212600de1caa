"""What an ID token says about the login: the level (acr) and methods (amr, RFC
8176) of the device kind the portal session was opened with (docs/oidc.md).

Levels are ordered: a code card or temporary passcode (otp) < OpenDSC Mobile
(phone) < the keypad token (token)."""

from host.verifier.kinds import MOBILE, TOKEN

OTP, PHONE, HARDWARE = "urn:opendsc:acr:otp", "urn:opendsc:acr:phone", "urn:opendsc:acr:token"
LEVELS = (OTP, PHONE, HARDWARE)  # lowest first
_BY_KIND = {TOKEN: (HARDWARE, ["pwd", "hwk", "mfa"]), MOBILE: (PHONE, ["pwd", "swk", "mfa"])}
_OTHER = (OTP, ["pwd", "otp", "mfa"])  # code cards, online cards, temporary passcodes


def of_kind(kind):
    """(acr, amr) of a login with a device of `kind`."""
    acr, amr = _BY_KIND.get(kind, _OTHER)
    return acr, list(amr)


def rank(acr):
    return LEVELS.index(acr)


def check(level):
    """A level as given by an operator, or ValueError."""
    if level not in LEVELS:
        raise ValueError("the level must be one of %s" % ", ".join(LEVELS))
    return level


def requested(acr_values):
    """The least level an `acr_values` parameter asks for: the lowest known value it
    names (the request is met by any of them), or None when it names none we know."""
    known = [v for v in (acr_values or "").split() if v in LEVELS]
    return min(known, key=rank) if known else None


def needed(client_level, acr_values):
    """The level a login must have for this request: the client's least level, raised
    by acr_values."""
    asked = requested(acr_values)
    return client_level if asked is None or rank(asked) < rank(client_level) else asked


def enough(acr, level):
    return acr in LEVELS and rank(acr) >= rank(level)
