"""The audit log: one row per event, append-only (a database trigger on SQLite,
INSERT/SELECT grants on other backends)."""

import contextlib
import contextvars

from sqlalchemy import select

from host.verifier.store import audit
from host.verifier.timefmt import iso

MAX_PAGE = 1000


# Who is acting for the events recorded in this context (e.g. "apikey:3" while the
# operator API serves that key's request); "" for the user themself or the CLI.
ACTOR = contextvars.ContextVar("audit_actor", default="")


@contextlib.contextmanager
def acting(actor):
    token = ACTOR.set(actor[:64])
    try:
        yield
    finally:
        ACTOR.reset(token)


def record(conn, now, name, device, purpose, outcome, reason=""):
    conn.execute(audit.insert(), {"at": now, "username": name[:64], "device": device[:80], "purpose": purpose[:16],
                                  "outcome": outcome, "reason": reason[:64], "actor": ACTOR.get()})


class AuditLog:
    def audit_log(self, name=None, outcome=None, since=None, until=None, after_id=0, limit=MAX_PAGE, newest=False):
        """Events oldest first, filtered, a page at a time (pass the last id as after_id);
        with newest=True the latest `limit` events, newest first."""
        from host.verifier import inputs

        order = audit.c.id.desc() if newest else audit.c.id
        query = select(audit).where(audit.c.id > after_id).order_by(order).limit(max(1, min(limit, MAX_PAGE)))
        if name is not None:
            query = query.where(audit.c.username == inputs.username(name))
        if outcome is not None:
            query = query.where(audit.c.outcome == outcome)
        if since is not None:
            query = query.where(audit.c.at >= since)
        if until is not None:
            query = query.where(audit.c.at < until)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [{"id": r.id, "at": iso(r.at), "user": r.username, "device": r.device, "purpose": r.purpose,
                 "outcome": r.outcome, "reason": r.reason, "actor": r.actor} for r in rows]
