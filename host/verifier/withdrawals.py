"""Withdrawal limits by the kind of device that confirms: per calendar day and
per five business days (UTC), re-checked inside the confirming transaction; a
device that cannot sign what it confirms (kinds' `signs`) also only up to
Policy.unsigned_withdrawal_limit a withdrawal."""

import time

from sqlalchemy import select

from host.verifier.kinds import kind
from host.verifier.store import users, withdrawals  # noqa: F401  (users: the row lock)

DAY = 86400.0


def business_days_start(now, count):
    """Midnight (UTC) starting the window of the last `count` business days up to today."""
    day = now - now % DAY
    found = 0
    while True:
        if time.gmtime(day).tm_wday < 5:
            found += 1
            if found == count:
                return day
        day -= DAY


def room(conn, policy, user_id, kind_name, now, locked=False):
    """How much more the user may withdraw now, confirmed by a device of `kind_name`
    (None: no limit). With locked=True the user's row is locked first, so racing
    confirmations are judged one after the other."""
    limits = policy.withdrawal_limits.get(kind_name, (0, 0))
    # a device that cannot sign what it confirms confirms no withdrawal over this (0: none)
    unsigned = None if kind(kind_name).signs else policy.unsigned_withdrawal_limit
    if limits is None or unsigned == 0:
        return unsigned
    if locked:
        conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update()).first()
    per_day, per_week = limits
    day_start = now - now % DAY
    week_start = business_days_start(now, 5)
    rows = conn.execute(select(withdrawals.c.amount, withdrawals.c.at).where(withdrawals.c.user_id == user_id)
                        .where(withdrawals.c.device_kind == kind_name)
                        .where(withdrawals.c.at >= min(day_start, week_start))).all()
    today = sum(a for a, at in rows if at >= day_start)
    week = sum(a for a, at in rows if at >= week_start)
    left = max(0, min(per_day - today, per_week - week))
    return left if unsigned is None else min(left, unsigned)


def allows(conn, policy, user_id, kind_name, amount, now, locked=False):
    left = room(conn, policy, user_id, kind_name, now, locked)
    return left is None or amount <= left


def record(conn, user_id, confirmed, now):
    """The withdrawal of a challenge row (`confirmed`: its amount, destination and device) as confirmed now."""
    conn.execute(withdrawals.insert().values(user_id=user_id, device_kind=confirmed.kind, device=confirmed.serial,
                                             amount=confirmed.amount, destination=confirmed.destination,
                                             destination_digits=confirmed.destination_digits, at=now))


class Withdrawals:
    def withdrawals(self, name, limit=100):
        """A user's recent withdrawals (newest first) and how much more each kind of
        device may confirm now (None: no limit), for the help desk and the operator API."""
        from host.verifier import inputs
        from host.verifier.timefmt import iso
        from host.verifier.users import find

        name = inputs.username(name)
        now = self.clock()
        with self.engine.connect() as conn:
            user = find(conn, name)
            rows = conn.execute(select(withdrawals).where(withdrawals.c.user_id == user.id)
                                .order_by(withdrawals.c.id.desc()).limit(max(1, min(limit, 1000)))).all()
            room_left = {kind_name: room(conn, self.policy, user.id, kind_name, now)
                         for kind_name in sorted(self.policy.withdrawal_limits)}
        return {"user": name,
                "withdrawals": [{"amount": r.amount, "destination": r.destination, "destination_digits": r.destination_digits,
                                 "device": r.device, "kind": r.device_kind, "at": iso(r.at)} for r in rows],
                "room": room_left}
