"""OpenDSC Mobile's API under /mobile/api (docs/mobile.md): what the app sends
to activate itself, to learn of logins waiting, and to answer them, and the
Web Push subscription that wakes it when one waits.

Every rule is the library's (host/verifier/mobile*.py); these routes check only
JSON types. Activation and answers are throttled per client address (an
activation code is short; an answer judges a PIN). A poll is not: the app polls
while it is open (a long poll, ?wait=, while nothing waits for it), and each poll
is signed by the device key; nor is a push subscription or a removal, which are
signed the same way.
"""

from typing import List, Optional

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, StrictStr

from host.server import longpoll, throttle
from host.server.errors import rejected, responses

router = APIRouter(prefix="/mobile/api")


class ActivateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: StrictStr
    ecdh: StrictStr
    device_key: StrictStr


class Activated(BaseModel):
    activation: str
    ecdh: str
    suite: str
    serial: str
    user: str


class FinishActivationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    activation: StrictStr
    pin: StrictStr
    signature: StrictStr


class ActivationDone(BaseModel):
    serial: str
    user: str


class SignedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: StrictStr
    signature: StrictStr


class WaitingLogin(BaseModel):
    transaction: str
    user: str
    purpose: str
    origin: str
    at: str
    expires_at: str
    question: str
    numbers: List[int]
    # a withdrawal's (the app shows them, signs over them and names them in its answer)
    amount: Optional[str] = None
    destination: Optional[str] = None
    destination_digits: Optional[str] = None


class Waiting(BaseModel):
    waiting: List[WaitingLogin]


class PushKey(BaseModel):
    public_key: str


class Subscribed(BaseModel):
    serial: str


class Removed(BaseModel):
    serial: str
    user: str


class Answered(BaseModel):
    model_config = ConfigDict(extra="allow")  # what a purpose adds, e.g. amount
    ok: bool
    user: str
    device: str
    kind: str
    purpose: str


def origin(request, application):
    """Where a login comes from, as the phone asked to approve it shows it: the client's
    address (behind a trusted proxy, the address the proxy saw; from a trusted plugin
    host, the end user's address it names) and the application."""
    return "%s, %s" % (throttle.client_address(request) or "?", application)


@router.post("/activate", response_model=Activated, responses=responses(400, 404, 413, 422, 429, 503))
def activate(body: ActivateRequest, request: Request):
    """The app's first step: the activation code and its public keys; the server's ECDH key back."""
    seconds = throttle.wait(request)
    if seconds is not None:
        return throttle.refused(seconds)
    return request.app.state.verifier.mobile_activate(body.code, body.ecdh, body.device_key)


@router.post("/activate/finish", response_model=ActivationDone, responses=responses(400, 401, 404, 413, 422, 429, 503))
def finish_activation(body: FinishActivationRequest, request: Request):
    """The app's second step: the PIN hash sealed for the activation, signed by the device key."""
    seconds = throttle.wait(request)
    if seconds is not None:
        return throttle.refused(seconds)
    return request.app.state.verifier.mobile_activate_finish(body.activation, body.pin, body.signature)


@router.post("/waiting", response_model=Waiting, responses=responses(400, 401, 413, 422, 503))
async def waiting(body: SignedRequest, request: Request,
                  wait: int = Query(0, ge=0, le=longpoll.MAX_WAIT,
                                    description="Seconds to hold the answer while nothing waits (a long poll)")):
    """The logins waiting for the phone that signed this poll; with ?wait=N, the answer comes
    as soon as one arrives, or empty after N seconds."""
    verifier = request.app.state.verifier
    found = await longpoll.until(request, lambda: verifier.mobile_waiting(body.message, body.signature), bool, wait)
    return {"waiting": found}


@router.post("/answer", response_model=Answered, responses=responses(400, 401, 403, 404, 413, 422, 423, 429, 503))
def answer(body: SignedRequest, request: Request):
    """The phone's signed approval or decline of one login."""
    seconds = throttle.wait(request)
    if seconds is not None:
        return throttle.refused(seconds)
    result = request.app.state.verifier.mobile_answer(body.message, body.signature)
    if not result.get("ok"):
        return rejected(result)
    return result


@router.post("/remove", response_model=Removed, responses=responses(400, 401, 413, 422, 503))
def remove(body: SignedRequest, request: Request):
    """The account removed from the app: the phone, signing {device, poll, remove: true},
    is revoked, so logins no longer wait for it."""
    return request.app.state.verifier.mobile_remove(body.message, body.signature)


@router.get("/push/key", response_model=PushKey, responses=responses(503))
def push_key(request: Request):
    """The server's VAPID public key (a raw P-256 point, base64url): the app's applicationServerKey."""
    return {"public_key": request.app.state.verifier.mobile_push_key()}


@router.post("/push/subscribe", response_model=Subscribed, responses=responses(400, 401, 413, 422, 503))
def push_subscribe(body: SignedRequest, request: Request):
    """The phone's push subscription (endpoint, p256dh, auth), signed by the device key like a poll."""
    return request.app.state.verifier.mobile_push_subscribe(
        body.message, body.signature, allow_http=request.app.state.settings.push_allow_http)
