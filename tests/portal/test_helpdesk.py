"""The help-desk console over HTTP: staff log in with their own code card; only
they may open it; they find a user and see the identity data, unlock, issue a
temporary passcode (shown once), replace a lost token, revoke a device, enroll a
token from a key file or a PSKC upload, and search and export the audit log.
Each action is checked the way the user notices it: by logging in."""

import csv
import io
import json
import re
import time
from contextlib import closing

import httpx
import pytest

from host import pskc_io
from host.verifier import audit, passwords, service
from tests.ocra_reference import ocra
from tests.portal.test_confirm_pages import card_answer, login, positions, token_answer
from tests.portal.test_login_pages import alert, password_step, portal_paths, post
from tests.server.conftest import KEY, PASSWORD, PIN, SUITE, Server, make_db

LOCK_AFTER = 3
REX_KEY = bytes(range(100, 132))
KEN_KEY = bytes(range(40, 72))
PIA_KEY = bytes(range(7, 39))
PSKC_PASSPHRASE = "Pskc-passphrase-77"
ZED_EVENTS = 60  # more than one page of 50
FORMULA = '=HYPERLINK("http://evil.example/","click")'


pytestmark = pytest.mark.xdist_group("helpdesk")  # one server for the module, on one worker


@pytest.fixture(scope="module")
def portal(tmp_path_factory, secrets_sent):
    tmp = tmp_path_factory.mktemp("helpdesk")
    cheap, passwords.N = passwords.N, 2 ** 4
    try:
        db, keyring = make_db(tmp, users=("alice", "lou", "pat", "rex", "vic", "ken", "pia", "zed"))
        v = service.Verifier(db, keyring)
        v.add_user("staff", PASSWORD, role="helpdesk")
        cards = {name: v.issue_printed_card(name) for name in ("staff", "lou", "vic")}
        v.add_user("hana", PASSWORD, birth_date="1980-02-03", citizenship="JP", residence="JP", id_type="passport",
                   id_number="TK1234567")
        v.enroll_token("rex", "DSC00020", REX_KEY, PIN, suite=SUITE, active=True)
        for i in range(LOCK_AFTER):
            with pytest.raises(Exception):
                v.start("lou", "Wrong-lou-%d" % i)
        with v.engine.begin() as conn:  # zed's history: a page and more, one event a spreadsheet would run
            for i in range(ZED_EVENTS):
                audit.record(conn, time.time(), "zed", "", "login", "fail" if i % 3 == 0 else "ok",
                             FORMULA if i == 0 else "")
        v.close()
    finally:
        passwords.N = cheap
    secrets_sent.update({PSKC_PASSPHRASE, REX_KEY.hex(), KEN_KEY.hex(), PIA_KEY.hex()})
    secrets_sent.update("Wrong-lou-%d" % i for i in range(LOCK_AFTER))
    policy = tmp / "policy.json"
    policy.write_text(json.dumps({"lockout_failures": LOCK_AFTER, "throttle_per_address": 0, "throttle_per_user": 0}))
    s = Server(tmp, db, keyring, extra_env={"DSC_POLICY_FILE": str(policy)})
    s.cards = cards
    yield s
    s.stop()


def card_login(portal, name):
    return login(portal.url, name, lambda html: card_answer(portal.cards[name], positions(html)))


@pytest.fixture(scope="module")
def staff(portal):
    with closing(card_login(portal, "staff")) as c:
        yield c


@pytest.fixture
def library(portal):
    v = service.Verifier(*portal_paths(portal))
    yield v
    v.close()


def user_page(staff, name):
    return staff.get("/helpdesk", params={"user": name})


def act(staff, path, name, **fields):
    return post(staff, path, user_page(staff, name).text, user=name, **fields)


def upload(staff, path, name, data, **fields):
    page = user_page(staff, name).text
    return staff.post(path, data=dict(fields, user=name, csrf=re.search(r'name="csrf" value="([^"]+)"', page).group(1)),
                      files={"file": ("upload", data, "application/octet-stream")})


def notice(html):
    return re.search(r'role="status">([^<]*)<', html).group(1)


def test_staff_log_in_with_their_own_card_and_land_on_the_console(portal):
    with httpx.Client(base_url=portal.url, timeout=30) as c:
        password_step(c, "staff")
        page = c.get("/login").text
        r = post(c, "/login/response", page, response=card_answer(portal.cards["staff"], positions(page)))
        assert (r.status_code, r.headers["location"]) == (303, "/helpdesk")
        console = c.get("/helpdesk")
        assert console.status_code == 200 and '<input id="find-user" name="user"' in console.text
        assert "Log out staff" in console.text


