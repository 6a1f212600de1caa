"""host/server/privacyidea.py: the privacyIDEA-compatible routes, driven by each
plugin's exact request sequence (method, content type, parameter names and the
encoding the plugin applies), with alice's token answered by tests/ocra_reference.py.

The sequences, as read in each plugin's source:
- privacyidea-pam, src/PrivacyIDEA.cpp (validateCheck, sendRequest, parseResponse):
  POST /validate/check, application/x-www-form-urlencoded, user, pass, and
  transaction_id on the second step, values percent-encoded once; it reads
  result.value (as a bool), result.error.code (as an int) and .message,
  detail.message, detail.transaction_id, detail.multi_challenge[].type.
- privacyIDEA FreeRADIUS, privacyidea_radius.pm (authenticate): POST form through
  LWP with User-Agent "FreeRADIUS": user, pass (URI-encoded first), client, realm,
  and `state` (the old name of transaction_id) on the second step; it reads
  result.value, result.status, detail.transaction_id (-> State), detail.message
  (-> Reply-Message) and, on status false, result.error.message/code.
- java-client used by the keycloak-provider, org/privacyidea/Endpoint.java and
  JSONParser.java: POST form with every value URLEncoder-encoded before the form
  encoding, GET with the query the same way; POST /auth (username, password) then
  /validate/triggerchallenge with the bare JWT in Authorization; it reads
  result.authentication/status/value, detail.preferred_client_mode/message/
  transaction_id/challenge_status, multi_challenge[].serial/message/client_mode/
  transaction_id/type, and result.value.token of /auth.
privacyIDEA itself percent-decodes form and query values once more (api/lib/utils.py,
check_unquote), which is what makes these double encodings come out right.
"""

import os
import time
from urllib.parse import quote, quote_plus, urlencode

import pytest

pytest.importorskip("fastapi")  # the server extra

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

from host.server import privacyidea  # noqa: E402
from host.server.app import create_app  # noqa: E402
from host.server.settings import Settings  # noqa: E402
from host.verifier import passwords, service  # noqa: E402
from host.verifier.policy import Policy  # noqa: E402
from tests.ocra_reference import ocra  # noqa: E402
from tests.server import conftest as server_conftest  # noqa: E402
from tests.verifier.test_mobile_activation import activate  # noqa: E402
from tests.verifier.test_mobile_approval import answer as phone_answer, poll as phone_poll  # noqa: E402

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
PIN = "1234"
PASSWORD = "correct horse+1%"  # a space, a plus and a percent sign: every encoding matters
SERVICE_PASSWORD = "svc-Pass.word_1"  # the Java client turns a space into "+" for good: none here
FORM = {"content-type": "application/x-www-form-urlencoded"}
PENDING = {"status": True, "value": False, "authentication": "REJECT"}  # a poll's answer while nothing is to take
PHONE_PIN = "2468"
DORA_PASSWORD = "dora-Own-pass.9"
ALICE_IDENTITY = dict(birth_date="1980-01-01", citizenship="FI", residence="FI", id_type="passport", id_number="X1")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pi")
    db, master = str(tmp / "v.db"), str(tmp / "master.key")
    service.init_db(db, master)
    v = service.Verifier(db, master, policy=Policy(lockout_failures=3, throttle_per_address=0, throttle_per_user=0))
    key = os.urandom(32)
    v.add_user("alice", PASSWORD, birth_date="1980-01-01", citizenship="FI", residence="FI",
               id_type="passport", id_number="X1")
    v.enroll_token("alice", "DSC00001", key, PIN, active=True)
    v.add_user("svc", SERVICE_PASSWORD, birth_date="1980-01-01", citizenship="FI", residence="FI",
               id_type="passport", id_number="X2")
    v.add_user("bob", PASSWORD, birth_date="1980-01-01", citizenship="FI", residence="FI",
               id_type="passport", id_number="X3")
    v.enroll_token("bob", "DSC00002", key, PIN, active=True)
    app = FastAPI()
    app.state.verifier = v
    app.state.service_accounts = {"svc"}
    app.state.jwt_secret = b"k" * 32
    app.include_router(privacyidea.router)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, v, key
    v.close()


@pytest.fixture(scope="module")
def phone(world):
    """(app, its OCRA key, serial): pat's OpenDSC Mobile, activated through the library."""
    client, v, key = world
    v.add_user("pat", PASSWORD, birth_date="1980-01-01", citizenship="FI", residence="FI",
               id_type="passport", id_number="X5")
    issued = v.mobile_activation("pat")
    app, ocra_key, _, _ = activate(v, issued["code"], pin=PHONE_PIN)
    return app, ocra_key, issued["serial"]


@pytest.fixture(scope="module")
def dora(world):
    """dora, who has alice's identity data and her own password, uses alice's DSC00001 (shared)."""
    client, v, key = world
    v.add_user("dora", DORA_PASSWORD, **ALICE_IDENTITY)
    ch = v.start_share("dora", "alice", PASSWORD, "DSC00001")
    assert v.finish(ch["challenge_id"], respond(key, ch["challenge"]))["ok"]
    return "dora"


