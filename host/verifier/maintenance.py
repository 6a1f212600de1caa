"""Housekeeping an operator runs from cron (`dsc db sweep`): rows that can no
longer matter to any rule are deleted, so a spray of made-up user names or a
long-running service does not grow the database without end."""

from sqlalchemy import delete, exists, select

from host.verifier import throttle
from host.verifier.store import challenges, failures, lockouts

DAY = 86400.0


class Maintenance:
    def sweep(self):
        """Delete failures too old for any lock, lockout rows with no failures left,
        challenges that expired over a day ago (the audit log keeps their events),
        and throttle counters out of the window. Returns how many rows of each went."""
        now = self.clock()
        horizon = now - self.policy.lockout_window - self.policy.lockout_duration
        with self.engine.begin() as conn:
            gone = {"failures": conn.execute(delete(failures).where(failures.c.at < horizon)).rowcount}
            # Without failures, a name's reset point no longer matters: a new row starts at 0.
            gone["lockouts"] = conn.execute(delete(lockouts).where(
                ~exists(select(failures.c.id).where(failures.c.name == lockouts.c.name)))).rowcount
            gone["challenges"] = conn.execute(delete(challenges).where(challenges.c.expires_at < now - DAY)).rowcount
            gone["throttle"] = throttle.sweep(conn, self.policy.throttle_window, now)
        return gone
