"""privacyIDEA-compatible validation, so that privacyIDEA's plugins (PAM, FreeRADIUS,
Keycloak, simpleSAMLphp) work against OpenDSC unchanged (docs/api.md).

No policy lives here: each route translates a request into the verifier library's
start(), finish(), issue(), check_password(), device_owner(), challenge_state() or
mobile_approved(), and the result back into privacyIDEA's JSON envelope:

    {"jsonrpc": "2.0", "id": 1, "version": ..., "versionnumber": ..., "time": ...,
     "result": {"status": true, "value": ..., "authentication": "CHALLENGE|ACCEPT|REJECT|DECLINED"},
     "detail": {...}}

An error is result.status false with result.error {code, message}, detail null and
no versionnumber (as privacyIDEA's send_error), with a 4xx status.

Parameters come from the query string and from the body (form data, multipart or
JSON), as privacyIDEA reads them: form and query values are percent-decoded once
more unless the client's User-Agent is one privacyIDEA exempts (its plugins encode
the values themselves before the HTTP encoding; privacyidea/api/lib/utils.py,
check_unquote). JSON values are taken as they are.

A `client` parameter (the end user's address, as privacyIDEA's plugins send it)
counts only from a plugin host named with --trusted-plugin (proxies.plugin_client):
then it is the address throttled, logged and shown on the phone, as privacyIDEA's
override-client setting makes it.

Every first-factor refusal (wrong password, unknown user, locked, no device) and
every second-factor refusal (wrong, expired or used challenge, locked) is the same
REJECT with the same message: the answer never tells which.
"""

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from email import policy as email_policy
from email.parser import BytesParser
from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from host.server import mobile, proxies, threads, throttle
from host.verifier import inputs, passwords
from host.verifier.errors import VerifierError
from host.verifier.kinds import LOGIN, kind

log = logging.getLogger("dsc.server")
router = APIRouter(tags=["privacyIDEA-compatible"])

VERSION_NUMBER = "3.14"  # the privacyIDEA API this layer follows (its envelope and /validate, /auth)
VERSION = "privacyIDEA %s (OpenDSC)" % VERSION_NUMBER
REJECTED = "Authentication failed."
# privacyIDEA's error ids: ParameterError, AuthError (wrong credentials / bad token).
PARAMETER_ERROR, AUTH_ERROR, TOKEN_ERROR = 905, 4031, 4033
# Clients whose values privacyIDEA does not percent-decode a second time (check_unquote).
NO_UNQUOTE_AGENTS = {"privacyidea-cp", "privacyidea-ldap-proxy", "simplesamlphp"}
TOKEN_LIFETIME = 3600  # seconds a /auth JWT is valid
MAX_VALUE = 1024  # characters of one parameter
# A serial-only login is throttled under "serial:SERIAL" in the user name's stead (no user name holds ":").
SERIAL_THROTTLE = "serial:"


def _documented(*statuses):
    return {s: {"description": "privacyIDEA's envelope with result.status false" if s >= 400 else "no body"}
            for s in statuses}


class BadRequest(Exception):
    def __init__(self, message, status=400, code=PARAMETER_ERROR, headers=None):
        super().__init__(message)
        self.status, self.code, self.headers = status, code, headers


# ---- the envelope ---------------------------------------------------------------------

def envelope(result, detail=None, status=200):
    body = {"jsonrpc": "2.0", "id": 1, "version": VERSION, "versionnumber": VERSION_NUMBER,
            "time": time.time(), "result": result, "detail": detail if detail is not None else {}}
    return JSONResponse(body, status_code=status)


def failure(e):
    """privacyIDEA's error answer (its send_error): detail null and no versionnumber."""
    body = {"jsonrpc": "2.0", "id": 1, "version": VERSION, "time": time.time(),
            "result": {"status": False, "error": {"code": e.code, "message": str(e)}}, "detail": None}
    return JSONResponse(body, status_code=e.status, headers=e.headers)


async def _throttle(request, name):
    """Count this attempt (client address, user name); BadRequest 429 with Retry-After when over the limit."""
    await threads.transaction(request, _count_attempt, request, name)


def _count_attempt(request, name):
    seconds = throttle.wait(request, name)
    if seconds is not None:
        raise BadRequest(throttle.message(seconds), status=429, code=AUTH_ERROR,
                         headers={"Retry-After": str(seconds)})


def reject(**detail):
    detail.setdefault("message", REJECTED)
    return envelope({"status": True, "value": False, "authentication": "REJECT"}, detail)


def accept(result):
    return envelope({"status": True, "value": True, "authentication": "ACCEPT"},
                    {"message": "matching 1 tokens", "serial": result["device"], "type": result["kind"]})


