"""The operator API under /api/v1: users, devices, temporary passcodes, cards,
withdrawals and the audit log, behind bearer API keys (`dsc apikey create`).

Each route checks the key's role (host/verifier/apikeys.py says what each role
may do), checks JSON types, and calls the same library method as the CLI: no
policy lives here. A missing or bad key is 401 with WWW-Authenticate; a key
whose role may not do it is 403.
"""

from typing import Dict, List, Literal, Optional

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from host.oidc import clients as oidc_clients
from host.server.errors import ApiError, responses
from host.server.login import Challenge
from host.verifier import apikeys, audit, cards
from host.verifier.errors import VerifierError
from host.verifier.timefmt import iso

router = APIRouter(prefix="/api/v1", tags=["operator"])
bearer = HTTPBearer(auto_error=False, description="an API key from `dsc apikey create`")

READ, HELPDESK, ADMIN = "auditor", "helpdesk", "admin"
Name = Field(max_length=200)  # the library checks the real rules; this bounds what is parsed
CardFormat = Literal["png", "pdf", "txt"]


def role(needed):
    """A dependency: the request's API key must allow `needed`. The audit events
    the request causes name the key (audit.ACTOR: set here, in the request's
    context, which the route's thread inherits)."""

    async def check(request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)):
        key = credentials.credentials if credentials is not None else None
        found = await run_in_threadpool(request.app.state.verifier.api_key, key) if key else None
        if found is None:
            raise ApiError(401, "unauthorized", "a valid API key is needed (Authorization: Bearer ...)",
                           headers={"WWW-Authenticate": "Bearer"})
        if not apikeys.allows(found["role"], needed):
            raise ApiError(403, "forbidden", "this API key's role (%s) may not do this" % found["role"])
        audit.ACTOR.set("apikey:%d" % found["id"])
        return found["role"]

    return Depends(check)


def verifier(request):
    return request.app.state.verifier


# ---- users ----------------------------------------------------------------------------

class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: StrictStr = Name
    password: StrictStr = Field(max_length=1024)
    role: Literal["user", "helpdesk"] = Field("user", description="helpdesk: staff of the portal's console")
    birth_date: StrictStr = Field("", max_length=200)
    citizenship: StrictStr = Field("", max_length=200)
    residence: StrictStr = Field("", max_length=200)
    id_type: StrictStr = Field("", max_length=200)
    id_number: StrictStr = Field("", max_length=200)


class UserRow(BaseModel):
    user: str
    created_at: str
    role: str


class Device(BaseModel):
    model_config = ConfigDict(extra="allow")
    serial: str
    kind: str
    status: str


class UserInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    user: str
    created_at: str
    locked_until: Optional[str] = None
    devices: List[Device]


ERRORS = responses(400, 401, 403, 404, 409, 413, 422, 503)


@router.get("/users", response_model=List[UserRow], responses=ERRORS, dependencies=[role(READ)])
def list_users(request: Request):
    return verifier(request).users()


@router.post("/users", status_code=201, responses=ERRORS, dependencies=[role(ADMIN)])
def add_user(body: NewUser, request: Request) -> Dict[str, str]:
    identity = body.model_dump(exclude={"username", "password"})
    return {"user": verifier(request).add_user(body.username, body.password, **identity)}


@router.get("/users/{name}", response_model=UserInfo, responses=ERRORS, dependencies=[role(READ)])
def show_user(name: str, request: Request):
    return verifier(request).user_info(name)


@router.delete("/users/{name}", responses=ERRORS, dependencies=[role(ADMIN)])
def remove_user(name: str, request: Request) -> Dict[str, object]:
    return {"user": verifier(request).remove_user(name), "removed": True}


@router.post("/users/{name}/unlock", responses=ERRORS, dependencies=[role(HELPDESK)])
def unlock_user(name: str, request: Request) -> Dict[str, object]:
    return {"user": verifier(request).unlock(name), "unlocked": True}


# ---- devices --------------------------------------------------------------------------

class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    serial: StrictStr = Name
    key_file: StrictStr = Field(max_length=4096, description="the text of the key file dsc provision wrote")
    pin: Optional[StrictStr] = Field(None, max_length=64)
    suite: Optional[StrictStr] = Field(None, max_length=200)
    active: StrictBool = False


class PskcUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pskc: StrictStr = Field(max_length=60000, description="the PSKC file's XML (RFC 6030)")
    password: StrictStr = Field(max_length=1024, description="the file's passphrase")
    serial: Optional[StrictStr] = Field(None, max_length=200, description="which token, when it holds several")
    pin: Optional[StrictStr] = Field(None, max_length=64)
    active: StrictBool = False


class Enrolled(BaseModel):
    user: str
    serial: str
    status: str


def _enrolled(request, name, serial):
    dev = next(d for d in verifier(request).devices(name) if d["serial"] == serial)
    return {"user": dev.get("owner", name), "serial": serial, "status": dev["status"]}


@router.get("/users/{name}/devices", response_model=List[Device], responses=ERRORS, dependencies=[role(READ)])
def list_devices(name: str, request: Request):
    return verifier(request).devices(name)


