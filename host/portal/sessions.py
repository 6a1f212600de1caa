"""The portal's server-side sessions, in the verifier's database (store.web_sessions),
so every `dsc serve` process and worker sees the same ones.

The cookie holds 32 random bytes; the table holds only their SHA-256, so a copy of
the database opens no session. Each session carries its own CSRF token. A session
ends after IDLE_TIMEOUT without a request or ABSOLUTE_TIMEOUT after it began, and
gets a new id (and CSRF token) whenever its user's privileges change: at login.

A row is written only once there is something to keep: a login's open challenge,
then the logged-in user. A visitor before that (the login page, a refused login)
is a Visitor, stored nowhere: the CSRF token of their form is an HMAC of a random
value in their FORM_COOKIE under a key derived from the master key (a signed
double submit). Only the server can make the token for a cookie value, so a
made-up cookie, another visitor's token or the cookie value itself is refused.
It is as strong as the anonymous session's token it replaces: whoever can plant
cookies in a browser could plant a pair the server gave them, then as now.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets

from sqlalchemy import delete, select

from host.verifier.store import web_sessions

COOKIE = "dsc_session"
FORM_COOKIE = "dsc_form"  # a Visitor's random value (no row)
FORM_CONTEXT = "portal form csrf"  # the master key's derived key for Visitor tokens (Keystore.digests)
_FORM_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")
IDLE_TIMEOUT = 15 * 60.0
ABSOLUTE_TIMEOUT = 8 * 3600.0
ANONYMOUS, CHALLENGED, IN = "anonymous", "challenged", "in"


def _digest(token):
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


class Session:
    def __init__(self, row, token=None):
        self.id = row["id"]
        self.stage = row["stage"]
        self.username = row["username"]
        self.challenge_id = row["challenge_id"]
        self.csrf = row["csrf"]
        self.data = json.loads(row["data"] or "{}")
        self.created_at = row["created_at"]
        self.token = token  # the cookie value: set only when it must be sent (new or rotated)

    def csrf_ok(self, sent):
        return isinstance(sent, str) and hmac.compare_digest(sent.encode(), self.csrf.encode())

    @property
    def logged_in(self):
        return self.stage == IN


def _row(stage, username, challenge_id, data, created_at, now):
    token = secrets.token_urlsafe(32)
    return token, {"id": _digest(token), "stage": stage, "username": username, "challenge_id": challenge_id,
                   "csrf": secrets.token_urlsafe(32), "data": json.dumps(data or {}), "created_at": created_at,
                   "last_seen": now}


class Visitor:
    """Someone with no session row (see the module's docstring): what a form needs of a
    session, its CSRF token, bound to the FORM_COOKIE value `nonce` (a new one when
    the visitor sent none or a malformed one: `new` says the cookie must be sent)."""

    stage, username, challenge_id, token, logged_in = ANONYMOUS, None, None, None, False

    def __init__(self, keys, nonce=None):
        self.keys = keys
        self.new = not (isinstance(nonce, str) and _FORM_NONCE.fullmatch(nonce))
        self.nonce = secrets.token_urlsafe(32) if self.new else nonce
        self.data = {}

    def _tokens(self):
        """The token under each master key in the ring, the newest last (one made before
        a key rotation still works)."""
        return [base64.urlsafe_b64encode(d).rstrip(b"=").decode()
                for d in self.keys.digests(self.nonce.encode(), FORM_CONTEXT)]

    @property
    def csrf(self):
        return self._tokens()[-1]

    def csrf_ok(self, sent):
        return isinstance(sent, str) and not self.new and \
            any([hmac.compare_digest(sent.encode(), t.encode()) for t in self._tokens()])


def create(engine, now, data=None, stage=ANONYMOUS, username=None, challenge_id=None):
    """A new session. Timed-out ones are deleted on the way, so the table holds at
    most the sessions of the last IDLE_TIMEOUT."""
    token, row = _row(stage, username, challenge_id, data, now, now)
    with engine.begin() as conn:
        conn.execute(_expired(now))
        conn.execute(web_sessions.insert().values(**row))
    return Session(row, token)


def _expired(now):
    return delete(web_sessions).where((web_sessions.c.last_seen < now - IDLE_TIMEOUT)
                                      | (web_sessions.c.created_at < now - ABSOLUTE_TIMEOUT))


def load(engine, token, now):
    """The live session for a cookie value, its last_seen moved to now; None when
    there is none or it has timed out (then it is deleted)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    key = _digest(token)
    with engine.begin() as conn:
        row = conn.execute(select(web_sessions).where(web_sessions.c.id == key)).mappings().first()
        if row is None:
            return None
        if now - row["last_seen"] > IDLE_TIMEOUT or now - row["created_at"] > ABSOLUTE_TIMEOUT:
            conn.execute(delete(web_sessions).where(web_sessions.c.id == key))
            return None
        conn.execute(web_sessions.update().where(web_sessions.c.id == key).values(last_seen=now))
    return Session(row)


def update(engine, session, **changes):
    """Change the stage, user, open challenge or data of a session (one UPDATE)."""
    values = {k: v for k, v in changes.items() if k in ("stage", "username", "challenge_id")}
    if "data" in changes:
        values["data"] = json.dumps(changes["data"])
    with engine.begin() as conn:
        conn.execute(web_sessions.update().where(web_sessions.c.id == session.id).values(**values))
    for k, v in changes.items():
        setattr(session, k, v)


def rotate(engine, session, now, **changes):
    """The same session under a new id and CSRF token (at login: a fixed or stolen
    pre-login id is worth nothing afterwards). Returns the new Session."""
    data = changes.get("data", session.data)
    token, row = _row(changes.get("stage", session.stage), changes.get("username", session.username),
                      changes.get("challenge_id", session.challenge_id), data, session.created_at, now)
    row["created_at"] = now  # the absolute timeout counts from the login
    with engine.begin() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.id == session.id))
        conn.execute(web_sessions.insert().values(**row))
    return Session(row, token)


def destroy(engine, session):
    with engine.begin() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.id == session.id))


def sweep(engine, now):
    """Delete timed-out sessions; the number deleted."""
    with engine.begin() as conn:
        return conn.execute(_expired(now)).rowcount