@pytest.fixture(autouse=True)
def no_failures_carried_over(world):
    """Each test starts with alice's and bob's failure counts at zero (lockout_failures
    is 3 here): which tests share a worker, and in what order, must not matter."""
    for name in ("alice", "bob"):
        world[1].unlock(name)


def respond(key, challenge, pin=PIN):
    return ocra(SUITE, key, challenge, pin=pin)


def the_challenge(body):
    """The challenge digits, read back from detail.message as a user would."""
    return body["detail"]["message"].rsplit(": ", 1)[1]


def pam_form(params):
    # privacyidea-pam's urlEncode: alphanumerics and -_.~ kept, everything else %XX.
    return "&".join("%s=%s" % (k, quote(v, safe="-_.~")) for k, v in params.items())


def java_form(params):
    # Endpoint.java: URLEncoder.encode(value) (quote_plus), then okhttp's FormBody encodes again.
    return urlencode({k: quote_plus(v) for k, v in params.items()})


def radius_form(params):
    # privacyidea_radius.pm: URI::Encode (encode_reserved 0) on user and pass, then LWP's form encoding.
    encoded = {k: quote(v, safe="-_.~!*'();:@&=+$,/?#[]") if k in ("user", "pass") else v for k, v in params.items()}
    return urlencode(encoded)


def assert_envelope(body):
    assert body["jsonrpc"] == "2.0" and isinstance(body["id"], int)
    assert isinstance(body["version"], str) and isinstance(body["versionnumber"], str)
    assert isinstance(body["time"], float)


def assert_challenge(body, kind="token", serial="DSC00001"):
    assert_envelope(body)
    assert body["result"] == {"status": True, "value": False, "authentication": "CHALLENGE"}
    d = body["detail"]
    (one,) = d["multi_challenge"]
    # No attributes, as privacyIDEA's HOTP challenges: its PHP client takes them for a string.
    assert "attributes" not in one and "attributes" not in d
    assert d["preferred_client_mode"] == "interactive" and d["client_mode"] == "interactive"
    assert len(d["transaction_id"]) == 32 and d["transaction_ids"] == [d["transaction_id"]]
    assert one["transaction_id"] == d["transaction_id"] and one["serial"] == serial and one["type"] == kind
    assert one["client_mode"] == "interactive" and one["message"] == d["message"]
    challenge = the_challenge(body)
    assert len(challenge) == 6 and challenge.isdigit()
    assert d["message"].startswith("Press the power key")


def assert_reject(response):
    assert response.status_code == 200
    body = response.json()
    assert_envelope(body)
    assert body["result"] == {"status": True, "value": False, "authentication": "REJECT"}
    assert "transaction_id" not in body["detail"]
    return body["detail"]["message"]


def assert_error(response, status=400, code=905):
    assert response.status_code == status
    body = response.json()
    # privacyIDEA's error answer (send_error): no versionnumber, detail null
    assert body["jsonrpc"] == "2.0" and isinstance(body["version"], str) and isinstance(body["time"], float)
    assert "versionnumber" not in body and body["detail"] is None
    assert body["result"]["status"] is False and "value" not in body["result"]
    assert body["result"]["error"]["code"] == code and isinstance(body["result"]["error"]["message"], str)


# ---- privacyidea-pam -------------------------------------------------------------------

def test_pam_sequence_logs_alice_in(world):
    client, v, key = world
    headers = {**FORM, "user-agent": "privacyidea-pam/1.0"}
    first = client.post("/validate/check", content=pam_form({"pass": PASSWORD, "user": "alice"}), headers=headers)
    assert first.status_code == 200
    body = first.json()
    assert_challenge(body)
    assert [c["type"] for c in body["detail"]["multi_challenge"]] == ["token"]  # not "push": PAM prompts
    second = client.post("/validate/check", headers=headers, content=pam_form(
        {"pass": respond(key, the_challenge(body)), "transaction_id": body["detail"]["transaction_id"], "user": "alice"}))
    assert second.status_code == 200
    done = second.json()
    assert done["result"] == {"status": True, "value": True, "authentication": "ACCEPT"}
    assert done["result"]["value"] is True and done["detail"]["serial"] == "DSC00001"


def test_pam_wrong_response_is_rejected_and_the_right_one_after_it_accepted(world):
    """As privacyIDEA 3.14 does: a wrong response keeps the transaction (issue 17), so
    the right one after it logs in, once."""
    client, v, key = world
    body = client.post("/validate/check", content=pam_form({"pass": PASSWORD, "user": "alice"}), headers=FORM).json()
    wrong = client.post("/validate/check", headers=FORM, content=pam_form(
        {"pass": respond(key, the_challenge(body), pin="9999"), "transaction_id": body["detail"]["transaction_id"],
         "user": "alice"}))
    assert_reject(wrong)
    right = pam_form({"pass": respond(key, the_challenge(body)), "transaction_id": body["detail"]["transaction_id"],
                      "user": "alice"})
    again = client.post("/validate/check", headers=FORM, content=right)
    assert again.json()["result"] == {"status": True, "value": True, "authentication": "ACCEPT"}
    assert_reject(client.post("/validate/check", headers=FORM, content=right))


