"""/healthz (the process answers) and /readyz (the database answers and the key ring opens it)."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from host.server.errors import error, responses

router = APIRouter()


class Status(BaseModel):
    status: str


@router.get("/healthz", response_model=Status)
async def healthz():
    """Answered on the event loop: a thread for nothing would cost more than the answer."""
    return HEALTHY


async def healthz_now(request):
    """The same answer for app.HotRoutes, which calls endpoints with the request: one
    response, built once (sending it changes nothing in it)."""
    return HEALTHY_RESPONSE


HEALTHY = {"status": "ok"}
HEALTHY_RESPONSE = JSONResponse(HEALTHY)


@router.get("/readyz", response_model=Status, responses=responses(503))
def readyz(request: Request):
    verifier = request.app.state.verifier
    try:
        with verifier.engine.connect() as conn:
            verifier.keys.check(conn)
    except Exception as e:  # any failure means not ready; say which kind only
        return error(503, "not-ready", "not ready: %s" % type(e).__name__)
    return {"status": "ready"}