def test_only_staff_may_open_the_console(portal, library):
    with httpx.Client(base_url=portal.url, timeout=30) as anonymous:
        for path in ("/helpdesk", "/helpdesk/audit", "/helpdesk/audit.csv"):
            assert anonymous.get(path).headers["location"] == "/login"
    with closing(login(portal.url, "alice", token_answer(PIN))) as alice:
        for path in ("/helpdesk", "/helpdesk/audit", "/helpdesk/audit.csv?user=zed"):
            r = alice.get(path)
            assert r.status_code == 403 and "This page is for help-desk staff only." in r.text
        r = post(alice, "/helpdesk/passcode", alice.get("/").text, user="hana")  # her own valid CSRF token
        assert r.status_code == 403
    assert not library.devices("hana")


def test_find_a_user_and_check_the_identity_data(staff):
    page = user_page(staff, "hana").text
    for row in (("Birth date", "1980-02-03"), ("Citizenship", "JP"), ("ID document", "passport"),
                ("ID number", "TK1234567")):
        assert '<th scope="row">%s</th><td>%s</td>' % row in page
    assert '<td id="lock-state">Not locked</td>' in page
    r = user_page(staff, "nobody")
    assert r.status_code == 404 and alert(r.text) == "There is no such user."


def test_unlocking_a_locked_user_lets_them_log_in(portal, staff, library):
    with httpx.Client(base_url=portal.url, timeout=30) as c:
        assert password_step(c, "lou")[0].status_code == 423
    assert "Locked until" in user_page(staff, "lou").text
    r = act(staff, "/helpdesk/unlock", "lou")
    assert r.status_code == 200 and notice(r.text) == "lou is unlocked; their failed logins are forgotten."
    assert '<td id="lock-state">Not locked</td>' in r.text
    with closing(card_login(portal, "lou")) as lou:
        assert "Logged in as lou." in lou.get("/").text
    unlocked = [e for e in library.audit_log("lou") if e["reason"] == "unlocked"]
    assert [e["actor"] for e in unlocked] == ["portal:staff"]  # the log names who did it


def test_a_temporary_passcode_is_shown_once_and_logs_the_user_in(portal, staff, secrets_sent):
    r = act(staff, "/helpdesk/passcode", "pat")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    passcode = re.search(r'<p class="code" id="passcode">([^<]+)</p>', r.text).group(1)
    secrets_sent.add(passcode)
    assert passcode not in user_page(staff, "pat").text
    again = act(staff, "/helpdesk/passcode", "pat")  # what a reload of the answer does: posts again
    assert again.status_code == 409 and passcode not in again.text
    assert alert(again.text).startswith("This user already has a temporary passcode.")
    with closing(login(portal.url, "pat", lambda html: passcode)) as pat:
        assert "Logged in as pat." in pat.get("/").text


def test_replacing_a_lost_token_deactivates_it_and_issues_a_passcode(portal, staff, secrets_sent):
    r = act(staff, "/helpdesk/replace", "rex", serial="DSC00020")
    assert r.status_code == 200 and "Token DSC00020 of rex is deactivated." in r.text
    passcode = re.search(r'id="passcode">([^<]+)<', r.text).group(1)
    secrets_sent.add(passcode)
    assert re.search(r"<td>DSC00020</td><td>inactive</td>", user_page(staff, "rex").text)
    with closing(login(portal.url, "rex", lambda html: passcode)) as rex:
        assert "Logged in as rex." in rex.get("/").text


def test_revoking_a_device_ends_it(portal, staff):
    serial = portal.cards["vic"]["serial"]
    r = act(staff, "/helpdesk/revoke", "vic", serial=serial)
    assert r.status_code == 200 and notice(r.text) == "Device %s is revoked." % serial
    assert re.search(r"<td>%s</td><td>revoked</td>" % serial, r.text)
    with httpx.Client(base_url=portal.url, timeout=30) as c:
        r, _ = password_step(c, "vic")
        assert r.status_code == 401 and alert(r.text).endswith("If you have no device to log in with, or lost it, "
                                                               "please contact the help desk.")
    r = act(staff, "/helpdesk/revoke", "vic", serial="NO-SUCH-1")
    assert r.status_code == 404 and alert(r.text) == "The user has no such device."


