"""Every word a user sees in the portal in Japanese (issue 17): each page, the help
desk, the confirmations, the errors and the card, rendered in Japanese for users
with every device kind and status and with audit events of every kind, shows no
English word (product names, codes, serials and user names aside). The catalogue
has no empty translation, and every word the verifier can store for the pages to
show (kinds, statuses, audit purposes and reasons) is one the portal translates.

In-process (FastAPI's TestClient on a real SQLite verifier): no server to start."""

import ast
import html.parser
import json
import pathlib
import re
import time

import pytest
from fastapi.testclient import TestClient

from host.portal import i18n, terms
from host.server.app import create_app
from host.server.settings import Settings
from host.verifier import apikeys, audit, cards, kinds, passwords, service
from tests.ocra_reference import ocra
from tests.portal.test_confirm_pages import card_answer, positions
from tests.portal.test_login_pages import csrf_of
from tests.server.conftest import KEY, PASSWORD, PIN, SUITE, make_db
from tests.verifier.test_mobile_activation import activate

ROOT = pathlib.Path(__file__).resolve().parents[2]
LOCK_AFTER = 3
LOCAL = "http://localhost"  # this machine: the QR code's address may be the request's own
# Words that stay as they are in Japanese: product and standard names, the language switch's own name.
# "OK" is the token's key of that name.
KEPT = {"OpenDSC", "OCRA", "PIN", "OK", "QR", "PSKC", "CSV", "PDF", "PNG", "KiB", "UTC", "API", "ID", "English",
        "A"}  # A: the token's key that starts signing, as printed on it
PHRASES = ("OpenDSC Mobile",)
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
COMMAND = re.compile(r"\bdsc(?: -{0,2}[a-z][a-z-]*)+")  # a dsc command the operator types, as typed
CHARACTER_RANGE = re.compile(r"\b([a-z]-[a-z]|[A-Z]-[A-Z])\b")  # "a-z 0-9": which characters a name may have
WORD = re.compile(r"[A-Za-z]+")
ENGLISH_STOP = re.compile(r"(?:UTC|[^\x00-\x7f])\s*[.,;](?!\w)")  # a Japanese sentence ends with 。, not "."
KANA = re.compile(r"[\u3040-\u30ff]")


class Visible(html.parser.HTMLParser):
    """The text a person sees or hears: text outside script and style, and the
    attributes read out or shown (aria-label, title, placeholder, alt)."""

    def __init__(self):
        super().__init__()
        self.parts, self.hidden = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.hidden += 1
        self.parts += [v for k, v in attrs if k in ("aria-label", "title", "placeholder", "alt") and v]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def english_words(text, known_values):
    """The English words left in `text` once the known values (names, serials, codes) are taken out."""
    for value in sorted(known_values, key=len, reverse=True):
        text = text.replace(value, " ")
    for phrase in PHRASES:
        text = text.replace(phrase, " ")
    text = CHARACTER_RANGE.sub(" ", ISO_TIME.sub(" ", COMMAND.sub(" ", text)))
    return sorted({w for w in WORD.findall(text) if w not in KEPT})


class Site:
    def __init__(self, client, library):
        self.client, self.v = client, library
        self.values = {SUITE, PASSWORD, LOCAL}  # what the test itself made: shown as made, in any language
        self.pages = []

    def known(self):
        values = set(self.values)
        for name in [u["user"] for u in self.v.users()]:
            values.add(name)
            info = self.v.user_info(name)
            values.update(str(info[f]) for f in ("birth_date", "citizenship", "residence", "id_type", "id_number")
                          if info[f])
            values.update(d["serial"] for d in info["devices"])
        for event in self.v.audit_log(limit=audit.MAX_PAGE):  # names typed at login, phones still to activate
            values.update({event["user"], event["device"].partition(":")[2]} - {""})
        return values

    def seen(self, what, response):
        """Keep a page to scan, checking it is one in Japanese."""
        assert response.headers["content-type"].startswith("text/html"), (what, response.status_code)
        assert '<html lang="ja">' in response.text, what
        self.pages.append((what, response.text))
        return response.text


def post(c, path, page, **fields):
    return c.post(path, data=dict(fields, csrf=csrf_of(page)), follow_redirects=False)  # TestClient would follow


