"""Waiting for a phone (OpenDSC Mobile) to approve what a page shows: a login or
a confirmation. The page polls a status route (static/portal.js) and, on any
answer, posts its own form, whose handler takes the approval once
(Challenges.complete) or says why not. The status route is a long poll
(?wait=, host/server/longpoll.py). One mapping from the verifier's state to
what the page says, for the login and the confirmation pages alike."""

from fastapi.responses import JSONResponse

from host.server import longpoll

NO_STORE = {"Cache-Control": "no-store"}


def state(page, challenge_id, expires_at):
    """pending, approved, declined, expired or failed (a wrong PIN or number, or unknown)."""
    found = page.verifier.challenge_state(challenge_id)
    if found == "closed":
        return "expired" if page.now >= expires_at else "failed"
    return {"accepted": "approved", None: "failed"}.get(found, found)


async def status(request, read, wait):
    """The status route's answer: `read()` gives the state (None when nothing waits); with
    ?wait=N it is held while the state is pending, so the page hears of the answer at once."""
    return status_response(await longpoll.until(request, read, lambda found: found != "pending", wait))


def status_response(current):
    """The status route's JSON: {"state": ...}, or 409 {"state": "none"} when nothing waits."""
    if current is None:
        return JSONResponse({"state": "none"}, status_code=409, headers=NO_STORE)
    return JSONResponse({"state": current}, headers=NO_STORE)


def declined(page):
    return page.gettext("The login was declined on your phone. If you did not start it, change your password.")


def declined_confirmation(page):
    return page.gettext("It was declined on your phone; nothing was changed.")


def not_yet(page):
    return page.gettext("Not approved yet. Approve it in OpenDSC Mobile, then try again.")
