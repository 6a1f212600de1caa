"""The OAuth 2.0 / OpenID Connect rules, all Authlib's: an AuthorizationServer
with a small Starlette adapter (Authlib ships only Flask and Django ones), the
authorization code grant with PKCE and OpenID Connect, and the storage those
ask for: codes and access tokens in the verifier's database, hashed.

- Codes live CODE_LIFETIME and are taken once: the token endpoint's UPDATE from
  "issued" to "taken" is the only way to use one. A code presented again marks it
  "reused" and revokes the access token its first use issued (RFC 6749 4.1.2);
  the token is saved under the code row's lock, so a replay racing the first use
  either finds the token to revoke or makes the first use fail.
- Access tokens (Bearer, for /oidc/userinfo) live ACCESS_TOKEN_LIFETIME.
- Every authorization and token issued is audited with its client; never a code,
  token or secret (Authlib logs tokens at DEBUG: its logger is kept above that).
"""

import json
import logging
import secrets
import time
from collections import defaultdict

from authlib.oauth2 import AuthorizationServer, OAuth2Request, ResourceProtector
from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, OAuth2Payload, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oauth2.rfc6749.errors import AccessDeniedError  # noqa: F401 - for the routes
from authlib.oidc.core import OpenIDCode, UserInfo
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError  # noqa: F401 - for the routes
from authlib.oidc.core.models import AuthorizationCodeMixin
from sqlalchemy import delete, select
from starlette.responses import JSONResponse, Response

from host.oidc import clients, keys
from host.verifier import audit as audit_log
from host.verifier.store import oidc_codes, oidc_tokens, users

logging.getLogger("authlib").setLevel(logging.INFO)  # its DEBUG lines carry codes and tokens

CODE_LIFETIME = 60
ACCESS_TOKEN_LIFETIME = 600
ISSUED, TAKEN, REUSED = 0, 1, 2
# Audit events: purpose "oidc", the client as who acted ("oidc:CLIENT_ID"; terms.AGENTS).


# ---- the Starlette adapter ----------------------------------------------------------

class _Payload(OAuth2Payload):
    def __init__(self, items):
        self._datalist = defaultdict(list)
        for k, v in items:
            self._datalist[k].append(v)
        self._data = {k: v[0] for k, v in self._datalist.items()}

    @property
    def data(self):
        return self._data

    @property
    def datalist(self):
        return self._datalist


class StarletteRequest(OAuth2Request):
    """An OAuth2Request for a Starlette request: `items` are its parameters, the
    query of an authorization request (maybe kept across the login) or a POST's
    form, read beforehand in the event loop."""

    def __init__(self, request, items, issuer, method=None):
        method = method or request.method
        # Its address as clients reach it (the issuer: TLS may end at a proxy), for Authlib's transport check.
        super().__init__(method, issuer + request.url.path, headers=request.headers)
        items = [(k, v) for k, v in items]
        self._args = dict(items) if method == "GET" else {}
        self._form = dict(items) if method == "POST" else {}
        self.payload = _Payload(items)

    @property
    def args(self):
        return self._args

    @property
    def form(self):
        return self._form


class User:
    """The end user of a grant, with how they logged in."""

    def __init__(self, username, auth_time=None, acr=None, amr=None, device=""):
        self.username, self.auth_time, self.acr, self.amr, self.device = username, auth_time, acr, amr, device

    def get_user_id(self):
        return self.username


class Code(AuthorizationCodeMixin):
    def __init__(self, row):
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self):
        return self.row.redirect_uri

    def get_scope(self):
        return self.row.scope

    def get_nonce(self):
        return self.row.nonce

    def get_auth_time(self):
        return int(self.row.auth_time)

    def get_acr(self):
        return self.row.acr

    def get_amr(self):
        return json.loads(self.row.amr)


class Token:
    """A stored access token, as Authlib's Bearer validator asks about it."""

    def __init__(self, row, client):
        self.row, self.client, self.scope = row, client, row.scope

    def check_client(self, client):
        return client.get_client_id() == self.row.client_id

    def get_scope(self):
        return self.row.scope

    def get_expires_in(self):
        return int(self.row.expires_at - self.row.created_at)

    def is_expired(self):
        return time.time() >= self.row.expires_at

    def is_revoked(self):
        return bool(self.row.revoked)

    def get_user(self):
        return User(self.row.username)

    def get_client(self):
        return self.client