# ---- FreeRADIUS (privacyidea_radius.pm) ------------------------------------------------

def test_freeradius_sequence_gives_state_then_accept(world):
    client, v, key = world
    headers = {**FORM, "user-agent": "FreeRADIUS"}
    first = client.post("/validate/check", headers=headers, content=radius_form(
        {"user": "alice", "pass": PASSWORD, "client": "10.0.0.7", "realm": "corp"}))
    assert first.status_code == 200  # anything else is RLM_MODULE_FAIL
    body = first.json()
    assert_challenge(body)
    assert body["result"]["value"] is False and body["result"]["status"] is True  # -> Access-Challenge
    state = body["detail"]["transaction_id"]  # -> State
    reply_message = body["detail"]["message"]  # -> Reply-Message, carrying the challenge
    assert reply_message.endswith(the_challenge(body))
    second = client.post("/validate/check", headers=headers, content=radius_form(
        {"user": "alice", "pass": respond(key, the_challenge(body)), "client": "10.0.0.7", "realm": "corp",
         "state": state}))
    assert second.status_code == 200 and second.json()["result"]["value"] is True  # -> Access-Accept


def test_freeradius_wrong_response_is_an_access_reject(world):
    client, v, key = world
    headers = {**FORM, "user-agent": "FreeRADIUS"}
    body = client.post("/validate/check", headers=headers,
                       content=radius_form({"user": "alice", "pass": PASSWORD, "client": "10.0.0.7"})).json()
    wrong = client.post("/validate/check", headers=headers, content=radius_form(
        {"user": "alice", "pass": "00000000", "client": "10.0.0.7", "state": body["detail"]["transaction_id"]}))
    assert_reject(wrong)  # value false, status true, no transaction_id: RLM_MODULE_REJECT


# ---- Keycloak (java-client) ------------------------------------------------------------

def test_keycloak_trigger_challenge_sequence(world):
    client, v, key = world
    headers = {**FORM, "user-agent": "privacyIDEA-Keycloak/1.5.0"}
    auth = client.post("/auth", headers=headers, content=java_form({"username": "svc", "password": SERVICE_PASSWORD}))
    assert auth.status_code == 200
    token = auth.json()["result"]["value"]["token"]
    claims = privacyidea.verify_token(b"k" * 32, token)
    assert claims["exp"] > time.time() and claims["username"] == "svc"
    trig = client.post("/validate/triggerchallenge", content=java_form({"user": "alice"}),
                       headers={**headers, "Authorization": token})  # the bare token, as Endpoint.java sends it
    assert trig.status_code == 200
    body = trig.json()
    assert body["result"]["authentication"] == "CHALLENGE" and body["result"]["status"] is True
    d = body["detail"]
    assert d["preferred_client_mode"] == "interactive"  # the client turns it into "otp"
    one = d["multi_challenge"][0]
    assert (one["serial"], one["type"], one["client_mode"]) == ("DSC00001", "token", "interactive")
    assert one["transaction_id"] == d["transaction_id"] and one["message"] == d["message"]
    tid = d["transaction_id"]
    poll = client.get("/validate/polltransaction?" + java_form({"transaction_id": tid}), headers=headers)
    assert poll.status_code == 200
    assert poll.json()["result"]["value"] is False and poll.json()["detail"]["challenge_status"] == "pending"
    done = client.post("/validate/check", headers=headers, content=java_form(
        {"user": "alice", "pass": respond(key, the_challenge(body)), "transaction_id": tid}))
    assert done.json()["result"] == {"status": True, "value": True, "authentication": "ACCEPT"}
    answered = client.get("/validate/polltransaction", params={"transaction_id": tid}, headers=headers).json()
    # privacyIDEA deletes a challenge once a typed response is taken: its poll says pending
    assert answered["result"]["value"] is False and answered["detail"]["challenge_status"] == "pending"
    # and a challenge answered wrongly is never accepted
    trig = client.post("/validate/triggerchallenge", content=java_form({"user": "alice"}),
                       headers={**headers, "Authorization": token}).json()
    wrong = client.post("/validate/check", headers=headers, content=java_form(
        {"user": "alice", "pass": "00000000", "transaction_id": trig["detail"]["transaction_id"]}))
    assert wrong.json()["result"]["authentication"] == "REJECT"
    after = client.get("/validate/polltransaction", params={"transaction_id": trig["detail"]["transaction_id"]},
                       headers=headers).json()
    assert after["result"]["value"] is False and after["detail"]["challenge_status"] == "pending"


