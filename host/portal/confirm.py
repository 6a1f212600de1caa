"""What a logged-in user confirms with a device: activating a newly shipped
token, a PIN change (the new PIN twice, then a challenge answered with the new
PIN), an online security code card, a withdrawal. Each is the library's
issue(purpose) and finish(); the challenge page is the login's.

The open confirmation lives in the session (data["confirm"]), so a reload shows
the same challenge and a second tab cannot answer a different one."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from host.portal import approval, sessions, terms
from host.portal.login import _challenge, too_many_attempts
from host.portal.web import HEADERS, Page, posted
from host.server import throttle
from host.verifier import cards
from host.verifier.errors import VerifierError
from host.verifier.kinds import MOBILE
from host.verifier.timefmt import readable

router = APIRouter(include_in_schema=False)
PURPOSES = ("activation", "pin-change", "card", "withdrawal", "share")


def logged_in(page):
    return page.session is not None and page.session.logged_in


def headings(page):
    return {"activation": page.gettext("Activate your token"), "pin-change": page.gettext("Change your PIN"),
            "card": page.gettext("Get an online security code card"),
            "withdrawal": page.gettext("Confirm a withdrawal"),
            "share": page.gettext("Use another person's token")}


def refused_text(page, e):
    texts = {
        "limit": page.gettext("The amount is over the withdrawal limits of your devices."),
        "bad-amount": page.gettext("Type the amount in whole units, from 1 to 999,999,999,999."),
        "bad-destination": page.gettext("Type the destination account as your bank shows it (at most 64 characters, "
                                        "with its account number), or the 1 to 8 digits to key."),
        "bad-pin": page.gettext("A PIN is 4 to 8 digits."),
        "no-device": page.gettext("None of your devices can confirm this."),
        "no-pin": page.gettext("This token takes no PIN."),
        # the seeds' messages for sharing
        "different-identity": page.gettext("Different identification information."),
        "temporary-device": page.gettext("A user with a temporary device cannot share devices."),
        "less-secure-device": page.gettext("Less secure device."),
        "same-user": page.gettext("You cannot share a device with yourself."),
        "bad-credentials": page.gettext("The owner's user name or password is wrong."),
        "locked": page.gettext("The owner's account is locked."),
    }
    return texts.get(e.code, page.gettext("This could not be done. Please try again or contact the help desk."))


def confirmation_failed(page):
    return page.gettext("The confirmation failed; nothing was changed.")


def limits_table(page):
    """The seeds' table: what each kind of device may confirm per day and per five business
    days; and the largest withdrawal a device that cannot sign it confirms (0: none)."""
    rows = []
    for kind_name, limits in sorted(page.verifier.policy.withdrawal_limits.items()):
        rows.append({"kind": kind_name, "day": None if limits is None else limits[0],
                     "week": None if limits is None else limits[1]})
    return {"rows": rows, "unsigned": page.verifier.policy.unsigned_withdrawal_limit}


def start(page, form):
    if not logged_in(page):
        return page.redirect("/login")
    purpose = form.get("purpose")
    if purpose not in PURPOSES:
        return page.redirect("/")
    device = form.get("device") or None
    new_pin = amount = None
    destination = {}
    try:
        if purpose == "pin-change":
            new_pin = form.get("new_pin", "")
            if new_pin != form.get("new_pin_again", ""):
                return home_with(page, page.gettext("The two new PINs differ; nothing changed."), 400)
        if purpose == "withdrawal":
            text = form.get("amount", "").replace(",", "").strip()
            if not text.isascii() or not text.isdigit():
                raise VerifierError("bad-amount", "")
            amount = int(text)
            destination = {"destination": form.get("destination", ""),
                           "destination_digits": form.get("destination_digits", "").strip() or None}
        if purpose == "share":  # the owner types their password here and answers with their token
            seconds = throttle.wait(page.request, form.get("owner", ""))  # password guesses, as at login
            if seconds is not None:
                return home_with(page, too_many_attempts(page, seconds), 429)
            ch = page.verifier.start_share(page.session.username, form.get("owner", ""),
                                           form.get("owner_password", ""), device=device)
        else:
            ch = page.verifier.issue(page.session.username, device=device, purpose=purpose, new_pin=new_pin,
                                     amount=amount, **destination)
    except VerifierError as e:
        if purpose == "withdrawal":  # at the field refused, with what was typed, after a redirect
            from host.portal.account import show_at_field

            typed = {name: form.get(name, "") for name in ("amount", "destination", "destination_digits")}
            return show_at_field(page, "destination" if e.code == "bad-destination" else "amount", e.code, typed)
        status = {"bad-credentials": 401, "locked": 423, "bad-amount": 400, "bad-pin": 400}.get(e.code, 409)
        return home_with(page, refused_text(page, e), status,
                         limits=limits_table(page) if e.code == "limit" else None)
    shown = _challenge(page, page.session.username, ch)
    shown.update(purpose=purpose, amount=amount, destination=ch.get("destination"),
                 destination_digits=ch.get("destination_digits"), sign=ch.get("sign"))
    sessions.update(page.verifier.engine, page.session, data=dict(page.session.data, confirm=shown))
    return page.redirect("/confirm")


def home_with(page, message, status, limits=None):
    from host.portal.account import home_page

    return home_page(page, status=status, error=message, limits=limits)


@router.get("/confirm")
def confirm_page(request: Request):
    page = Page(request)
    if not logged_in(page):
        return page.redirect("/login")
    shown = page.session.data.get("confirm")
    if not shown:
        return page.redirect("/")
    return confirm_form(page, shown, expired=page.now >= shown.get("expires_at", 0))


def _what(page, shown):
    """The line that says what is being confirmed, for the purposes that need one."""
    if shown["purpose"] == "pin-change" and shown["kind"] == MOBILE:
        return page.gettext("Enter your NEW PIN in OpenDSC Mobile, not the old one.")
    if shown["purpose"] == "pin-change":
        return page.gettext("Key your NEW PIN into the token, not the old one.")
    if shown["purpose"] == "withdrawal":
        return page.gettext("Withdrawal of %(amount)s to %(destination)s.", amount="{:,}".format(shown["amount"]),
                            destination=shown.get("destination") or "")
    if shown["purpose"] == "share":
        return page.gettext("The owner of token %(serial)s keys this challenge into it and types the response.",
                            serial=shown["serial"])
    return None


def confirm_form(page, shown, status=200, **context):
    """The open confirmation's page (again after a refusal, with why)."""
    return page.render("challenge.html", status=status, challenge=shown, confirm=True, action="/confirm/response",
                       heading=headings(page)[shown["purpose"]], submit=page.gettext("Confirm"),
                       what=_what(page, shown), **context)


