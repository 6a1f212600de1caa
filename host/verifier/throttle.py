"""Throttling of login attempts per client address and per user name, in
addition to the lockout: a fixed window of policy.throttle_window seconds, at
most policy.throttle_per_address / throttle_per_user attempts in it.

The counters live in the verifier's database (the `throttle` table), so the
limits hold across `dsc serve --workers N` and several servers on one database.
Each attempt is one transaction: INSERT the window's row if missing, then one
atomic `UPDATE ... SET count = count + 1 RETURNING count` (a row lock on
PostgreSQL, the write lock on SQLite): never read-then-write, so whatever the
interleaving, at most the limit is allowed per key and window. Refused attempts
count too. Keys are hashed: no address or user name is stored in clear.
"""

import hashlib
import math

from sqlalchemy import and_

from host.verifier import store
from host.verifier.store import throttle


def key(kind, value):
    """The row key for an address ("a") or a normalised user name ("u")."""
    return kind + ":" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:64]


def normalise(name):
    """The user name as throttled: surrounding spaces and case do not make a new name."""
    return name.strip().casefold()


def window_start(now, window):
    return math.floor(now / window) * window


def count(engine, keys, window, now):
    """Count one attempt against each (key, limit) in `keys` (limit 0: not
    counted). Returns None when every key is within its limit, else the seconds
    until the window frees a slot (at least 1), for Retry-After."""
    start = window_start(now, window)
    keys = sorted((k, limit) for k, limit in keys if limit > 0)  # one lock order on every process
    if not keys:
        return None
    over = False
    with engine.begin() as conn:
        for k, limit in keys:
            store.insert_missing(conn, throttle, key=k, window_start=start, count=0)
            row = conn.execute(throttle.update()
                               .where(and_(throttle.c.key == k, throttle.c.window_start == start))
                               .values(count=throttle.c.count + 1).returning(throttle.c.count)).one()
            if row[0] > limit:
                over = True
            conn.execute(throttle.delete().where(and_(throttle.c.key == k, throttle.c.window_start < start)))
    if not over:
        return None
    return max(1, math.ceil(start + window - now))


def attempt(verifier, address=None, username=None, now=None):
    """Count one login attempt from `address` for `username` (either may be None)
    under the verifier's policy; None if allowed, else seconds to wait."""
    policy = verifier.policy
    keys = []
    if address:
        keys.append((key("a", address), policy.throttle_per_address))
    if isinstance(username, str):
        keys.append((key("u", normalise(username)), policy.throttle_per_user))
    return count(verifier.engine, keys, policy.throttle_window, verifier.clock() if now is None else now)
