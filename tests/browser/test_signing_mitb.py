"""Man in the browser (issue 19, transaction signing), in Chromium: the user fills the
portal's withdrawal form for an amount to a destination; malware in the browser changes
the amount in the request on its way (page.route on the form's POST), so the server
stores its amount. Whether the page then shows the server's amount or the malware puts
back the user's, the user confirms what they intended, and the portal refuses it and
records no withdrawal:

- the keypad token: the user keys the challenge, their amount and their destination's
  digits into the token; its signature is over those, not the server's amount;
- the phone: the approval shows the server's values (the malware's amount), and an
  answer the app signs for the user's amount is refused.

The token is the simulator (`dsc sim`, provisioned with the server's key for alice's
token), keyed through its debug link as a person keys it: A, the PIN, the challenge, the
amount, the destination. Its signature is also checked against tests/ocra_reference.py
over docs/protocol.md's layout, so the refusal is the server's, not a wrong token."""

import re
import urllib.parse

import pytest
from sqlalchemy import select

from host.client import TokenClient
from host.verifier import store
from tests.browser import test_mobile_app
from tests.browser.test_mobile_app import WAIT, activate_by_link, approve_login, open_app, pick_and_approve, waiting_request
from tests.browser.test_portal_flows import log_in
from tests.hil.conftest import SimulatedToken
from tests.ocra_reference import ocra
from tests.server.conftest import KEY, PIN, SUITE

expect = pytest.importorskip("playwright.sync_api", reason="playwright is missing").expect
pytestmark = pytest.mark.xdist_group("signing-mitb")  # one server for the module

SIGNING_SUITE = "OCRA-1:HOTP-SHA256-8:QA26-PSHA1"  # make_db's token suite with its question QA26
DESTINATION = "Mizuho Bank 1234567"
DESTINATION_DIGITS = "1234567"  # the last digits of the text: what the user keys
TOKEN_AMOUNT, TOKEN_MALWARE_AMOUNT = 150_000, 9_000_000  # a token has no withdrawal limit
PHONE_AMOUNT, PHONE_MALWARE_AMOUNT = 15_000, 190_000  # both within the phone's 200,000 a day

site = test_mobile_app.site  # a server of this module's own, as the mobile tests': alice has the token, ann no device


@pytest.fixture(scope="module")
def token_link(tmp_path_factory):
    """The debug link's URL of a simulated token holding alice's key and suite (make_db's)."""
    sim = SimulatedToken("cpython", tmp_path_factory.mktemp("token") / "flash").start()
    try:
        with TokenClient(sim.url) as token:
            token.provision(KEY, suite=SUITE)
        yield sim.url
    finally:
        sim.stop()


def shown(amount):
    """The amount as a page may show it: 9,000,000 or 9000000."""
    return re.compile(r"(?<![0-9,])%s(?![0-9,])" % "{:,}".format(amount).replace(",", ",?"))


def malware_changes_the_amount(page, site, to):
    """Every withdrawal form the page posts reaches the server with the amount `to`."""

    def alter(route):
        request = route.request
        if request.method != "POST":
            return route.continue_()
        fields = urllib.parse.parse_qsl(request.post_data or "", keep_blank_values=True)
        if ("purpose", "withdrawal") not in fields:
            return route.continue_()
        fields = [(name, str(to) if name == "amount" else value) for name, value in fields]
        route.continue_(post_data=urllib.parse.urlencode(fields))

    page.route(site.url + "/confirm/start", alter)


def ask_for_withdrawal(page, site, amount):
    page.goto(site.url + "/")
    page.get_by_label("Amount").fill("{:,}".format(amount))
    page.get_by_label(re.compile(r"^Destination")).first.fill(DESTINATION)
    page.get_by_role("button", name="Withdraw").click()
    page.wait_for_url(site.url + "/confirm")


def stored_amount(site, user):
    """The amount of the user's latest withdrawal challenge, as the server keeps it."""
    c, u = store.challenges.c, store.users.c
    with site.v.engine.connect() as conn:
        return conn.execute(select(c.amount).join(store.users, u.id == c.user_id).where(u.username == user)
                            .where(c.purpose == "withdrawal").order_by(c.created_at.desc()).limit(1)).scalar_one()


def put_back(page, malware_amount, amount):
    """What malware does to the page: the user's amount where the server's is shown."""
    page.evaluate("""([bad, good]) => {
        const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let n = walk.nextNode(); n; n = walk.nextNode()) n.textContent = n.textContent.split(bad).join(good);
    }""", ["{:,}".format(malware_amount), "{:,}".format(amount)])


