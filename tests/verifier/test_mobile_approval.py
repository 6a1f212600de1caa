"""Approving a login on the phone (docs/mobile.md): the signed poll, number
matching with the PIN, declines, replays and the typed fallback, on SQLite and
PostgreSQL, with the app of test_mobile_protocol.py."""

import pytest

from host.verifier import mobile
from host.verifier.errors import VerifierError
from tests.ocra_reference import ocra
from tests.verifier.conftest import PASSWORD
from tests.verifier.test_mobile_activation import activate
from tests.verifier.test_mobile_protocol import SUITE, App

PIN = "2468"


@pytest.fixture
def phone(world):
    """(verifier, clock, app, OCRA key, the phone's serial): alice's activated phone."""
    v, clock, _, _ = world
    issued = v.mobile_activation("alice")
    app, ocra_key, _, _ = activate(v, issued["code"], pin=PIN)
    return v, clock, app, ocra_key, issued["serial"]


def poll(v, app, serial, now):
    message = '{"device":"%s","poll":%d}' % (serial, int(now))
    return v.mobile_waiting(message, mobile.b64u(app.sign(message.encode())))


def answer(v, app, transaction, number, response="", decision="approve"):
    message = '{"decision":"%s","number":%d,"response":"%s","transaction":"%s"}' % (decision, number, response,
                                                                                   transaction)
    return v.mobile_answer(message, mobile.b64u(app.sign(message.encode())))


def test_the_phone_sees_the_login_and_approves_it_with_the_number_and_pin(phone):
    v, clock, app, key, serial = phone
    login = v.start("alice", PASSWORD, device=serial, origin="203.0.113.5, portal")
    assert 10 <= login["number"] <= 99 and v.challenge_state(login["challenge_id"]) == "pending"
    (waiting,) = poll(v, app, serial, clock.now)
    assert waiting["transaction"] == login["challenge_id"] and waiting["user"] == "alice"
    assert waiting["origin"] == "203.0.113.5, portal" and waiting["question"] == login["challenge"]
    assert login["number"] in waiting["numbers"] and len(set(waiting["numbers"])) == 3
    done = answer(v, app, waiting["transaction"], login["number"], ocra(SUITE, key, waiting["question"], pin=PIN))
    assert done["ok"] and done["user"] == "alice"
    assert v.challenge_state(login["challenge_id"]) == "accepted"
    assert poll(v, app, serial, clock.now) == [], "nothing waits any more"


def test_a_replayed_approval_finds_the_login_used(phone):
    v, clock, app, key, serial = phone
    login = v.start("alice", PASSWORD, device=serial)
    response = ocra(SUITE, key, login["challenge"], pin=PIN)
    assert answer(v, app, login["challenge_id"], login["number"], response)["ok"]
    again = answer(v, app, login["challenge_id"], login["number"], response)
    assert again == {"ok": False, "reason": "challenge already used"}


def test_a_wrong_pin_or_number_fails_and_counts_toward_the_lockout(phone):
    v, clock, app, key, serial = phone
    v.policy.lockout_failures = 4  # the verifier reads its policy at each step
    results = []
    for i in range(v.policy.lockout_failures):
        login = v.start("alice", PASSWORD, device=serial)
        if i % 2:
            wrong = login["number"] % 90 + 10 if login["number"] != 99 else 10
            results.append(answer(v, app, login["challenge_id"], wrong, ocra(SUITE, key, login["challenge"], pin=PIN)))
        else:
            results.append(answer(v, app, login["challenge_id"], login["number"],
                                  ocra(SUITE, key, login["challenge"], pin="1111")))
    assert {r["reason"] for r in results} == {"wrong response", "wrong number"}
    with pytest.raises(VerifierError) as e:
        v.start("alice", PASSWORD, device=serial)
    assert e.value.code == "locked"


def test_a_wrong_pin_on_the_phone_is_one_try_and_the_login_shows_again_for_the_right_one(phone):
    v, clock, app, key, serial = phone
    login = v.start("alice", PASSWORD, device=serial)
    typo = ocra(SUITE, key, login["challenge"], pin="2469")
    assert answer(v, app, login["challenge_id"], login["number"], typo) == \
        {"ok": False, "reason": "wrong response", "tries_left": 2}
    assert v.challenge_state(login["challenge_id"]) == "pending"
    (waiting,) = poll(v, app, serial, clock.now)
    assert waiting["transaction"] == login["challenge_id"], "the app shows the request again"
    # A replayed wrong answer only spends another try, as any wrong response would.
    assert answer(v, app, login["challenge_id"], login["number"], typo)["tries_left"] == 1
    right = ocra(SUITE, key, login["challenge"], pin=PIN)
    assert answer(v, app, login["challenge_id"], login["number"], right)["ok"]
    assert v.complete(login["challenge_id"])["user"] == "alice"
    assert answer(v, app, login["challenge_id"], login["number"], right) == \
        {"ok": False, "reason": "challenge already used"}, "the right approval's replay finds it used"
    assert [e["reason"] for e in v.audit_log("alice") if e["purpose"] == "login"] == \
        ["wrong response", "wrong response", ""]


