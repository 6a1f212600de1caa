"""The numbers a deployment may change, and the one place that checks them.

A policy file (DSC_POLICY_FILE) is JSON: any field below, times in seconds, and
"withdrawal_limits": {"kind": [per_day, per_five_business_days] or null}. A file
with any wrong field is refused whole, in one line.
"""

import json
import math

from host.verifier import cards
from host.verifier.errors import VerifierError
from host.verifier.inputs import MAX_AMOUNT
from host.verifier.kinds import KINDS

DAY = 86400.0
YEAR = 366 * DAY

# name: (default, type, lowest, highest). "int" takes whole numbers only,
# "seconds" any finite number; booleans are neither.
FIELDS = {
    "challenge_ttl": (120, "seconds", 1, DAY),
    # responses one challenge takes: a typo need not restart the login; each wrong
    # one is a failed login (lockout_failures), and 1 ends it at the first attempt
    "challenge_tries": (3, "int", 1, 10),
    "lockout_failures": (10, "int", 1, 1000),
    "lockout_window": (DAY, "seconds", 1, YEAR),
    "lockout_duration": (DAY, "seconds", 1, YEAR),
    "activation_delay": (14 * DAY, "seconds", 0, YEAR),
    "counter_window": (10, "int", 0, 1000),
    "time_window": (1, "int", 0, 100),
    "temp_full_access": (2 * DAY, "seconds", 1, YEAR),
    "temp_card_only": (10 * DAY, "seconds", 0, YEAR),
    "online_card_validity": (21 * DAY, "seconds", 1, 10 * YEAR),
    "card_size": (cards.SIZE, "int", 10, cards.MAX_SIZE),
    # the largest withdrawal a device that cannot sign it (a code card, a temporary
    # passcode) confirms, within its kind's withdrawal_limits; 0: it confirms none
    "unsigned_withdrawal_limit": (0, "int", 0, MAX_AMOUNT),
    # attempts per throttle_window on the password and response endpoints of
    # `dsc serve`, per client address and per user name (throttle.py); 0 = no limit
    "throttle_per_address": (30, "int", 0, 1000000),
    "throttle_per_user": (10, "int", 0, 1000000),
    "throttle_window": (60, "seconds", 1, DAY),
}


def default_withdrawal_limits():
    return {name: k.withdrawal_limits for name, k in KINDS.items()}


class Policy:
    """The deployment's numbers; Policy(**fields) checks each one."""

    def __init__(self, withdrawal_limits=None, **fields):
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise VerifierError("bad-policy", "unknown policy fields: " + ", ".join(sorted(unknown)))
        for name, (default, kind, low, high) in FIELDS.items():
            setattr(self, name, _checked(name, fields.get(name, default), kind, low, high))
        self.withdrawal_limits = default_withdrawal_limits()
        if withdrawal_limits is not None:
            self.withdrawal_limits.update(_checked_limits(withdrawal_limits))


def _checked(name, value, kind, low, high):
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int":
        ok = number and isinstance(value, int)
    else:
        ok = number and math.isfinite(value)
    if not ok or not low <= value <= high:
        what = "a whole number" if kind == "int" else "a number of seconds"
        raise VerifierError("bad-policy", "policy field %s must be %s from %s to %s" % (name, what, _num(low), _num(high)))
    return value


def _num(x):
    return "%d" % x if float(x).is_integer() else "%s" % x


def _checked_limits(limits):
    if not isinstance(limits, dict):
        raise VerifierError("bad-policy", "withdrawal_limits must be an object of device kinds")
    out = {}
    for name, pair in limits.items():
        if name not in KINDS:
            raise VerifierError("bad-policy", "withdrawal_limits names device kinds: " + ", ".join(sorted(KINDS)))
        if pair is None:
            out[name] = None
            continue
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_AMOUNT for n in pair)):
            raise VerifierError("bad-policy", "withdrawal limit for %s must be [per_day, per_five_days] of whole "
                                              "numbers 0-%d, or null" % (name, MAX_AMOUNT))
        out[name] = tuple(pair)
    return out


def _refuse_constant(name):
    raise ValueError("%s is not a number JSON allows" % name)


def load_policy(path):
    """The Policy in a JSON file, or VerifierError naming the file and the first wrong field."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError as e:
        raise VerifierError("bad-policy", "cannot read policy file %s: %s" % (path, e.strerror))
    try:
        fields = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as e:
        raise VerifierError("bad-policy", "policy file %s is not JSON: %s" % (path, str(e).splitlines()[0]))
    if not isinstance(fields, dict):
        raise VerifierError("bad-policy", "policy file %s must hold a JSON object" % path)
    try:
        return Policy(**fields)
    except VerifierError as e:
        raise VerifierError("bad-policy", "policy file %s: %s" % (path, e))
    except TypeError:
        raise VerifierError("bad-policy", "policy file %s: field names must be text" % path)