def test_enrolling_a_token_from_a_key_file_upload(portal, staff, library):
    key_file = (KEN_KEY.hex() + "\n").encode()
    r = upload(staff, "/helpdesk/enroll", "ken", b"not hex at all", serial="DSC00030", pin=PIN, active="yes")
    assert r.status_code == 400 and alert(r.text) == ("The key file does not hold a token key (16 to 64 bytes "
                                                      "written in hex).")
    r = upload(staff, "/helpdesk/enroll", "ken", b"0" * (60 * 1024 + 2), serial="DSC00030", pin=PIN)
    assert r.status_code == 413 and alert(r.text) == "The file is larger than 60 KiB."
    r = staff.post("/helpdesk/enroll", data={"user": "ken", "serial": "DSC00030", "pin": PIN, "active": "yes"},
                   files={"file": ("key", key_file)})  # no csrf field in the upload
    assert r.status_code == 403 and "This form has expired" in r.text
    assert not library.devices("ken")
    r = upload(staff, "/helpdesk/enroll", "ken", key_file, serial="DSC00030", pin=PIN, active="yes")
    assert r.status_code == 200 and notice(r.text) == "Token DSC00030 is enrolled for ken."
    with closing(login(portal.url, "ken", lambda html: ocra(SUITE, KEN_KEY, challenge(html), pin=PIN))) as ken:
        assert "Logged in as ken." in ken.get("/").text


def challenge(html):
    return re.search(r'id="challenge-code">([0-9]{6})<', html).group(1)


def test_enrolling_a_token_from_a_pskc_upload(portal, staff, tmp_path, monkeypatch):
    monkeypatch.setattr(pskc_io, "PBKDF2_ITERATIONS", 1000)  # cheap for the test; the file names its count
    path = tmp_path / "seed.pskc"
    pskc_io.write_pskc(str(path), [{"serial": "PSKC-7", "key": PIA_KEY, "suite": SUITE}], password=PSKC_PASSPHRASE)
    data = path.read_bytes()
    r = upload(staff, "/helpdesk/pskc", "pia", data, passphrase="Not-" + PSKC_PASSPHRASE, pin=PIN, active="yes")
    assert r.status_code == 400 and alert(r.text) == ("The PSKC file could not be read: check the file and its "
                                                      "passphrase.")
    r = upload(staff, "/helpdesk/pskc", "pia", data, passphrase=PSKC_PASSPHRASE, pin=PIN, active="yes")
    assert r.status_code == 200 and notice(r.text) == "Token PSKC-7 is enrolled for pia."
    with closing(login(portal.url, "pia", lambda html: ocra(SUITE, PIA_KEY, challenge(html), pin=PIN))) as pia:
        assert "Logged in as pia." in pia.get("/").text


@pytest.mark.parametrize("csrf", [None, "forged-token-value"])
def test_a_forged_action_is_refused_and_changes_nothing(staff, library, csrf):
    before = library.audit_log("hana")
    fields = {"user": "hana"} if csrf is None else {"user": "hana", "csrf": csrf}
    r = staff.post("/helpdesk/passcode", data=fields)
    assert r.status_code == 403 and "This form has expired" in r.text
    assert library.audit_log("hana") == before and not library.devices("hana")


def test_staff_cannot_give_themselves_a_passcode(staff, library):
    r = post(staff, "/helpdesk/passcode", user_page(staff, "hana").text, user="staff")
    assert r.status_code == 409
    assert alert(r.text) == "Help-desk accounts are managed by an administrator, not from this console."
    assert [d["kind"] for d in library.devices("staff")] == ["code-card"]


def events(html):
    return re.findall(r'<tr class="event"><td>([0-9]+)</td><td>[^<]*</td><td>([^<]*)</td>', html)


def test_the_audit_search_filters_and_pages(staff):
    first = staff.get("/helpdesk/audit", params={"user": "zed"})
    rows = events(first.text)
    assert len(rows) == 50 and {u for _, u in rows} == {"zed"}
    next_url = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', first.text).group(1).replace("&amp;", "&")
    second = staff.get(next_url)
    more = events(second.text)
    assert len(rows) + len(more) == ZED_EVENTS + 1  # and the user's creation
    ids = [int(i) for i, _ in rows + more]
    assert ids == sorted(ids, reverse=True), "newest first, the next page older"
    assert 'rel="next"' not in second.text
    failed = staff.get("/helpdesk/audit", params={"user": "zed", "outcome": "fail"}).text
    assert len(events(failed)) == ZED_EVENTS // 3 and "success" not in failed.split("<tbody>")[1]
    r = staff.get("/helpdesk/audit", params={"user": "Not a name!"})
    assert r.status_code == 400 and alert(r.text).startswith("A user name is 1 to 64")