def test_a_wrong_number_ends_the_login_at_once(phone):
    """Number matching is one pick of three: a second pick would let through a login
    the person did not start, so a wrong number closes the challenge whatever tries remain."""
    v, clock, app, key, serial = phone
    login = v.start("alice", PASSWORD, device=serial)
    right = ocra(SUITE, key, login["challenge"], pin=PIN)
    other = login["number"] % 90 + 10
    assert answer(v, app, login["challenge_id"], other, right) == {"ok": False, "reason": "wrong number"}
    assert v.challenge_state(login["challenge_id"]) == "closed"
    assert poll(v, app, serial, clock.now) == []
    assert answer(v, app, login["challenge_id"], login["number"], right)["reason"] == "challenge already used"
    assert v.finish(login["challenge_id"], right)["reason"] == "challenge already used"


def test_a_decline_ends_the_login_at_once_and_counts_nothing(phone):
    v, clock, app, key, serial = phone
    login = v.start("alice", PASSWORD, device=serial)
    assert answer(v, app, login["challenge_id"], login["number"], decision="decline") == \
        {"ok": False, "reason": "declined"}
    assert v.challenge_state(login["challenge_id"]) == "declined"
    late = v.finish(login["challenge_id"], ocra(SUITE, key, login["challenge"], pin=PIN))
    assert not late["ok"], "a declined login cannot be completed by typing the code"
    events = [(e["purpose"], e["outcome"], e["reason"]) for e in v.audit_log("alice")]
    assert ("login", "fail", "declined") in events


@pytest.mark.postgresql_under_fuzz  # reads and refusals: the races and state changes run on both
def test_only_the_phone_can_answer_or_see_its_logins(phone):
    v, clock, app, key, serial = phone
    intruder = App()
    login = v.start("alice", PASSWORD, device=serial, origin="198.51.100.7, vpn")
    for act in (lambda: answer(v, intruder, login["challenge_id"], login["number"], decision="decline"),
                lambda: answer(v, intruder, login["challenge_id"], login["number"],
                               ocra(SUITE, key, login["challenge"], pin=PIN)),
                lambda: poll(v, intruder, serial, clock.now),
                lambda: poll(v, app, "MA-NOSUCH1", clock.now)):
        with pytest.raises(VerifierError) as e:
            act()
        assert e.value.code == "bad-signature"
    assert v.challenge_state(login["challenge_id"]) == "pending", "a forged answer changes nothing"
    with pytest.raises(VerifierError) as e:
        poll(v, app, serial, clock.now - 120)
    assert e.value.code == "stale-poll"


@pytest.mark.postgresql_under_fuzz  # reads and refusals: the races and state changes run on both
def test_typing_the_code_completes_the_same_login_without_a_second_request(phone):
    v, clock, app, key, serial = phone
    login = v.start("alice", PASSWORD, device=serial)
    (waiting,) = poll(v, app, serial, clock.now)
    # Offline: the app computes the response from the question the login page shows.
    assert v.finish(login["challenge_id"], ocra(SUITE, key, login["challenge"], pin=PIN))["ok"]
    late = answer(v, app, waiting["transaction"], login["number"], ocra(SUITE, key, login["challenge"], pin=PIN))
    assert late == {"ok": False, "reason": "challenge already used"}


@pytest.mark.postgresql_under_fuzz  # reads and refusals: the races and state changes run on both
def test_an_expired_login_is_not_shown_and_cannot_be_approved(phone):
    v, clock, app, key, serial = phone
    login = v.start("alice", PASSWORD, device=serial)
    clock.now += v.policy.challenge_ttl + 1
    assert poll(v, app, serial, clock.now) == []
    late = answer(v, app, login["challenge_id"], login["number"], ocra(SUITE, key, login["challenge"], pin=PIN))
    assert late == {"ok": False, "reason": "challenge expired"}


