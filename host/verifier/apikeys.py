"""Operator API keys: `dsc apikey create|list|revoke`, checked by the HTTP
service's operator API (host/server/operator.py).

A key is `dsc_<id>_<secret>`: the id finds its row, the secret (32 random
bytes) is stored only as its SHA-256, compared in constant time. The key is
shown once, at creation. A fast hash is enough here: the secret is random, so
there is nothing to guess from the hash, unlike a password.

A role says what a key may do; each role includes the ones below it:
- auditor: read users, devices, withdrawals and the audit log;
- helpdesk: also unlock users, issue temporary passcodes and cards, take
  devices out of use (deactivate, revoke);
- admin: everything else (add and remove users, enroll and remove devices, ...).
"""

import hashlib
import hmac
import secrets

from sqlalchemy import select

from host.verifier import audit as audit_log
from host.verifier.errors import VerifierError
from host.verifier.store import api_keys
from host.verifier.timefmt import iso

ROLES = ("auditor", "helpdesk", "admin")  # each may do what the ones before it may
PREFIX = "dsc_"
MAX_NAME = 64


def allows(role, needed):
    """Whether a key of `role` may do what needs `needed`."""
    return role in ROLES and needed in ROLES and ROLES.index(role) >= ROLES.index(needed)


def _digest(secret):
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _parse(key):
    """(id, secret) of a key's text, or None: never raises on what a client sends."""
    if not isinstance(key, str) or not key.startswith(PREFIX) or not key.isascii() or len(key) > 100:
        return None
    key_id, sep, secret = key[len(PREFIX):].partition("_")
    if not sep or not key_id.isdigit() or len(key_id) > 12 or not secret:
        return None
    return int(key_id), secret


def _role(role):
    if role not in ROLES:
        raise VerifierError("bad-role", "the role must be one of %s" % ", ".join(ROLES))
    return role


def _name(name):
    name = "" if name is None else name
    if not isinstance(name, str) or len(name) > MAX_NAME or not name.isprintable():
        raise VerifierError("bad-name", "a key's name is up to %d printable characters" % MAX_NAME)
    return name


class ApiKeys:
    def create_api_key(self, role, name=""):
        """A new key for `role`: (key text, shown only now; its id)."""
        role, name = _role(role), _name(name)
        secret = secrets.token_urlsafe(32)
        now = self.clock()
        with self.engine.begin() as conn:
            key_id = conn.execute(api_keys.insert().values(name=name, role=role, digest=_digest(secret),
                                                           created_at=now)).inserted_primary_key[0]
            audit_log.record(conn, now, "apikey:%d" % key_id, "", "apikey", "ok", "created " + role)
        return "%s%d_%s" % (PREFIX, key_id, secret), key_id

    def api_keys(self):
        """Every key's id, name, role and dates; never the key or its hash."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.id)).all()
        return [{"id": r.id, "name": r.name, "role": r.role, "created_at": iso(r.created_at),
                 "revoked_at": iso(r.revoked_at) if r.revoked_at else None} for r in rows]

    def revoke_api_key(self, key_id):
        """Revoke a key at once (every server process checks the table on each request)."""
        now = self.clock()
        with self.engine.begin() as conn:
            done = conn.execute(api_keys.update().where(api_keys.c.id == key_id)
                                .where(api_keys.c.revoked_at.is_(None)).values(revoked_at=now)).rowcount
            if not done:
                found = conn.execute(select(api_keys.c.id).where(api_keys.c.id == key_id)).first()
                raise VerifierError("no-key", "no API key %d" % key_id if found is None
                                    else "API key %d is revoked already" % key_id)
            audit_log.record(conn, now, "apikey:%d" % key_id, "", "apikey", "ok", "revoked")
        return key_id

    def api_key(self, key):
        """{"id", "role"} of a valid, unrevoked key, else None. The comparison takes
        the same time whether the id exists or not."""
        parsed = _parse(key)
        key_id, secret = parsed if parsed else (0, "")
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys.c.digest, api_keys.c.role, api_keys.c.revoked_at)
                               .where(api_keys.c.id == key_id)).first()
        expected = row.digest if row is not None else "0" * 64
        matches = hmac.compare_digest(_digest(secret), expected)
        if parsed is None or row is None or not matches or row.revoked_at is not None:
            return None
        return {"id": key_id, "role": row.role}