@router.post("/users/{name}/devices", status_code=201, response_model=Enrolled, responses=ERRORS,
             dependencies=[role(ADMIN)])
def enroll_token(name: str, body: NewToken, request: Request):
    from host import ocra
    from host.files import parse_hex_key

    try:
        key = parse_hex_key(body.key_file)
    except ValueError as e:
        raise VerifierError("bad-key", "key_file: %s" % e)
    serial = verifier(request).enroll_token(name, body.serial, key, body.pin, suite=body.suite or ocra.DEFAULT_SUITE,
                                            active=body.active)
    return _enrolled(request, name, serial)


@router.post("/users/{name}/devices/pskc", status_code=201, response_model=Enrolled, responses=ERRORS,
             dependencies=[role(ADMIN)])
def import_token(name: str, body: PskcUpload, request: Request):
    from host import pskc_io

    try:
        tokens = pskc_io.parse_pskc(body.pskc.encode("utf-8"), password=body.password)
    except pskc_io.PskcError as e:
        raise VerifierError("bad-pskc", str(e))
    serial = verifier(request).import_token(name, tokens, body.pin, serial=body.serial, active=body.active)
    return _enrolled(request, name, serial)


class Status(BaseModel):
    serial: str
    status: str


@router.post("/users/{name}/devices/{serial}/activate", response_model=Status, responses=ERRORS,
             dependencies=[role(ADMIN)])
def activate(name: str, serial: str, request: Request):
    return {"serial": serial, "status": verifier(request).set_token_status(name, serial, True)}


@router.post("/users/{name}/devices/{serial}/deactivate", response_model=Status, responses=ERRORS,
             dependencies=[role(HELPDESK)])
def deactivate(name: str, serial: str, request: Request):
    return {"serial": serial, "status": verifier(request).set_token_status(name, serial, False)}


@router.post("/users/{name}/devices/{serial}/revoke", response_model=Status, responses=ERRORS,
             dependencies=[role(HELPDESK)])
def revoke(name: str, serial: str, request: Request):
    return {"serial": verifier(request).revoke_device(name, serial), "status": "revoked"}


@router.delete("/users/{name}/devices/{serial}", responses=ERRORS, dependencies=[role(ADMIN)])
def remove_device(name: str, serial: str, request: Request) -> Dict[str, object]:
    return {"serial": verifier(request).remove_device(name, serial), "removed": True}


# ---- temporary passcodes and cards ----------------------------------------------------

class Passcode(BaseModel):
    serial: str
    passcode: str
    full_access_until: str
    expires_at: str


def _passcode(temp):
    return {"serial": temp["serial"], "passcode": temp["passcode"],
            "full_access_until": iso(temp["full_access_until"]), "expires_at": iso(temp["expires_at"])}


@router.post("/users/{name}/devices/{serial}/replace", response_model=Passcode, responses=ERRORS,
             dependencies=[role(ADMIN)])
def replace(name: str, serial: str, request: Request, response: Response):
    """A lost token: deactivated, and a temporary passcode issued (shown only in this answer)."""
    response.headers["Cache-Control"] = "no-store"
    return _passcode(verifier(request).replace_token(name, serial))


@router.post("/users/{name}/temp-passcode", response_model=Passcode, responses=ERRORS,
             dependencies=[role(HELPDESK)])
def temp_passcode(name: str, request: Request, response: Response):
    """A temporary passcode for a misplaced token, shown only in this answer."""
    response.headers["Cache-Control"] = "no-store"
    return _passcode(verifier(request).issue_temp_passcode(name))


CARD_FILE = {200: {"content": {t.split(";")[0]: {} for t in cards.FORMATS.values()},
                   "description": "the card as a file"}}


def _card_file(card, fmt, status):
    headers = {"Content-Disposition": 'attachment; filename="%s.%s"' % (card["serial"], fmt),
               "X-Card-Serial": card["serial"], "Cache-Control": "no-store"}
    return Response(cards.render(card, fmt), status_code=status, media_type=cards.FORMATS[fmt], headers=headers)


@router.post("/users/{name}/cards", status_code=201, response_class=Response,
             responses={**ERRORS, 201: CARD_FILE[200]}, dependencies=[role(HELPDESK)])
def issue_card(name: str, request: Request, format: CardFormat = "png"):
    """A permanent printed security code card, as a file to print and mail."""
    return _card_file(verifier(request).issue_printed_card(name), format, 201)


@router.post("/users/{name}/cards/{serial}/reprint", response_class=Response, responses={**ERRORS, **CARD_FILE},
             dependencies=[role(HELPDESK)])
def reprint_card(name: str, serial: str, request: Request, format: CardFormat = "png"):
    """An active card's file again (audited)."""
    return _card_file(verifier(request).card(name, serial), format, 200)


# ---- withdrawals ----------------------------------------------------------------------

class Withdrawal(BaseModel):
    amount: int
    destination: Optional[str] = Field(description="as the bank shows it; null for one confirmed before schema 11")
    destination_digits: Optional[str] = Field(description="the digits a signing device signed")
    device: str
    kind: str
    at: str


