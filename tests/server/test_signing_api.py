"""Transaction signing (issue 19) on the native and operator APIs, from the issue's text:
a withdrawal started for an amount and a destination is confirmed only by the response
over those values (OCRA under the signing suite, over the challenge, the amount and the
destination's digits; docs/protocol.md "Signing"). A response over any other amount or
destination is refused, counted toward the lockout and audited with the stored values; a
login response never confirms a withdrawal, nor a signature a login.

The expected responses come from tests/ocra_reference.py and the layout written out
here, not from the code under test. In-process (FastAPI's TestClient), one SQLite
database per test."""

import json

import pytest
from fastapi.testclient import TestClient

from host.server.app import create_app
from host.server.settings import Settings
from host.verifier import service
from host.verifier.policy import Policy
from tests.ocra_reference import ocra
from tests.server.conftest import KEY, PASSWORD, PIN, SERIAL, SUITE, make_db

START, FINISH = "/api/v1/login/start", "/api/v1/login/finish"
SIGNING_SUITE = "OCRA-1:HOTP-SHA256-8:QA26-PSHA1"  # the login suite with its question QA26 (docs/protocol.md)
LOCKOUT_FAILURES = 4
AMOUNT = 150_000
DESTINATION = "Mizuho Bank 1234567"
DESTINATION_DIGITS = "1234567"  # the last (up to 8) digits of the text, what the user keys


def signature(challenge, amount, destination_digits, pin=PIN):
    """What the token shows: OCRA over challenge | amount (12 digits) | destination (8 digits)."""
    question = challenge + str(amount).rjust(12, "0") + destination_digits.rjust(8, "0")
    return ocra(SIGNING_SUITE, KEY, question, pin=pin)


class Api:
    """The app in-process on its own database, with an admin and an auditor key."""

    def __init__(self, client, admin, auditor):
        self.client, self.admin, self.auditor = client, admin, auditor

    def start(self, **fields):
        return self.client.post(START, json={"username": "alice", "password": PASSWORD, **fields})

    def withdrawal(self, amount=AMOUNT, destination=DESTINATION, **fields):
        r = self.start(purpose="withdrawal", amount=amount, destination=destination, **fields)
        assert r.status_code == 200, r.text
        return r.json()

    def finish(self, challenge, response):
        return self.client.post(FINISH, json={"challenge_id": challenge["challenge_id"], "response": response})

    def audit(self, outcome=None):
        params = {"user": "alice", **({"outcome": outcome} if outcome else {})}
        r = self.client.get("/api/v1/audit", params=params,
                            headers={"Authorization": "Bearer " + self.auditor})
        assert r.status_code == 200, r.text
        return r.json()["events"]

    def withdrawals(self):
        r = self.client.get("/api/v1/users/alice/withdrawals", headers={"Authorization": "Bearer " + self.auditor})
        assert r.status_code == 200, r.text
        return r.json()["withdrawals"]


@pytest.fixture
def api(tmp_path, secrets_sent):
    db, keyring = make_db(tmp_path, users=("alice",))
    policy = Policy(throttle_per_address=0, throttle_per_user=0, lockout_failures=LOCKOUT_FAILURES)
    v = service.Verifier(db, keyring, policy=policy)
    try:
        admin, _ = v.create_api_key("admin")
        auditor, _ = v.create_api_key("auditor")
        secrets_sent.update({admin, auditor})
        with TestClient(create_app(Settings(db=db, master_key_file=keyring), verifier=v)) as client:
            yield Api(client, admin, auditor)
    finally:
        v.close()


def refused(r, secrets_sent, response=None):
    """A wrong response: 401 with a JSON error, the response itself nowhere in it."""
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["error"] == "wrong-response", body
    if response is not None:
        secrets_sent.add(response)
        assert response not in r.text
    return body


def holds(event, value):
    """Whether one of the audit event's fields is the value, or text containing it."""
    return any(v == value or (isinstance(v, str) and isinstance(value, str) and value in v) for v in event.values())


OTHER_VALUES = {
    "amount-plus-one": (AMOUNT + 1, DESTINATION_DIGITS),
    "amount-times-ten": (AMOUNT * 10, DESTINATION_DIGITS),
    "amount-of-the-malware": (50_000_000, DESTINATION_DIGITS),
    "destination-last-digit": (AMOUNT, "1234568"),
    "destination-of-the-malware": (AMOUNT, "76543210"),
    "both": (50_000_000, "76543210"),
}


@pytest.mark.parametrize("other", OTHER_VALUES.values(), ids=OTHER_VALUES.keys())
def test_a_signature_over_other_values_is_refused_and_audited_with_the_stored_ones(api, secrets_sent, other):
    challenge = api.withdrawal()
    wrong = signature(challenge["challenge"], *other)
    body = refused(api.finish(challenge, wrong), secrets_sent, wrong)
    assert body["tries_left"] == 2
    failed = [e for e in api.audit("fail") if e["purpose"] == "withdrawal"]
    assert len(failed) == 1, failed
    assert holds(failed[0], AMOUNT), "the refusal is audited with the amount the server stored: %s" % failed[0]
    assert holds(failed[0], DESTINATION_DIGITS), "and with its destination: %s" % failed[0]
    assert api.withdrawals() == [], "a refused signature records no withdrawal"

    right = signature(challenge["challenge"], AMOUNT, DESTINATION_DIGITS)
    secrets_sent.add(right)
    r = api.finish(challenge, right)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and r.json()["amount"] == AMOUNT
    [recorded] = api.withdrawals()
    assert recorded["amount"] == AMOUNT and holds(recorded, DESTINATION_DIGITS), recorded


