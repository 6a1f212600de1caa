"""What every kind of device shares: a level, the purposes it may confirm, the
challenge it shows, the response it takes, and its withdrawal limits.

A kind is one class registered by name (`@register`); the challenge and
policy code asks the kind and never branches on its name.
"""

from host.verifier.errors import VerifierError

# What a challenge can be for.
LOGIN, ACTIVATION, PIN_CHANGE, SHARE, WITHDRAWAL, CARD = (
    "login", "activation", "pin-change", "share", "withdrawal", "card")
PURPOSES = (LOGIN, ACTIVATION, PIN_CHANGE, SHARE, WITHDRAWAL, CARD)

KINDS = {}


def register(cls):
    """Class decorator: make a kind known by its name."""
    KINDS[cls.name] = cls()
    return cls


def kind(name):
    try:
        return KINDS[name]
    except KeyError:
        raise VerifierError("bad-kind", "unknown device kind %r" % (name,))


class DeviceKind:
    name = ""
    level = 0               # the default device is the highest-level active one
    temporary = False       # ends when the permanent token is (re)activated
    serial_prefix = ""      # serials the verifier makes up for this kind
    purposes = frozenset(PURPOSES) - {ACTIVATION, PIN_CHANGE, SHARE}
    withdrawal_limits = (200000, 600000)  # per day, per five business days; None: no limit
    prompt = ""             # the line a login screen shows for this kind
    signing_prompt = ""     # the line for a withdrawal it signs (when `signs`)
    # A signing device answers a withdrawal over its amount and destination
    # (docs/protocol.md, "Signing"); the others confirm only withdrawals up to
    # Policy.unsigned_withdrawal_limit.
    signs = False
    response_hint = "type the response's digits only, without spaces"

    def challenge(self, device, verifier, signing_challenge=False):
        """The text the login screen shows (may be empty); a signing device's for a
        withdrawal is signing.CHALLENGE_DIGITS digits."""
        return ""

    def normalize(self, response):
        """The response as compared, or VerifierError before anything changes."""
        if not isinstance(response, str) or not 0 < len(response) <= 16 or not all("0" <= c <= "9" for c in response):
            raise VerifierError("bad-response", self.response_hint)
        return response

    def check(self, device, secret, challenge, response, now, verifier, pin_hash=None, signed=None):
        """The device changes a match implies ({} or e.g. a new counter), or None.
        `signed`: (amount, destination digits) a signing device's response must be a
        signature over; None for any other challenge."""
        raise NotImplementedError

    def may_confirm(self, purpose, device, now, policy):
        """Whether an active device of this kind may answer a challenge for `purpose`."""
        return purpose in self.purposes

    def number_to_match(self):
        """The number a login page shows for the device to match (a phone's approval), or None."""
        return None

    def describe(self, device):
        return "%s:%s" % (self.name, device.serial)
