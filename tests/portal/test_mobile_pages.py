"""Adding OpenDSC Mobile in the portal (docs/mobile.md, "Activation"): the QR code
and the typed code from the user's page, and who may add a phone."""

import re
import time

import pytest

from host.verifier import mobile, passwords, service
from tests.portal.test_confirm_pages import card_answer, login, positions, token_answer
from tests.ocra_reference import ocra
from tests.portal.test_login_pages import alert, post
from tests.server.conftest import PASSWORD, PIN, SUITE, Server, make_db
from tests.verifier.test_mobile_activation import activate
from tests.verifier.test_mobile_approval import SIGNING_SUITE
from tests.verifier.test_mobile_protocol import App

pytestmark = pytest.mark.xdist_group("mobile-pages")  # one server for the module


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mobile-pages")
    cheap, passwords.N = passwords.N, 2 ** 4
    try:
        db, keyring = make_db(tmp, users=("olga", "pia", "quinn", "rita"))
        v = service.Verifier(db, keyring)
        olga_card = v.issue_printed_card("olga")  # olga also has the token DSC00001 (make_db)
        pia_card = v.issue_printed_card("pia")  # a code card is all pia has
        quinn_phone = activate(v, v.mobile_activation("quinn")["code"], pin=PIN)[:2]  # quinn logs in with a phone
        rita_phone = activate(v, v.mobile_activation("rita")["code"], pin=PIN)[:2]  # rita changes her PIN
        v.close()
    finally:
        passwords.N = cheap
    s = Server(tmp, db, keyring)
    s.olga_card, s.pia_card, s.quinn_phone, s.rita_phone = olga_card, pia_card, quinn_phone, rita_phone
    s.verifier = lambda: service.Verifier(db, keyring)
    yield s
    s.stop()


def add_phone(c):
    return post(c, "/mobile/add", c.get("/").text)


def test_the_user_page_shows_a_qr_code_and_a_code_that_activates_the_app(portal):
    c = login(portal.url, "olga", token_answer(PIN))
    home = c.get("/").text
    assert "Add mobile authenticator" in home
    r = add_phone(c)
    assert r.status_code == 200, alert(r.text)
    assert r.headers["cache-control"] == "no-store", "the code must not stay in a cache"
    assert re.search(r"<svg[^>]*>", r.text), "the QR code is drawn in the page"
    assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), "no inline script (the CSP forbids it)"
    code = re.search(r'id="activation-code">([A-Z0-9]{4} [A-Z0-9]{4})<', r.text).group(1)
    app = App()
    activated = c.post("/mobile/api/activate", json={"code": code, "ecdh": mobile.b64u(app.ecdh_public()),
                                                     "device_key": mobile.b64u(app.device_public())})
    assert activated.status_code == 200 and activated.json()["user"] == "olga"
    ja = c.get("/?lang=ja")
    assert "モバイル認証アプリを追加" in ja.text


def test_a_code_card_login_cannot_add_a_phone_over_an_active_token(portal):
    import httpx

    c = httpx.Client(base_url=portal.url, timeout=30)
    r = post(c, "/login", c.get("/login").text, username="olga", password=PASSWORD)
    assert r.status_code == 303, alert(r.text)
    r = post(c, "/login/another", c.get("/login").text, device=portal.olga_card["serial"])
    page = r.text if r.status_code == 200 else c.get("/login").text
    r = post(c, "/login/response", page, response=card_answer(portal.olga_card, positions(page)))
    assert r.status_code == 303, alert(r.text)
    r = add_phone(c)
    assert r.status_code == 403 and alert(r.text) == "To add a mobile authenticator, log in with your token first."


def test_a_user_with_only_a_code_card_may_add_a_first_phone(portal):
    c = login(portal.url, "pia", lambda html: card_answer(portal.pia_card, positions(html)))
    assert add_phone(c).status_code == 200


def test_a_forged_or_anonymous_request_adds_nothing(portal):
    import httpx

    with httpx.Client(base_url=portal.url, timeout=30) as anonymous:
        r = anonymous.post("/mobile/add", data={"csrf": "x"})
        assert r.status_code == 403 and "activation-code" not in r.text
    c = login(portal.url, "olga", token_answer(PIN))
    r = c.post("/mobile/add", data={"csrf": "not-the-token"})
    assert r.status_code == 403 and "activation-code" not in r.text



