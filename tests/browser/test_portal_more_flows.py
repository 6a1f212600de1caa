"""The rest of the user's flows in Chromium: activating a shipped token, an
online security code card while on a temporary passcode (seen and downloaded as
PDF), re-activating the found token (which ends the passcode), and sharing a
token with the seeds' refusal; axe-core on each page."""

import json
import re

import pytest

from host.verifier import cards, passwords, service
from tests.ocra_reference import ocra
from tests.server.conftest import KEY, PASSWORD, PIN, SUITE, Server, make_db

expect = pytest.importorskip("playwright.sync_api", reason="playwright is missing").expect  # waits, unlike is_visible()
pytestmark = pytest.mark.xdist_group("portal-more-flows")
OWNER_PASSWORD = "Owner-pw-for-share-3"


@pytest.fixture(scope="module")


def site(tmp_path_factory, secrets_sent):
    tmp = tmp_path_factory.mktemp("more-flows")
    cheap, passwords.N = passwords.N, 2 ** 4
    try:
        db, keyring = make_db(tmp, users=("alice", "gus", "jun"))
        v = service.Verifier(db, keyring)
        v.enroll_token("gus", "DSC00007", KEY, PIN, suite=SUITE)  # shipped
        gus_card = v.issue_printed_card("gus")
        v.enroll_token("jun", "DSC00009", KEY, PIN, suite=SUITE)
        v.set_token_status("jun", "DSC00009", False)  # misplaced: jun gets a temporary passcode
        jun_temp = v.issue_temp_passcode("jun")
        same = dict(birth_date="1975-05-06", citizenship="JP", residence="JP", id_type="passport", id_number="Q7")
        v.add_user("kai", PASSWORD, **same)
        v.add_user("lee", OWNER_PASSWORD, **same)
        v.add_user("mia", PASSWORD, **dict(same, id_number="Q8"))
        kai_card = v.issue_printed_card("kai")
        v.enroll_token("lee", "DSC00011", KEY, PIN, suite=SUITE, active=True)
        v.enroll_token("mia", "DSC00012", KEY, PIN, suite=SUITE, active=True)
        v.close()
    finally:
        passwords.N = cheap
    secrets_sent.update({jun_temp["passcode"], OWNER_PASSWORD})
    policy = tmp / "policy.json"
    policy.write_text(json.dumps({"throttle_per_address": 0, "throttle_per_user": 0}))
    s = Server(tmp, db, keyring, extra_env={"DSC_POLICY_FILE": str(policy)})
    s.cards = {"gus": gus_card, "kai": kai_card}
    s.temp = jun_temp
    yield s
    s.stop()


def first_step(page, site, name):
    page.goto(site.url + "/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Next").click()


def with_card(page, site, name):
    first_step(page, site, name)
    expect(page.locator("strong.code")).to_have_count(2)  # the card's step has come
    i, j = (int(x) for x in page.locator("strong.code").all_inner_texts())
    page.get_by_label("Codes").fill(cards.expected(site.cards[name]["grid"], i, j))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(site.url + "/")


def with_token(page, secrets_sent, button):
    response = ocra(SUITE, KEY, page.locator("#challenge-code").inner_text(), pin=PIN)
    secrets_sent.add(response)
    page.get_by_label("Response").fill(response)
    page.get_by_role("button", name=button).click()


def row(page, serial):
    return page.locator("tr", has_text=serial).first.inner_text()


def test_activating_a_shipped_token(site, page, axe, secrets_sent):
    with_card(page, site, "gus")
    assert "shipped" in row(page, "DSC00007")
    page.get_by_role("button", name="Activate token DSC00007").click()
    expect(page.get_by_role("heading", name="Activate your token")).to_be_visible()
    assert axe(page) == []
    with_token(page, secrets_sent, "Confirm")
    assert page.get_by_role("status").inner_text() == "Your token is active."
    page.goto(site.url + "/")
    assert "active" in row(page, "DSC00007")


def test_an_online_card_then_the_found_token_re_activated(site, page, axe, screenshot, secrets_sent):
    first_step(page, site, "jun")
    page.get_by_label("Temporary passcode").fill(site.temp["passcode"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(site.url + "/")
    page.get_by_role("button", name="Get an online security code card").click()
    page.get_by_label("Temporary passcode").fill(site.temp["passcode"])
    page.get_by_role("button", name="Confirm").click()
    assert page.get_by_role("status").inner_text().startswith("Your online security code card is ready.")
    card = page.locator("pre.card")
    assert "OPENDSC ONLINE CARD" in card.inner_text()
    assert card.inner_text().rstrip().endswith("as 6 digits without a space"), "the instruction, last"
    assert card.evaluate("e => e.scrollWidth <= e.clientWidth && e.scrollHeight <= e.clientHeight"), \
        "the whole card shows, its last line too, without scrolling"
    expect(page.locator("#card-period")).to_contain_text("also after your temporary passcode ends")
    assert axe(page) == []
    screenshot(page, "online-card")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download it as PDF").click()
    with open(download.value.path(), "rb") as f:
        assert f.read(4) == b"%PDF"

    page.goto(site.url + "/")
    page.get_by_role("button", name=re.compile("Re-activate token DSC00009")).click()
    with_token(page, secrets_sent, "Confirm")
    assert page.get_by_role("status").inner_text() == "Your token is active."
    page.goto(site.url + "/")
    assert "active" in row(page, "DSC00009")
    assert re.search(r"revoked|expired", row(page, site.temp["serial"]))


def test_sharing_a_token_and_the_seeds_refusal(site, page, axe, secrets_sent):
    with_card(page, site, "kai")
    page.get_by_label("Owner's user name").fill("mia")
    page.get_by_label("Owner's password").fill(PASSWORD)
    page.get_by_role("button", name="Ask to share").click()
    assert page.get_by_role("alert").inner_text() == "Different identification information."
    page.get_by_label("Owner's user name").fill("lee")
    page.get_by_label("Owner's password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Ask to share").click()
    expect(page.get_by_text("The owner of token DSC00011 keys this challenge into it")).to_be_visible()
    assert axe(page) == []
    with_token(page, secrets_sent, "Confirm")
    assert page.get_by_role("status").inner_text() == "You may now use token DSC00011."