def subject(verifier, username):
    """The user's stable `sub`: random, made on first need (one conditional UPDATE),
    never their name. None when there is no such user. Read first: most users have one
    already, and a write transaction would serialise every ID token on SQLite."""
    with verifier.engine.connect() as conn:
        found = conn.execute(select(users.c.subject).where(users.c.username == username)).scalar()
    if found is not None:
        return found
    with verifier.engine.begin() as conn:
        conn.execute(users.update().where(users.c.username == username).where(users.c.subject.is_(None))
                     .values(subject=secrets.token_urlsafe(24)))
        return conn.execute(select(users.c.subject).where(users.c.username == username)).scalar()


def user_info(verifier, username, scope):
    info = UserInfo(sub=subject(verifier, username))
    if "profile" in (scope or "").split():
        info["preferred_username"] = username  # identity data has no name to add as `name`
    return info


# ---- the grant and its extensions -----------------------------------------------------

class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code, request):
        verifier, user, now = self.server.verifier, request.user, self.server.verifier.clock()
        payload = request.payload.data
        with verifier.engine.begin() as conn:
            conn.execute(delete(oidc_codes).where(oidc_codes.c.expires_at < now - CODE_LIFETIME))
            conn.execute(oidc_codes.insert().values(
                digest=clients.digest(code), client_id=request.client.client_id, username=user.username,
                redirect_uri=request.payload.redirect_uri, scope=request.scope or "", nonce=payload.get("nonce"),
                code_challenge=payload.get("code_challenge"), code_challenge_method=payload.get("code_challenge_method"),
                auth_time=user.auth_time, acr=user.acr, amr=json.dumps(user.amr), state=ISSUED, created_at=now,
                expires_at=now + CODE_LIFETIME))
            with audit_log.acting("oidc:" + request.client.client_id):
                audit_log.record(conn, now, user.username, user.device, "oidc", "ok", "authorized")

    def query_authorization_code(self, code, client):
        """The code, taken now if it is live and this client's; a second use revokes what
        the first issued. One transaction."""
        verifier, now, key = self.server.verifier, self.server.verifier.clock(), clients.digest(code)
        mine = (oidc_codes.c.digest == key) & (oidc_codes.c.client_id == client.client_id)
        with verifier.engine.begin() as conn:
            taken = conn.execute(oidc_codes.update().where(mine).where(oidc_codes.c.state == ISSUED)
                                 .where(oidc_codes.c.expires_at > now).values(state=TAKEN)).rowcount
            if taken:
                return Code(conn.execute(select(oidc_codes).where(mine)).first())
            reused = conn.execute(oidc_codes.update().where(mine).where(oidc_codes.c.state.in_((TAKEN, REUSED)))
                                  .values(state=REUSED)).rowcount
            if reused:
                username = conn.execute(select(oidc_codes.c.username).where(mine)).scalar()
                conn.execute(oidc_tokens.update().where(oidc_tokens.c.code_digest == key).values(revoked=1))
                with audit_log.acting("oidc:" + client.client_id):
                    audit_log.record(conn, now, username, "", "oidc", "fail", "code reused")
        return None

    def delete_authorization_code(self, authorization_code):
        pass  # kept as taken until it expires: a second use must be recognised

    def authenticate_user(self, authorization_code):
        with self.server.verifier.engine.connect() as conn:
            found = conn.execute(select(users.c.id).where(users.c.username == authorization_code.row.username)).first()
        return User(authorization_code.row.username) if found else None


class S256Challenge(CodeChallenge):
    """PKCE: S256 only; required of public clients, accepted from confidential ones."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if grant.request.client.public and not data.get("code_challenge"):
            raise InvalidRequestError("a public client must send a PKCE code_challenge (S256)")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        return super().validate_code_challenge(grant, redirect_uri)


class OpenIDConnect(OpenIDCode):
    def __init__(self, server):
        super().__init__(require_nonce=False)
        self.server = server
        self.keys = {}  # alg -> (kid, key) for this request

    def exists_nonce(self, nonce, request):
        with self.server.verifier.engine.connect() as conn:
            return conn.execute(select(oidc_codes.c.digest).where(oidc_codes.c.nonce == nonce)
                                .where(oidc_codes.c.client_id == request.payload.client_id)).first() is not None

    def _key(self, alg):
        """(kid, key), read once per request: the header's kid names the key that signs
        even if a rotation commits between Authlib's two questions."""
        if alg not in self.keys:
            self.keys[alg] = keys.signing_key(self.server.verifier, alg)
        return self.keys[alg]

    def resolve_client_private_key(self, client):
        return self._key(client.id_token_signed_response_alg)[1]

    def get_encode_header(self, client):
        alg = client.id_token_signed_response_alg
        return {"alg": alg, "kid": self._key(alg)[0]}

    def get_client_claims(self, client):
        return {"iss": self.server.issuer, "aud": [client.client_id],
                "exp": int(time.time()) + keys.ID_TOKEN_LIFETIME}

    def generate_user_info(self, user, scope):
        return user_info(self.server.verifier, user.username, scope)