@pytest.mark.postgresql_under_fuzz  # reads and refusals: the races and state changes run on both
def test_a_withdrawal_shows_its_amount_and_destination_on_the_phone(phone):
    v, clock, app, key, serial = phone
    v.start("alice", PASSWORD, device=serial, purpose="withdrawal", amount=1500, destination="Mizuho Bank 1234567")
    (waiting,) = poll(v, app, serial, clock.now)
    assert waiting["purpose"] == "withdrawal" and waiting["amount"] == "1500"
    assert waiting["destination"] == "Mizuho Bank 1234567" and waiting["destination_digits"] == "1234567"


# Transaction signing (docs/protocol.md "Signing"), built here from the document, not from dsc.signing.
SIGNING_SUITE = "OCRA-1:HOTP-SHA256-8:QA26-PSHA1"
DESTINATION = "Mizuho Bank 1234567"


def signature(key, challenge, amount, digits, pin=PIN):
    return ocra(SIGNING_SUITE, key, challenge + str(amount).rjust(12, "0") + digits.rjust(8, "0"), pin=pin)


def signed_answer(app, transaction, number, response, amount, destination=DESTINATION, digits="1234567",
                  decision="approve"):
    """(message, signature) of a withdrawal's answer naming the values the phone showed."""
    message = mobile.canonical({"amount": str(amount), "decision": decision, "destination": destination,
                                "destination_digits": digits, "number": number, "response": response,
                                "transaction": transaction}).decode()
    return message, mobile.b64u(app.sign(message.encode()))


def withdraw(v, serial, amount=150000):
    return v.start("alice", PASSWORD, device=serial, purpose="withdrawal", amount=amount, destination=DESTINATION)


def test_a_withdrawal_approved_on_the_phone_is_signed_over_its_amount_and_destination(phone):
    v, clock, app, key, serial = phone
    w = withdraw(v, serial)
    (waiting,) = poll(v, app, serial, clock.now)
    login_response = ocra(SUITE, key, waiting["question"], pin=PIN)
    refused = v.mobile_answer(*signed_answer(app, w["challenge_id"], w["number"], login_response, 150000))
    assert refused == {"ok": False, "reason": "wrong response", "tries_left": 2}, "a login response signs nothing"
    right = signature(key, waiting["question"], waiting["amount"], waiting["destination_digits"])
    done = v.mobile_answer(*signed_answer(app, w["challenge_id"], w["number"], right, 150000))
    assert done["ok"] and done["purpose"] == "withdrawal" and done["amount"] == 150000
    assert v.complete(w["challenge_id"])["purpose"] == "withdrawal"
    replayed = v.mobile_answer(*signed_answer(app, w["challenge_id"], w["number"], right, 150000))
    assert replayed == {"ok": False, "reason": "challenge already used"}


@pytest.mark.parametrize("other", [{"amount": 1500000}, {"destination": "Mizuho Bank 7654321", "digits": "7654321"},
                                   {"destination": "Mallory Bank 1234567"}],
                         ids=["amount", "account", "destination-text"])
def test_a_phone_approval_for_other_values_is_refused_and_counted(phone, other):
    """The phone showed other values than the server stored (changed on the way): its
    answer names them and signs over them, and is a wrong response, audited with the
    stored values; the withdrawal then goes through only for the stored ones."""
    v, clock, app, key, serial = phone
    w = withdraw(v, serial)
    amount, digits = other.get("amount", 150000), other.get("digits", "1234567")
    response = signature(key, w["challenge"], amount, digits)
    got = v.mobile_answer(*signed_answer(app, w["challenge_id"], w["number"], response, amount,
                                         other.get("destination", DESTINATION), digits))
    assert got == {"ok": False, "reason": "wrong response", "tries_left": 2}
    (event,) = [e for e in v.audit_log("alice") if e["purpose"] == "withdrawal"]
    assert (event["outcome"], event["reason"], event["amount"]) == ("fail", "wrong response", 150000)
    assert v.complete(w["challenge_id"]) is None and v.challenge_state(w["challenge_id"]) == "pending"
    right = signature(key, w["challenge"], 150000, "1234567")
    assert v.mobile_answer(*signed_answer(app, w["challenge_id"], w["number"], right, 150000))["ok"]


