"""The audit log: one row per event, append-only (a database trigger on SQLite,
INSERT/SELECT grants on other backends)."""

import contextlib
import contextvars

from sqlalchemy import and_, case, select

from host.verifier.store import audit, users, withdrawals
from host.verifier.timefmt import iso

MAX_PAGE = 1000
# A confirmed withdrawal's amount: its withdrawals row is written in the same
# transaction as its audit event, for the same user, device and time.
_AMOUNT = case((and_(audit.c.purpose == "withdrawal", audit.c.outcome == "ok"),
                select(withdrawals.c.amount)
                .where(withdrawals.c.user_id == select(users.c.id).where(users.c.username == audit.c.username)
                       .scalar_subquery())
                .where(withdrawals.c.at == audit.c.at)
                .where(withdrawals.c.device_kind + ":" + withdrawals.c.device == audit.c.device)
                .order_by(withdrawals.c.id).limit(1).scalar_subquery()), else_=None).label("amount")


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


_RECORD = audit.insert().inline()  # built once: every verification writes one; inline: its id is not read back


def record(conn, now, name, device, purpose, outcome, reason=""):
    conn.execute(_RECORD, {"at": now, "username": name[:64], "device": device[:80], "purpose": purpose[:16],
                                  "outcome": outcome, "reason": reason[:64], "actor": ACTOR.get()})


class AuditLog:
    def audit_log(self, name=None, outcome=None, since=None, until=None, after_id=0, limit=MAX_PAGE, newest=False,
                  before_id=None):
        """Events oldest first, filtered, a page at a time (pass the last id as after_id);
        with newest=True the latest `limit` events, newest first (pass the last id as
        before_id for the next page). A confirmed withdrawal carries its amount; every
        other event has amount None."""
        from host.verifier import inputs

        order = audit.c.id.desc() if newest else audit.c.id
        query = select(audit, _AMOUNT).where(audit.c.id > after_id).order_by(order).limit(max(1, min(limit, MAX_PAGE)))
        if before_id is not None:
            query = query.where(audit.c.id < before_id)
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
                 "outcome": r.outcome, "reason": r.reason, "actor": r.actor, "amount": r.amount} for r in rows]
