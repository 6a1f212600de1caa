"""The portal's login screen and first page over HTTP (no browser): the two
steps for each device kind, the session cookie and its rotation at login, the
CSRF check, the security headers, the same answer for every refusal, the
lockout text, the Japanese pages. tests/browser drives the same in Chromium."""

import html as html_module
import json
import re

import httpx
import pytest

from host.verifier import passwords, service
from tests.ocra_reference import ocra
from tests.server.conftest import KEY, PASSWORD, PIN, SERIAL, SUITE, Server, make_db

LOCK_AFTER = 3


pytestmark = pytest.mark.xdist_group("login-pages")  # one server for the module, on one worker


@pytest.fixture(scope="module")
def portal(tmp_path_factory, secrets_sent):
    tmp = tmp_path_factory.mktemp("portal")
    cheap, passwords.N = passwords.N, 2 ** 4
    try:
        db, keyring = make_db(tmp, users=("alice", "carol", "dave", "erin", "frank"))
        v = service.Verifier(db, keyring)
        v.enroll_token("erin", "DSC00005", KEY, PIN, suite=SUITE, active=True)
        card = v.issue_printed_card("erin")
        temp = v.issue_temp_passcode("frank")
        v.close()
    finally:
        passwords.N = cheap
    secrets_sent.update({temp["passcode"]})
    policy = tmp / "policy.json"
    policy.write_text(json.dumps({"lockout_failures": LOCK_AFTER, "throttle_per_address": 0, "throttle_per_user": 0}))
    s = Server(tmp, db, keyring, extra_env={"DSC_POLICY_FILE": str(policy)})
    s.card, s.temp = card, temp
    yield s
    s.stop()


@pytest.fixture
def browser(portal):
    with httpx.Client(base_url=portal.url, timeout=30) as c:
        yield c