def _open_confirmation(page):
    """(what the confirmation page shows, None), or (None, where to send a visitor with none)."""
    if not logged_in(page):
        return None, page.redirect("/login")
    shown = page.session.data.get("confirm")
    return (shown, None) if shown else (None, page.redirect("/"))


def answer(page, form):
    shown, elsewhere = _open_confirmation(page)
    if elsewhere:
        return elsewhere
    # Each response is a guess at the device's answer, as at login: counted per address
    # (a refusal keeps the confirmation open and changes nothing).
    seconds = throttle.wait(page.request)
    if seconds is not None:
        return confirm_form(page, shown, status=429, error=too_many_attempts(page, seconds))
    data = {k: v for k, v in page.session.data.items() if k != "confirm"}
    try:
        result = page.verifier.finish(shown["id"], form.get("response", "").strip())
    except VerifierError as e:
        if e.code == "bad-response":
            return confirm_form(page, shown, status=400, error=page.gettext(
                "Type only the letters and digits of the response, without spaces."))
        result = {"ok": False}
    if result.get("tries_left"):  # a wrong response the challenge survives: the same one is asked again
        return confirm_form(page, shown, status=401, error=confirmation_failed(page), tries_left=result["tries_left"])
    sessions.update(page.verifier.engine, page.session, data=data)
    if not result.get("ok"):
        return home_with(page, confirmation_failed(page), 401)
    return _done(page, shown, result)


