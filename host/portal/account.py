"""The user's "Secure Login System" pages after login: devices with status and
expiry, and the user's own recent login activity."""

from fastapi import APIRouter, Request

from host.portal.web import Page

router = APIRouter(include_in_schema=False)
ACTIVITY = 20  # recent events shown


def _recent(page, name):
    events = []
    after = 0
    while True:  # the newest ACTIVITY events: the log pages oldest first
        batch = page.verifier.audit_log(name, after_id=after, limit=1000)
        events = (events + batch)[-ACTIVITY:]
        if len(batch) < 1000:
            return events[::-1]
        after = batch[-1]["id"]


@router.get("/")
def home(request: Request):
    page = Page(request)
    if page.session is None or not page.session.logged_in:
        return page.redirect("/login")
    name = page.session.username
    return page.render("home.html", user=name, devices=page.verifier.devices(name), activity=_recent(page, name))
