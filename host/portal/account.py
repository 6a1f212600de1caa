"""The user's "Secure Login System" page after login: devices with status and
expiry, the forms that start a confirmation (confirm.py), and the user's own
recent login activity."""

import calendar
import time

from fastapi import APIRouter, Request

from host.portal import confirm, sessions
from host.portal.web import Page
from host.verifier.errors import VerifierError
from host.verifier.kinds import PIN_CHANGE, kind
from host.verifier.timefmt import readable

router = APIRouter(include_in_schema=False)
ACTIVITY = 20  # recent events shown
FIELD_ERROR = "field_error"  # session data: a form's refusal, for the next GET / to show at its field


def _recent(page, name):
    return page.verifier.audit_log(name, limit=ACTIVITY, newest=True)


@router.get("/")
def home(request: Request):
    page = Page(request)
    if page.session is None or not page.session.logged_in:
        return page.redirect("/login")
    refused = page.session.data.get(FIELD_ERROR)
    if refused:  # shown once: a reload shows the page as it is
        sessions.update(page.verifier.engine, page.session,
                        data={k: v for k, v in page.session.data.items() if k != FIELD_ERROR})
    return home_page(page, field_error=refused)


def show_at_field(page, field, code, value):
    """Post/Redirect/Get for a refused form: the refusal's code and what was typed wait
    in the session for the user's page, which shows them at the field (its id)."""
    sessions.update(page.verifier.engine, page.session,
                    data=dict(page.session.data, **{FIELD_ERROR: {"field": field, "code": code, "value": value}}))
    return page.redirect("/#" + field)


def passcode_periods(page, devices):
    """The user's active temporary passcode's periods, as a person reads times: full
    access until `full_until`, then until `end` only an online card; None without one."""
    for d in devices:
        if d["kind"] == "temp-passcode" and d["status"] == "active" and not d.get("shared"):
            full_until = _epoch(d["activated_at"]) + page.verifier.policy.temp_full_access
            return {"full_until": readable(full_until), "end": readable(_epoch(d["expires_at"]))}
    return None


def _epoch(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def home_page(page, status=200, error=None, limits=None, field_error=None):
    if field_error:
        if field_error["code"] == "limit":
            limits = confirm.limits_table(page)
        field_error = dict(field_error, text=confirm.refused_text(page, VerifierError(field_error["code"], "")))
    name = page.session.username
    devices = page.verifier.devices(name)
    own = [d for d in devices if not d.get("shared")]
    return page.render("home.html", status=status, error=error, limits=limits, field_error=field_error, user=name,
                       devices=devices,
                       shipped=[d for d in own if d["kind"] == "token" and d["status"] in ("shipped", "inactive")],
                       pin_devices=[d for d in own if d["status"] == "active" and PIN_CHANGE in kind(d["kind"]).purposes],
                       temporary=passcode_periods(page, own),
                       activity=_recent(page, name))