class WithdrawalSummary(BaseModel):
    user: str
    withdrawals: List[Withdrawal]
    room: Dict[str, Optional[int]]


class NewWithdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: StrictInt
    destination: Optional[StrictStr] = Field(None, max_length=200, description="the destination account as the "
                                                                              "bank shows it (required: the library "
                                                                              "says so, 400 bad-destination)")
    destination_digits: Optional[StrictStr] = Field(None, max_length=200, description="the digits the user keys "
                                                                                      "(default: the last 8 digits "
                                                                                      "of `destination`)")
    device: Optional[StrictStr] = Field(None, max_length=200)


@router.get("/users/{name}/withdrawals", response_model=WithdrawalSummary, responses=ERRORS,
            dependencies=[role(READ)])
def withdrawals(name: str, request: Request):
    return verifier(request).withdrawals(name)


@router.post("/users/{name}/withdrawals", response_model=Challenge, responses=ERRORS, dependencies=[role(ADMIN)])
def withdraw(name: str, body: NewWithdrawal, request: Request):
    """A challenge that confirms a withdrawal, for an application that has its own
    signed-in session (so no password); answered at /api/v1/login/finish."""
    return verifier(request).issue(name, device=body.device, purpose="withdrawal", amount=body.amount,
                                   destination=body.destination, destination_digits=body.destination_digits)


# ---- the audit log --------------------------------------------------------------------

class Event(BaseModel):
    id: int
    at: str
    user: str
    device: str
    purpose: str
    outcome: str
    reason: str
    actor: str = Field(description='who acted when not the user: "apikey:ID" for the operator API')
    amount: Optional[int] = Field(description="a withdrawal's amount, as the server stored it")
    destination: Optional[str] = Field(description="a withdrawal's destination (schema 11 on)")
    destination_digits: Optional[str] = Field(description="the destination's digits a signing device signs")


class AuditPage(BaseModel):
    events: List[Event]
    next: Optional[int] = Field(description="pass as `after` for the next page; null on the last page")


@router.get("/audit", response_model=AuditPage, responses=ERRORS, dependencies=[role(READ)])
def audit_log(request: Request, user: Optional[str] = None, outcome: Optional[Literal["ok", "fail"]] = None,
          after: int = Query(0, ge=0, le=2 ** 62), limit: int = Query(100, ge=1, le=1000)):
    """Events oldest first, `limit` at a time."""
    events = verifier(request).audit_log(user, outcome=outcome, after_id=after, limit=limit + 1)
    more = len(events) > limit
    events = events[:limit]
    return {"events": events, "next": events[-1]["id"] if more else None}


# ---- OpenID Connect clients (host/oidc/clients.py, docs/oidc.md) ------------------------------

class NewOidcClient(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(max_length=200, description="the application's name, as the consent page shows it")
    redirect_uris: List[StrictStr] = Field(max_length=32, description="where the login may return, matched exactly")
    public: StrictBool = Field(False, description="no secret: PKCE S256 instead")
    scopes: Optional[List[StrictStr]] = Field(None, max_length=8, description="openid (always) and profile")
    level: Optional[StrictStr] = Field(None, max_length=200, description="the least level it accepts (an acr value)")
    first_party: StrictBool = Field(False, description="the operator's own application: no consent page")
    post_logout_redirect_uris: Optional[List[StrictStr]] = Field(None, max_length=32)
    alg: Optional[Literal["ES256", "RS256"]] = Field(None, description="the ID token's signature (default ES256)")


class OidcClient(BaseModel):
    client_id: str
    name: str
    public: bool
    redirect_uris: List[str]
    post_logout_redirect_uris: List[str]
    scopes: List[str]
    level: str
    first_party: bool
    alg: str
    created_at: str
    client_secret: Optional[str] = Field(None, description="a confidential client's secret: in the answer to its "
                                                           "registration only, never again")


@router.post("/oidc/clients", status_code=201, response_model=OidcClient, response_model_exclude_none=True,
             responses=ERRORS, dependencies=[role(ADMIN)])
def add_oidc_client(body: NewOidcClient, request: Request, response: Response):
    response.headers["Cache-Control"] = "no-store"  # the secret is in this answer only
    return oidc_clients.add(verifier(request), body.name, body.redirect_uris, public=body.public, scopes=body.scopes,
                       level=body.level, first_party=body.first_party,
                       post_logout_redirect_uris=body.post_logout_redirect_uris, alg=body.alg)


@router.get("/oidc/clients", response_model=List[OidcClient], response_model_exclude_none=True, responses=ERRORS,
            dependencies=[role(READ)])
def list_oidc_clients(request: Request):
    return oidc_clients.list_all(verifier(request))


@router.delete("/oidc/clients/{client_id}", responses=ERRORS, dependencies=[role(ADMIN)])
def remove_oidc_client(client_id: str, request: Request) -> Dict[str, object]:
    try:
        return {"client_id": oidc_clients.remove(verifier(request), client_id), "removed": True}
    except VerifierError as e:
        if e.code == "no-client":
            raise ApiError(404, e.code, str(e))
        raise
