"""The login screen: user name and password, then the second step that the
device kind asks for (a token's challenge, a code card's two positions, a
temporary passcode, or "Approve on your phone" with the number to pick and,
under "Didn't get a notification?", the same challenge to answer by typing),
with another device or a new challenge on request.

Every refusal of either step reads the same, and never says whether the
password or the response was wrong; the lockout has its own text (the seeds').
The library decides everything (start, issue, finish); this module only keeps
the session's stage."""

from fastapi import APIRouter, Request

from host import ocra
from host.portal import approval, sessions
from host.portal.web import Page, posted
from host.server import mobile, throttle
from host.verifier import inputs
from host.verifier.errors import VerifierError
from host.verifier.kinds import MOBILE, TOKEN

router = APIRouter(include_in_schema=False)
OIDC_PENDING_COOKIE = "dsc_oidc"  # host/oidc/routes.py: an authorization request this login will finish


def failed(page):
    """Every refusal of either step, whatever the reason (wrong password, unknown user,
    no usable device, wrong response): the way forward for someone without a device
    is in the text itself, so that user needs no answer of their own to find it."""
    return page.gettext("The login failed. Check your user name, password and response, and try again. "
                        "If you have no device to log in with, or lost it, please contact the help desk.")


def locked(page):
    policy = page.verifier.policy
    return page.gettext("Your account is locked: %(failures)s failed logins within %(window)s hours lock it until "
                        "%(duration)s hours after the last one, even with correct credentials. "
                        "Please contact the help desk.",
                        failures=policy.lockout_failures, window=_hours(policy.lockout_window),
                        duration=_hours(policy.lockout_duration))


def _hours(seconds):
    hours = seconds / 3600.0
    return "%d" % hours if hours == int(hours) else "%.1f" % hours


def _challenge(page, name, ch):
    """What the second step shows for a challenge from the library."""
    shown = {"id": ch["challenge_id"], "kind": ch["kind"], "serial": ch["serial"], "challenge": ch["challenge"],
             "expires_at": page.now + float(ch["expires_in"]), "digits": None, "positions": None}
    if ch["kind"] == TOKEN:
        suite = next((d["suite"] for d in page.verifier.devices(name) if d["serial"] == ch["serial"]), "")
        shown["digits"] = ocra.Suite(suite or ocra.DEFAULT_SUITE).digits
    elif ch["kind"] == MOBILE:  # approved on the phone by this number, or answered by typing
        shown["number"] = ch.get("number")
    elif ch["challenge"] and " " in ch["challenge"]:
        shown["positions"] = ch["challenge"].split()
    return shown


def _others(page):
    """The user's other active devices, for "Use another device"."""
    name, current = page.session.username, page.session.data.get("challenge", {}).get("serial")
    try:
        return [d for d in page.verifier.devices(name) if d["status"] == "active" and d["serial"] != current]
    except VerifierError:
        return []


@router.get("/login")
def login_form(request: Request):
    page = Page(request)
    if page.session is not None and page.session.logged_in:
        return page.redirect("/")
    if page.session is not None and page.session.stage == sessions.CHALLENGED:
        return page.render("challenge.html", challenge=page.session.data.get("challenge", {}), others=_others(page),
                           expired=page.now >= page.session.data.get("challenge", {}).get("expires_at", 0))
    return page.render("login.html")


def _refuse(page, message, status):
    """Back to the first step with a message: the session, if any, ends with its open
    challenge (a visitor is kept nowhere: sessions.Visitor)."""
    page.end_session()
    return page.render("login.html", status=status, error=message)


def _throttled(page, username=None):
    seconds = throttle.wait(page.request, username)
    if seconds is None:
        return None
    return _refuse(page, too_many_attempts(page, seconds), 429)


def too_many_attempts(page, seconds):
    return page.gettext("Too many attempts. Please wait %(seconds)s seconds and try again.", seconds=seconds)


def _origin(page):
    """Where the login comes from, as a phone asked to approve it shows it."""
    return mobile.origin(page.request, "portal")


def login_password(page, form):
    name, password = form.get("username", ""), form.get("password", "")
    refused = _throttled(page, name)
    if refused:
        return refused
    try:
        ch = page.verifier.start(name, password, origin=_origin(page))
    except VerifierError as e:
        if e.code == "locked":
            return _refuse(page, locked(page), 423)
        return _refuse(page, failed(page), 401)  # no usable device too: the library audits that reason
    return _open(page, inputs.username(name), ch)