@pytest.fixture(scope="module")
def site(tmp_path_factory, secrets_sent):
    tmp = tmp_path_factory.mktemp("japanese")
    cheap, passwords.N = passwords.N, 2 ** 4
    try:
        db, keyring = make_db(tmp, users=("aiko", "ben", "kai", "lee", "mio", "noa"))
        v = service.Verifier(db, keyring)
        v.add_user("staff", PASSWORD, role="helpdesk")
        same = dict(birth_date="1980-02-03", citizenship="JP", residence="JP", id_type="passport", id_number="TK1")
        v.add_user("rin", PASSWORD, **same)
        v.add_user("sou", PASSWORD, **same)
        staff_card = v.issue_printed_card("staff")
        # aiko: a device of every kind (the token DSC00001 from make_db) and every status
        v.enroll_token("aiko", "DSC00102", KEY, PIN, suite=SUITE)  # shipped
        v.enroll_token("aiko", "DSC00103", KEY, PIN, suite=SUITE, active=True)
        v.set_token_status("aiko", "DSC00103", False)  # inactive: turned off as misplaced
        card = v.issue_printed_card("aiko")
        v.revoke_device("aiko", v.issue_printed_card("aiko")["serial"])  # revoked
        activate(v, v.mobile_activation("aiko")["code"], pin=PIN)
        activate(v, v.mobile_activation("aiko")["code"], pin=PIN)  # the first phone is revoked by the second
        temp = v.issue_temp_passcode("aiko")
        month_ago = service.Verifier(db, keyring, clock=lambda: time.time() - 30 * 86400)
        month_ago.issue_temp_passcode("ben")  # expired
        month_ago.close()
        v.enroll_token("sou", "DSC00104", KEY, PIN, suite=SUITE, active=True)
        shared = v.start_share("rin", "sou", PASSWORD)  # rin uses sou's token: "shared by sou"
        assert v.finish(shared["challenge_id"], ocra(SUITE, KEY, shared["challenge"], pin=PIN))["ok"]
        for i in range(LOCK_AFTER):  # mio is locked
            with pytest.raises(Exception):
                v.start("mio", "Wrong-mio-%d" % i)
        key, key_id = v.create_api_key("helpdesk")
        v.revoke_api_key(key_id)
        with v.engine.begin() as conn:  # an event of every purpose and reason the pages may show
            now = time.time()
            for n, word in enumerate(sorted(terms.PURPOSES | terms.REASONS)):
                with audit.acting("portal:staff" if n % 2 else "apikey:%d" % key_id):
                    audit.record(conn, now, "noa", "%s:DSC00001" % sorted(terms.KINDS)[n % len(terms.KINDS)],
                                 word if word in terms.PURPOSES else "login", "ok" if n % 3 else "fail",
                                 word if word in terms.REASONS else "")
    finally:
        passwords.N = cheap
    secrets_sent.update({temp["passcode"], key} | {"Wrong-mio-%d" % i for i in range(LOCK_AFTER)})
    policy = tmp / "policy.json"
    policy.write_text(json.dumps({"lockout_failures": LOCK_AFTER, "throttle_per_address": 0, "throttle_per_user": 0}))
    settings = Settings(db=db, master_key_file=keyring, policy_file=str(policy))
    with TestClient(create_app(settings), base_url=LOCAL, raise_server_exceptions=False) as client:
        s = Site(client, service.Verifier(db, keyring))
        s.card, s.staff_card, s.temp = card, staff_card, temp
        s.values.add(temp["passcode"])
        yield s
        s.v.close()


def japanese_client(site):
    c = TestClient(site.client.app, base_url=LOCAL, raise_server_exceptions=False, headers={"Accept": "text/html"})
    assert c.get("/login?lang=ja").status_code == 200  # the switch: remembered in the cookie
    return c


def password_step(site, c, name, password=PASSWORD):
    r = post(c, "/login", site.seen("login", c.get("/login")), username=name, password=password)
    return r, (site.seen("second step of " + name, c.get("/login")) if r.status_code == 303 else r.text)


def token_response(page):
    challenge = re.search(r'id="challenge-code">([0-9]{6})<', page).group(1)
    signed = re.search(r'id="sign-amount">([0-9,]+)<.*id="sign-destination">([0-9]+)<', page, re.S)
    if signed:  # a withdrawal: the signature over the amount and destination keyed (docs/protocol.md)
        challenge += "%012d%08d" % (int(signed.group(1).replace(",", "")), int(signed.group(2)))
        return ocra("OCRA-1:HOTP-SHA256-8:QA26-PSHA1", KEY, challenge, pin=PIN)
    return ocra(SUITE, KEY, challenge, pin=PIN)