def challenge(ch, value=False):
    """A challenge as privacyIDEA's multi_challenge. value: /validate/check says
    false (not authenticated yet); /validate/triggerchallenge says how many.

    The challenge to type is in `message` and has no `attributes`, as privacyIDEA's
    HOTP and TOTP challenges (its PHP client takes `attributes` for a string). A
    phone's login comes twice, as privacyIDEA's push token does: to poll for
    (client_mode poll, with the push token's attributes; the number to pick is in
    its message) and to type offline. As privacyIDEA does, detail repeats each
    challenge's fields, the last one's winning, beside the list."""
    message = kind(ch["kind"]).prompt + (": " + ch["challenge"] if ch["challenge"] else "")
    typed = {"transaction_id": ch["challenge_id"], "serial": ch["serial"], "type": ch["kind"],
             "client_mode": "interactive", "message": message}
    entries, preferred = [typed], "interactive"
    if ch.get("number") is not None:
        message, preferred = "Approve on your phone: pick %d" % ch["number"], "poll"
        entries = [dict(typed, client_mode="poll", message=message, attributes={"hideResponseInput": True}), typed]
    detail = {}
    for entry in entries:
        detail.update(entry)
    detail.update(message=message, messages=[e["message"] for e in entries], multi_challenge=entries,
                  transaction_ids=[e["transaction_id"] for e in entries], preferred_client_mode=preferred)
    return envelope({"status": True, "value": value, "authentication": "CHALLENGE"}, detail)


# ---- parameters -----------------------------------------------------------------------

async def params(request):
    """All parameters: the query string, then the body (JSON, form or multipart).
    A trusted plugin host's `client` becomes the request's client address (plugin_client)."""
    found = await _parameters(request)
    _plugin_client(request, found.get("client"))
    return found


async def _parameters(request):
    decode = unquote if _agent(request).lower() not in NO_UNQUOTE_AGENTS else (lambda v: v)
    found = {k: decode(v) for k, v in _pairs(request.url.query)}
    body = await request.body()
    ctype = request.headers.get("content-type", "")
    media = ctype.split(";")[0].strip().lower()
    if not body.strip():
        return found
    if media == "application/x-www-form-urlencoded":
        found.update({k: decode(v) for k, v in _pairs(_text(body))})
    elif media == "multipart/form-data":
        found.update({k: decode(v) for k, v in _multipart(ctype, body).items()})
    else:  # JSON, by its content type or (as privacyIDEA does) whatever the body is
        try:
            data = json.loads(_text(body))
        except ValueError:
            raise BadRequest("the body is neither form data nor a JSON object")
        if not isinstance(data, dict):
            raise BadRequest("the JSON body is not an object")
        for k, v in data.items():
            if isinstance(v, bool) or not isinstance(v, (str, int)):
                raise BadRequest("parameter %s must be a string" % _name(k))
            found[k] = str(v)
    for k, v in found.items():
        if len(v) > MAX_VALUE:
            raise BadRequest("parameter %s is too long" % _name(k))
    return found


def _plugin_client(request, claimed):
    """From a trusted plugin host, the end user's address it names in `client` is the
    request's client from here on: for the throttle, the phone's origin and the access
    log, which also names the plugin host (scope "dsc.plugin_host")."""
    peer = throttle.client_address(request)
    client = proxies.plugin_client(peer, claimed, getattr(request.app.state, "trusted_plugins", ()))
    if client != peer:
        request.scope["client"] = (client, 0)
        request.scope["dsc.plugin_host"] = peer


def _text(body):
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8")


def _pairs(text):
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict", max_num_fields=64)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("malformed form data")


def _multipart(ctype, body):
    try:
        message = BytesParser(policy=email_policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body)
        if not message.is_multipart():
            raise BadRequest("malformed multipart body")
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes) and len(fields) < 64:
                fields[name] = payload.decode("utf-8")
        return fields
    except BadRequest:
        raise
    except (ValueError, UnicodeError, TypeError, IndexError, AttributeError):
        raise BadRequest("malformed multipart body")


def _name(key):
    return key if isinstance(key, str) and key.isidentifier() and len(key) <= 32 else "(name)"


def required(found, name):
    value = found.get(name)
    if value is None:
        raise BadRequest("Missing parameter: %s" % name)
    return value


def user_name(found):
    """`user`, with a `name@realm` split off; OpenDSC has one realm, so realm is not checked."""
    name = required(found, "user")
    return name.rsplit("@", 1)[0] if "@" in name else name


# ---- /validate ------------------------------------------------------------------------