def test_keycloak_send_password_sequence(world):
    client, v, key = world
    headers = {**FORM, "user-agent": "privacyIDEA-Keycloak/1.5.0"}
    bob_password = "s3cret-pw"
    v.add_user("carol", bob_password, birth_date="1980-01-01", citizenship="FI", residence="FI",
               id_type="passport", id_number="X4")
    v.enroll_token("carol", "DSC00003", key, PIN, active=True)
    first = client.post("/validate/check", headers=headers,
                        content=java_form({"user": "carol", "pass": bob_password, "realm": "r"}))
    assert_challenge(first.json(), serial="DSC00003")
    d = first.json()["detail"]
    done = client.post("/validate/check", headers=headers, content=java_form(
        {"user": "carol", "pass": respond(key, the_challenge(first.json())), "transaction_id": d["transaction_id"],
         "realm": "r"}))
    assert done.json()["result"]["authentication"] == "ACCEPT"


def test_auth_and_triggerchallenge_refusals(world):
    client, v, key = world
    for form in ({"username": "svc", "password": "wrong"}, {"username": "alice", "password": PASSWORD},
                 {"username": "nobody", "password": "x"}, {"username": "svc"}, {"password": SERVICE_PASSWORD}):
        assert_error(client.post("/auth", data=form), 401, 4031)  # a non-service account, a missing field: the same
    token = privacyidea.encode_token(b"k" * 32, {"username": "svc", "exp": time.time() - 1})
    forged = privacyidea.encode_token(b"x" * 32, {"username": "svc", "exp": time.time() + 99})
    for header in ({}, {"Authorization": token}, {"Authorization": forged}, {"Authorization": "a.b.c"},
                   {"Authorization": "Bearer"}, {"Authorization": "\u00e9.x.y".encode()}):
        assert_error(client.post("/validate/triggerchallenge", data={"user": "alice"}, headers=header), 401, 4033)
    good = privacyidea.encode_token(b"k" * 32, {"username": "svc", "exp": time.time() + 99})
    nobody = client.post("/validate/triggerchallenge", data={"user": "nobody"}, headers={"PI-Authorization": good})
    assert nobody.status_code == 200 and nobody.json()["result"]["value"] == 0
    assert nobody.json()["detail"] == {"messages": [], "multi_challenge": [], "transaction_ids": []}  # as 3.14


# ---- the shared rules ------------------------------------------------------------------

def test_every_body_format_and_get(world):
    client, v, key = world
    for send in (lambda p: client.get("/validate/check", params=p),
                 lambda p: client.post("/validate/check", json=p),
                 lambda p: client.post("/validate/check", files={k: (None, x) for k, x in p.items()}),
                 lambda p: client.post("/validate/check", data=p)):
        first = send({"user": "alice@corp", "pass": PASSWORD})  # name@realm is split
        assert first.status_code == 200
        ch = first.json()
        assert_challenge(ch)
        done = send({"user": "alice", "pass": respond(key, the_challenge(ch)),
                     "transaction_id": ch["detail"]["transaction_id"]})
        assert done.json()["result"]["value"] is True


def test_values_are_decoded_once_more_except_json_and_exempt_agents(world):
    client, v, key = world
    once = urlencode({"user": "alice", "pass": quote(PASSWORD)})  # the password percent-encoded before the form
    assert_challenge(client.post("/validate/check", content=once, headers=FORM).json())
    exempt = {**FORM, "user-agent": "simpleSAMLphp/2.0"}  # privacyIDEA leaves its values as they are
    assert_reject(client.post("/validate/check", content=once, headers=exempt))
    assert_challenge(client.post("/validate/check", content=urlencode({"user": "alice", "pass": PASSWORD}),
                                 headers=exempt).json())
    assert_reject(client.post("/validate/check", json={"user": "alice", "pass": quote(PASSWORD)}))


def test_unknown_user_wrong_password_and_locked_answer_alike(world):
    client, v, key = world
    messages = {assert_reject(client.post("/validate/check", data={"user": "nobody", "pass": "x"})),
                assert_reject(client.post("/validate/check", data={"user": "bob", "pass": "wrong"})),
                assert_reject(client.post("/validate/check", data={"user": "b@d name!", "pass": "x"}))}
    for _ in range(3):
        client.post("/validate/check", data={"user": "bob", "pass": "wrong"})
    # bob is locked now (3 failures): even his right password gets the same REJECT
    messages.add(assert_reject(client.post("/validate/check", data={"user": "bob", "pass": quote(PASSWORD)})))
    assert len(messages) == 1
    assert client.post("/validate/radiuscheck", data={"user": "bob", "pass": quote(PASSWORD)}).status_code == 400
    v.unlock("bob")


def test_a_transaction_answers_only_for_its_own_user_and_serial(world):
    client, v, key = world
    for other in ({"user": "bob"}, {"serial": "DSC00002"}):
        ch = client.post("/validate/check", json={"user": "alice", "pass": PASSWORD}).json()
        answer = {"pass": respond(key, the_challenge(ch)), "transaction_id": ch["detail"]["transaction_id"], **other}
        assert_reject(client.post("/validate/check", json=answer))
    assert_reject(client.post("/validate/check", json={"user": "alice", "pass": "1", "transaction_id": "f" * 32}))
    assert_reject(client.post("/validate/check", json={"user": "alice", "pass": "12 34", "transaction_id": "x"}))