def _open(page, user, ch):
    """The second step, kept in the session: a visitor's first row is written here."""
    kept = dict(stage=sessions.CHALLENGED, username=user, challenge_id=ch["challenge_id"],
                data={"challenge": _challenge(page, user, ch)})
    if page.session is None:
        page.session = sessions.create(page.verifier.engine, page.now, **kept)
    else:
        sessions.update(page.verifier.engine, page.session, **kept)
    return page.redirect("/login")


def login_response(page, form):
    if page.session.stage != sessions.CHALLENGED:
        return page.redirect("/login")
    refused = _throttled(page)
    if refused:
        return refused
    try:
        result = page.verifier.finish(page.session.challenge_id, form.get("response", "").strip())
    except VerifierError as e:
        if e.code == "bad-response":  # a typo (spaces, letters): changes nothing, asked again
            return _ask_again(page, 400, page.gettext("Type only the letters and digits of the response, "
                                                      "without spaces."))
        return _refuse(page, failed(page), 401)
    if result.get("tries_left"):  # a wrong response the challenge survives: the same one is asked again
        return _ask_again(page, 401, failed(page), tries_left=result["tries_left"])
    if not result.get("ok"):
        return _refuse(page, locked(page) if result.get("reason") == "locked" else failed(page),
                       423 if result.get("reason") == "locked" else 401)
    return _logged_in(page, result)


def _ask_again(page, status, error, **context):
    """The open challenge's page again, with why."""
    return page.render("challenge.html", status=status, challenge=page.session.data.get("challenge", {}),
                       others=_others(page), error=error, **context)


def _logged_in(page, result):
    role = page.verifier.user_info(result["user"])["role"]
    page.session = sessions.rotate(page.verifier.engine, page.session, page.now, stage=sessions.IN,
                                   username=result["user"], challenge_id=None,
                                   data={"device": result["device"], "kind": result["kind"], "role": role})
    if page.request.cookies.get(OIDC_PENDING_COOKIE):  # an application sent them here: back to finish it
        return page.redirect("/oidc/resume")
    return page.redirect("/helpdesk" if role == "helpdesk" else "/")


def _approval_state(page):
    return approval.state(page, page.session.challenge_id, page.session.data.get("challenge", {}).get("expires_at", 0))


def _status(request):
    page = Page(request)
    waiting = page.session is not None and page.session.stage == sessions.CHALLENGED
    return _approval_state(page) if waiting else None


@router.get("/login/status")
async def login_status(request: Request, wait: int = 0):
    """The login page's poll while it waits for the phone: JSON, read-only."""
    return await approval.status(request, lambda: _status(request), wait)


def login_approved(page, form):
    """The phone approved (the page's poll saw it, or the person says so): the login is taken
    once, as privacyIDEA's empty-pass check takes it."""
    if page.session.stage != sessions.CHALLENGED:
        return page.redirect("/login")
    result = page.verifier.complete(page.session.challenge_id)
    if result is not None:
        return _logged_in(page, result)
    state = _approval_state(page)
    if state == "pending":
        return _ask_again(page, 409, approval.not_yet(page))
    if state == "declined":
        return _refuse(page, approval.declined(page), 403)
    if state == "expired":
        return _refuse(page, page.gettext("The request expired before it was approved. Please log in again."), 401)
    return _refuse(page, failed(page), 401)


def login_another(page, form):
    """A new challenge, for the device the form names (or the same one again)."""
    if page.session.stage != sessions.CHALLENGED:
        return page.redirect("/login")
    serial = form.get("device") or page.session.data.get("challenge", {}).get("serial")
    try:
        ch = page.verifier.issue(page.session.username, device=serial, origin=_origin(page))
    except VerifierError:
        return _refuse(page, failed(page), 409)
    return _open(page, page.session.username, ch)


def login_cancel(page, form):
    return _refuse(page, None, 200)


def logout(page, form):
    sessions.destroy(page.verifier.engine, page.session)
    page.session = None
    response = page.redirect("/login")
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


router.add_api_route("/login", posted(login_password, anonymous=True), methods=["POST"])
router.add_api_route("/login/response", posted(login_response), methods=["POST"])
router.add_api_route("/login/approved", posted(login_approved), methods=["POST"])
router.add_api_route("/login/another", posted(login_another), methods=["POST"])
router.add_api_route("/login/cancel", posted(login_cancel), methods=["POST"])
router.add_api_route("/logout", posted(logout), methods=["POST"])
