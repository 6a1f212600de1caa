"""OpenDSC Mobile's API over HTTP (/mobile/api, docs/mobile.md) on a real
`dsc serve`: activation, a login approved on the phone, a decline, and the
refusals, with the app of tests/verifier/test_mobile_protocol.py."""

import httpx
import pytest

from host.verifier import mobile, service
from tests.ocra_reference import ocra
from tests.server.conftest import PASSWORD, Server, make_db
from tests.verifier.test_mobile_protocol import SUITE, App

PIN = "2468"
START = "/api/v1/login/start"
pytestmark = pytest.mark.xdist_group("mobile-api")  # one server for the module, on one worker


@pytest.fixture(scope="module")
def phone_server(tmp_path_factory):
    """A server whose erin has just been given an activation code (as the portal would)."""
    tmp = tmp_path_factory.mktemp("mobile")
    db, keyring = make_db(tmp, users=("frank", "erin"))
    v = service.Verifier(db, keyring)
    codes = [v.mobile_activation("erin")["code"], v.mobile_activation("frank")["code"]]
    v.close()
    s = Server(tmp, db, keyring)
    try:
        yield s, codes
    finally:
        s.stop()
    assert "Traceback" not in s.log_text()
    for code in codes:
        assert code not in s.log_text()


@pytest.fixture(scope="module")
def phone(phone_server):
    """(http client, app, OCRA key, serial): erin's phone, activated over HTTP."""
    server, codes = phone_server
    app = App()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.post("/mobile/api/activate", json={"code": codes[0], "ecdh": mobile.b64u(app.ecdh_public()),
                                                    "device_key": mobile.b64u(app.device_public())})
        assert r.status_code == 200, r.text
        agreed = r.json()
        assert agreed["user"] == "erin" and agreed["suite"] == SUITE
        key, pin_key = app.derive(mobile.unb64u(agreed["ecdh"], "ecdh"), agreed["activation"])
        blob = mobile.b64u(app.seal_pin(pin_key, agreed["activation"], PIN))
        signature = app.sign(mobile.canonical({"activation": agreed["activation"], "pin": blob}))
        r = http.post("/mobile/api/activate/finish", json={"activation": agreed["activation"], "pin": blob,
                                                           "signature": mobile.b64u(signature)})
        assert r.status_code == 200, r.text
        yield http, app, key, r.json()["serial"]


def signed(app, message):
    return {"message": message, "signature": mobile.b64u(app.sign(message.encode()))}


def poll(http, app, serial, wait=None):
    import time

    return http.post("/mobile/api/waiting", params={} if wait is None else {"wait": wait},
                     json=signed(app, '{"device":"%s","poll":%d}' % (serial, time.time())))


def answer(http, app, transaction, number, response="", decision="approve"):
    return http.post("/mobile/api/answer", json=signed(app, '{"decision":"%s","number":%d,"response":"%s",'
                                                            '"transaction":"%s"}' % (decision, number, response,
                                                                                     transaction)))


def test_a_login_is_approved_on_the_phone(phone, secrets_sent):
    http, app, key, serial = phone
    ch = http.post(START, json={"username": "erin", "password": PASSWORD}).json()
    assert ch["kind"] == "mobile" and ch["serial"] == serial and 10 <= ch["number"] <= 99
    r = poll(http, app, serial)
    assert r.status_code == 200, r.text
    (waiting,) = r.json()["waiting"]
    assert waiting["transaction"] == ch["challenge_id"] and waiting["origin"] == "127.0.0.1, login API"
    assert ch["number"] in waiting["numbers"]
    response = ocra(SUITE, key, waiting["question"], pin=PIN)
    secrets_sent.add(response)
    r = answer(http, app, waiting["transaction"], ch["number"], response)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] and r.json()["user"] == "erin"
    again = answer(http, app, waiting["transaction"], ch["number"], response)
    assert again.status_code == 401 and again.json()["error"] == "used", "a replayed approval is refused"


def test_a_decline_and_a_forged_answer(phone):
    http, app, key, serial = phone
    ch = http.post(START, json={"username": "erin", "password": PASSWORD}).json()
    forged = answer(http, App(), ch["challenge_id"], ch["number"], decision="decline")
    assert forged.status_code == 401 and forged.json()["error"] == "bad-signature"
    r = answer(http, app, ch["challenge_id"], ch["number"], decision="decline")
    assert r.status_code == 403 and r.json()["error"] == "declined"
    assert poll(http, app, serial).json() == {"waiting": []}


