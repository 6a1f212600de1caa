"""The lockout: N failed logins within a window lock a user name until a set
time after the last one; attempts while locked count too.

It is kept per name, whether or not such a user exists, so "locked" tells an
attacker nothing. Every step runs inside the caller's write transaction with
the name's row locked (FOR UPDATE; SQLite's write lock does the same), so
racing processes can neither lose a failure nor get more than N truthful
answers: a password check first records its attempt as a "pending" failure and
takes it back only when the password was right (see Verifier.check_password).

Pending failures are not failures yet. A lock is decided on the settled ones;
when only pending ones would complete a lock, a password check waits for them
to settle instead of being refused, so racing logins with the right password
(an app retrying, a user double-clicking) never lock anyone out. A pending
failure older than STALE_PENDING belongs to a check that was cut off (its
process died): it counts as settled, fail-closed.
"""

from sqlalchemy import bindparam, delete, exists, func, select

from host.verifier import store
from host.verifier.store import failures, lockouts
from host.verifier.timefmt import readable


PENDING = "pending"
STALE_PENDING = 60.0  # seconds; a password check takes well under one

# Built once: a login runs these on every attempt.
_RESET_ID = select(lockouts.c.reset_id).where(lockouts.c.name == bindparam("name")).with_for_update()
# Whether a name has counting failures, for a read that also reads its lockout row
# (Challenges.finish): when it says no, check() need not read them, where that read
# is current (store.one_writer_at_a_time).
COUNTING = exists().where(failures.c.name == lockouts.c.name).where(failures.c.id > lockouts.c.reset_id)


class Lockout:
    def __init__(self, policy):
        self.policy = policy
        # Twice the threshold: the pending failures among the latest ones do not hide settled ones.
        self._recent = (select(failures.c.at, failures.c.reason).where(failures.c.name == bindparam("name"))
                        .where(failures.c.id > bindparam("reset_id"))
                        .order_by(failures.c.id.desc()).limit(2 * policy.lockout_failures))

    def _streak(self, conn, name, reset_id=None, counting=True):
        """Lock the name's row and return its counting failures (at, reason), oldest first.
        `reset_id`: the row's, when the caller's own read has locked it already
        (Challenges.finish reads it with the challenge), which saves two statements;
        `counting`: False when that read found no counting failures (COUNTING) and
        was current, which saves the third."""
        if not counting:
            return []
        if reset_id is None:
            reset_id = conn.execute(_RESET_ID, {"name": name}).scalar()
        if reset_id is None:
            store.insert_missing(conn, lockouts, name=name, reset_id=0)
            reset_id = conn.execute(_RESET_ID, {"name": name}).scalar_one()
        recent = [tuple(row) for row in conn.execute(self._recent, {"name": name, "reset_id": reset_id}).all()]
        return recent[::-1]

    def _lock_end(self, streak):
        n = self.policy.lockout_failures
        if len(streak) >= n and streak[-1] - streak[-n] < self.policy.lockout_window:
            return streak[-1] + self.policy.lockout_duration
        return None

    def check(self, conn, name, now, reset_id=None, counting=True):
        """(when the name's lock ends or None, whether failures are counting, the
        counting failures as locked_after() takes them); locks the name's row
        (pass `reset_id`, and `counting` as _streak takes them, when the caller's
        read locked it), and restarts the count after a lock has run out. Pending
        failures count here (fail-closed): this is the check of a response."""
        end, counting, pending_lock, streak = self._admit(conn, name, now, reset_id, counting)
        return (end if end is not None else pending_lock), counting, streak

    def admit(self, conn, name, now):
        """check() for a password attempt: (end of a lock by settled failures or
        None, whether failures are counting, end of the lock that the pending ones
        would complete or None: then wait for them to settle)."""
        return self._admit(conn, name, now)[:3]

    def _admit(self, conn, name, now, reset_id=None, counting=True):
        streak = self._streak(conn, name, reset_id, counting)
        end, pending_lock = self._ends(streak, now)
        if end is not None and now >= end:
            self.reset(conn, name, now)  # a lock that has run out: counting starts again
            return None, False, None, []
        return end, bool(streak), pending_lock, streak

    def _ends(self, streak, now):
        """(end of the lock by the settled failures of `streak` or None, end of the
        lock that its pending ones would complete, if still ahead, or None)."""
        settled = [at for at, reason in streak if reason != PENDING or now - at >= STALE_PENDING]
        end = self._lock_end(settled)
        pending_lock = None
        if end is None and len(settled) < len(streak):
            pending_lock = self._lock_end(sorted(at for at, _ in streak))
            if pending_lock is not None and now >= pending_lock:
                pending_lock = None
        return end, pending_lock

    def locked_after(self, streak, now, reason):
        """Whether one more failure, counted at `now` after `streak` (check()'s),
        locks the name as check() would then see it: worked out from what the
        transaction read already, as its row is still locked."""
        streak = (list(streak) + [(now, reason)])[-2 * self.policy.lockout_failures:]
        end, pending_lock = self._ends(streak, now)
        end = end if end is not None else pending_lock
        return end is not None and now < end

    def locked_until(self, conn, name, now):
        return self.check(conn, name, now)[0]

    def fail(self, conn, name, now, reason):
        """Count a failure (call after check() in the same transaction, which locks
        the row). Returns its id, so a pending one can be taken back or confirmed."""
        self.prune(conn, name, now)
        return conn.execute(failures.insert(), {"name": name, "at": now, "reason": reason}).inserted_primary_key[0]

    def forgive(self, conn, failure_id):
        """Take back a pending failure: the password was right."""
        conn.execute(delete(failures).where(failures.c.id == failure_id))

    def confirm(self, conn, failure_id, name, now, reason):
        """A pending failure proved real: it becomes a failure counted from now, in
        order with the audit event written in the same transaction. Locks the
        name's row first, as check() does, so it is ordered with racing attempts."""
        conn.execute(_RESET_ID, {"name": name}).first()
        self.forgive(conn, failure_id)
        self.fail(conn, name, now, reason)

    def reset(self, conn, name, now):
        """A success, a lock that has run out, or the help desk's unlock: earlier failures stop counting."""
        last = select(func.coalesce(func.max(failures.c.id), 0)).where(failures.c.name == name).scalar_subquery()
        conn.execute(lockouts.update().where(lockouts.c.name == name).values(reset_id=last))

    def prune(self, conn, name, now):
        """Forget failures too old to matter for any lock."""
        horizon = now - self.policy.lockout_window - self.policy.lockout_duration
        conn.execute(delete(failures).where(failures.c.name == name).where(failures.c.at < horizon))

    def message(self, until):
        return "account locked after %d failed logins within %s, until %s (even with correct credentials)" % (
            self.policy.lockout_failures, _span(self.policy.lockout_window), readable(until))


def _span(seconds):
    if seconds % 86400 == 0:
        days = int(seconds // 86400)
        return "24 hours" if days == 1 else "%d days" % days
    if seconds % 3600 == 0:
        return "%d hours" % (seconds // 3600)
    return "%d seconds" % seconds