def csrf_of(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def post(c, path, page_html, **fields):
    return c.post(path, data=dict(fields, csrf=csrf_of(page_html)))


def password_step(c, name, password=PASSWORD):
    r = post(c, "/login", c.get("/login").text, username=name, password=password)
    return r, c.get("/login") if r.status_code == 303 else r


def alert(html):
    found = re.search(r'role="alert">([^<]*)<', html)
    return html_module.unescape(found.group(1)) if found else None


def test_a_token_login_with_the_challenge_text_of_the_seeds(browser, secrets_sent):
    r, page = password_step(browser, "alice")
    assert r.status_code == 303
    challenge = re.search(r'id="challenge-code">([0-9]{6})<', page.text).group(1)
    assert "Press the power key, key your PIN and OK, key this challenge and OK, and type the 8-digit response." \
        in page.text
    field = re.search(r'<input id="response"[^>]*>', page.text).group(0)
    assert 'inputmode="numeric"' in field and 'autocomplete="one-time-code"' in field
    assert re.search(r'<time datetime="[0-9T:-]+Z" data-expires="[0-9]+">', page.text)
    before = browser.cookies.get("dsc_session")
    response = ocra(SUITE, KEY, challenge, pin=PIN)
    secrets_sent.add(response)
    r = post(browser, "/login/response", page.text, response=response)
    assert (r.status_code, r.headers["location"]) == (303, "/")
    after = browser.cookies.get("dsc_session")
    assert after and after != before  # a new session id at login
    home = browser.get("/")
    assert home.status_code == 200 and "Logged in as alice." in home.text and SERIAL in home.text
    # the id from before the login opens nothing
    with httpx.Client(base_url=str(browser.base_url), cookies={"dsc_session": before}) as stolen:
        assert stolen.get("/").headers["location"] == "/login"


def test_logout_ends_the_session(portal, browser, secrets_sent):
    _, page = password_step(browser, "alice")
    challenge = re.search(r'id="challenge-code">([0-9]{6})<', page.text).group(1)
    secrets_sent.add(ocra(SUITE, KEY, challenge, pin=PIN))
    post(browser, "/login/response", page.text, response=ocra(SUITE, KEY, challenge, pin=PIN))
    cookie = browser.cookies.get("dsc_session")
    assert post(browser, "/logout", browser.get("/").text).headers["location"] == "/login"
    with httpx.Client(base_url=portal.url, cookies={"dsc_session": cookie}) as old:
        assert old.get("/").headers["location"] == "/login"


def test_wrong_password_and_wrong_response_read_the_same(browser, secrets_sent):
    r, _ = password_step(browser, "carol", "Not-carols-password-1")
    secrets_sent.add("Not-carols-password-1")
    wrong_password = alert(r.text)
    _, page = password_step(browser, "alice")
    r = post(browser, "/login/response", page.text, response="00000000")
    assert r.status_code == 401 and alert(r.text) == wrong_password
    assert "password or" not in wrong_password.lower().replace("password, ", "")
    r, _ = password_step(browser, "nobody-here", "Whatever-pw-2")
    assert r.status_code == 401 and alert(r.text) == wrong_password


def test_the_lockout_text_follows_the_seeds(browser, secrets_sent):
    for i in range(LOCK_AFTER):
        secrets_sent.add("Wrong-dave-%d" % i)
        password_step(browser, "dave", "Wrong-dave-%d" % i)
    r, _ = password_step(browser, "dave")  # the right password: still locked
    assert r.status_code == 423
    assert alert(r.text) == ("Your account is locked: %d failed logins within 24 hours lock it until 24 hours after "
                             "the last one, even with correct credentials. Please contact the help desk." % LOCK_AFTER)


def test_a_code_card_shows_two_positions_and_another_device_can_be_chosen(portal, browser):
    _, page = password_step(browser, "erin")
    assert "Use another device" in page.text and portal.card["serial"] in page.text
    r = post(browser, "/login/another", page.text, device=portal.card["serial"])
    assert r.status_code == 303
    page = browser.get("/login")
    positions = re.findall(r'<strong class="code">([0-9]+)</strong>', page.text)
    assert len(positions) == 2 and "security code card %s" % portal.card["serial"] in page.text
    field = re.search(r'<input id="response"[^>]*>', page.text).group(0)
    assert 'inputmode="numeric"' in field and 'autocomplete="one-time-code"' in field


def test_a_new_challenge_replaces_the_old_one(browser):
    _, page = password_step(browser, "alice")
    first = re.search(r'id="challenge-code">([0-9]{6})<', page.text).group(1)
    post(browser, "/login/another", page.text)
    page = browser.get("/login")
    second = re.search(r'id="challenge-code">([0-9]{6})<', page.text).group(1)
    assert re.search(r'data-expires="[0-9]+"', page.text) and (first, second) != (None, None)


def test_a_temporary_passcode_login(portal, browser):
    _, page = password_step(browser, "frank")
    assert "Type the temporary passcode the help desk gave you." in page.text
    field = re.search(r'<input id="response"[^>]*>', page.text).group(0)
    assert "inputmode" not in field and 'autocomplete="one-time-code"' in field
    r = post(browser, "/login/response", page.text, response=portal.temp["passcode"])
    assert r.headers["location"] == "/" and "Logged in as frank." in browser.get("/").text


@pytest.mark.parametrize("csrf", [None, "", "forged-token-value"])
def test_a_forged_form_is_refused_and_changes_nothing(portal, browser, csrf):
    v = service.Verifier(*portal_paths(portal))
    before = v.audit_log("carol")
    browser.get("/login")
    fields = {"username": "carol", "password": "Forged-guess-9"}
    if csrf is not None:
        fields["csrf"] = csrf
    r = browser.post("/login", data=fields)
    assert r.status_code == 403 and "This form has expired" in r.text
    assert v.audit_log("carol") == before  # the attempt never reached the verifier
    v.close()


def portal_paths(portal):
    db = portal.proc.args[portal.proc.args.index("--db") + 1]
    return db, str(portal.log_path.parent / "master.key")


def test_security_headers_cookie_flags_and_no_inline_script(browser):
    r = browser.get("/login")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert not re.search(r"<script(?![^>]*\bsrc=)", r.text)  # every script is a file
    assert " style=" not in r.text and "onclick" not in r.text.lower()
    assert browser.get("/static/portal.js").status_code == 200


def test_japanese_from_accept_language_and_from_the_switch(portal):
    with httpx.Client(base_url=portal.url, headers={"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.5"}) as c:
        page = c.get("/login").text
        assert '<html lang="ja">' in page and "ユーザー名" in page and "パスワード" in page
    with httpx.Client(base_url=portal.url, headers={"Accept-Language": "en-US"}) as c:
        assert "User name" in c.get("/login").text
        assert "ユーザー名" in c.get("/login?lang=ja").text
        assert "ユーザー名" in c.get("/login").text  # remembered
        assert "User name" in c.get("/login?lang=en").text
        # the switch keeps the page's own query (a help-desk search, say)
        assert 'href="/login?user=nora&amp;lang=ja"' in c.get("/login?user=nora").text


def test_every_message_has_a_japanese_translation():
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    from host.portal import i18n

    used = {m for _, _, m, _, _ in extract_from_dir(
        str(i18n.HERE), [("**/templates/**.html", "jinja2"), ("**.py", "python")],
        options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        keywords={"_": None, "gettext": None})}
    translated = set()
    for path in (i18n.HERE / "translations" / "ja" / "LC_MESSAGES").glob("*.po"):
        with open(path, "rb") as f:
            translated |= {m.id for m in read_po(f, locale="ja") if m.id and m.string}
    missing = sorted(used - translated)
    assert not missing, "no Japanese for: %s" % missing


def test_random_form_bodies_never_get_a_5xx(portal):
    from hypothesis import HealthCheck, given, settings, strategies as st

    text = st.text(max_size=80) | st.binary(max_size=80).map(lambda b: b.decode("latin-1"))
    with httpx.Client(base_url=portal.url, timeout=30) as c:
        csrf = csrf_of(c.get("/login").text)

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(path=st.sampled_from(["/login", "/login/response", "/login/another", "/login/cancel", "/logout"]),
               fields=st.dictionaries(st.sampled_from(["username", "password", "response", "device", "x"]), text,
                                      max_size=4),
               with_csrf=st.booleans(), raw=st.none() | st.binary(max_size=200))
        def check(path, fields, with_csrf, raw):
            if raw is not None:
                r = c.post(path, content=raw, headers={"Content-Type": "application/x-www-form-urlencoded"})
            else:
                r = c.post(path, data=dict(fields, **({"csrf": csrf} if with_csrf else {})))
            assert r.status_code < 500, (path, r.status_code)

        check()
