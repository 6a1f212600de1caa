"""OpenDSC Mobile (issue 11) in a real Chromium: the app at /mobile/ in a phone-sized
context beside the portal in a desktop one, on a real `dsc serve` (docs/mobile.md).

Activation by the camera (Chromium's fake capture device playing a Y4M video of the
portal's QR code; the same QR decoded in Python too, to prove it is a real QR code) and
by the typed code; a login approved with the number and the PIN; a wrong PIN counted
toward the lockout; a decline; an expired request; a replayed approval refused; the
app opening offline and computing the typed response for "Didn't get a notification?"
(the same transaction, no second request); two accounts in one app; a new phone
revoking the old; no key exported from the page's IndexedDB; and one app holding an
account on a second server.

The element ids are the UI contract's, which the app and these tests share. The users
log in to the portal with printed code cards (weaker than a phone, so a card login may
add a first phone, and the phone is then the device a login asks for); phones that
only set the scene are activated from /mobile/#activate=CODE with a code the library
issues, as the portal's QR code would give them."""

import json
import re
import time

import pytest
from sqlalchemy import func, select

from host.verifier import cards, passwords, service, store
from host.verifier.errors import VerifierError
from tests import log_scan, png
from tests.browser.conftest import VIEWPORTS
from tests.server.conftest import PASSWORD, Server, make_db, request_secrets

pytestmark = pytest.mark.xdist_group("mobile-app")  # one server for the module

expect = pytest.importorskip("playwright.sync_api", reason="playwright is missing").expect

STAFF_PASSWORD = "Staff-pw-for-mobile-9"
CARD_USERS = ("cam", "tia", "staff")  # log in to the portal with a printed card
# Helpers take a key of PINS, never the PIN itself: pytest shows a failing function's arguments.
PINS = {"ann": "3579", "ben": "8642", "cam": "1357", "tia": "9753", "wes": "2580", "rex": "4826", "rex2": "6284",
        "pat": "1470", "pat-new": "14702580", "una": "7531", "vic": "9517", "wrong": "0000"}
REFUSED = "The login failed: wrong number or PIN."
WAIT = 10_000  # ms: the app polls every second; a loaded 2-core machine gets some slack


class Site:
    """The module's server and its database."""

    def __init__(self, server, db, keyring, cards_by_user):
        self.server, self.url, self.cards = server, server.url, cards_by_user
        self.v = service.Verifier(db, keyring)  # the library on the server's database
        self.codes = []  # every activation code issued: none may reach the server's log

    def transaction(self, serial):
        """The id of the latest login asked of the phone `serial`."""
        c, d = store.challenges.c, store.devices.c
        with self.v.engine.connect() as conn:
            return conn.execute(select(c.id).join(store.devices, d.id == c.device_id).where(d.serial == serial)
                                .order_by(c.created_at.desc()).limit(1)).scalar_one()

    def activation(self, user):
        """A one-time code for `user`, as "Add mobile authenticator" issues it: {"code", "serial", ...}."""
        issued = self.v.mobile_activation(user)
        self.codes.append(issued["code"])
        return issued

    def logins(self, serial):
        """{transaction id: question} of every login asked of the phone `serial`."""
        c, d = store.challenges.c, store.devices.c
        with self.v.engine.connect() as conn:
            return dict(conn.execute(select(c.id, c.challenge).join(store.devices, d.id == c.device_id)
                                     .where(d.serial == serial)).all())

    def expire(self, transaction):
        """Let the login's two minutes pass: its end moves to the past where the server keeps
        it, in the challenge and in the portal session waiting for it."""
        past = time.time() - 1
        with self.v.engine.begin() as conn:
            conn.execute(store.challenges.update().where(store.challenges.c.id == transaction).values(expires_at=past))
            waiting = store.web_sessions.c.challenge_id == transaction
            for session_id, data in conn.execute(select(store.web_sessions.c.id, store.web_sessions.c.data)
                                                 .where(waiting)).all():
                data = json.loads(data)
                data.get("challenge", {})["expires_at"] = past
                conn.execute(store.web_sessions.update().where(store.web_sessions.c.id == session_id)
                             .values(data=json.dumps(data)))

    def failures(self, user):
        """The failed logins the lockout holds for `user`."""
        with self.v.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(store.failures)
                                .where(store.failures.c.name == user)).scalar_one()

    def approvals(self, user):
        """`user`'s logins the audit log records as successful."""
        return len([e for e in self.v.audit_log(name=user, outcome="ok") if e["purpose"] == "login"])