def test_radiuscheck_is_204_only_on_success(world):
    client, v, key = world
    first = client.post("/validate/radiuscheck", data={"user": "alice", "pass": quote(PASSWORD)})
    assert first.status_code == 400 and first.content == b""  # a challenge is not a success
    ch = client.post("/validate/check", data={"user": "alice", "pass": quote(PASSWORD)}).json()
    ok = client.post("/validate/radiuscheck", data={"pass": respond(key, the_challenge(ch)),
                                                    "transaction_id": ch["detail"]["transaction_id"]})
    assert ok.status_code == 204
    assert client.post("/validate/radiuscheck", content=b"{", headers={"content-type": "application/json"}).status_code == 400


@pytest.mark.parametrize("body, ctype", [
    (b"", None), (b"user=alice", "application/x-www-form-urlencoded"), (b"{", "application/json"),
    (b"[1]", "application/json"), (b'{"user": "alice", "pass": 12.5}', "application/json"),
    (b'{"user": ["alice"], "pass": "x"}', "application/json"), (b'{"user": "alice", "pass": true}', "application/json"),
    (b"\xff\xfe=1", "application/x-www-form-urlencoded"), (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
    (b"garbage", "multipart/form-data"), (b"hello", "text/plain"), (b"\xff", "application/json"),
    (b'{"user": "alice", "pass": "' + b"1" * 5000 + b'"}', "application/json"),
])
def test_bad_parameters_get_the_error_envelope_never_a_500(world, body, ctype):
    client, v, key = world
    headers = {"content-type": ctype} if ctype else {}
    assert_error(client.post("/validate/check", content=body, headers=headers))


def test_polltransaction_needs_a_transaction_id_and_says_pending_for_unknown(world):
    """privacyIDEA 3.14 answers an id it has no open challenge for as pending (REJECT)."""
    client, v, key = world
    assert_error(client.get("/validate/polltransaction"))
    for tid in ("f" * 32, "not-an-id", "%00"):
        body = client.get("/validate/polltransaction", params={"transaction_id": tid}).json()
        assert body["result"] == PENDING and body["detail"] == {"challenge_status": "pending"}
    assert client.get("/validate/polltransaction/" + "f" * 32).json()["result"] == PENDING


def test_polltransaction_says_pending_once_a_challenge_expires(world):
    client, v, key = world
    tid = client.post("/validate/check", json={"user": "alice", "pass": PASSWORD}).json()["detail"]["transaction_id"]
    assert client.get("/validate/polltransaction", params={"transaction_id": tid}).json()["detail"]["challenge_status"] == "pending"
    v.clock = lambda: time.time() + 121  # the policy's 120 s
    try:
        body = client.get("/validate/polltransaction", params={"transaction_id": tid}).json()
    finally:
        v.clock = time.time
    assert body["detail"]["challenge_status"] == "pending" and body["result"] == PENDING


def test_the_routes_are_in_the_openapi_schema(world):
    client, v, key = world
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/validate/check", "/validate/radiuscheck", "/validate/polltransaction",
                 "/validate/triggerchallenge", "/auth"):
        assert path in paths


def test_the_app_factory_serves_these_routes(world, tmp_path):
    """The same PAM sequence through host/server/app.py's create_app, as `dsc serve` runs it."""
    from host.server.app import create_app
    from host.server.settings import Settings

    client, v, key = world
    app = create_app(Settings(), verifier=v)
    with TestClient(app) as served:
        first = served.post("/validate/check", content=pam_form({"pass": PASSWORD, "user": "alice"}), headers=FORM)
        assert_challenge(first.json())
        done = served.post("/validate/check", headers=FORM, content=pam_form(
            {"pass": respond(key, the_challenge(first.json())), "transaction_id": first.json()["detail"]["transaction_id"],
             "user": "alice"}))
        assert done.json()["result"]["value"] is True


def test_answers_on_sqlite_take_one_trip_to_the_one_transaction_thread_of_the_process(world, monkeypatch):
    """Answers that arrive together on SQLite are all accepted, each one's throttle count
    and verdict run in one trip to the process's one transaction thread (host/server/
    threads.py): SQLite writes one at a time anyway, and threads that took turns at its
    lock, and at the GIL, cost the HTTP answer most of the library's speed."""
    import concurrent.futures
    import threading

    from host.server import throttle

    client, v, key = world
    ran = []
    finish, wait = v.finish, throttle.wait
    monkeypatch.setattr(v, "finish", lambda *a, **kw: ran.append(("finish", threading.current_thread().name))
                        or finish(*a, **kw))
    monkeypatch.setattr(throttle, "wait", lambda *a: ran.append(("count", threading.current_thread().name)) or wait(*a))
    challenges = [v.issue("alice") for _ in range(6)]

    def answer(served, ch):
        return served.post("/validate/check", headers=FORM, content=pam_form(
            {"pass": respond(key, ch["challenge"]), "transaction_id": ch["challenge_id"], "user": "alice"})).json()

    with TestClient(create_app(Settings(), verifier=v)) as served, concurrent.futures.ThreadPoolExecutor(6) as pool:
        bodies = list(pool.map(lambda ch: answer(served, ch), challenges))
    assert [b["result"]["authentication"] for b in bodies] == ["ACCEPT"] * 6
    assert sorted(step for step, _ in ran) == ["count"] * 6 + ["finish"] * 6
    assert len({name for _, name in ran}) == 1 and ran[0][1].startswith("dsc-transactions")


