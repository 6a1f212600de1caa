"""The user's Secure Login System flows in Chromium, on the `portal` fixture's
server (make_db: alice has token DSC00001): a PIN change (the new PIN twice,
then a challenge answered with the new PIN) after which the new PIN logs in, and
a withdrawal confirmed with the token; axe-core on each page they pass through."""

import pytest

from tests.ocra_reference import ocra
from tests.server.conftest import KEY, PASSWORD, PIN, SUITE

expect = pytest.importorskip("playwright.sync_api", reason="playwright is missing").expect  # waits, unlike is_visible()
pytestmark = pytest.mark.xdist_group("portal-flows")
NEW_PIN = "5791"


def log_in(page, portal, pin, secrets_sent):
    page.goto(portal + "/login")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Next").click()
    answer(page, pin, secrets_sent, "Log in")
    page.wait_for_url(portal + "/")


def answer(page, pin, secrets_sent, button):
    response = ocra(SUITE, KEY, page.locator("#challenge-code").inner_text(), pin=pin)
    secrets_sent.add(response)
    page.get_by_label("Response").fill(response)
    page.get_by_role("button", name=button).click()


def test_pin_change_then_withdrawal(portal, page, axe, screenshot, secrets_sent):
    secrets_sent.add(NEW_PIN)
    log_in(page, portal, PIN, secrets_sent)
    assert axe(page) == []
    page.get_by_label("New PIN", exact=True).fill(NEW_PIN)
    page.get_by_label("New PIN again").fill(NEW_PIN)
    page.get_by_role("button", name="Change PIN").click()
    expect(page.get_by_role("heading", name="Change your PIN")).to_be_visible()
    expect(page.get_by_text("Key your NEW PIN into the token, not the old one.")).to_be_visible()
    assert axe(page) == []
    screenshot(page, "pin-change")
    answer(page, NEW_PIN, secrets_sent, "Confirm")
    assert page.get_by_role("status").inner_text() == "Your PIN is changed. Use the new PIN from now on."
    assert axe(page) == []

    page.goto(portal + "/")
    page.get_by_label("Amount").fill("250,000")
    page.get_by_label("Destination account").fill("Mizuho Bank 1234567")
    page.get_by_role("button", name="Withdraw").click()
    expect(page.get_by_text("Withdrawal of 250,000 to Mizuho Bank 1234567.")).to_be_visible()
    assert axe(page) == []
    # signed (issue 19): the token's response covers the amount and the destination's digits keyed after the challenge
    signed = page.locator("#challenge-code").inner_text() + "%012d%08d" % (250000, 1234567)
    signature = ocra("OCRA-1:HOTP-SHA256-8:QA26-PSHA1", KEY, signed, pin=NEW_PIN)
    secrets_sent.add(signature)
    page.get_by_label("Response").fill(signature)
    page.get_by_role("button", name="Confirm").click()
    assert page.get_by_role("status").inner_text() == "The withdrawal of 250,000 to Mizuho Bank 1234567 is confirmed."

    page.goto(portal + "/")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(portal + "/login")
    log_in(page, portal, NEW_PIN, secrets_sent)  # the new PIN is the one that works now