async def _check(request):
    """The shared step of /validate/check and /validate/radiuscheck: (kind, detail or result)."""
    found = await params(request)
    password = required(found, "pass")
    name = user_name(found) if "user" in found else None
    serial = found.get("serial") or None
    transaction = found.get("transaction_id") or found.get("state")
    verifier = request.app.state.verifier
    if transaction:  # the count and the answer in one trip to a transaction thread
        return await threads.transaction(request, _counted_second_factor, request, verifier, transaction, password,
                                         name, serial)
    if name is None and serial is None:
        raise BadRequest("You need to specify a serial or a user.")
    if name is None:
        return await _serial_first_factor(request, verifier, serial, password)
    await _throttle(request, name)
    try:
        ch = await run_in_threadpool(verifier.start, name, password, serial, origin=_origin(request))
    except VerifierError:
        return "reject", None
    return "challenge", ch


async def _serial_first_factor(request, verifier, serial, password):
    """`serial` + `pass` without `user` (privacyIDEA's check_serial_pass): the serial names
    the device, `pass` is its owner's password (a user it is shared with cannot log in
    this way), counted toward the owner's lockout. An unknown serial (or one that names
    devices of several owners) takes a password check's time and gets the same REJECT.
    Throttled per address and per serial, a known one as an unknown one, so that the
    limit tells nothing about which serials exist or whose they are."""
    await _throttle(request, SERIAL_THROTTLE + serial)
    owner = await run_in_threadpool(verifier.device_owner, serial)
    if owner is None:
        await run_in_threadpool(passwords.check_nobody, password)
        return "reject", None
    try:
        ch = await run_in_threadpool(verifier.start, owner, password, serial, origin=_origin(request))
    except VerifierError:
        return "reject", None
    return "challenge", ch


def _origin(request):
    """Where the login comes from, for a phone asked to approve it: the client's address and
    the calling application as its User-Agent names itself (privacyidea-cp, FreeRADIUS, ...)."""
    agent = "".join(c for c in _agent(request) if c.isalnum() or c in "-_.")[:40]
    return mobile.origin(request, agent or "validate API")


def _agent(request):
    """The client's product as its User-Agent names it first ("privacyidea-cp/3.10 ..." -> "privacyidea-cp")."""
    return request.headers.get("user-agent", "").strip().split(" ")[0].split("/")[0]


def _counted_second_factor(request, verifier, transaction, response, name, serial):
    _count_attempt(request, name)
    return _second_factor(verifier, transaction, response, name, serial)


def _second_factor(verifier, transaction, response, name, serial):
    try:
        if name is not None:
            name = inputs.username(name)
        # An empty pass takes a login approved on the phone (client_mode poll);
        # it counts nothing, since it guesses no secret.
        # login only: another purpose's challenge (a withdrawal) is not judged here at all
        result = (verifier.complete(transaction, purpose=LOGIN) if response == ""
                  else verifier.finish(transaction, response, purpose=LOGIN))
    except VerifierError:
        return "reject", None
    if result is None or not result.get("ok") or result.get("purpose") != LOGIN:
        return "reject", None
    if (name is not None and result["user"] != name) or (serial is not None and result["device"] != serial):
        return "reject", None
    return "accept", result


@router.get("/validate/check", operation_id="validate_check_get", responses=_documented(400, 429))
@router.post("/validate/check", operation_id="validate_check_post", responses=_documented(400, 429))
async def validate_check(request: Request):
    try:
        outcome, value = await _check(request)
    except BadRequest as e:
        return failure(e)
    if outcome == "challenge":
        return challenge(value)
    return accept(value) if outcome == "accept" else reject()


@router.get("/validate/radiuscheck", operation_id="validate_radiuscheck_get", status_code=204,
            responses=_documented(204, 400, 429))
@router.post("/validate/radiuscheck", operation_id="validate_radiuscheck_post", status_code=204,
             responses=_documented(204, 400, 429))
async def validate_radiuscheck(request: Request):
    try:
        outcome, _ = await _check(request)
    except BadRequest as e:
        if e.status == 429:
            return failure(e)
        outcome = "error"
    return Response(status_code=204 if outcome == "accept" else 400)


@router.get("/validate/polltransaction/{transaction_id}", responses=_documented(400),
            operation_id="validate_polltransaction_path")
async def validate_polltransaction_path(request: Request, transaction_id: str):
    """privacyIDEA's path form of the poll: the transaction id in the path (declared, so
    the OpenAPI schema names it), answered as the query form is."""
    return await validate_polltransaction(request)


@router.get("/validate/polltransaction", responses=_documented(400))
async def validate_polltransaction(request: Request):
    """As privacyIDEA 3.14 answers it: accept (value true, ACCEPT) while a phone's
    approval waits for the plugin to take it with an empty pass; declined (DECLINED)
    once the phone declined; pending (REJECT) otherwise: open, answered by a typed
    response or taken already (privacyIDEA deletes an answered challenge), expired,
    closed or unknown."""
    try:
        found = await params(request)
        transaction = request.path_params.get("transaction_id") or required(found, "transaction_id")
    except BadRequest as e:
        return failure(e)
    status, authentication = await run_in_threadpool(_poll_status, request.app.state.verifier, transaction)
    return envelope({"status": True, "value": status == "accept", "authentication": authentication},
                    {"challenge_status": status})