def test_the_audit_log_shows_withdrawals_newest_first_with_their_amounts(staff, library, secrets_sent):
    for amount, destination in ((1234, "Bank 77"), (56789, "=HYPERLINK(1) 9876")):
        ch = library.start("alice", PASSWORD, purpose="withdrawal", amount=amount, destination=destination)
        response = ocra("OCRA-1:HOTP-SHA256-8:QA26-PSHA1", KEY, ch["challenge"] + "%012d%08d" % (
            amount, int(ch["destination_digits"])), pin=PIN)  # the signature over both (docs/protocol.md)
        secrets_sent.add(response)
        assert library.finish(ch["challenge_id"], response)["ok"]
    page = staff.get("/helpdesk/audit", params={"user": "alice"}).text
    rows = re.findall(r'<tr class="event"><td>([0-9]+)</td>.*?<td class="amount">([^<]*)</td>'
                      r'<td class="destination">([^<]*)</td>', page)
    assert [int(i) for i, _, _ in rows] == sorted((int(i) for i, _, _ in rows), reverse=True)
    assert [(amount, to) for _, amount, to in rows if amount != "—"] == [
        ("56,789", "=HYPERLINK(1) 9876 (19876)"), ("1,234", "Bank 77 (77)")]
    table = list(csv.reader(io.StringIO(staff.get("/helpdesk/audit.csv", params={"user": "alice"}).text)))
    assert table[0][-3:] == ["amount", "destination", "destination_digits"]
    assert [row[-3:] for row in table[1:] if row[4] == "withdrawal"] == [
        ["1234", "Bank 77", "77"], ["56789", "'=HYPERLINK(1) 9876", "19876"]]  # oldest first; never a formula


def test_the_csv_export_has_every_matching_event_and_no_formula(staff):
    r = staff.get("/helpdesk/audit.csv", params={"user": "zed"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="audit.csv"'
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0] == ["id", "at", "user", "device", "purpose", "outcome", "reason", "actor", "amount", "destination",
                        "destination_digits"]
    assert len(table) == 1 + ZED_EVENTS + 1 and {row[2] for row in table[1:]} == {"zed"}
    assert ["'" + FORMULA] == [row[6] for row in table if row[6].startswith(("'", "="))]
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)
    only_failed = list(csv.reader(io.StringIO(staff.get("/helpdesk/audit.csv?user=zed&outcome=fail").text)))
    assert len(only_failed) == 1 + ZED_EVENTS // 3


def test_the_console_in_japanese(portal, staff):
    with httpx.Client(base_url=portal.url, cookies=staff.cookies, timeout=30) as same_session:
        r = same_session.get("/helpdesk", params={"user": "nobody", "lang": "ja"})
        assert '<html lang="ja">' in r.text and "ヘルプデスク" in r.text
        assert alert(r.text) == "そのようなユーザーはいません。"
        assert "監査ログ" in same_session.get("/helpdesk/audit").text  # the language is remembered


def test_random_console_forms_never_get_a_5xx(staff):
    from hypothesis import HealthCheck, given, settings, strategies as st

    text = st.text(max_size=40) | st.sampled_from(["hana", "zed", "staff", "DSC00001", PIN, "yes", ""])
    csrf = re.search(r'name="csrf" value="([^"]+)"', staff.get("/helpdesk").text).group(1)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(path=st.sampled_from(["/helpdesk/unlock", "/helpdesk/revoke", "/helpdesk/replace", "/helpdesk/enroll",
                                 "/helpdesk/pskc"]),
           fields=st.dictionaries(st.sampled_from(["user", "serial", "pin", "suite", "passphrase", "active"]), text,
                                  max_size=5),
           file=st.none() | st.binary(max_size=200))
    def check(path, fields, file):
        r = staff.post(path, data=dict(fields, csrf=csrf), files=None if file is None else {"file": ("f", file)})
        assert r.status_code < 500, (path, r.status_code)

    check()