@pytest.fixture
def phone_login(portal):
    """quinn's password step: (client, the waiting page, the phone's view of the login, approve, decline)."""
    import httpx

    app, key = portal.quinn_phone
    v = portal.verifier()
    c = httpx.Client(base_url=portal.url, timeout=30)
    try:
        r = post(c, "/login", c.get("/login").text, username="quinn", password=PASSWORD)
        assert r.status_code == 303, alert(r.text)
        serial = [d["serial"] for d in v.devices("quinn") if d["kind"] == "mobile"][0]
        message = '{"device":"%s","poll":%d}' % (serial, time.time())
        (waiting,) = v.mobile_waiting(message, mobile.b64u(app.sign(message.encode())))

        def approve(number, pin=PIN):
            return answer(v, app, waiting["transaction"], number,
                          response=ocra(SUITE, key, waiting["question"], pin=pin))

        def decline():
            return answer(v, app, waiting["transaction"], waiting["numbers"][0], decision="decline")

        yield c, c.get("/login").text, waiting, approve, decline
    finally:
        c.close()
        v.close()


def answer(v, app, transaction, number, response="", decision="approve", withdrawal=None):
    """The phone's signed answer, as the app posts it; a withdrawal's names the values it showed."""
    message = mobile.canonical({"decision": decision, "number": number, "response": response,
                                "transaction": transaction, **(withdrawal or {})}).decode()
    return v.mobile_answer(message, mobile.b64u(app.sign(message.encode())))


def shown_number(page):
    return int(re.search(r'id="approve-number">(\d\d)<', page).group(1))


def test_the_login_page_waits_for_the_phone_and_moves_on_once_it_approves(phone_login):
    c, page, waiting, approve, _ = phone_login
    assert "Approve on your phone" in page and "Didn't get a notification?" in page
    assert shown_number(page) in waiting["numbers"]
    assert 'id="challenge-code">%s<' % waiting["question"] in page, "the typed fallback: the same challenge"
    assert c.get("/login/status").json() == {"state": "pending"}
    early = post(c, "/login/approved", page)  # the button for browsers without script, pressed too soon
    assert early.status_code == 409 and "Not approved yet" in alert(early.text)
    import threading

    later = threading.Timer(0.3, lambda: approve(shown_number(page)))
    later.start()
    try:  # asked while the login was pending: held until the phone's answer (a long poll)
        assert c.get("/login/status", params={"wait": 10}).json() == {"state": "approved"}
    finally:
        later.join()
    r = post(c, "/login/approved", page)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "quinn" in c.get("/").text
    assert c.get("/login/status").status_code == 409, "logged in: nothing waits any more"


def test_a_decline_on_the_phone_ends_the_login_with_its_own_message(phone_login):
    c, page, waiting, approve, decline = phone_login
    assert decline()["reason"] == "declined"
    assert c.get("/login/status").json() == {"state": "declined"}
    r = post(c, "/login/approved", page)
    assert r.status_code == 403 and "declined on your phone" in alert(r.text)
    assert "quinn" not in c.get("/").text, "not logged in"


def test_a_wrong_pin_on_the_phone_is_one_try_and_the_right_one_after_it_logs_in(phone_login):
    c, page, waiting, approve, _ = phone_login
    assert approve(shown_number(page), pin="0000")["tries_left"] == 2
    assert c.get("/login/status").json() == {"state": "pending"}, "the page waits on: the phone may answer again"
    assert approve(shown_number(page))["ok"]
    r = post(c, "/login/approved", page)
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_the_last_wrong_pin_on_the_phone_fails_the_login(phone_login):
    c, page, waiting, approve, _ = phone_login
    assert [approve(shown_number(page), pin="0000")["tries_left"] for _ in range(3)] == [2, 1, 0]
    assert c.get("/login/status").json() == {"state": "failed"}
    r = post(c, "/login/approved", page)
    assert r.status_code == 401 and alert(r.text).startswith("The login failed.")


def test_the_typed_fallback_answers_the_same_login(phone_login, portal):
    c, page, waiting, _, _ = phone_login
    app, key = portal.quinn_phone
    r = post(c, "/login/response", page, response=ocra(SUITE, key, waiting["question"], pin=PIN))
    assert r.status_code == 303 and r.headers["location"] == "/", alert(r.text)