@pytest.fixture(scope="module")
def site(tmp_path_factory, secrets_sent):
    tmp = tmp_path_factory.mktemp("mobile-app")
    cheap, passwords.N = passwords.N, 2 ** 4  # quick password checks: many logins here
    try:
        db, keyring = make_db(tmp, users=("alice", "ann", "ben", "cam", "tia", "wes", "rex", "pat", "una", "vic"))
        v = service.Verifier(db, keyring)
        v.add_user("staff", STAFF_PASSWORD, role="helpdesk")
        printed = {name: v.issue_printed_card(name) for name in CARD_USERS}
        v.close()
    finally:
        passwords.N = cheap
    secrets_sent.update(PINS.values())
    secrets_sent.add(STAFF_PASSWORD)
    server = Server(tmp, db, keyring)
    s = Site(server, db, keyring, printed)
    try:
        yield s
    finally:
        s.v.close()
        server.stop()
    log = server.log_text()
    assert not log_scan.leaked(log, request_secrets), "a secret reached the server's log"
    assert not [c for c in s.codes if c in log], "an activation code reached the server's log (it is in the fragment)"
    assert "Traceback" not in log


# ---- the portal (desktop) ---------------------------------------------------------------


def password_step(page, site, user, password=PASSWORD):
    page.goto(site.url + "/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Next").click()


def card_login(page, site, user, password=PASSWORD):
    password_step(page, site, user, password)
    expect(page.locator("strong.code")).to_have_count(2)  # the card's step has come
    i, j = (int(x) for x in page.locator("strong.code").all_inner_texts())
    page.get_by_label("Codes").fill(cards.expected(site.cards[user]["grid"], i, j))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(site.url) + "/(helpdesk)?$"))


def add_phone_in_portal(desktop, site, user):
    """Log in with the card and choose "Add mobile authenticator": the code as shown (no space)."""
    card_login(desktop, site, user)
    desktop.get_by_role("button", name="Add mobile authenticator").click()
    shown = desktop.locator("#activation-code").inner_text()
    well_formed = re.fullmatch(r"[A-Z2-9]{4} [A-Z2-9]{4}", shown) is not None
    assert well_formed, "the code is shown as two groups of four"  # a bool: the code stays out of the output
    code = shown.replace(" ", "")
    site.codes.append(code)
    return code


def start_login(desktop, site, user):
    """User name and password for a user whose phone is their device: the number to match."""
    password_step(desktop, site, user)
    expect(desktop.get_by_role("heading", name="Approve on your phone")).to_be_visible()
    number = desktop.locator("strong#approve-number").inner_text().strip()
    assert re.fullmatch(r"[1-9][0-9]", number), number
    return number


def device_row(page, serial):
    return page.locator("tr", has=page.locator("td", has_text=re.compile(r"^\s*%s\s*$" % re.escape(serial))))


def expect_device(page, serial, status):
    row = device_row(page, serial)
    expect(row).to_have_count(1)
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    assert cells[0].startswith("mobile") and status in cells, cells


# ---- the app (phone) --------------------------------------------------------------------


def open_app(phone, site):
    phone.goto(site.url + "/mobile/")
    expect(phone.get_by_role("heading", name="OpenDSC Mobile")).to_be_visible()


def choose_pin(phone, pin_of):
    expect(phone.locator("section#choose-pin")).to_be_visible(timeout=WAIT)
    phone.locator("input#pin").fill(PINS[pin_of])
    phone.locator("input#pin2").fill(PINS[pin_of])
    phone.locator("button#finish").click()


def expect_activated(phone, site, user, serial=None):
    """The app says so and lists the account; its serial."""
    message = phone.locator("#message")
    if serial:
        expect(message).to_have_text("Activated %s (%s)" % (user, serial), timeout=WAIT)
    else:
        expect(message).to_have_text(re.compile(r"^Activated %s \(MA-[0-9A-Z]+\)$" % user), timeout=WAIT)
        serial = re.search(r"\((MA-[0-9A-Z]+)\)", message.inner_text()).group(1)
    account = phone.locator('ul#accounts li.account[data-serial="%s"]' % serial)
    expect(account).to_have_count(1)
    assert account.get_attribute("data-user") == user and account.get_attribute("data-server") == site.url
    for shown in (user, site.url.split("//", 1)[1].split(":")[0], serial):
        expect(account).to_contain_text(shown)
    expect(phone.locator("#error")).to_have_text("")
    return serial


