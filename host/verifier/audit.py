"""The audit log: one row per event, append-only (a database trigger on SQLite,
INSERT/SELECT grants on other backends)."""

import contextlib
import contextvars

from sqlalchemy import and_, case, func, select

from host.verifier.store import audit, users, withdrawals
from host.verifier.timefmt import iso

MAX_PAGE = 1000
# A withdrawal's amount: recorded on its events since schema 11; before, a confirmed
# one's withdrawals row, written in the same transaction as its audit event, for the
# same user, device and time.
_AMOUNT = func.coalesce(audit.c.amount, case((and_(audit.c.purpose == "withdrawal", audit.c.outcome == "ok"),
                select(withdrawals.c.amount)
                .where(withdrawals.c.user_id == select(users.c.id).where(users.c.username == audit.c.username)
                       .correlate_except(users).scalar_subquery())
                .where(withdrawals.c.at == audit.c.at)
                .where(withdrawals.c.device_kind + ":" + withdrawals.c.device == audit.c.device)
                .order_by(withdrawals.c.id).limit(1).correlate_except(withdrawals).scalar_subquery()),
                                                 else_=None)).label("amount")


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


def record(conn, now, name, device, purpose, outcome, reason="", challenge=None):
    """One event. `challenge`: the challenge row it is about, whose withdrawal's amount and
    destination, as the server stored them when it issued it, the event records (on every
    outcome: a refused signature is audited with the values it was checked against)."""
    amount = getattr(challenge, "amount", None)
    conn.execute(_RECORD, {"at": now, "username": name[:64], "device": device[:80], "purpose": purpose[:16],
                           "outcome": outcome, "reason": reason[:64], "actor": ACTOR.get(), "amount": amount,
                           "destination": challenge.destination if amount is not None else None,
                           "destination_digits": challenge.destination_digits if amount is not None else None})


class AuditLog:
    def audit_log(self, name=None, outcome=None, since=None, until=None, after_id=0, limit=MAX_PAGE, newest=False,
                  before_id=None):
        """Events oldest first, filtered, a page at a time (pass the last id as after_id);
        with newest=True the latest `limit` events, newest first (pass the last id as
        before_id for the next page). A withdrawal's events carry its amount and
        destination (one confirmed before schema 11, its amount only); every other
        event has them None."""
        from host.verifier import inputs

        order = audit.c.id.desc() if newest else audit.c.id
        query = select(audit.c.id, audit.c.at, audit.c.username, audit.c.device, audit.c.purpose, audit.c.outcome,
                       audit.c.reason, audit.c.actor, audit.c.destination, audit.c.destination_digits,
                       _AMOUNT).where(audit.c.id > after_id).order_by(order).limit(max(1, min(limit, MAX_PAGE)))
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
                 "outcome": r.outcome, "reason": r.reason, "actor": r.actor, "amount": r.amount,
                 "destination": r.destination, "destination_digits": r.destination_digits} for r in rows]