def test_a_withdrawal_is_not_confirmed_through_the_login_only_routes(world):
    """/validate/check is login-only: a withdrawal's transaction id with its right
    signature is rejected without being judged (no try taken, nothing recorded), and
    the withdrawal is still confirmed where it was started."""
    client, v, key = world
    ch = v.start("alice", PASSWORD, purpose="withdrawal", amount=150000, destination="Mizuho Bank 1234567")
    signed = ocra("OCRA-1:HOTP-SHA256-8:QA26-PSHA1", key, ch["challenge"] + "00000015000001234567", pin=PIN)
    for answer in (signed, ""):  # a typed signature, and the phone-approval poll's empty pass
        r = client.post("/validate/check", headers=FORM, content=pam_form(
            {"pass": answer, "transaction_id": ch["challenge_id"], "user": "alice"}))
        assert_reject(r)
    assert not [w for w in v.withdrawals("alice")["withdrawals"] if w["destination"] == "Mizuho Bank 1234567"]
    assert not [e for e in v.audit_log("alice") if e["purpose"] == "withdrawal"], "not even a try was judged"
    assert v.finish(ch["challenge_id"], signed)["ok"]


@pytest.mark.parametrize("failure, status, code", [
    (lambda: OperationalError("UPDATE", {}, Exception("postgresql://u:pw-in-url@h/db")), 503, "database"),
    (lambda: RuntimeError("pw-in-url"), 500, "internal"),
])
def test_the_answer_route_refuses_a_failure_as_every_route_does(world, monkeypatch, caplog, failure, status, code):
    """/validate/check skips FastAPI's layers (app.HotRoutes) and still answers a database
    failure 503 and anything unexpected 500, in the JSON error shape, logged by type only."""
    client, v, key = world

    def broken(*args, **kw):
        raise failure()

    monkeypatch.setattr(v, "finish", broken)
    with TestClient(create_app(Settings(), verifier=v), raise_server_exceptions=False) as served:
        r = served.post("/validate/check", data={"user": "alice", "pass": "12345678", "transaction_id": "t" * 32})
    assert r.status_code == status and r.json()["error"] == code
    assert "pw-in-url" not in caplog.text + r.text


def test_the_envelope_names_privacyidea_3_14(world):
    client, v, key = world
    body = client.post("/validate/check", data={"user": "nobody", "pass": "x"}).json()
    assert body["versionnumber"] == "3.14" and body["version"].startswith("privacyIDEA 3.14 ")


# ---- a phone's challenge (as privacyIDEA's push token) -----------------------------------

def test_a_phone_login_is_polled_for_with_the_push_tokens_attributes_and_typed_without(world, phone):
    client, v, key = world
    app, ocra_key, serial = phone
    body = client.post("/validate/check", data={"user": "pat", "pass": quote(PASSWORD)}).json()
    d = body["detail"]
    poll_entry, typed = d["multi_challenge"]
    assert (poll_entry["client_mode"], typed["client_mode"]) == ("poll", "interactive")
    assert poll_entry["attributes"] == {"hideResponseInput": True}, "as privacyIDEA's push token"
    assert "attributes" not in typed, "as its HOTP challenges: the challenge is in the message"
    assert d["preferred_client_mode"] == "poll" and d["message"] == poll_entry["message"]
    (waiting,) = phone_poll(v, app, serial, time.time())
    assert poll_entry["message"].startswith("Approve on your phone: pick ")
    assert number_to_pick(body) in waiting["numbers"], "the number the phone shows is in the message"
    assert typed["message"].endswith(": " + waiting["question"])
    phone_answer(v, app, d["transaction_id"], number_to_pick(body), decision="decline")
    # each challenge's fields are repeated at the top, the last one's winning, as privacyIDEA does
    assert d["client_mode"] == "interactive" and d["transaction_ids"] == [d["transaction_id"]] * 2


def number_to_pick(body):
    """The number a phone login's poll message asks the user to pick on the phone."""
    return int(body["detail"]["multi_challenge"][0]["message"].rsplit(" ", 1)[1])


# ---- serial + pass without user (privacyIDEA's check_serial_pass) ----------------------

def test_serial_and_the_owners_password_start_a_login_without_a_user(world):
    """serial + pass, as the Java client's validateCheckSerial sends them (its encoding would turn
    the space of this password into "+": the PAM module's here); then transaction_id + pass, no user."""
    client, v, key = world
    first = client.post("/validate/check", headers=FORM, content=pam_form({"serial": "DSC00002", "pass": PASSWORD}))
    assert first.status_code == 200
    assert_challenge(first.json(), serial="DSC00002")  # bob's token, asked for by its serial alone
    done = client.post("/validate/check", headers=FORM, content=pam_form(
        {"serial": "DSC00002", "pass": respond(key, the_challenge(first.json())),
         "transaction_id": first.json()["detail"]["transaction_id"]}))
    assert done.json()["result"] == {"status": True, "value": True, "authentication": "ACCEPT"}
    assert done.json()["detail"]["serial"] == "DSC00002"


