"""The portal in a real Chromium, end to end, on the whole system `make run`
starts (`dsc demo --no-ui`): the newcomer's login with the simulated token
(the challenge keyed through its debug link, as a person keys it), the session
id changing at login, a forged form refused, the lockout, the Japanese pages,
the help desk's card login, axe-core on every page, and screenshots of each at
desktop and phone sizes (docs/screenshots/ with DSC_SCREENSHOTS=1)."""

import re
import signal
import subprocess

import pytest

from host.client import TokenClient
from host.verifier import cards
from tests.test_demo import BLOCK_END, demo_args, demo_env, parse_block, read_until

expect = pytest.importorskip("playwright.sync_api", reason="playwright is missing").expect  # waits, unlike is_visible()
pytestmark = pytest.mark.xdist_group("portal-e2e")


@pytest.fixture(scope="module")


def system(tmp_path_factory, secrets_sent):
    state = tmp_path_factory.mktemp("system") / "state"
    proc = subprocess.Popen(demo_args(state), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=demo_env())
    try:
        block = parse_block(read_until(proc.stdout.fileno(), BLOCK_END, timeout=60))
        secrets_sent.update({block["password"], block["pin"], block["helpdesk_password"]})
        block["state"] = state
        yield block
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def step_one(page, system, name="demo", password=None):
    page.goto(system["portal"] + "/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password if password is not None else system["password"])
    page.get_by_role("button", name="Next").click()


def key_into_token(system, challenge, secrets_sent):
    with TokenClient(system["link"]) as token:
        response = token.respond(system["pin"], challenge)
    secrets_sent.add(response)
    return response


def session_cookie(page):
    return next((c["value"] for c in page.context.cookies() if c["name"] == "dsc_session"), None)


def test_the_newcomer_logs_in_with_the_simulated_token(system, page, axe, screenshot, secrets_sent):
    page.goto(system["portal"] + "/login")
    assert axe(page) == []
    screenshot(page, "login")
    before = session_cookie(page)
    step_one(page, system)
    challenge = page.locator("#challenge-code").inner_text()
    assert re.fullmatch(r"[0-9]{6}", challenge)
    assert "type the 8-digit response" in page.locator("#instructions").inner_text()
    field = page.get_by_label("Response")
    assert field.get_attribute("inputmode") == "numeric" and field.get_attribute("autocomplete") == "one-time-code"
    page.wait_for_function("document.querySelector('.countdown').textContent.includes('s left')")
    assert axe(page) == []
    screenshot(page, "challenge")
    field.fill(key_into_token(system, challenge, secrets_sent))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(system["portal"] + "/")
    expect(page.get_by_text("Logged in as demo.")).to_be_visible()
    assert session_cookie(page) not in (None, before)  # a new session id at login
    assert axe(page) == []
    screenshot(page, "home")


def test_the_pages_fit_a_phone(system, phone, axe, screenshot, secrets_sent):
    step_one(phone, system)
    expect(phone.locator("#challenge-code")).to_be_visible()  # the next page has come: evaluate reads it
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert axe(phone) == []
    screenshot(phone, "challenge")
    challenge = phone.locator("#challenge-code").inner_text()
    phone.get_by_label("Response").fill(key_into_token(system, challenge, secrets_sent))
    phone.get_by_role("button", name="Log in").click()
    phone.wait_for_url(system["portal"] + "/")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(phone, "home")


def test_a_forged_form_from_another_site_is_refused(system, page):
    page.goto(system["portal"] + "/login")
    # the attacker's page posts to the portal without the CSRF token
    page.set_content('<form method="post" action="%s/login"><input name="username" value="demo">'
                     '<input name="password" value="x"><button>go</button></form>' % system["portal"])
    page.get_by_role("button", name="go").click()
    expect(page.get_by_role("heading", name="This form has expired")).to_be_visible()


def test_the_japanese_pages(system, new_page, axe, screenshot):
    page = new_page("desktop", locale="ja-JP", extra_http_headers={"Accept-Language": "ja"})
    page.goto(system["portal"] + "/login")
    assert page.locator("html").get_attribute("lang") == "ja"
    expect(page.get_by_label("ユーザー名")).to_be_visible()
    expect(page.get_by_role("button", name="次へ")).to_be_visible()
    assert axe(page) == []
    screenshot(page, "login-ja")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_label("User name")).to_be_visible()


def test_the_help_desk_logs_in_with_its_printed_card(system, page, axe, screenshot):
    from host.verifier import service

    v = service.Verifier(str(system["state"] / "dsc.db"), str(system["state"] / "dsc-master.key"))
    try:
        serial = next(d["serial"] for d in v.devices("helpdesk") if d["kind"] == "code-card")
        grid = v.card("helpdesk", serial)["grid"]  # what the printed card in .state/ shows
    finally:
        v.close()
    step_one(page, system, "helpdesk", system["helpdesk_password"])
    expect(page.locator("strong.code")).to_have_count(2)  # the card's two positions
    positions = page.locator("strong.code").all_inner_texts()
    expect(page.get_by_text("security code card %s" % serial)).to_be_visible()
    assert axe(page) == []
    screenshot(page, "card-challenge")
    page.get_by_label("Codes").fill(cards.expected(grid, int(positions[0]), int(positions[1])))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(system["portal"] + "/helpdesk")


def test_the_throttle_answers_before_the_lockout_on_the_default_policy(system, page):
    # make run's default policy: 10 attempts a minute per user name, then 429 with the wait
    for i in range(11):
        step_one(page, system, "sprayed-name", "Wrong-password-%d" % i)
    assert re.fullmatch(r"Too many attempts\. Please wait [0-9]+ seconds and try again\.",
                        page.get_by_role("alert").inner_text())


def test_the_lockout_in_the_browser(portal, page, axe, screenshot):
    from tests.server.conftest import PASSWORD

    def attempt(password):
        page.goto(portal + "/login")
        page.get_by_label("User name").fill("carol")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Next").click()
        return page.get_by_role("alert").inner_text()

    first = attempt("Wrong-password-0")
    assert first == ("The login failed. Check your user name, password and response, and try again. If you have "
                     "no device to log in with, or lost it, please contact the help desk.")
    for i in range(1, 10):
        assert attempt("Wrong-password-%d" % i) == first  # never says which part was wrong
    locked = attempt(PASSWORD)  # the right password, after 10 failures
    assert locked == ("Your account is locked: 10 failed logins within 24 hours lock it until 24 hours after the "
                      "last one, even with correct credentials. Please contact the help desk.")
    assert axe(page) == []
    screenshot(page, "locked")