@pytest.mark.parametrize("page_shows", ["the-servers-amount", "the-users-amount"])
def test_the_token_signature_for_the_users_amount_is_refused(site, token_link, new_page, secrets_sent, page_shows):
    page = new_page("desktop")
    log_in(page, site.url, PIN, secrets_sent)
    malware_changes_the_amount(page, site, TOKEN_MALWARE_AMOUNT)
    ask_for_withdrawal(page, site, TOKEN_AMOUNT)
    assert stored_amount(site, "alice") == TOKEN_MALWARE_AMOUNT, "the malware's amount reached the server"
    main = page.locator("main")
    if page_shows == "the-servers-amount":
        # the page shows what the server will check, beside the challenge, and what to key
        expect(main).to_contain_text(shown(TOKEN_MALWARE_AMOUNT))
        expect(main).to_contain_text(DESTINATION)
        expect(main).to_contain_text(DESTINATION_DIGITS)
        instructions = page.locator("#instructions").inner_text().lower()
        assert "amount" in instructions and "destination" in instructions, instructions
    else:
        put_back(page, TOKEN_MALWARE_AMOUNT, TOKEN_AMOUNT)
        expect(main).not_to_contain_text(shown(TOKEN_MALWARE_AMOUNT))

    # the user keys the challenge, the amount and the destination they intend into the token
    challenge = page.locator("#challenge-code").inner_text().strip()
    with TokenClient(token_link) as token:
        signature = token.respond(PIN, challenge, signed=(str(TOKEN_AMOUNT), DESTINATION_DIGITS))
    secrets_sent.add(signature)
    question = challenge + str(TOKEN_AMOUNT).rjust(12, "0") + DESTINATION_DIGITS.rjust(8, "0")
    assert signature == ocra(SIGNING_SUITE, KEY, question, pin=PIN), "the token signs the user's values"
    failures = site.failures("alice")
    page.get_by_label("Response").fill(signature)
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("alert")).to_contain_text("failed")
    expect(page.get_by_role("status")).to_have_count(0)  # no "The withdrawal of ... is confirmed."
    assert site.failures("alice") == failures + 1, "counted toward the lockout"
    assert site.v.withdrawals("alice")["withdrawals"] == [], "nothing is recorded"


def test_the_phone_shows_the_servers_amount_and_an_answer_for_the_users_is_refused(site, new_page):
    phone = new_page("phone")
    serial = activate_by_link(phone, site, "ann")
    desktop = new_page("desktop")
    approve_login(desktop, phone, site, "ann", serial, "ann")

    malware_changes_the_amount(desktop, site, PHONE_MALWARE_AMOUNT)
    ask_for_withdrawal(desktop, site, PHONE_AMOUNT)
    assert stored_amount(site, "ann") == PHONE_MALWARE_AMOUNT, "the malware's amount reached the server"
    expect(desktop.get_by_role("heading", name=re.compile("phone|withdrawal", re.I)).first).to_be_visible()
    number = desktop.locator("strong#approve-number").inner_text().strip()

    # the phone shows what the server stored: a careful user sees the malware's amount here
    article = waiting_request(phone, site, serial)
    expect(article).to_contain_text(shown(PHONE_MALWARE_AMOUNT))
    expect(article).to_contain_text(DESTINATION)
    expect(article).not_to_contain_text(shown(PHONE_AMOUNT))

    # an answer signed for the user's amount: the app is given that amount in the request it polls
    def users_amount(route):
        reply = route.fetch()
        body = reply.text().replace(str(PHONE_MALWARE_AMOUNT), str(PHONE_AMOUNT))
        route.fulfill(response=reply, body=body)

    phone.route(re.compile(r".*/mobile/api/waiting.*"), users_amount)
    open_app(phone, site)
    article = waiting_request(phone, site, serial)
    expect(article).to_contain_text(shown(PHONE_AMOUNT))
    failures = site.failures("ann")
    pick_and_approve(article, number, "ann")
    expect(phone.locator("#error")).not_to_have_text("", timeout=WAIT)
    assert site.failures("ann") == failures + 1, "counted toward the lockout"
    expect(phone.locator("#message")).not_to_have_text("Approved")
    assert site.v.withdrawals("ann")["withdrawals"] == [], "nothing is recorded"
    expect(desktop.get_by_role("status")).to_have_count(0)
