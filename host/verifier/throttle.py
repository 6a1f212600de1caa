"""Throttling of login attempts per client address and per user name, in
addition to the lockout: at most policy.throttle_per_address / throttle_per_user
allowed attempts in any policy.throttle_window seconds.

The window slides, so a burst across a clock boundary gets no more than the
limit (a fixed window would let twice the limit through around its edge). Each
key's attempts are counted in BUCKETS buckets of window/BUCKETS seconds; an
attempt is allowed when the buckets that may hold attempts from the last
`window` seconds hold fewer than the limit. That errs by at most one bucket on
the refusing side. A refused attempt is not counted, so Retry-After is exact:
a client that waits that long gets in, however often it tried meanwhile.

The counters live in the verifier's database (the `throttle` table), so the
limits hold across `dsc serve --workers N` and several servers on one database.
Each attempt is one transaction of at most three statements whatever the number
of keys: on PostgreSQL one upsert takes every key's lock row (row LOCK_ROW: INSERT
... ON CONFLICT DO UPDATE, which takes the row lock whether the row was there or
not, one key after the other in one key order on every process; on SQLite BEGIN
IMMEDIATE is the lock, and there are no lock rows), one SELECT then reads the
keys' buckets, and one upsert counts the attempt in each key's current bucket. So racing attempts are counted
one after another and never get more than the limit. Buckets that left the window
are deleted by the attempt that finds them (once per key and bucket, not on
every attempt). The commit does not wait for the disk (store.begin_unsynced): a
power cut may forget the last moments' attempts, never a lock or a verification.
Keys are hashed: no address or user name is stored in clear. `dsc db sweep`
deletes buckets that left the window and lock rows left with none (sweep()); an
attempt recreates its lock row, so a sweep never makes one fail.
"""

import hashlib
import math

from sqlalchemy import and_, bindparam, select, text

from host.verifier.store import begin_unsynced, one_writer_at_a_time, throttle

BUCKETS = 10
LOCK_ROW = -1.0  # window_start of a key's lock row; buckets start at times >= 0


def key(kind, value):
    """The row key for an address ("a") or a normalised user name ("u")."""
    return kind + ":" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:64]


def normalise(name):
    """The user name as throttled: surrounding spaces and case do not make a new name."""
    return name.strip().casefold()


def bucket_start(now, window):
    size = window / BUCKETS
    return math.floor(now / size) * size


# The buckets of some keys (not their lock rows), by key, oldest first, by number of keys:
# with the keys as an expanding IN list, SQLAlchemy rendered the statement anew on every
# attempt (about a fifth of an attempt's time).
_BUCKETS = {n: (select(throttle.c.key, throttle.c.window_start, throttle.c.count)
                .where(throttle.c.key.in_([bindparam("key%d" % i) for i in range(n)]))
                .where(throttle.c.window_start > LOCK_ROW).order_by(throttle.c.key, throttle.c.window_start))
            for n in (1, 2)}  # an attempt counts an address, a user name, or both
_FORGET = throttle.delete().where(throttle.c.key.in_(bindparam("keys", expanding=True))).where(
    throttle.c.window_start > LOCK_ROW).where(throttle.c.window_start < bindparam("oldest"))


# _add's statements by number of keys, in SQL that SQLite and PostgreSQL both take:
# SQLAlchemy cannot cache its own ON CONFLICT statements and compiled one afresh
# on every attempt (about 0.2 ms).
_UPSERTS = {}


def _add(conn, keys, start, n):
    """Add n to each key's row at `start`, making it if missing, in one statement (an
    upsert, which locks each row on PostgreSQL, in order, whether it was there or not)."""
    upsert = _UPSERTS.get(len(keys))
    if upsert is None:
        rows = ", ".join("(:key%d, :start, :n)" % i for i in range(len(keys)))
        upsert = _UPSERTS[len(keys)] = text(
            'INSERT INTO throttle ("key", window_start, count) VALUES %s ON CONFLICT ("key", window_start) '
            "DO UPDATE SET count = throttle.count + excluded.count" % rows)
    conn.execute(upsert, {"start": start, "n": n, **{"key%d" % i: k for i, k in enumerate(keys)}})


def sweep(conn, window, now):
    """Delete the buckets of every key that left the window (as `window` now
    is), then the lock rows left with no bucket. Returns how many rows went."""
    gone = conn.execute(throttle.delete().where(and_(throttle.c.window_start > LOCK_ROW,
                                                     throttle.c.window_start < now - window - window / BUCKETS))
                        ).rowcount
    live = select(throttle.c.key).where(throttle.c.window_start > LOCK_ROW).scalar_subquery()
    return gone + conn.execute(throttle.delete().where(and_(throttle.c.window_start == LOCK_ROW,
                                                            throttle.c.key.not_in(live)))).rowcount


def _wait(buckets, limit, window, now):
    """Seconds until the oldest buckets have left the window and fewer than
    `limit` attempts remain in it (at least 1)."""
    size = window / BUCKETS
    remaining = sum(c for _, c in buckets)
    for start, c in buckets:  # the last bucket empties the window, if no earlier one did
        remaining -= c
        if remaining < limit:
            break
    return max(1, math.ceil(start + window + size - now))


def count(engine, keys, window, now):
    """Count one attempt against each (key, limit) in `keys` (limit 0: not
    counted). Returns None when every key is within its limit (the attempt is
    counted against each), else the seconds until the window lets one more
    attempt through, for Retry-After (the attempt is not counted)."""
    size = window / BUCKETS
    current = bucket_start(now, window)
    # with `current`, these buckets cover at least the last `window` seconds
    oldest = current - window - size / 2
    keys = sorted((k, limit) for k, limit in keys if limit > 0)  # one lock order on every process
    if not keys:
        return None
    names = [k for k, _ in keys]
    buckets = {k: [] for k in names}
    with begin_unsynced(engine) as conn:
        if not one_writer_at_a_time(conn):  # SQLite's BEGIN IMMEDIATE is the lock already
            _add(conn, names, LOCK_ROW, 0)  # the keys' locks
        stale = False
        for k, start, n in conn.execute(_BUCKETS[len(names)], {"key%d" % i: k for i, k in enumerate(names)}):
            if start < oldest:
                stale = True  # left the window: no attempt needs it again
            else:
                buckets[k].append((start, n))
        if stale:
            conn.execute(_FORGET, {"keys": names, "oldest": oldest})
        wait = max([_wait(buckets[k], limit, window, now) for k, limit in keys
                    if sum(n for _, n in buckets[k]) >= limit], default=0)
        if wait:
            return wait
        _add(conn, names, current, 1)
    return None


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