def _poll_status(verifier, transaction):
    """(challenge_status, authentication) of a polled transaction, in one trip to a thread."""
    if verifier.mobile_approved(transaction):
        return "accept", "ACCEPT"
    if verifier.challenge_state(transaction) == "declined":
        return "declined", "DECLINED"
    return "pending", "REJECT"


@router.post("/validate/triggerchallenge", responses=_documented(400, 401))
async def validate_triggerchallenge(request: Request):
    """A challenge for `user` without the password: the caller, a service account
    holding a /auth token, has checked the first factor itself."""
    try:
        token = request.headers.get("pi-authorization") or request.headers.get("authorization")
        verify_token(_secret(request.app), token)
        found = await params(request)
        name = user_name(found)
    except BadRequest as e:
        return failure(e)
    try:
        ch = await run_in_threadpool(request.app.state.verifier.issue, name, found.get("serial") or None,
                                     origin=_origin(request))
    except VerifierError:
        return envelope({"status": True, "value": 0, "authentication": "REJECT"},
                        {"messages": [], "multi_challenge": [], "transaction_ids": []})  # privacyIDEA's, no message
    return challenge(ch, value=1)


# ---- /auth: a JWT for service accounts ------------------------------------------------

@router.post("/auth", responses=_documented(400, 401, 429))
async def auth(request: Request):
    """A JWT (HS256, `exp` in TOKEN_LIFETIME) for a service account: a verifier user
    named in DSC_SERVICE_ACCOUNTS (comma-separated) with its password. Any other
    name, a wrong password and a locked account get the same 401, and so does a
    missing name or password, as privacyIDEA answers them."""
    try:
        found = await params(request)
        name = user_name({"user": found.get("username", "")})
        password = found.get("password", "")
        await _throttle(request, name or None)
    except BadRequest as e:
        return failure(e)
    wrong = BadRequest("Authentication failure. Wrong credentials", status=401, code=AUTH_ERROR)
    try:
        user = await run_in_threadpool(request.app.state.verifier.check_password, name, password)
    except VerifierError:
        return failure(wrong)
    if user.username not in service_accounts(request.app):
        return failure(wrong)
    now = int(time.time())
    claims = {"username": user.username, "realm": "", "role": "admin", "authtype": "opendsc",
              "iat": now, "exp": now + TOKEN_LIFETIME, "nonce": secrets.token_hex(10)}
    token = encode_token(_secret(request.app), claims)
    return envelope({"status": True, "value": {"token": token, "username": user.username, "role": "admin",
                                                "realm": "", "rights": ["triggerchallenge"]}})


def service_accounts(app):
    names = getattr(app.state, "service_accounts", None)
    if names is None:
        names = {n.strip().lower() for n in os.environ.get("DSC_SERVICE_ACCOUNTS", "").split(",") if n.strip()}
    return names


_lock = threading.Lock()


def _secret(app):
    """The deployment's signing key: app.state.jwt_secret, else the file named by
    DSC_JWT_SECRET_FILE (at least 32 bytes), else a random key for this process
    (then a token works only on the worker that issued it)."""
    with _lock:
        key = getattr(app.state, "jwt_secret", None)
        if key is None:
            path = os.environ.get("DSC_JWT_SECRET_FILE")
            if path:
                with open(path, "rb") as f:
                    key = f.read().strip()
                if len(key) < 32:
                    raise RuntimeError("DSC_JWT_SECRET_FILE holds fewer than 32 bytes")
            else:
                log.warning("no DSC_JWT_SECRET_FILE: /auth tokens are valid on this process only")
                key = secrets.token_bytes(32)
            app.state.jwt_secret = key
        return key


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_HEADER = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())


def encode_token(key, claims):
    signing = _HEADER + "." + _b64(json.dumps(claims, separators=(",", ":")).encode())
    return signing + "." + _b64(hmac.new(key, signing.encode("ascii"), hashlib.sha256).digest())


def verify_token(key, token, now=None):
    """The claims of a valid, unexpired HS256 token; BadRequest (401) otherwise."""
    refused = BadRequest("Authentication failure. Missing or invalid Authorization header.", status=401,
                         code=TOKEN_ERROR)
    if not isinstance(token, str):
        raise refused
    token = token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    parts = token.split(".")
    if len(parts) != 3 or not token.isascii():
        raise refused
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (ValueError, TypeError):
        raise refused
    expected = hmac.new(key, (parts[0] + "." + parts[1]).encode("ascii"), hashlib.sha256).digest()
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not hmac.compare_digest(signature, expected):
        raise refused
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)) or exp <= (time.time() if now is None else now):
        raise refused
    return claims
