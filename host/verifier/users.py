"""Users: add, list, show, unlock, remove."""

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from host.verifier import audit as audit_log, inputs, passwords
from host.verifier.errors import VerifierError
from host.verifier.store import challenges, devices, shares, users, withdrawals
from host.verifier.timefmt import iso


def find(conn, name, lock=False):
    """The user row, or VerifierError no-user (for operators: logins never say this)."""
    query = select(users).where(users.c.username == name)
    user = conn.execute(query.with_for_update() if lock else query).first()
    if user is None:
        raise VerifierError("no-user", "no user %s" % name)
    return user


class Users:
    def add_user(self, name, password, role="user", **identity):
        name = inputs.username(name)
        password = inputs.password(password)
        role = inputs.role(role)
        identity = inputs.identity(identity)
        row = dict(username=name, password_hash=passwords.hash_password(password), created_at=self.clock(), role=role,
                   **identity)
        try:
            with self.engine.begin() as conn:
                conn.execute(users.insert().values(**row))
                audit_log.record(conn, row["created_at"], name, "", "user", "ok", "added")
        except IntegrityError:
            raise VerifierError("user-exists", "user %s already exists" % name)
        return name

    def users(self):
        with self.engine.connect() as conn:
            rows = conn.execute(select(users.c.username, users.c.created_at, users.c.role)
                                .order_by(users.c.username)).all()
        return [{"user": r.username, "created_at": iso(r.created_at), "role": r.role} for r in rows]

    def user_info(self, name):
        """A user's identity data, lock state and devices, for the help desk."""
        name = inputs.username(name)
        now = self.clock()
        with self.engine.begin() as conn:
            user = find(conn, name)
            locked = self.lockout.locked_until(conn, name, now)
        info = {"user": name, "created_at": iso(user.created_at), "role": user.role, "locked_until": iso(locked)}
        info.update({field: getattr(user, field) for field in inputs.IDENTITY})
        info["devices"] = self.devices(name)
        return info

    def unlock(self, name):
        """End a user's lock and forget their failed logins (the help desk, after checking who calls)."""
        name = inputs.username(name)
        now = self.clock()
        with self.engine.begin() as conn:
            find(conn, name)
            self.lockout.reset(conn, name, now)
            audit_log.record(conn, now, name, "", "user", "ok", "unlocked")
        return name

    def remove_user(self, name):
        """Remove a user with their devices, shares, challenges and withdrawal history;
        the audit log keeps their events."""
        name = inputs.username(name)
        now = self.clock()
        with self.engine.begin() as conn:
            user = find(conn, name, lock=True)
            own = select(devices.c.id).where(devices.c.user_id == user.id)
            conn.execute(delete(shares).where(shares.c.user_id == user.id))
            conn.execute(delete(shares).where(shares.c.device_id.in_(own)))
            conn.execute(delete(challenges).where(challenges.c.user_id == user.id))
            conn.execute(delete(challenges).where(challenges.c.device_id.in_(own)))
            conn.execute(delete(withdrawals).where(withdrawals.c.user_id == user.id))
            conn.execute(delete(devices).where(devices.c.user_id == user.id))
            conn.execute(delete(users).where(users.c.id == user.id))
            audit_log.record(conn, now, name, "", "user", "ok", "removed")
        return name
