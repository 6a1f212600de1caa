"""The user's "Secure Login System" page after login: devices with status and
expiry, the forms that start a confirmation (confirm.py), and the user's own
recent login activity."""

from fastapi import APIRouter, Request

from host.portal.web import Page
from host.verifier.kinds import PIN_CHANGE, kind

router = APIRouter(include_in_schema=False)
ACTIVITY = 20  # recent events shown


def _recent(page, name):
    return page.verifier.audit_log(name, limit=ACTIVITY, newest=True)


@router.get("/")
def home(request: Request):
    page = Page(request)
    if page.session is None or not page.session.logged_in:
        return page.redirect("/login")
    return home_page(page)


def home_page(page, status=200, error=None, limits=None):
    name = page.session.username
    devices = page.verifier.devices(name)
    own = [d for d in devices if not d.get("shared")]
    return page.render("home.html", status=status, error=error, limits=limits, user=name, devices=devices,
                       shipped=[d for d in own if d["kind"] == "token" and d["status"] in ("shipped", "inactive")],
                       pin_devices=[d for d in own if d["status"] == "active" and PIN_CHANGE in kind(d["kind"]).purposes],
                       temporary=any(d["kind"] == "temp-passcode" and d["status"] == "active" for d in own),
                       activity=_recent(page, name))