def walk_the_user_pages(site, c):
    """aiko's pages: the second step of every kind, the user's page, each confirmation and its end."""
    r, page = password_step(site, c, "aiko")
    assert r.status_code == 303
    for kind in ("code-card", "temp-passcode", "mobile"):
        serial = next(d["serial"] for d in site.v.devices("aiko") if d["kind"] == kind and d["status"] == "active")
        assert post(c, "/login/another", page, device=serial).status_code == 303
        page = site.seen("second step with " + kind, c.get("/login"))
    assert post(c, "/login/another", page, device="DSC00001").status_code == 303
    page = site.seen("second step with the token", c.get("/login"))
    site.seen("a typo in the response", post(c, "/login/response", page, response="12 34"))
    assert post(c, "/login/response", page, response=token_response(page)).headers["location"] == "/"
    home = site.seen("the user's page", c.get("/"))
    for purpose, fields in (("activation", {"device": "DSC00102"}), ("pin-change", {"new_pin": PIN, "new_pin_again": PIN, "device": "DSC00001"}),
                            ("withdrawal", {"amount": "1,500", "destination": "みずほ銀行 1234567"}), ("card", {})):
        assert post(c, "/confirm/start", home, purpose=purpose, **fields).status_code == 303, purpose
        page = site.seen("confirming " + purpose, c.get("/confirm"))
        done = site.seen("confirmed " + purpose, post(c, "/confirm/response", page, response=token_response(page)))
        assert 'role="status"' in done, purpose
        home = site.seen("the user's page after " + purpose, c.get("/"))
    assert post(c, "/confirm/start", home, purpose="withdrawal", amount="lots").headers["location"] == "/#amount"
    site.seen("a refused withdrawal, said at its field", c.get("/"))
    site.seen("PINs that differ", post(c, "/confirm/start", home, purpose="pin-change", new_pin="1111",
                                       new_pin_again="2222", device="DSC00001"))
    site.seen("a refused share", post(c, "/confirm/start", home, purpose="share", owner="nobody", owner_password="x"))
    added = site.seen("adding a phone", post(c, "/mobile/add", home))
    code = re.search(r'id="activation-code">([A-Z0-9]{4}) ([A-Z0-9]{4})<', added)
    site.values.update(code.groups())
    site.seen("not for users", c.get("/helpdesk"))
    site.seen("a card that is not the user's", c.get("/cards/CC-NOTMINE.pdf"))
    return done


def walk_the_help_desk(site, c):
    r, page = password_step(site, c, "staff")
    assert post(c, "/login/response", page, response=card_answer(site.staff_card, positions(page))).status_code == 303
    for name in ("aiko", "ben", "rin", "mio", "staff", "nobody"):
        page = site.seen("the help desk on " + name, c.get("/helpdesk", params={"user": name}))
    page = site.seen("unlocked", post(c, "/helpdesk/unlock", page, user="mio"))
    issued = site.seen("a passcode issued", post(c, "/helpdesk/passcode", page, user="mio"))
    site.values.add(re.search(r'id="passcode">([A-Z0-9]+)<', issued).group(1))
    site.seen("a second passcode refused", post(c, "/helpdesk/passcode", page, user="mio"))
    site.seen("a device revoked", post(c, "/helpdesk/revoke", page, user="aiko", serial="DSC00103"))
    site.seen("no file uploaded", c.post("/helpdesk/enroll", data={"csrf": csrf_of(page), "user": "aiko",
                                                                  "serial": "DSC00105"}, files={"file": ("k", b"")}))
    audit_page = c.get("/helpdesk/audit")
    while True:
        site.seen("the audit log", audit_page)
        following = re.search(r'href="([^"]+)" rel="next"', audit_page.text)
        if not following:
            break
        audit_page = c.get(following.group(1).replace("&amp;", "&"))
    site.seen("the audit log of noa", c.get("/helpdesk/audit", params={"user": "noa", "outcome": "fail"}))