def test_serial_refusals_answer_alike_only_the_owner_and_count_toward_the_owners_lockout(world, dora):
    client, v, key = world
    # dora may use alice's shared token, with her own name ...
    assert_challenge(client.post("/validate/check", data={"user": "dora", "serial": "DSC00001",
                                                          "pass": quote(DORA_PASSWORD)}).json())
    refusals = [client.post("/validate/check", data=form) for form in (
        {"serial": "DSC00001", "pass": "wrong"},  # the owner's serial, a wrong password
        {"serial": "DSC00001", "pass": quote(DORA_PASSWORD)},  # ... but not by the serial alone
        {"serial": "NOPE0001", "pass": quote(PASSWORD)},  # no such serial
        {"serial": "b@d serial!", "pass": "x"},
        {"user": "nobody", "pass": "x"},  # as an unknown user
    )]
    answers = {repr((r.status_code, r.json()["result"], r.json()["detail"])) for r in refusals}
    assert len(answers) == 1 and assert_reject(refusals[0]) == "Authentication failed."
    # two failures counted toward alice's lockout (3 here); a third locks her, by name too
    assert_reject(client.post("/validate/check", data={"serial": "DSC00001", "pass": "wrong"}))
    assert_reject(client.post("/validate/check", data={"user": "alice", "pass": quote(PASSWORD)}))


def test_check_needs_a_user_or_a_serial(world):
    client, v, key = world
    assert_error(client.post("/validate/check", data={"pass": "x"}))
    assert client.post("/validate/check", data={"pass": "x"}).json()["result"]["error"]["message"] == \
        "You need to specify a serial or a user."


# ---- /validate/polltransaction, as privacyIDEA 3.14 answers it --------------------------

def test_polltransaction_accepts_only_a_phones_approval_waiting_to_be_taken(world, phone):
    client, v, key = world
    app, ocra_key, serial = phone

    def poll(tid):
        body = client.get("/validate/polltransaction", params={"transaction_id": tid}).json()
        return body["result"], body["detail"]

    # a token's challenge: open, then answered by a typed response
    ch = client.post("/validate/check", data={"user": "alice", "pass": quote(PASSWORD)}).json()
    tid = ch["detail"]["transaction_id"]
    assert poll(tid) == (PENDING, {"challenge_status": "pending"})
    assert client.post("/validate/check", data={"user": "alice", "pass": respond(key, the_challenge(ch)),
                                                "transaction_id": tid}).json()["result"]["value"] is True
    assert poll(tid) == (PENDING, {"challenge_status": "pending"}), "privacyIDEA deletes an answered challenge"
    # a phone's: open, approved (accept until the plugin takes it), taken
    body = client.post("/validate/check", data={"user": "pat", "pass": quote(PASSWORD)}).json()
    tid = body["detail"]["transaction_id"]
    assert poll(tid) == (PENDING, {"challenge_status": "pending"})
    (waiting,) = phone_poll(v, app, serial, time.time())
    response = ocra(SUITE, ocra_key, waiting["question"], pin=PHONE_PIN)
    assert phone_answer(v, app, tid, number_to_pick(body), response)["ok"]
    accepted = {"status": True, "value": True, "authentication": "ACCEPT"}
    assert poll(tid) == (accepted, {"challenge_status": "accept"})
    assert client.get("/validate/polltransaction/" + tid).json()["result"] == accepted
    taken = client.post("/validate/check", data={"pass": "", "transaction_id": tid}).json()
    assert taken["result"]["authentication"] == "ACCEPT"
    assert poll(tid) == (PENDING, {"challenge_status": "pending"})
    # declined on the phone
    tid = client.post("/validate/check", data={"user": "pat", "pass": quote(PASSWORD)}).json()["detail"][
        "transaction_id"]
    assert phone_answer(v, app, tid, 10, decision="decline")["reason"] == "declined"
    assert poll(tid) == ({"status": True, "value": False, "authentication": "DECLINED"},
                         {"challenge_status": "declined"})



# ---- trusted plugin hosts: the end user's address in `client` ---------------------------

PLUGIN_HOST, OTHER_PEER = "192.0.2.10", "192.0.2.99"
RADIUS = {**FORM, "user-agent": "FreeRADIUS"}


@pytest.fixture
def plugins(tmp_path):
    """The served app (create_app) trusting PLUGIN_HOST's `client`, with small limits: 5
    attempts an address and 4 a user name a minute, a lockout at 3 failures. alice has
    token DSC00001, erin a phone. Yields (a client from `peer`, the verifier, erin's phone)."""
    db, keyring = server_conftest.make_db(tmp_path, users=("alice", "erin"))
    v = service.Verifier(db, keyring, policy=Policy(throttle_per_address=5, throttle_per_user=4, lockout_failures=3))
    issued = v.mobile_activation("erin")
    phone_app = activate(v, issued["code"], pin=PHONE_PIN)[0]
    app = create_app(Settings(db=db, master_key_file=keyring, trusted_plugins=(PLUGIN_HOST,)), verifier=v)
    try:
        yield lambda peer: TestClient(app, client=(peer, 40000)), v, (phone_app, issued["serial"])
    finally:
        v.close()