def test_the_start_answer_says_what_to_key(api):
    challenge = api.withdrawal()
    text = json.dumps(challenge)
    assert challenge["amount"] == AMOUNT
    assert DESTINATION in text, "the destination as the bank shows it"
    assert '"%s"' % DESTINATION_DIGITS in text, "the destination's digits to key"


def test_the_prompt_of_a_withdrawal_says_to_key_the_amount_and_destination(api):
    """`prompt` is the line an application shows the user (docs/api.md): for a withdrawal
    on the token, the login's sequence would give a login response, which is refused."""
    login_prompt = api.start().json()["prompt"]
    prompt = api.withdrawal()["prompt"]
    assert prompt != login_prompt
    assert "amount" in prompt.lower() and "destination" in prompt.lower(), prompt


def test_the_digits_to_key_can_be_given(api, secrets_sent):
    """destination_digits overrides the last digits of the text."""
    challenge = api.withdrawal(destination="Mizuho Bank 1234567 branch 89", destination_digits="1234567")
    for other_digits in ("23456789", "89"):  # the text's last 8 digits, its last number
        wrong = signature(challenge["challenge"], AMOUNT, other_digits)
        refused(api.finish(challenge, wrong), secrets_sent, wrong)
    right = signature(challenge["challenge"], AMOUNT, "1234567")
    secrets_sent.add(right)
    assert api.finish(challenge, right).status_code == 200


def test_a_destination_without_digits_is_refused_and_changes_nothing(api):
    before = api.audit()
    r = api.start(purpose="withdrawal", amount=AMOUNT, destination="Mizuho Bank")
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad-destination"
    assert api.audit() == before
    assert api.withdrawals() == []


def test_a_login_response_does_not_confirm_a_withdrawal(api, secrets_sent):
    challenge = api.withdrawal()
    login_response = ocra(SUITE, KEY, challenge["challenge"], pin=PIN)  # over the 6-digit challenge alone
    refused(api.finish(challenge, login_response), secrets_sent, login_response)
    assert api.withdrawals() == []


def test_a_signature_does_not_pass_as_a_login_response(api, secrets_sent):
    r = api.start()
    assert r.status_code == 200, r.text
    login = r.json()
    assert len(login["challenge"]) == 6
    for amount, digits in ((AMOUNT, DESTINATION_DIGITS), (1, "0")):
        sig = signature(login["challenge"], amount, digits)
        refused(api.finish(login, sig), secrets_sent, sig)
    right = ocra(SUITE, KEY, login["challenge"], pin=PIN)
    secrets_sent.add(right)
    assert api.finish(login, right).json() == {"ok": True, "user": "alice", "device": SERIAL, "kind": "token",
                                              "purpose": "login"}


def test_wrong_signatures_count_toward_the_lockout(api, secrets_sent):
    """LOCKOUT_FAILURES signatures over other values lock the user, as wrong login responses do."""
    failures = 0
    while failures < LOCKOUT_FAILURES:
        challenge = api.withdrawal()
        for _ in range(min(3, LOCKOUT_FAILURES - failures)):
            wrong = signature(challenge["challenge"], AMOUNT + 1, DESTINATION_DIGITS)
            refused(api.finish(challenge, wrong), secrets_sent, wrong)
            failures += 1
    r = api.start(purpose="withdrawal", amount=AMOUNT, destination=DESTINATION)
    assert r.status_code == 423 and r.json()["error"] == "locked", r.text


def test_the_operator_api_withdrawal_is_signed_too(api, secrets_sent):
    r = api.client.post("/api/v1/users/alice/withdrawals", json={"amount": AMOUNT, "destination": DESTINATION},
                        headers={"Authorization": "Bearer " + api.admin})
    assert r.status_code == 200, r.text
    challenge = r.json()
    assert challenge["amount"] == AMOUNT and DESTINATION in json.dumps(challenge)
    for other in ((AMOUNT * 10, DESTINATION_DIGITS), (AMOUNT, "99999999")):
        wrong = signature(challenge["challenge"], *other)
        refused(api.finish(challenge, wrong), secrets_sent, wrong)
    right = signature(challenge["challenge"], AMOUNT, DESTINATION_DIGITS)
    secrets_sent.add(right)
    r = api.finish(challenge, right)
    assert r.status_code == 200 and r.json()["amount"] == AMOUNT, r.text
    failed = [e for e in api.audit("fail") if e["purpose"] == "withdrawal"]
    assert len(failed) == 2 and all(holds(e, AMOUNT) and holds(e, DESTINATION_DIGITS) for e in failed), failed
