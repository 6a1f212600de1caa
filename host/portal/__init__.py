"""The web portal: the login screen and the Secure Login System pages, served by
`dsc serve` next to the API (host/server/app.py calls install()).

- web.py: what every page shares (language, session cookie, CSRF, headers);
- sessions.py: server-side sessions in the verifier's database;
- i18n.py: English and Japanese gettext catalogues;
- login.py: the two-step login; account.py: the user's page; confirm.py: what
  the user confirms with a device (activation, PIN change, online card, withdrawal);
  mobile.py: adding OpenDSC Mobile (the activation QR code).
"""

from fastapi import HTTPException
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from host.portal import account, confirm, helpdesk, i18n, login, mobile, web


def install(app):
    """After host.server.errors.install: the portal's handler for unknown addresses replaces the JSON one
    for browsers only."""
    app.state.portal_templates = web.environments()
    for exc_class in (StarletteHTTPException, HTTPException):
        app.add_exception_handler(exc_class, web.page_or_json(app.exception_handlers[exc_class]))
    app.include_router(login.router)
    app.include_router(account.router)
    app.include_router(confirm.router)
    app.include_router(helpdesk.router)
    app.include_router(mobile.router)
    app.mount("/static", StaticFiles(directory=str(i18n.HERE / "static")), name="static")