def test_every_page_in_japanese_shows_no_english_word(site):
    c = japanese_client(site)
    site.seen("a wrong password", password_step(site, c, "ben", "Not-bens-password")[0])
    site.seen("a locked account", password_step(site, c, "mio")[0])
    site.seen("a forged form", c.post("/login", data={"username": "ben", "password": "x"}))
    site.seen("an unknown page", c.get("/no/such/page"))
    site.seen("an unknown file of the app", c.get("/mobile/no-such-file"))
    walk_the_user_pages(site, c)
    walk_the_help_desk(site, japanese_client(site))
    known = site.known()
    english = {}
    for what, page in site.pages:
        parser = Visible()
        parser.feed(page)
        text = " ".join(parser.parts)
        assert KANA.search(text), what
        found = english_words(text, known) + [stop.group(0) for stop in ENGLISH_STOP.finditer(text)]
        if found:
            english[what] = found
    assert not english, "English in the Japanese pages: %s" % english
    assert len(site.pages) > 40


def test_the_what_column_names_each_event_in_japanese(site):
    c = japanese_client(site)
    r, page = password_step(site, c, "aiko")
    assert post(c, "/login/response", page, response=token_response(page)).status_code == 303
    rows = re.findall(r"<tr><td>[0-9TZ:-]+</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", c.get("/").text)
    assert any(what == "ログイン" and re.fullmatch("トークン DSC[0-9]+", device) and result == "成功"
               for what, device, result in rows), rows


def test_an_unknown_page_is_a_page_in_the_visitors_language_for_a_browser_and_json_for_a_program(site):
    c = japanese_client(site)
    for path in ("/no/such/page", "/mobile/no-such-file", "/login/nothing-here"):
        page = c.get(path)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "見つかりません" in page.text and page.headers["content-security-policy"] == site_csp()
        program = site.client.get(path, headers={"Accept": "application/json"})
        assert program.status_code == 404 and program.json()["error"] == "not-found"
    assert c.get("/logout").status_code == 405 and "見つかりません" in c.get("/logout").text
    fresh = TestClient(site.client.app, base_url=LOCAL, headers={"Accept": "text/html"})
    before = session_count(site)
    english = fresh.get("/no/such/page")
    assert "Not found" in english.text and "dsc_session" not in english.headers.get("set-cookie", "")
    assert session_count(site) == before, "a 404 starts no session for whoever asks"


def site_csp():
    from host.portal.web import CSP

    return CSP


def session_count(site):
    from sqlalchemy import func, select

    from host.verifier.store import web_sessions

    with site.v.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(web_sessions)).scalar_one()


def test_the_card_a_japanese_user_gets_is_in_japanese(site):
    c = japanese_client(site)
    r, page = password_step(site, c, "aiko")
    assert post(c, "/login/response", page, response=token_response(page)).status_code == 303
    online = [d for d in site.v.devices("aiko") if d["kind"] == "online-card" and d["status"] == "active"]
    if not online:
        post(c, "/confirm/start", c.get("/").text, purpose="card")
        page = c.get("/confirm").text
        post(c, "/confirm/response", page, response=token_response(page))
        online = [d for d in site.v.devices("aiko") if d["kind"] == "online-card" and d["status"] == "active"]
    serial = online[-1]["serial"]
    pdf = c.get("/cards/%s.pdf" % serial)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    lines = pdf_text(pdf.content)
    assert lines[0] == "OpenDSC オンラインセキュリティコードカード"
    assert lines[1] == "シリアル番号: " + serial and lines[2].startswith("有効期限: ")
    assert b"/HeiseiKakuGo-W5" in pdf.content
    assert not english_words(" ".join(lines), {serial}), lines
    png = c.get("/cards/%s.png" % serial)  # the PNG's font has ASCII only: its words stay English
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def pdf_text(data):
    """The text lines of a card's PDF: literal strings, and UTF-16 hex strings (the Japanese font's)."""
    stream = re.search(rb"stream\n(.*?)\nendstream", data, re.S).group(1).decode("ascii")
    lines = []
    for literal, hexed in re.findall(r"(\((?:[^()\\]|\\.)*\))\s*Tj|<([0-9A-F]+)>\s*Tj", stream):
        lines.append(bytes.fromhex(hexed).decode("utf-16-be") if hexed else re.sub(r"\\(.)", r"\1", literal[1:-1]))
    return lines


