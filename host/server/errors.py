"""One error shape everywhere: {"error": code, "message": text}, with a fitting status.

VerifierError codes map to statuses here; FastAPI's own refusals (validation,
unknown route, wrong method) and anything unexpected get the same shape. A
message never echoes what the client sent (it may be a password)."""

import logging
from typing import Optional

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from host.verifier.errors import VerifierError

log = logging.getLogger("dsc.server")

# VerifierError code -> HTTP status. Unknown codes are 400 (a refusal of the input).
STATUS = {
    "bad-credentials": 401,   # unknown user and wrong password: the same answer
    "locked": 423,            # unknown names lock the same way, so this reveals no name
    "bad-challenge-id": 404,
    "no-device": 409,
    "no-pin": 409,
    "limit": 403,
    "no-user": 404,           # operator API only: logins never say this
    "user-exists": 409,
    "device-exists": 409,
    "passcode-exists": 409,
    "inactive-device": 409,
    "no-key": 404,
    "no-database": 503,
    "old-database": 503,
    "bad-code": 404,          # an activation code unknown, used or expired (docs/mobile.md)
    "bad-activation": 404,
    "bad-signature": 401,     # not signed by the device's key
    "stale-poll": 401,
}
# finish()'s {"ok": False, "reason": ...} -> (code, status)
REJECTED = {
    "wrong response": ("wrong-response", 401),
    "challenge expired": ("expired", 401),
    "challenge already used": ("used", 401),
    "wrong number": ("wrong-number", 401),  # the phone's user picked another number than the login page's
    "declined": ("declined", 403),
    "device not usable": ("device-not-usable", 403),  # revoked or turned off since the challenge was issued
    "locked": ("locked", 423),
}
HTTP_CODES = {400: "bad-request", 404: "not-found", 405: "method-not-allowed", 413: "too-large",
              415: "unsupported-media-type", 500: "internal", 503: "unavailable"}


class ApiError(Exception):
    """A refusal raised where a response cannot be returned (a dependency)."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


class Error(BaseModel):
    error: str
    message: str
    tries_left: Optional[int] = None  # wrong-response only: the tries its challenge has left


def error(status, code, message, headers=None, **extra):
    """The API's error answer: {"error", "message"} and any `extra` fields (tries_left)."""
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status, headers=headers)


def responses(*statuses):
    """OpenAPI entries for the error statuses a route may answer."""
    return {s: {"model": Error, "description": "an error"} for s in statuses}


def verifier_error(e):
    return error(STATUS.get(e.code, 400), e.code, str(e))


def rejected(result):
    """finish()'s refusal in the error shape; a wrong response adds the tries its challenge has left."""
    code, status = REJECTED.get(result.get("reason"), (str(result.get("reason", "rejected")).replace(" ", "-"), 403))
    extra = {"tries_left": result["tries_left"]} if "tries_left" in result else {}
    return error(status, code, result.get("message") or str(result.get("reason", "rejected")), **extra)


def _validation(request, exc):
    problems = exc.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return error(400, "bad-json", "the body is not valid JSON")
    parts = []
    for p in problems[:5]:  # loc and msg only: p["input"] may be a password
        where = ".".join(str(x) for x in p.get("loc", ()) if x != "body") or "body"
        parts.append("%s: %s" % (where, p.get("msg", "invalid")))
    return error(422, "invalid-request", "; ".join(parts) or "invalid request")


def _http(request, exc):
    status = exc.status_code
    code = HTTP_CODES.get(status, "error")
    message = exc.detail if isinstance(exc.detail, str) else code
    return error(status, code, message, headers=getattr(exc, "headers", None))


def install(app):
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(VerifierError, lambda request, e: verifier_error(e))
    app.add_exception_handler(ApiError, lambda request, e: error(e.status, e.code, e.message, e.headers))
    app.add_exception_handler(SQLAlchemyError, _database)
    # Starlette's outermost layer answers anything else; app.Edge, outside it, logs the type.
    app.add_exception_handler(Exception, lambda request, e: error(500, "internal", "internal error"))


def _database(request, exc):
    log.error("database error: %s", type(exc).__name__)  # the message may hold a URL; the type is enough
    return error(503, "database", "the database is not available; try again")