class Issuer(IssuerParameter):
    def __init__(self, issuer):
        self.issuer = issuer

    def get_issuer(self):
        return self.issuer


class AccessTokens(BearerTokenValidator):
    def __init__(self, verifier):
        super().__init__()
        self.verifier = verifier

    def authenticate_token(self, token_string):
        if not isinstance(token_string, str) or len(token_string) > 200:
            return None
        with self.verifier.engine.connect() as conn:
            row = conn.execute(select(oidc_tokens).where(oidc_tokens.c.digest == clients.digest(token_string))).first()
        if row is None:
            return None
        return Token(row, clients.find(self.verifier, row.client_id))


class Redirect(Response):
    """A response whose Location Authlib's hooks read and change (RFC 9207's iss)."""

    @property
    def location(self):
        return self.headers.get("location")

    @location.setter
    def location(self, value):
        self.headers["location"] = value


# ---- the server ----------------------------------------------------------------------

class Provider(AuthorizationServer):
    """One request's authorization server: its verifier and issuer (the public URL)."""

    def __init__(self, verifier, issuer):
        super().__init__(scopes_supported=list(clients.SCOPES))
        self.verifier, self.issuer = verifier, issuer
        self.register_token_generator("default", BearerTokenGenerator(
            access_token_generator=lambda **_: secrets.token_urlsafe(32),
            expires_generator=lambda client, grant_type: ACCESS_TOKEN_LIFETIME))
        self.register_grant(CodeGrant, [S256Challenge(required=True), OpenIDConnect(self)])
        self.register_extension(Issuer(issuer))

    def query_client(self, client_id):
        return clients.find(self.verifier, client_id)

    def save_token(self, token, request):
        """Store the access token under the code row's lock (see the module's docstring)."""
        now, code = self.verifier.clock(), request.authorization_code.row
        with self.verifier.engine.begin() as conn:
            state = conn.execute(select(oidc_codes.c.state).where(oidc_codes.c.digest == code.digest)
                                 .with_for_update()).scalar()
            if state != TAKEN:
                raise InvalidGrantError("the code was used twice")
            conn.execute(delete(oidc_tokens).where(oidc_tokens.c.expires_at < now))  # the table holds live ones
            conn.execute(oidc_tokens.insert().values(
                digest=clients.digest(token["access_token"]), client_id=request.client.client_id, username=code.username,
                scope=token.get("scope") or code.scope, code_digest=code.digest, revoked=0, created_at=now,
                expires_at=now + ACCESS_TOKEN_LIFETIME))
            with audit_log.acting("oidc:" + request.client.client_id):
                audit_log.record(conn, now, code.username, "", "oidc", "ok", "token issued")

    def create_oauth2_request(self, request):
        return request  # already a StarletteRequest (the routes make it)

    def create_json_request(self, request):
        raise NotImplementedError("no JSON requests")

    def handle_response(self, status_code, payload, headers):
        headers = dict(headers or ())
        headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
        if isinstance(payload, dict):
            headers.pop("Content-Type", None)
            return JSONResponse(payload, status_code=status_code, headers=headers)
        return Redirect(payload or b"", status_code=status_code, headers=headers)

    def send_signal(self, name, *args, **kwargs):
        pass  # Authlib's Flask integration sends blinker signals; nothing here listens

    def userinfo(self, request):
        """The claims for a Bearer access token: (status, JSON, headers) Authlib makes."""
        protector = ResourceProtector()
        protector.register_token_validator(AccessTokens(self.verifier))
        try:
            token = protector.validate_request(["openid"], request)
        except Exception as error:  # noqa: BLE001 - Authlib's OAuth2Error, as a 401 with WWW-Authenticate
            status, body, headers = error(None) if callable(error) else (401, {"error": "invalid_token"}, [])
            return self.handle_response(status, dict(body), headers)
        return self.handle_response(200, dict(user_info(self.verifier, token.row.username, token.scope)), [])