def activate_by_link(phone, site, user, pin_of=None):
    """The app opened at the QR code's address (/mobile/#activate=CODE): the account's serial."""
    issued = site.activation(user)
    phone.goto("about:blank")  # a fresh load, the contract's case (not a fragment change on an open app)
    phone.goto(site.url + "/mobile/#activate=" + issued["code"])
    choose_pin(phone, pin_of or user)
    serial = expect_activated(phone, site, user, issued["serial"])
    assert "activate" not in phone.url, "the code is removed from the address"
    return serial


def waiting_request(phone, site, serial):
    """The app's entry for the login just started for the phone `serial` (found by its transaction)."""
    article = phone.locator('section#requests article.request[data-serial="%s"][data-transaction="%s"]'
                            % (serial, site.transaction(serial)))
    expect(article).to_have_count(1, timeout=WAIT)
    return article


def pick_and_approve(article, number, pin_of):
    numbers = [n.strip() for n in article.locator("button.number").all_inner_texts()]
    assert len(numbers) == 3 and len(set(numbers)) == 3 and number in numbers, numbers
    picked = article.locator("button.number", has_text=re.compile(r"^\s*%s\s*$" % number))
    picked.click()
    expect(picked).to_have_attribute("aria-pressed", "true")
    article.locator("input.pin").fill(PINS[pin_of])
    article.locator("button.approve").click()


@pytest.fixture(scope="module")
def app(browser, site):
    """One phone for the module, its app holding two accounts, ann's and ben's:
    (page, {user: serial})."""
    context = browser.new_context(**VIEWPORTS["phone"])
    try:
        phone = context.new_page()
        serials = {user: activate_by_link(phone, site, user) for user in ("ann", "ben")}
        yield phone, serials
    finally:
        context.close()


@pytest.fixture
def ann(app, site):
    """The module's phone on its app's page: (page, ann's serial)."""
    phone, serials = app
    open_app(phone, site)
    return phone, serials["ann"]


# ---- activation -------------------------------------------------------------------------


def qr_grey(page):
    """The portal's QR code as the page draws it: rows of grey values from a screenshot."""
    return png.decode_png(page.locator("figure.qr svg").screenshot())


def decode_qr(grey):
    from pyzbar import pyzbar

    height, width = len(grey), len(grey[0])
    found = pyzbar.decode((bytes(v for row in grey for v in row), width, height), symbols=[pyzbar.ZBarSymbol.QRCODE])
    return [f.data.decode() for f in found]