def catalogue():
    from babel.messages.pofile import read_po

    messages = {}
    for path in sorted((i18n.HERE / "translations" / "ja" / "LC_MESSAGES").glob("*.po")):
        with open(path, "rb") as f:
            for m in read_po(f, locale="ja"):
                if m.id:
                    assert m.id not in messages or messages[m.id] == m.string, "%s twice, differently" % m.id
                    messages[m.id] = m.string
    return messages


def test_every_translation_is_filled_in_and_keeps_its_placeholders():
    messages = catalogue()
    empty = sorted(k for k, v in messages.items() if not v)
    assert not empty, "no Japanese for: %s" % empty
    for msgid, text in messages.items():
        placeholders = re.findall(r"%\(\w+\)[sd]", text)
        assert sorted(re.findall(r"%\(\w+\)[sd]", msgid)) == sorted(placeholders), msgid
        assert not english_words(text, placeholders), (msgid, text)


def test_every_stored_word_and_card_word_has_japanese():
    messages = catalogue()
    words = terms.WORDS | set(terms.AGENTS.values()) | {"%(kind)s:%(serial)s"}
    words |= set(vars(cards.ENGLISH).values())
    missing = sorted(w for w in words if not messages.get(w))
    assert not missing, "no Japanese for: %s" % missing
    assert set(kinds.KINDS) == terms.KINDS and set(kinds.PURPOSES) <= terms.PURPOSES


# ---- the words the verifier stores: every one the code can write is one the pages translate

def _values(node, function, dynamic):
    """The strings an argument can be, read from the source: constants, both sides of an
    if-expression, a local assigned from those; a parameter or attribute from `dynamic`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _values(node.body, function, dynamic) | _values(node.orelse, function, dynamic)
    key = ast.unparse(node)
    if isinstance(node, ast.Name):
        assigned = [n.value for n in ast.walk(function) if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == node.id for t in n.targets)]
        if assigned and key not in dynamic:
            return set().union(*(_values(a, function, dynamic) for a in assigned))
    if key not in dynamic:
        raise AssertionError("cannot tell which words %s can be (%s): list them in terms.py and here" % (
            key, function.name))
    return dynamic[key]


def stored_words():
    """{purpose or reason: where} for every audit.record call under host/."""
    refusals = set()
    calls = []
    for path in sorted((ROOT / "host").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            for call in [n for n in ast.walk(function) if isinstance(n, ast.Call)]:
                name = ast.unparse(call.func)
                if name == "_Refuse":
                    refusals.add(call.args[0].value)
                if name in ("audit_log.record", "audit.record", "record") and len(call.args) >= 6:
                    calls.append((path.name, function, call))
    dynamic = {"purpose": set(kinds.PURPOSES), "row.purpose": set(kinds.PURPOSES), "refused.code": refusals,
               "'created ' + role": {"created " + role for role in apikeys.ROLES}}
    found = {}
    for where, function, call in calls:
        for argument in call.args[4:5] + call.args[6:7]:
            for value in _values(argument, function, dynamic):
                found.setdefault(value, "%s %s" % (where, function.name))
    return found


def test_every_word_the_verifier_stores_for_the_pages_is_translated():
    found = stored_words()
    assert {"login", "wrong response", "phone activated", "created helpdesk", "limit"} <= set(found), found
    untranslated = {word: where for word, where in found.items() if word and word not in terms.WORDS}
    assert not untranslated, "add these to host/portal/terms.py and terms.po: %s" % untranslated



def test_any_stored_device_or_actor_is_shown_whole_and_never_fails():
    from hypothesis import given, settings, strategies as st

    japanese = i18n.load("ja")
    prefixes = st.sampled_from(sorted(terms.KINDS | set(terms.AGENTS)) + ["", "other"])

    @settings(max_examples=200, deadline=None, derandomize=True)
    @given(prefix=prefixes, colon=st.booleans(), rest=st.text(max_size=30))
    def check(prefix, colon, rest):
        stored = prefix + (":" if colon else "") + rest
        for show, known in ((terms.device, terms.KINDS), (terms.agent, set(terms.AGENTS))):
            shown = show(japanese, stored)
            if colon and prefix in known:
                assert shown.endswith(rest) and prefix not in shown.replace(rest, "")  # translated, rest kept
            else:
                assert shown == stored  # not ours to translate: shown as stored

    check()