def test_a_withdrawal_and_an_online_card_are_approved_on_the_phone(phone_login, portal):
    c, page, waiting, _, _ = phone_login
    app, key = portal.quinn_phone
    r = post(c, "/login/response", page, response=ocra(SUITE, key, waiting["question"], pin=PIN))  # typed: logged in
    assert r.status_code == 303, alert(r.text)
    v = portal.verifier()
    try:
        for purpose, fields, done in (("withdrawal", {"amount": "1,500", "destination": "Mizuho Bank 1234567"},
                                       "The withdrawal of 1,500 to Mizuho Bank 1234567 is confirmed."),
                                      ("card", {}, "Your online security code card is ready.")):
            r = post(c, "/confirm/start", c.get("/").text, purpose=purpose, **fields)
            assert r.status_code == 303, alert(r.text)
            page = c.get("/confirm").text
            number = shown_number(page)
            assert c.get("/confirm/status").json() == {"state": "pending"}
            serial = [d["serial"] for d in v.devices("quinn") if d["kind"] == "mobile"][0]
            message = '{"device":"%s","poll":%d}' % (serial, time.time())
            (item,) = v.mobile_waiting(message, mobile.b64u(app.sign(message.encode())))
            assert item["purpose"] == purpose and (purpose != "withdrawal" or item["amount"] == "1500")
            if purpose == "withdrawal":  # signed over the amount and destination the phone shows
                shown = {k: item[k] for k in ("amount", "destination", "destination_digits")}
                assert shown == {"amount": "1500", "destination": "Mizuho Bank 1234567", "destination_digits": "1234567"}
                question = item["question"] + shown["amount"].rjust(12, "0") + shown["destination_digits"].rjust(8, "0")
                answered = answer(v, app, item["transaction"], number, withdrawal=shown,
                                  response=ocra(SIGNING_SUITE, key, question, pin=PIN))
            else:
                answered = answer(v, app, item["transaction"], number,
                                  response=ocra(SUITE, key, item["question"], pin=PIN))
            assert answered["ok"] and "card" not in answered, "the card's codes are the portal's to show, not the phone's"
            assert c.get("/confirm/status").json() == {"state": "approved"}
            r = post(c, "/confirm/approved", page)
            assert r.status_code == 200 and done in r.text
        assert re.search(r'<pre class="card"[^>]*>', r.text), "the new card is shown once, in the portal"
    finally:
        v.close()


def test_the_pin_of_the_phone_is_changed_in_the_portal_and_answered_with_the_new_pin(portal, secrets_sent):
    app, key = portal.rita_phone
    new_pin = "24681357"  # 8 digits, as the token's keypad allows
    secrets_sent.add(new_pin)
    v = portal.verifier()

    def phone_sees():
        serial = [d["serial"] for d in v.devices("rita") if d["kind"] == "mobile"][0]
        message = '{"device":"%s","poll":%d}' % (serial, time.time())
        (item,) = v.mobile_waiting(message, mobile.b64u(app.sign(message.encode())))
        return item

    def typed_login(pin):
        import httpx

        c = httpx.Client(base_url=portal.url, timeout=30)
        r = post(c, "/login", c.get("/login").text, username="rita", password=PASSWORD)
        assert r.status_code == 303, alert(r.text)
        page = c.get("/login").text
        question = re.search(r'id="challenge-code">([0-9]{6})<', page).group(1)
        return c, post(c, "/login/response", page, response=ocra(SUITE, key, question, pin=pin))

    try:
        c, r = typed_login(PIN)
        assert r.status_code == 303, alert(r.text)
        home = c.get("/").text
        assert "Change your PIN" in home, "a phone's PIN is changed from the user's page, like a token's"
        r = post(c, "/confirm/start", c.get("/").text, purpose="pin-change", new_pin=new_pin, new_pin_again=new_pin)
        assert r.status_code == 303, alert(r.text)
        page = c.get("/confirm").text
        assert "Enter your NEW PIN in OpenDSC Mobile, not the old one." in page and new_pin not in page
        item = phone_sees()
        assert item["purpose"] == "pin-change" and new_pin not in str(item)
        for pin_given, changed in ((PIN, False), (new_pin, True)):  # the old PIN does not answer a PIN change
            answered = answer(v, app, item["transaction"], shown_number(page),
                              response=ocra(SUITE, key, item["question"], pin=pin_given))
            assert answered["ok"] is changed
            r = post(c, "/confirm/approved", page)
            if changed:
                assert r.status_code == 200 and "Your PIN is changed." in r.text
            else:  # a wrong answer is one try: the page waits on, the phone shows the request again
                assert r.status_code == 409 and "Not approved yet" in alert(r.text)
                assert phone_sees()["transaction"] == item["transaction"]
        c.close()
        old_c, old = typed_login(PIN)
        assert old.status_code == 401, "the old PIN no longer answers"
        new_c, new = typed_login(new_pin)
        assert new.status_code == 303 and new.headers["location"] == "/", alert(new.text)
        old_c.close()
        new_c.close()
    finally:
        v.close()