def _done(page, shown, result):
    done = {"activation": page.gettext("Your token is active."),
            "pin-change": page.gettext("Your PIN is changed. Use the new PIN from now on."),
            "card": page.gettext("Your online security code card is ready. Print it or save it now."),
            "withdrawal": page.gettext("The withdrawal of %(amount)s to %(destination)s is confirmed.",
                                       amount="{:,}".format(result.get("amount") or shown.get("amount") or 0),
                                       destination=result.get("destination") or shown.get("destination") or ""),
            "share": page.gettext("You may now use token %(serial)s.", serial=shown["serial"])}[shown["purpose"]]
    card = result.get("card")
    return page.render("done.html", heading=headings(page)[shown["purpose"]], message=done,
                       card_period=_card_period(page, card),
                       card_serial=card["serial"] if card else None,
                       card_text=cards.render(card, "txt", _card_words(page)).decode() if card else None)


def _card_words(page):
    return terms.card_words(page.env.globals["translations"])


def _card_period(page, card):
    """An online card's validity and the temporary passcode's end, which differ (None for
    any other result): the card still logs in after the passcode ends."""
    from host.portal.account import passcode_periods

    periods = card and card.get("expires_at") and passcode_periods(page, page.verifier.devices(page.session.username))
    return {"until": readable(card["expires_at"]), "end": periods["end"]} if periods else None


def _status(request):
    page = Page(request)
    shown = page.session.data.get("confirm") if logged_in(page) else None
    return approval.state(page, shown["id"], shown.get("expires_at", 0)) if shown else None


@router.get("/confirm/status")
async def confirm_status(request: Request, wait: int = 0):
    """The confirmation page's poll while it waits for the phone: JSON, read-only."""
    return await approval.status(request, lambda: _status(request), wait)


def approved(page, form):
    """The phone approved the confirmation (the page's poll saw it, or the person says so)."""
    shown, elsewhere = _open_confirmation(page)
    if elsewhere:
        return elsewhere
    result = page.verifier.complete(shown["id"])
    state = "approved" if result else approval.state(page, shown["id"], shown.get("expires_at", 0))
    if state == "pending":
        return confirm_form(page, shown, status=409, error=approval.not_yet(page))
    sessions.update(page.verifier.engine, page.session,
                    data={k: v for k, v in page.session.data.items() if k != "confirm"})
    if result:
        if shown["purpose"] == "card":  # made at the approval; the phone was not given it
            online = [d for d in page.verifier.devices(page.session.username)
                      if d["kind"] == "online-card" and d["status"] == "active"]
            if online:
                result = dict(result, card=page.verifier.card(page.session.username, online[-1]["serial"]))
        return _done(page, shown, result)
    if state == "declined":
        return home_with(page, approval.declined_confirmation(page), 403)
    return home_with(page, confirmation_failed(page), 401)


def cancel(page, form):
    if logged_in(page) and page.session.data.get("confirm"):
        sessions.update(page.verifier.engine, page.session,
                        data={k: v for k, v in page.session.data.items() if k != "confirm"})
    return page.redirect("/")


@router.get("/cards/{serial}.{fmt}")
def card_file(serial: str, fmt: str, request: Request):
    """One of the user's own active cards as a PNG or PDF to print (audited as a reprint)."""
    page = Page(request)
    if not logged_in(page):
        return page.redirect("/login")
    if fmt not in ("png", "pdf"):
        return page.render("error.html", status=404, title=page.gettext("Not found"),
                           message=page.gettext("There is no such page."))
    try:
        card = page.verifier.card(page.session.username, serial)
    except VerifierError:
        return page.render("error.html", status=404, title=page.gettext("Not found"),
                           message=page.gettext("There is no such page."))
    headers = dict(HEADERS, **{"Content-Disposition": 'attachment; filename="%s.%s"' % (card["serial"], fmt)})
    return Response(cards.render(card, fmt, _card_words(page)), media_type=cards.FORMATS[fmt], headers=headers)


router.add_api_route("/confirm/start", posted(start), methods=["POST"])
router.add_api_route("/confirm/response", posted(answer), methods=["POST"])
router.add_api_route("/confirm/approved", posted(approved), methods=["POST"])
router.add_api_route("/confirm/cancel", posted(cancel), methods=["POST"])