def add_users(v, monkeypatch, names):
    """Users whose password hashes cost little: these tests count attempts, not the KDF."""
    with monkeypatch.context() as cheap:
        cheap.setattr(passwords, "N", 2 ** 4)
        for name in names:
            v.add_user(name, "Their-own-pass.1")


def check(http, client, user="nobody", password="wrong-Guess", **more):
    return http.post("/validate/check", headers=RADIUS,
                     content=radius_form({"user": user, "pass": password, "client": client, **more}))


def test_users_behind_a_trusted_plugin_host_are_throttled_by_their_own_address(plugins, monkeypatch):
    """60 users behind one FreeRADIUS: each counted under the address FreeRADIUS names, not its own."""
    client_from, v, _ = plugins
    add_users(v, monkeypatch, ["user%d" % i for i in range(60)])
    plugin, other = client_from(PLUGIN_HOST), client_from(OTHER_PEER)
    through_plugin = [check(plugin, "10.1.0.%d" % i, user="user%d" % i).status_code for i in range(60)]
    assert through_plugin == [200] * 60
    # the same from a peer nobody named: `client` is ignored, the peer's limit holds
    direct = [check(other, "10.1.0.%d" % i, user="user%d" % i).status_code for i in range(60)]
    assert direct == [200] * 5 + [429] * 55


def test_one_address_over_its_limit_is_refused_while_the_others_go_on(plugins, monkeypatch):
    client_from, v, _ = plugins
    add_users(v, monkeypatch, ["spray%d" % i for i in range(10)] + ["odd%d" % i for i in range(6)])
    plugin = client_from(PLUGIN_HOST)
    assert [check(plugin, "10.2.0.1", user="spray%d" % i).status_code for i in range(6)] == [200] * 5 + [429]
    assert check(plugin, "10.2.0.2", user="spray9").status_code == 200
    # a `client` that is no IP address counts as the plugin host itself
    assert [check(plugin, "laptop-7", user="odd%d" % i).status_code for i in range(6)] == [200] * 5 + [429]


def test_the_user_limit_and_the_lockout_hold_whatever_the_address(plugins):
    client_from, v, _ = plugins
    plugin = client_from(PLUGIN_HOST)
    for i in range(3):  # three wrong passwords from three addresses: alice is locked
        assert_reject(check(plugin, "10.3.0.%d" % i, user="alice"))
    assert_reject(check(plugin, "10.3.0.3", user="alice", password=server_conftest.PASSWORD))
    assert check(plugin, "10.3.0.4", user="alice").status_code == 429  # her 5th attempt in the minute


def test_serial_logins_are_throttled_per_serial_a_known_one_as_an_unknown_one(plugins):
    client_from, v, _ = plugins
    plugin = client_from(PLUGIN_HOST)

    def by_serial(i, serial):
        return plugin.post("/validate/check", headers=RADIUS,
                           content=radius_form({"serial": serial, "pass": "wrong-Guess", "client": "10.4.0.%d" % i}))

    # the user limit (4), from a new address each time: alice's DSC00001 as a serial nobody has
    assert [by_serial(i, "DSC00001").status_code for i in range(5)] == [200] * 4 + [429]
    assert [by_serial(10 + i, "NOPE0001").status_code for i in range(5)] == [200] * 4 + [429]
    assert by_serial(20, "NOPE0002").status_code == 200, "each serial has its own limit"
    # and the failures by serial locked alice (3 here), by name too
    assert_reject(check(plugin, "10.4.0.30", user="alice", password=server_conftest.PASSWORD))


def test_the_phone_and_the_access_log_show_the_end_users_address_only_from_a_trusted_plugin(plugins, caplog):
    client_from, v, (app, serial) = plugins
    caplog.set_level("INFO", logger="dsc.access")
    asked = [(PLUGIN_HOST, "203.0.113.7"), (OTHER_PEER, "203.0.113.8"), (PLUGIN_HOST, "localhost")]
    for peer, claimed in asked:
        body = check(client_from(peer), claimed, user="erin", password=server_conftest.PASSWORD).json()
        assert body["result"]["authentication"] == "CHALLENGE"
    origins = [w["origin"] for w in phone_poll(v, app, serial, time.time())]
    assert origins == ["203.0.113.7, FreeRADIUS", "192.0.2.99, FreeRADIUS", "192.0.2.10, FreeRADIUS"]
    lines = [r.getMessage() for r in caplog.records if r.name == "dsc.access"]
    assert lines[0].startswith('203.0.113.7 "POST /validate/check" 200 ') and lines[0].endswith(" via 192.0.2.10")
    assert lines[1].startswith('192.0.2.99 "POST') and "via" not in lines[1]
    assert lines[2].startswith('192.0.2.10 "POST') and "via" not in lines[2]
