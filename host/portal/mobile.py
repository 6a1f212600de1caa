"""Adding OpenDSC Mobile from the user's page (docs/mobile.md, "Activation"): a
one-time code for the app, shown as a QR code and as text.

Only a session that logged in with a device at least as strong as the phone may
add one, unless the user has none that strong: otherwise whoever holds a code
card could add a phone and, as a new phone revokes the old, take over.

The QR code's address is the server's public one (`dsc serve --public-url`),
never a request's Host header, which whoever sends the request chooses."""

import ipaddress
import logging

from fastapi import APIRouter

from host.portal.web import posted
from host.verifier.kinds import MOBILE, kind

router = APIRouter(include_in_schema=False)
log = logging.getLogger("dsc.portal")


def may_add_phone(page):
    """Whether this session may add a phone (see the module's docstring)."""
    needed = kind(MOBILE).level
    logged_in_with = page.session.data.get("kind")
    if logged_in_with and kind(logged_in_with).level >= needed:
        return True
    mine = page.verifier.devices(page.session.username)
    return not any(d["status"] == "active" and d["level"] >= needed and not d.get("shared") for d in mine)


def public_base(request):
    """Where people reach this server: --public-url; without it the request's own
    address only when that names this machine (localhost, 127.0.0.0/8, ::1), where
    a link can lead to nobody else's server; else None."""
    configured = request.app.state.settings.public_url
    if configured:
        return configured
    host = request.url.hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.lower() == "localhost"
    return str(request.base_url).rstrip("/") if loopback else None


def activation_url(page, base, code):
    """The app's address with the code in the fragment, which browsers never send to a server,
    and the page's language, which the app then speaks."""
    return "%s/mobile/?lang=%s#activate=%s" % (base, page.lang, code)


def add(page, form):
    from host.portal.account import home_page

    if page.session is None or not page.session.logged_in:
        return page.redirect("/login")
    if not may_add_phone(page):
        return home_page(page, status=403, error=page.gettext(
            "To add a mobile authenticator, log in with your token first."))
    base = public_base(page.request)
    if base is None:  # nothing is issued: a code is no use without the address to give with it
        log.warning("a user asked for a phone's activation code, which needs dsc serve --public-url")
        return home_page(page, status=503, error=page.gettext(
            "A mobile authenticator cannot be added yet: this server's public address is not set. Please tell "
            "the help desk (the operator sets it with dsc serve --public-url)."))
    import segno

    issued = page.verifier.mobile_activation(page.session.username)
    url = activation_url(page, base, issued["code"])
    qr = segno.make(url, error="m").svg_inline(scale=5, border=2, dark="#000", light="#fff",
                                               title=page.gettext("Activation QR code"))
    code = issued["code"]
    return page.render("mobile_add.html", qr=qr, code=code[:4] + " " + code[4:], serial=issued["serial"],
                       minutes=10, server=base)


router.add_api_route("/mobile/add", posted(add), methods=["POST"])