def write_y4m(path, grey, width=640, height=480, frames=2):
    """A Y4M video (4:2:0, full range) of the picture in black and white, scaled up on a white frame."""
    h, w = len(grey), len(grey[0])
    scale = max(1, min(width, height) * 3 // 4 // max(w, h))
    top, left = (height - h * scale) // 2, (width - w * scale) // 2
    luma = bytearray(b"\xff" * (width * height))
    for y, row in enumerate(grey):
        line = b"".join((b"\x00" if v < 128 else b"\xff") * scale for v in row)
        for dy in range(scale):
            start = (top + y * scale + dy) * width + left
            luma[start:start + len(line)] = line
    chroma = b"\x80" * ((width // 2) * (height // 2))
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W%d H%d F5:1 Ip A1:1 C420jpeg\n" % (width, height))
        for _ in range(frames):
            f.write(b"FRAME\n" + bytes(luma) + chroma + chroma)


def test_activation_by_the_camera_scanning_the_portals_qr_code(site, new_page, camera_browser, tmp_path):
    pytest.importorskip("pyzbar.pyzbar", reason="pyzbar and libzbar0 are missing (scripts/bootstrap.sh)")
    desktop = new_page("desktop")
    code = add_phone_in_portal(desktop, site, "cam")
    grey = qr_grey(desktop)
    # The page's own QR code is a real QR code of the app's address with the shown code in the fragment.
    decoded = decode_qr(grey)
    match = len(decoded) == 1 and re.fullmatch(r"(https?://[^/#]+)/mobile/\?lang=en#activate=([A-Z2-9]{8})",
                                                decoded[0])
    holds_the_code = bool(match) and match.group(1) == site.url and match.group(2) == code
    assert holds_the_code, "one QR code, of this server's /mobile/?lang=en#activate= and the code shown"

    video = tmp_path / "qr.y4m"
    write_y4m(video, grey)
    context = camera_browser(video).new_context(**VIEWPORTS["phone"])
    context.grant_permissions(["camera"], origin=site.url)
    phone = context.new_page()
    open_app(phone, site)
    phone.locator("button#add").click()
    expect(phone.locator("section#add-account")).to_be_visible()
    phone.locator("button#scan").click()
    choose_pin(phone, "cam")  # the scanned code started the activation
    serial = expect_activated(phone, site, "cam")
    assert {(d["serial"], d["status"]) for d in site.v.devices("cam") if d["kind"] == "mobile"} == {(serial, "active")}
    desktop.goto(site.url + "/")
    expect_device(desktop, serial, "active")  # the user's page shows the mobile kind


def test_activation_by_the_typed_code(site, new_page, axe):
    desktop = new_page("desktop")
    code = add_phone_in_portal(desktop, site, "tia")
    phone = new_page("phone")
    open_app(phone, site)
    phone.locator("button#add").click()
    expect(phone.locator("section#add-account")).to_be_visible()
    expect(phone.locator("input#server")).to_have_value(site.url)
    # typed as a person might: small letters, a dash in the middle
    phone.get_by_label("Activation code").fill(code[:4].lower() + "-" + code[4:].lower())
    phone.locator("button#activate").click()
    expect(phone.locator("section#choose-pin")).to_be_visible(timeout=WAIT)
    phone.locator("input#pin").fill(PINS["tia"])
    phone.locator("input#pin2").fill(PINS["ben"])
    phone.locator("button#finish").click()
    expect(phone.locator("#error")).not_to_have_text("")  # the two PINs differ
    choose_pin(phone, "tia")
    serial = expect_activated(phone, site, "tia")
    assert axe(phone) == []
    desktop.goto(site.url + "/")
    expect_device(desktop, serial, "active")


# ---- approving logins -------------------------------------------------------------------


def test_two_accounts_in_one_app_and_a_login_approved_with_the_number_and_pin(app, site, new_page, axe):
    phone, serials = app
    open_app(phone, site)
    accounts = phone.locator("ul#accounts li.account")
    expect(accounts).to_have_count(2)
    assert {(a.get_attribute("data-user"), a.get_attribute("data-serial")) for a in accounts.all()} == \
        {(user, serial) for user, serial in serials.items()}

    desktop = new_page("desktop")
    number = start_login(desktop, site, "ben")
    assert axe(desktop) == []
    article = waiting_request(phone, site, serials["ben"])
    expect(phone.locator('article.request[data-serial="%s"]' % serials["ann"])).to_have_count(0)  # not on ann's
    expect(article).to_contain_text("ben")
    expect(article).to_contain_text("127.0.0.1")  # where the login comes from
    assert axe(phone) == []
    before = site.approvals("ben")
    pick_and_approve(article, number, "ben")
    expect(phone.locator("#message")).to_have_text("Approved", timeout=WAIT)
    expect(article).to_have_count(0)
    desktop.wait_for_url(site.url + "/")
    expect(desktop.get_by_text("Logged in as ben.")).to_be_visible()
    assert site.approvals("ben") == before + 1


def test_a_replayed_approval_is_refused(ann, site, new_page, secrets_sent):
    phone, serial = ann
    desktop = new_page("desktop")
    number = start_login(desktop, site, "ann")
    article = waiting_request(phone, site, serial)
    with phone.expect_request(lambda r: r.method == "POST" and r.url.endswith("/mobile/api/answer")) as sent:
        pick_and_approve(article, number, "ann")
    body = sent.value.post_data
    secrets_sent.add(json.loads(json.loads(body)["message"])["response"])
    expect(phone.locator("#message")).to_have_text("Approved", timeout=WAIT)
    desktop.wait_for_url(site.url + "/")
    approvals = site.approvals("ann")

    replay = desktop.request.post(site.url + "/mobile/api/answer", data=body,
                                  headers={"Content-Type": "application/json"})
    assert 400 <= replay.status < 500, replay.status
    assert replay.headers["content-type"].startswith("application/json") and replay.json().get("error")
    assert site.approvals("ann") == approvals, "the login is not approved twice"


def test_a_wrong_pin_is_refused_and_counts_toward_the_lockout(site, new_page):
    phone = new_page("phone")
    serial = activate_by_link(phone, site, "wes")
    for i in range(8):  # eight failed logins already: the tenth locks (the default policy)
        with pytest.raises(VerifierError):
            site.v.start("wes", "Wrong-password-%d" % i)
    assert site.failures("wes") == 8
    desktop = new_page("desktop")
    number = start_login(desktop, site, "wes")
    # the ninth failure: the request survives it (a challenge takes three tries) and says so
    pick_and_approve(waiting_request(phone, site, serial), number, "wrong")
    expect(phone.locator("#error")).to_have_text(REFUSED[:-1] + ". Tries left for this request: 2.", timeout=WAIT)
    assert site.failures("wes") == 9
    pick_and_approve(waiting_request(phone, site, serial), number, "wrong")
    expect(phone.locator("#error")).to_have_text(REFUSED, timeout=WAIT)
    expect(desktop.get_by_role("alert")).to_have_text(
        "The login failed. Check your user name, password and response, and try again. If you have no device to "
        "log in with, or lost it, please contact the help desk.", timeout=WAIT)
    expect(desktop.get_by_label("User name")).to_be_visible()  # back to the login form
    assert site.failures("wes") == 10
    assert site.v.user_info("wes")["locked_until"], "the wrong PIN was the tenth failure"
    password_step(desktop, site, "wes")
    expect(desktop.get_by_role("alert")).to_contain_text("Your account is locked")


def test_a_decline_ends_the_login(ann, site, new_page):
    phone, serial = ann
    failures = site.failures("ann")
    desktop = new_page("desktop")
    start_login(desktop, site, "ann")
    article = waiting_request(phone, site, serial)
    article.locator("button.decline").click()
    expect(phone.locator("#message")).to_have_text("Declined", timeout=WAIT)
    expect(article).to_have_count(0)
    expect(desktop.locator(".error[role=alert]")).to_contain_text("declined", timeout=WAIT)
    expect(desktop.get_by_label("User name")).to_be_visible()  # back to the login form
    assert site.failures("ann") == failures, "a decline counts no failure (docs/mobile.md)"


def approve_login(desktop, phone, site, user, serial, pin_of):
    number = start_login(desktop, site, user)
    pick_and_approve(waiting_request(phone, site, serial), number, pin_of)
    desktop.wait_for_url(site.url + "/")


def test_a_pin_change_in_the_portal_is_answered_in_the_app_with_the_new_pin(site, new_page):
    phone = new_page("phone")
    serial = activate_by_link(phone, site, "pat")
    desktop = new_page("desktop")
    approve_login(desktop, phone, site, "pat", serial, "pat")
    desktop.get_by_label("New PIN", exact=True).fill(PINS["pat-new"])  # 8 digits, as a token's keypad allows
    desktop.get_by_label("New PIN again").fill(PINS["pat-new"])
    desktop.get_by_role("button", name="Change PIN").click()
    expect(desktop.get_by_role("heading", name="Change your PIN")).to_be_visible()
    expect(desktop.get_by_text("Enter your NEW PIN in OpenDSC Mobile, not the old one.")).to_be_visible()
    number = desktop.locator("strong#approve-number").inner_text().strip()
    article = waiting_request(phone, site, serial)
    expect(article.locator("h3")).to_have_text("PIN change for pat")
    expect(article.get_by_label("New PIN")).to_be_visible()
    pick_and_approve(article, number, "pat-new")
    expect(phone.locator("#message")).to_have_text("Approved", timeout=WAIT)
    expect(desktop.get_by_text("Your PIN is changed. Use the new PIN from now on.")).to_be_visible(timeout=WAIT)
    # the next login is approved with the new PIN
    approve_login(new_page("desktop"), phone, site, "pat", serial, "pat-new")


def test_removing_an_account_in_the_app_revokes_the_phone_on_its_server(site, new_page):
    phone = new_page("phone")
    serial = activate_by_link(phone, site, "una")
    account = phone.locator('ul#accounts li.account[data-serial="%s"]' % serial)
    asked, answers = [], []

    def on_dialog(dialog):
        asked.append(dialog.message)
        dialog.accept() if answers.pop(0) else dialog.dismiss()

    phone.on("dialog", on_dialog)
    # offline, the app says the server was not told and keeps the account unless told otherwise
    phone.context.set_offline(True)
    try:
        answers[:] = [True, False]
        account.locator("button.remove").click()
        expect(phone.locator("#error")).to_have_text("Nothing was removed: the server could not be told.",
                                                      timeout=WAIT)
        expect(account).to_have_count(1)
        assert len(asked) == 2 and "could not be told" in asked[1], asked
    finally:
        phone.context.set_offline(False)
    assert [d["status"] for d in site.v.devices("una") if d["serial"] == serial] == ["active"]

    asked.clear()
    answers[:] = [True]
    account.locator("button.remove").click()
    expect(phone.locator("#message")).to_have_text("Removed una (%s)" % serial, timeout=WAIT)
    expect(account).to_have_count(0)
    assert len(asked) == 1 and "will no longer ask this phone" in asked[0], asked
    assert [d["status"] for d in site.v.devices("una") if d["serial"] == serial] == ["revoked"]
    desktop = new_page("desktop")  # the phone was una's only device: refused like any login, with the way on
    password_step(desktop, site, "una")
    expect(desktop.get_by_role("alert")).to_contain_text("If you have no device to log in with, or lost it, please "
                                                         "contact the help desk.")


def test_an_expired_request(ann, site, new_page):
    phone, serial = ann
    desktop = new_page("desktop")
    start_login(desktop, site, "ann")
    article = waiting_request(phone, site, serial)
    site.expire(article.get_attribute("data-transaction"))
    expect(article).to_have_count(0, timeout=WAIT)
    expect(desktop.get_by_role("alert")).to_contain_text(re.compile("expired", re.I), timeout=WAIT)


def test_offline_the_app_opens_and_computes_the_response_for_the_same_transaction(ann, site, new_page, secrets_sent):
    phone, serial = ann
    phone.evaluate("navigator.serviceWorker.ready.then(() => true)")  # installed, the app cached
    desktop = new_page("desktop")
    before = set(site.logins(serial))
    start_login(desktop, site, "ann")
    transaction = waiting_request(phone, site, serial).get_attribute("data-transaction")
    asked = []
    desktop.on("request", lambda r: None if "/login/status" in r.url else asked.append(r.method + " " + r.url))
    desktop.get_by_text("Didn't get a notification?").click()
    challenge = desktop.locator("details#no-notification #challenge-code")
    expect(challenge).to_be_visible()
    question = challenge.inner_text().strip()
    assert re.fullmatch(r"[0-9]{6}", question)
    assert asked == [], "switching to typing sends no request"
    assert {k: v for k, v in site.logins(serial).items() if k not in before} == {transaction: question}, \
        "the question is the waiting transaction's"

    phone.context.set_offline(True)
    try:
        phone.goto(site.url + "/mobile/")  # opens from the service worker's cache
        expect(phone.get_by_role("heading", name="OpenDSC Mobile")).to_be_visible()
        assert phone.evaluate("fetch('/login', {cache: 'no-store'}).then(() => 'online', () => 'offline')") \
            == "offline", "the network is out of reach"
        phone.locator('li.account[data-serial="%s"] button.respond' % serial).click()
        expect(phone.locator("section#respond")).to_be_visible()
        phone.locator("input#respond-pin").fill(PINS["ann"])
        phone.locator("input#respond-challenge").fill(question)
        phone.locator("button#respond-go").click()
        # waited for without Playwright's expect, which would print the response if it failed
        phone.wait_for_function("() => /^\\s*[0-9]{8}\\s*$/.test(document.querySelector('output#response').textContent)")
        typed = phone.locator("output#response").inner_text().strip()
        secrets_sent.add(typed)
    finally:
        phone.context.set_offline(False)
    desktop.locator("details#no-notification input#response").fill(typed)
    desktop.locator("details#no-notification").get_by_role("button", name="Log in").click()
    desktop.wait_for_url(site.url + "/")
    assert set(site.logins(serial)) - before == {transaction}, "one transaction for the whole login"


# ---- withdrawals: signed over their amount and destination (issue 19) ------------------


def offline_signature(phone, serial, challenge, amount, destination, pin_of):
    """The app's offline response for a withdrawal, each field keyed in its own box."""
    phone.locator('li.account[data-serial="%s"] button.respond' % serial).click()
    phone.locator("input#respond-pin").fill(PINS[pin_of])
    phone.locator("input#respond-challenge").fill(challenge)
    phone.locator("input#respond-withdrawal").check()
    phone.get_by_label("Amount", exact=True).fill(str(amount))
    phone.get_by_label("Destination account digits").fill(destination)
    phone.locator("button#respond-go").click()
    # waited for without Playwright's expect, which would print the response if it failed
    phone.wait_for_function("() => /^\\s*[0-9]{8}\\s*$/.test(document.querySelector('output#response').textContent)")
    return phone.locator("output#response").inner_text().strip()


def test_a_withdrawal_is_approved_as_shown_and_refused_when_changed_on_the_way(site, new_page, secrets_sent):
    """The app shows a withdrawal's amount and destination and signs over them: approved as
    the server asked, it goes through; changed on the way to the phone (here the poll's
    answer, as a proxy or a script could change it), the phone's signature is for other
    values and the server refuses it, counted. Offline, the signature keyed for other
    values is refused and the right one confirms. (The service worker is blocked so that
    the test's route sees the app's API calls.)"""
    phone = new_page("phone", service_workers="block")
    serial = activate_by_link(phone, site, "vic")
    destination = "Mizuho Bank 1234567"
    first = site.v.issue("vic", device=serial, purpose="withdrawal", amount=1500, destination=destination)
    article = waiting_request(phone, site, serial)
    expect(article.locator(".amount")).to_have_text("Amount 1,500")
    expect(article.locator(".destination")).to_have_text("To " + destination)
    pick_and_approve(article, str(first["number"]), "vic")
    expect(phone.locator("#message")).to_have_text("Approved", timeout=WAIT)
    assert site.v.challenge_state(first["challenge_id"]) == "accepted"

    def ten_times_more(route):
        found = route.fetch()
        body = found.json()
        for item in body["waiting"]:
            item["amount"] = str(int(item["amount"]) * 10)
        route.fulfill(response=found, json=body)

    phone.route("**/mobile/api/waiting*", ten_times_more)
    second = site.v.issue("vic", device=serial, purpose="withdrawal", amount=1500, destination=destination)
    article = waiting_request(phone, site, serial)
    expect(article.locator(".amount")).to_have_text("Amount 15,000")
    pick_and_approve(article, str(second["number"]), "vic")
    expect(phone.locator("#error")).to_have_text(
        "The withdrawal was refused: wrong number or PIN, or its amount or destination was changed on the way. "
        "Tries left for this request: 2.", timeout=WAIT)
    phone.unroute("**/mobile/api/waiting*")
    assert site.v.challenge_state(second["challenge_id"]) == "pending"
    refused = [e for e in site.v.audit_log(name="vic") if e["purpose"] == "withdrawal" and e["outcome"] == "fail"]
    assert [(e["reason"], e["amount"]) for e in refused] == [("wrong response", 1500)]

    # its third and last try would close it: one wrong (another destination), then the right one
    for amount, digits, outcome in ((1500, "1234568", "wrong response"), (1500, "1234567", None)):
        typed = offline_signature(phone, serial, second["challenge"], amount, digits, "vic")
        secrets_sent.add(typed)
        got = site.v.finish(second["challenge_id"], typed)
        assert got.get("reason") == outcome, (amount, digits, got.get("reason"))
    assert got["amount"] == 1500


# ---- the phone and its keys --------------------------------------------------------------


def test_a_new_phone_revokes_the_old(site, new_page):
    old, new = new_page("phone"), new_page("phone")
    old_serial = activate_by_link(old, site, "rex")
    new_serial = activate_by_link(new, site, "rex", "rex2")
    assert new_serial != old_serial

    staff = new_page("desktop")
    card_login(staff, site, "staff", STAFF_PASSWORD)
    staff.get_by_label("User name").fill("rex")
    staff.get_by_role("button", name="Find").click()
    expect(staff.get_by_role("heading", name="User rex")).to_be_visible()
    expect_device(staff, new_serial, "active")  # the help desk sees the mobile kind
    expect_device(staff, old_serial, "revoked")

    desktop = new_page("desktop")
    number = start_login(desktop, site, "rex")
    article = waiting_request(new, site, new_serial)
    expect(old.locator("article.request")).to_have_count(0)  # the old phone polled too, and got nothing
    pick_and_approve(article, number, "rex2")
    desktop.wait_for_url(site.url + "/")


EXPORT_ATTEMPTS = """async () => {
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open("opendsc-mobile");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const records = await new Promise((resolve, reject) => {
    const all = db.transaction("accounts").objectStore("accounts").getAll();
    all.onsuccess = () => resolve(all.result);
    all.onerror = () => reject(all.error);
  });
  db.close();
  const wrapping = await crypto.subtle.generateKey({name: "AES-KW", length: 256}, false, ["wrapKey"]);
  const rawBytes = (value) => value instanceof ArrayBuffer || ArrayBuffer.isView(value);
  const out = [];
  for (const r of records) {
    const fields = Object.keys(r).sort();
    const keys = {ocraKey: [r.ocraKey, ["raw", "jwk"]], "deviceKey.privateKey": [r.deviceKey.privateKey, ["pkcs8", "jwk"]]};
    const tries = {};
    for (const [name, [key, formats]] of Object.entries(keys)) {
      for (const format of formats) {
        try { await crypto.subtle.exportKey(format, key); tries[name + " export " + format] = "exported"; }
        catch (e) { tries[name + " export " + format] = e.name; }
        try { await crypto.subtle.wrapKey(format, key, wrapping, "AES-KW"); tries[name + " wrap " + format] = "wrapped"; }
        catch (e) { tries[name + " wrap " + format] = e.name; }
      }
    }
    out.push({id: r.id, server: r.server, serial: r.serial, user: r.user, fields, tries,
              rawBytes: fields.filter((f) => rawBytes(r[f])),
              ocra: [r.ocraKey.type, r.ocraKey.extractable, r.ocraKey.algorithm.name, r.ocraKey.algorithm.hash.name],
              device: [r.deviceKey.privateKey.type, r.deviceKey.privateKey.extractable,
                       r.deviceKey.privateKey.algorithm.name, r.deviceKey.privateKey.algorithm.namedCurve]});
  }
  return out;
}"""


def test_no_key_can_be_exported_from_the_apps_indexeddb(app, site):
    phone, serials = app
    open_app(phone, site)
    records = phone.evaluate(EXPORT_ATTEMPTS)
    assert {(r["user"], r["serial"]) for r in records} == set(serials.items())
    for r in records:
        assert r["id"] == r["server"] + " " + r["serial"] and r["server"] == site.url
        assert not [f for f in r["fields"] if "pin" in f.lower()], r["fields"]  # no PIN, no PIN hash
        assert r["rawBytes"] == [], "no raw key bytes"
        assert r["ocra"] == ["secret", False, "HMAC", "SHA-256"]
        assert r["device"] == ["private", False, "ECDSA", "P-256"]
        assert len(r["tries"]) == 8 and set(r["tries"].values()) == {"InvalidAccessError"}, r["tries"]


def test_one_app_holds_an_account_on_another_server(site, new_page, tmp_path):
    """The app served by one server, activated by the typed code on a second one (another
    origin): its polls and answers cross over (the API answers CORS), and the other
    server's login is approved from this app."""
    import httpx

    cheap, passwords.N = passwords.N, 2 ** 4
    try:
        db, keyring = make_db(tmp_path, users=("alice", "zoe"))
    finally:
        passwords.N = cheap
    other = Server(tmp_path, db, keyring)
    v = service.Verifier(db, keyring)
    phone = new_page("phone")
    try:
        issued = v.mobile_activation("zoe")
        open_app(phone, site)
        phone.locator("button#add").click()
        phone.locator("input#code").fill(issued["code"])
        phone.locator("input#server").fill(other.url)
        phone.locator("button#activate").click()
        choose_pin(phone, "wes")
        account = phone.locator('ul#accounts li.account[data-serial="%s"]' % issued["serial"])
        expect(account).to_have_count(1, timeout=WAIT)
        assert account.get_attribute("data-server") == other.url != site.url

        with httpx.Client(base_url=other.url, timeout=30) as http:
            login = http.post("/api/v1/login/start", json={"username": "zoe", "password": PASSWORD}).json()
        article = phone.locator('article.request[data-transaction="%s"]' % login["challenge_id"])
        expect(article).to_have_count(1, timeout=WAIT)
        pick_and_approve(article, str(login["number"]), "wes")
        expect(phone.locator("#message")).to_have_text("Approved", timeout=WAIT)
        assert v.challenge_state(login["challenge_id"]) == "accepted"
    finally:
        phone.close()  # its long poll ends with it, before the server stops
        v.close()
        other.stop()
    assert "Traceback" not in other.log_text()


def test_the_app_speaks_the_language_it_is_opened_in_then_the_portals_then_its_last_choice(site, new_page):
    phone = new_page("phone")  # the phone prefers English (Chromium's locale here)
    phone.goto(site.url + "/mobile/?lang=ja")  # as the portal's QR code opens it from a Japanese page
    expect(phone.get_by_role("heading", name="アカウント", exact=True)).to_be_visible()
    assert phone.locator("html").get_attribute("lang") == "ja"
    phone.goto(site.url + "/login")  # the portal on the same server follows the app's choice
    expect(phone.get_by_label("ユーザー名")).to_be_visible()
    phone.context.clear_cookies()
    phone.goto(site.url + "/mobile/")  # no ?lang=, no cookie: the app's last choice, kept on the phone
    expect(phone.get_by_role("heading", name="アカウント", exact=True)).to_be_visible()
    phone.goto(site.url + "/login?lang=en")  # the portal switched to English: the app follows its cookie
    phone.goto(site.url + "/mobile/")
    expect(phone.get_by_role("heading", name="Accounts", exact=True)).to_be_visible()
    phone.get_by_role("link", name="日本語").click()  # the app's own switch
    expect(phone.get_by_role("button", name="アカウントを追加")).to_be_visible()
    fresh = new_page("phone", locale="ja-JP")  # nothing chosen yet: the phone's own preference
    fresh.goto(site.url + "/mobile/")
    expect(fresh.get_by_role("heading", name="アカウント", exact=True)).to_be_visible()