def test_a_tampered_withdrawal_answer_fails_its_signature_and_changes_nothing(phone):
    v, clock, app, key, serial = phone
    w = withdraw(v, serial)
    right = signature(key, w["challenge"], 150000, "1234567")
    message, sig = signed_answer(app, w["challenge_id"], w["number"], right, 150000)
    for tampered in (message.replace('"150000"', '"1500000"'), message.replace("1234567\"", "7654321\""),
                     message.replace("Mizuho", "Mallory")):
        assert tampered != message
        with pytest.raises(VerifierError) as e:
            v.mobile_answer(tampered, sig)
        assert e.value.code == "bad-signature"
    assert v.challenge_state(w["challenge_id"]) == "pending"
    assert not [e for e in v.audit_log("alice") if e["purpose"] == "withdrawal"], "nothing counted or audited"
    assert v.mobile_answer(message, sig)["ok"]


def test_a_withdrawal_answer_must_name_its_values_and_a_login_answer_none(phone):
    v, clock, app, key, serial = phone
    w = withdraw(v, serial)
    right = signature(key, w["challenge"], 150000, "1234567")
    with pytest.raises(VerifierError) as e:
        answer(v, app, w["challenge_id"], w["number"], right)  # an app that does not sign: no values named
    assert e.value.code == "bad-message"
    login = v.start("alice", PASSWORD, device=serial)
    with pytest.raises(VerifierError) as e:
        v.mobile_answer(*signed_answer(app, login["challenge_id"], login["number"],
                                       ocra(SUITE, key, login["challenge"], pin=PIN), 150000))
    assert e.value.code == "bad-message"
    assert v.challenge_state(w["challenge_id"]) == v.challenge_state(login["challenge_id"]) == "pending"
    declined = v.mobile_answer(*signed_answer(app, w["challenge_id"], w["number"], "", 150000, decision="decline"))
    assert declined == {"ok": False, "reason": "declined"}


def test_the_phones_offline_signature_for_other_values_is_refused(phone):
    """Offline, the app computes the signature from the fields the person keys; typed
    into the withdrawal page it is checked against the stored values."""
    v, clock, app, key, serial = phone
    for amount, digits in ((1501, "1234567"), (15000, "1234567"), (1500, "1234568"), (1500, "234567")):
        w = withdraw(v, serial, amount=1500)
        got = v.finish(w["challenge_id"], signature(key, w["challenge"], amount, digits))
        assert got == {"ok": False, "reason": "wrong response", "tries_left": 2}, (amount, digits)
        done = v.finish(w["challenge_id"], signature(key, w["challenge"], 1500, "1234567"))
        assert done["ok"] and done["amount"] == 1500


@pytest.mark.postgresql_under_fuzz  # reads and refusals: the races and state changes run on both
def test_a_hardware_token_login_has_no_number_and_no_phone_can_answer_it(phone, world):
    v, clock, app, key, serial = phone
    login = v.start("alice", PASSWORD, device="DSC00001")
    assert "number" not in login
    with pytest.raises(VerifierError) as e:
        answer(v, app, login["challenge_id"], 42, "12345678")
    assert e.value.code == "bad-challenge-id"


@pytest.mark.postgresql_under_fuzz  # reads and refusals: the races and state changes run on both
def test_a_bad_origin_is_refused_before_the_password_counts(phone):
    v, clock, app, key, serial = phone
    v.policy.lockout_failures = 1
    for origin in ("", "x" * 129, "line\nbreak", 7):
        with pytest.raises(VerifierError) as e:
            v.start("alice", "wrong password", device=serial, origin=origin)
        assert e.value.code == "bad-origin", origin
    assert v.start("alice", PASSWORD, device=serial)["number"], "none of them counted as a failure"


def test_an_approved_login_is_completed_once_and_a_typed_one_never(phone):
    v, clock, app, key, serial = phone
    login = v.start("alice", PASSWORD, device=serial)
    assert v.complete(login["challenge_id"]) is None, "not approved yet"
    assert answer(v, app, login["challenge_id"], login["number"], ocra(SUITE, key, login["challenge"], pin=PIN))["ok"]
    done = v.complete(login["challenge_id"])
    assert done == {"ok": True, "user": "alice", "device": serial, "kind": "mobile", "purpose": "login"}
    assert v.complete(login["challenge_id"]) is None, "taken once"
    assert v.challenge_state(login["challenge_id"]) == "accepted"
    typed = v.start("alice", PASSWORD, device=serial)
    assert v.finish(typed["challenge_id"], ocra(SUITE, key, typed["challenge"], pin=PIN))["ok"]
    assert v.complete(typed["challenge_id"]) is None, "a typed login needs no completing and gets none"
