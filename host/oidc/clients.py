"""Relying parties (`dsc oidc client add|list|remove`, the operator API's
/api/v1/oidc/clients): who may ask OpenDSC to log a user in, where the answer may
go, what it may get and at what level.

A confidential client's secret is 32 random bytes shown once; only its SHA-256 is
kept and compared in constant time (like apikeys.py: the secret is random, so a
fast hash hides it). A public client has no secret and must use PKCE S256.
Redirect URIs are matched exactly."""

import hashlib
import hmac
import json
import secrets
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin, scope_to_list
from sqlalchemy import delete, select

from host.oidc import keys, levels
from host.verifier import audit as audit_log
from host.verifier.errors import VerifierError
from host.verifier.store import oidc_clients
from host.verifier.timefmt import iso

SCOPES = ("openid", "profile")
MAX_NAME = 64
MAX_URI = 512
MAX_URIS = 16


def digest(secret):
    """What is stored of a client secret, a code or an access token: all long and random
    (secrets.token_urlsafe), so a plain SHA-256 is enough, as for the operator API's keys."""
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


def _name(name):
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME or not name.isprintable() or "<" in name:
        raise VerifierError("bad-name", "a client's name is 1-%d printable characters" % MAX_NAME)
    return name


def _uri(uri):
    """An absolute http(s) URI without a fragment (OIDC: https, or http for a local
    or test app), as registered and then matched exactly."""
    bad = VerifierError("bad-redirect-uri", "a redirect URI is an absolute http:// or https:// address without "
                                            "a fragment, at most %d characters" % MAX_URI)
    if not isinstance(uri, str) or not 0 < len(uri) <= MAX_URI or not uri.isascii() \
            or any(c <= " " or c == "\x7f" for c in uri):
        raise bad
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise bad
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment or "#" in uri:
        raise bad
    return uri


def _uris(uris, required):
    uris = list(dict.fromkeys(uris or ()))
    if (required and not uris) or len(uris) > MAX_URIS:
        raise VerifierError("bad-redirect-uri", "a client has 1-%d redirect URIs" % MAX_URIS if required
                            else "a client has at most %d post-logout redirect URIs" % MAX_URIS)
    return [_uri(u) for u in uris]


def _scopes(scopes):
    scopes = list(dict.fromkeys(scopes or SCOPES))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or "openid" not in scopes:
        raise VerifierError("bad-scope", "a client's scopes are openid and optionally profile")
    return scopes


def _level(level):
    try:
        return levels.check(level or levels.OTP)
    except ValueError as e:
        raise VerifierError("bad-level", str(e))


def _alg(alg):
    if (alg or "ES256") not in keys.ALGORITHMS:
        raise VerifierError("bad-alg", "the ID token's algorithm is ES256 or RS256")
    return alg or "ES256"


class Client(ClientMixin):
    """A registered client as Authlib's grants ask about it."""

    def __init__(self, row):
        self.client_id = row.client_id
        self.name = row.name
        self.secret_digest = row.secret_digest
        self.redirect_uris = json.loads(row.redirect_uris)
        self.post_logout_redirect_uris = json.loads(row.post_logout_redirect_uris)
        self.scopes = json.loads(row.scopes)
        self.level = row.level
        self.first_party = bool(row.first_party)
        self.id_token_signed_response_alg = row.alg

    @property
    def public(self):
        return self.secret_digest is None

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None  # redirect_uri is required: OpenID Connect asks for it on every request

    def get_allowed_scope(self, scope):
        return " ".join(s for s in scope_to_list(scope or "") if s in self.scopes)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris  # exact, character for character

    def check_client_secret(self, client_secret):
        if self.public or not isinstance(client_secret, str):
            return False
        return hmac.compare_digest(digest(client_secret), self.secret_digest)

    def check_endpoint_auth_method(self, method, endpoint):
        if self.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


def _row(r):
    return {"client_id": r.client_id, "name": r.name, "public": r.secret_digest is None,
            "redirect_uris": json.loads(r.redirect_uris),
            "post_logout_redirect_uris": json.loads(r.post_logout_redirect_uris), "scopes": json.loads(r.scopes),
            "level": r.level, "first_party": bool(r.first_party), "alg": r.alg, "created_at": iso(r.created_at)}


def add(verifier, name, redirect_uris, public=False, scopes=None, level=None, first_party=False,
        post_logout_redirect_uris=None, alg=None):
    """Register a client: its row (as list() shows it) and, for a confidential one,
    "client_secret", the only time it is shown."""
    values = dict(name=_name(name), redirect_uris=json.dumps(_uris(redirect_uris, True)),
                  post_logout_redirect_uris=json.dumps(_uris(post_logout_redirect_uris, False)),
                  scopes=json.dumps(_scopes(scopes)), level=_level(level), first_party=int(bool(first_party)),
                  alg=_alg(alg))
    client_id = secrets.token_urlsafe(16)
    secret = None if public else secrets.token_urlsafe(32)
    now = verifier.clock()
    with verifier.engine.begin() as conn:
        conn.execute(oidc_clients.insert().values(client_id=client_id, secret_digest=secret and digest(secret),
                                                  created_at=now, **values))
        audit_log.record(conn, now, "oidc:" + client_id, "", "oidc", "ok", "added")
        row = conn.execute(select(oidc_clients).where(oidc_clients.c.client_id == client_id)).first()
    shown = _row(row)
    if secret is not None:
        shown["client_secret"] = secret
    return shown


def list_all(verifier):
    """Every client, never a secret or its hash."""
    with verifier.engine.connect() as conn:
        return [_row(r) for r in conn.execute(select(oidc_clients).order_by(oidc_clients.c.created_at))]


def remove(verifier, client_id):
    now = verifier.clock()
    with verifier.engine.begin() as conn:
        gone = conn.execute(delete(oidc_clients).where(oidc_clients.c.client_id == str(client_id)[:64])).rowcount
        if not gone:
            raise VerifierError("no-client", "no OpenID Connect client %s" % str(client_id)[:64])
        audit_log.record(conn, now, "oidc:" + client_id, "", "oidc", "ok", "removed")
    return client_id


def find(verifier, client_id):
    """The Client for a client_id a request names, or None."""
    if not isinstance(client_id, str) or not 0 < len(client_id) <= 64:
        return None
    with verifier.engine.connect() as conn:
        row = conn.execute(select(oidc_clients).where(oidc_clients.c.client_id == client_id)).first()
    return Client(row) if row is not None else None