def test_refusals_are_json_errors(phone, phone_server):
    http, app, key, serial = phone
    _, codes = phone_server
    keys = {"ecdh": mobile.b64u(App().ecdh_public()), "device_key": mobile.b64u(App().device_public())}
    cases = [
        ("/mobile/api/activate", dict(keys, code=codes[0]), 404, "bad-code"),  # used already
        ("/mobile/api/activate", dict(keys, code="ABCD-EFGH"), 404, "bad-code"),
        ("/mobile/api/activate", dict(keys, code=codes[1], ecdh="AAAA"), 400, "bad-ecdh"),
        ("/mobile/api/activate", {"code": codes[1]}, 422, "invalid-request"),
        ("/mobile/api/activate/finish", {"activation": "x", "pin": "AAAA", "signature": mobile.b64u(bytes(64))},
         404, "bad-activation"),
        ("/mobile/api/waiting", signed(App(), '{"device":"%s","poll":1}' % serial), 401, "stale-poll"),
        ("/mobile/api/answer", {"message": "{}", "signature": "AAAA"}, 400, "bad-message"),
    ]
    for path, body, status, code in cases:
        r = http.post(path, json=body)
        assert r.status_code == status and r.json()["error"] == code, (path, body, r.text)
    # frank's code was not spent by the refusal of its bad key.
    app2 = App()
    r = http.post("/mobile/api/activate", json={"code": codes[1], "ecdh": mobile.b64u(app2.ecdh_public()),
                                                "device_key": mobile.b64u(app2.device_public())})
    assert r.status_code == 200, r.text


def test_privacyidea_clients_poll_then_complete_with_an_empty_pass(phone, secrets_sent):
    http, app, key, serial = phone
    r = http.post("/validate/check", data={"user": "erin", "pass": PASSWORD},
                  headers={"User-Agent": "privacyidea-cp/3.10 Windows/Laptop-1"})
    detail = r.json()["detail"]
    modes = {c["client_mode"]: c for c in detail["multi_challenge"]}
    assert detail["preferred_client_mode"] == "poll" and set(modes) == {"poll", "interactive"}
    transaction = detail["transaction_id"]
    number = int(modes["poll"]["message"].rsplit(" ", 1)[1])  # the number reaches the user through the message
    question = modes["interactive"]["message"].rsplit(": ", 1)[1]  # and the typed fallback its question

    def state():
        return http.get("/validate/polltransaction", params={"transaction_id": transaction}).json()

    assert state()["detail"]["challenge_status"] == "pending"
    (waiting,) = [w for w in poll(http, app, serial).json()["waiting"] if w["transaction"] == transaction]
    assert waiting["origin"] == "127.0.0.1, privacyidea-cp", "the phone says which application asks"
    assert number in waiting["numbers"] and question == waiting["question"]
    early = http.post("/validate/check", data={"user": "erin", "pass": "", "transaction_id": transaction})
    assert early.json()["result"]["authentication"] == "REJECT", "nothing to complete before the approval"
    response = ocra(SUITE, key, question, pin=PIN)
    secrets_sent.add(response)
    assert answer(http, app, transaction, number, response).status_code == 200
    assert state()["result"]["value"] is True and state()["detail"]["challenge_status"] == "accept"
    done = http.post("/validate/check", data={"user": "erin", "pass": "", "transaction_id": transaction})
    assert done.json()["result"]["authentication"] == "ACCEPT"
    assert state()["detail"]["challenge_status"] == "pending", "taken: as privacyIDEA, which deletes it"
    again = http.post("/validate/check", data={"user": "erin", "pass": "", "transaction_id": transaction})
    assert again.json()["result"]["authentication"] == "REJECT", "an approval is taken once"
    # A decline is seen by the polling client at once.
    # From a peer not named with --trusted-plugin, `client` changes nothing the phone shows.
    r = http.post("/validate/check", data={"user": "erin", "pass": PASSWORD, "client": "203.0.113.9"},
                  headers={"User-Agent": "FreeRADIUS"})
    declined = r.json()["detail"]
    assert [w["origin"] for w in poll(http, app, serial).json()["waiting"]
            if w["transaction"] == declined["transaction_id"]] == ["127.0.0.1, FreeRADIUS"]
    assert answer(http, app, declined["transaction_id"], 10, decision="decline").status_code == 403
    r = http.get("/validate/polltransaction", params={"transaction_id": declined["transaction_id"]})
    assert r.json()["detail"]["challenge_status"] == "declined" and r.json()["result"]["authentication"] == "DECLINED"


def test_a_long_poll_answers_when_a_login_arrives_and_empty_when_none_does(phone):
    import threading

    http, app, key, serial = phone
    assert poll(http, app, serial, wait=1).json() == {"waiting": []}, "nothing came: empty when the wait ends"
    started = []
    later = threading.Timer(0.5, lambda: started.append(
        http.post(START, json={"username": "erin", "password": PASSWORD}).json()))
    later.start()
    try:
        r = poll(http, app, serial, wait=10)  # asked before the login existed
    finally:
        later.join()
    assert [w["transaction"] for w in r.json()["waiting"]] == [started[0]["challenge_id"]]
    answer(http, app, started[0]["challenge_id"], started[0]["number"], decision="decline")
    for wait in (-1, 11, "x"):
        refused = poll(http, app, serial, wait=wait)
        assert refused.status_code == 422 and refused.json()["error"], wait
