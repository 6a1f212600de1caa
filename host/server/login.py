"""POST /api/v1/login/start and /api/v1/login/finish: the library's start() and finish().

Every rule (names, purposes, PINs, amounts, lockout) is the library's; these
routes check only JSON types."""

from typing import Literal, Optional

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from host.server import mobile, threads, throttle
from host.server.errors import error, rejected, responses, verifier_error
from host.verifier.errors import VerifierError

router = APIRouter(prefix="/api/v1/login")


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: StrictStr
    password: StrictStr
    device: Optional[StrictStr] = None
    purpose: StrictStr = "login"
    new_pin: Optional[StrictStr] = None
    amount: Optional[StrictInt] = None
    destination: Optional[StrictStr] = Field(None, description="a withdrawal's destination account as the bank "
                                                               "shows it, e.g. \"Mizuho Bank 1234567\"")
    destination_digits: Optional[StrictStr] = Field(None, description="the destination's digits the user keys "
                                                                      "(1-8; default: the last 8 digits of "
                                                                      "`destination`)")


class Sign(BaseModel):
    """What a signing device's response covers (docs/protocol.md, "Signing")."""
    challenge: str
    amount: str = Field(description="the amount in minor units, as keyed")
    destination: str = Field(description="the destination's digits, as keyed")
    entry: Literal["keypad", "phone"] = Field(description="keypad: the user keys the challenge, the amount and the "
                                                          "destination into the token (after A and the PIN), in this "
                                                          "order; phone: the phone shows them in its approval request")


class Challenge(BaseModel):
    challenge_id: str
    kind: str
    serial: str
    device: str
    challenge: str
    prompt: str
    purpose: str
    expires_at: str
    expires_in: float
    amount: Optional[int] = None
    destination: Optional[str] = None
    destination_digits: Optional[str] = None
    sign: Optional[Sign] = Field(None, description="a withdrawal on a signing device: the fields its response signs")
    number: Optional[int] = None  # for a phone: the number its user must pick (docs/mobile.md)


class FinishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    challenge_id: StrictStr
    response: StrictStr


class Finished(BaseModel):
    model_config = ConfigDict(extra="allow")  # what a purpose adds: amount, destination, shared_with, card
    ok: bool
    user: str
    device: str
    kind: str
    purpose: str


@router.post("/start", response_model=Challenge, responses=responses(400, 401, 403, 409, 413, 422, 423, 429, 503))
def start(body: StartRequest, request: Request):
    """Check the password and issue a challenge for one of the user's devices."""
    metrics = request.app.state.metrics
    seconds = throttle.wait(request, body.username)
    if seconds is not None:
        return throttle.refused(seconds)
    try:
        ch = request.app.state.verifier.start(body.username, body.password, device=body.device, purpose=body.purpose,
                                              new_pin=body.new_pin, amount=body.amount,
                                              destination=body.destination,
                                              destination_digits=body.destination_digits,
                                              origin=mobile.origin(request, "login API"))
    except VerifierError as e:
        metrics.outcome("start", e.code)
        return verifier_error(e)
    metrics.outcome("start", "challenge")
    return ch


@router.post("/finish", response_model=Finished, responses=responses(400, 401, 403, 404, 413, 422, 423, 429, 503))
async def finish(body: FinishRequest, request: Request):
    """Judge a response: one of the challenge's tries (a wrong one answers 401 wrong-response with
    `tries_left`; the first right one or the last try closes it). Throttled per client address
    (the request names no user)."""
    # the count and the verdict in one trip to the process's transaction threads (threads.py)
    return await threads.transaction(request, _finish, body, request)


def _finish(body, request):
    metrics = request.app.state.metrics
    seconds = throttle.wait(request)
    if seconds is not None:
        return throttle.refused(seconds)
    try:
        result = request.app.state.verifier.finish(body.challenge_id, body.response)
    except VerifierError as e:
        metrics.outcome("finish", e.code)
        return verifier_error(e)
    if not result.get("ok"):
        response = rejected(result)
        metrics.outcome("finish", _json_code(response))
        return response
    metrics.outcome("finish", "ok")
    return result


def _json_code(response):
    import json

    return json.loads(response.body)["error"]


__all__ = ["router", "error"]
