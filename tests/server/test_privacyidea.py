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

from host.server import privacyidea  # noqa: E402
from host.verifier import service  # noqa: E402
from host.verifier.policy import Policy  # noqa: E402
from tests.ocra_reference import ocra  # noqa: E402

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
PIN = "1234"
PASSWORD = "correct horse+1%"  # a space, a plus and a percent sign: every encoding matters
SERVICE_PASSWORD = "svc-Pass.word_1"  # the Java client turns a space into "+" for good: none here
FORM = {"content-type": "application/x-www-form-urlencoded"}


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
    assert d["preferred_client_mode"] == "interactive"
    assert len(d["transaction_id"]) == 32
    (one,) = d["multi_challenge"]
    assert one["transaction_id"] == d["transaction_id"] and one["serial"] == serial and one["type"] == kind
    assert one["client_mode"] == "interactive" and one["message"] == d["message"]
    assert "attributes" in one
    challenge = the_challenge(body)
    assert len(challenge) == 6 and challenge.isdigit() and one["attributes"] == {"challenge": challenge}
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
    assert_envelope(body)
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


def test_pam_wrong_response_is_rejected_and_the_challenge_is_used(world):
    client, v, key = world
    body = client.post("/validate/check", content=pam_form({"pass": PASSWORD, "user": "alice"}), headers=FORM).json()
    wrong = client.post("/validate/check", headers=FORM, content=pam_form(
        {"pass": respond(key, the_challenge(body), pin="9999"), "transaction_id": body["detail"]["transaction_id"],
         "user": "alice"}))
    assert_reject(wrong)
    again = client.post("/validate/check", headers=FORM, content=pam_form(
        {"pass": respond(key, the_challenge(body)), "transaction_id": body["detail"]["transaction_id"], "user": "alice"}))
    assert_reject(again)


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
    assert answered["result"]["value"] is True and answered["detail"]["challenge_status"] == "accept"
    # a challenge answered wrongly is declined, never accepted
    trig = client.post("/validate/triggerchallenge", content=java_form({"user": "alice"}),
                       headers={**headers, "Authorization": token}).json()
    wrong = client.post("/validate/check", headers=headers, content=java_form(
        {"user": "alice", "pass": "00000000", "transaction_id": trig["detail"]["transaction_id"]}))
    assert wrong.json()["result"]["authentication"] == "REJECT"
    closed = client.get("/validate/polltransaction", params={"transaction_id": trig["detail"]["transaction_id"]},
                        headers=headers).json()
    assert closed["result"]["value"] is False and closed["detail"]["challenge_status"] == "declined"


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
                 {"username": "nobody", "password": "x"}):
        assert_error(client.post("/auth", data=form), 401, 4031)  # a non-service account: the same 401
    assert_error(client.post("/auth", data={"username": "svc"}), 400, 905)
    token = privacyidea.encode_token(b"k" * 32, {"username": "svc", "exp": time.time() - 1})
    forged = privacyidea.encode_token(b"x" * 32, {"username": "svc", "exp": time.time() + 99})
    for header in ({}, {"Authorization": token}, {"Authorization": forged}, {"Authorization": "a.b.c"},
                   {"Authorization": "Bearer"}, {"Authorization": "\u00e9.x.y".encode()}):
        assert_error(client.post("/validate/triggerchallenge", data={"user": "alice"}, headers=header), 401, 4033)
    good = privacyidea.encode_token(b"k" * 32, {"username": "svc", "exp": time.time() + 99})
    nobody = client.post("/validate/triggerchallenge", data={"user": "nobody"}, headers={"PI-Authorization": good})
    assert nobody.status_code == 200 and nobody.json()["result"]["value"] == 0
    assert nobody.json()["detail"]["multi_challenge"] == []


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


def test_polltransaction_needs_a_transaction_id_and_says_declined_for_unknown(world):
    client, v, key = world
    assert_error(client.get("/validate/polltransaction"))
    for tid in ("f" * 32, "not-an-id", "%00"):
        body = client.get("/validate/polltransaction", params={"transaction_id": tid}).json()
        assert body["result"] == {"status": True, "value": False} and body["detail"]["challenge_status"] == "declined"


def test_polltransaction_says_declined_once_a_challenge_expires(world):
    client, v, key = world
    tid = client.post("/validate/check", json={"user": "alice", "pass": PASSWORD}).json()["detail"]["transaction_id"]
    assert client.get("/validate/polltransaction", params={"transaction_id": tid}).json()["detail"]["challenge_status"] == "pending"
    v.clock = lambda: time.time() + 121  # the policy's 120 s
    try:
        body = client.get("/validate/polltransaction", params={"transaction_id": tid}).json()
    finally:
        v.clock = time.time
    assert body["detail"]["challenge_status"] == "declined" and body["result"]["value"] is False


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
