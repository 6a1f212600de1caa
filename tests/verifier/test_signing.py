"""Transaction signing in the verifier (issue 19): a withdrawal's challenge keeps its
amount and destination, a signing device's response is a signature over them
(docs/protocol.md, "Signing"), one for other values is a wrong response, counted
and audited with the stored values, and devices that cannot sign confirm only up
to the policy's unsigned_withdrawal_limit. On SQLite and PostgreSQL (`world`).

Expected signatures come from tests/ocra_reference.py, never from the code under test."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from host.verifier import service, store
from tests.ocra_reference import ocra
from tests.verifier.conftest import PASSWORD, SUITE

SIGNING_SUITE = "OCRA-1:HOTP-SHA256-8:QA26-PSHA1"  # SUITE with its question replaced (docs/protocol.md)
DESTINATION = "Mizuho Bank 1234567"


def signature(key, challenge, amount, digits, pin="1234", suite=SIGNING_SUITE):
    """The token's signature as docs/protocol.md lays out the question: 6 + 12 + 8 digits."""
    return ocra(suite, key, "%s%012d%08d" % (challenge, amount, int(digits)), pin=pin)


def withdrawal(v, amount=150000, destination=DESTINATION, **kw):
    return v.start("alice", PASSWORD, purpose="withdrawal", amount=amount, destination=destination, **kw)


def failures(v):
    with v.engine.begin() as conn:
        return len(v.lockout._streak(conn, "alice"))


def test_a_signature_over_the_stored_values_confirms_and_records_the_destination(world):
    v, clock, key, _ = world
    ch = withdrawal(v)
    assert len(ch["challenge"]) == 6, "a signing challenge is always 6 digits"
    assert ch["sign"] == {"challenge": ch["challenge"], "amount": "150000", "destination": "1234567",
                          "entry": "keypad"}
    assert (ch["destination"], ch["destination_digits"]) == (DESTINATION, "1234567")
    done = v.finish(ch["challenge_id"], signature(key, ch["challenge"], 150000, "1234567"))
    assert done["ok"] and (done["amount"], done["destination"]) == (150000, DESTINATION)
    (recorded,) = v.withdrawals("alice")["withdrawals"]
    assert (recorded["amount"], recorded["destination"], recorded["destination_digits"]) == (
        150000, DESTINATION, "1234567")
    (event,) = [e for e in v.audit_log("alice") if e["purpose"] == "withdrawal"]
    assert (event["outcome"], event["amount"], event["destination"], event["destination_digits"]) == (
        "ok", 150000, DESTINATION, "1234567")


@pytest.mark.parametrize("other", [(150001, "1234567"), (15000, "1234567"), (150000, "1234568"),
                                   (150000, "234567"), (1500000, "123456")])
def test_a_signature_for_other_values_is_a_wrong_response_counted_and_audited_with_the_stored_ones(world, other):
    v, clock, key, _ = world
    ch = withdrawal(v)
    result = v.finish(ch["challenge_id"], signature(key, ch["challenge"], *other))
    assert result == {"ok": False, "reason": "wrong response", "tries_left": 2}
    assert failures(v) == 1, "it counts toward the lockout"
    assert v.withdrawals("alice")["withdrawals"] == []
    (event,) = [e for e in v.audit_log("alice") if e["purpose"] == "withdrawal"]
    assert (event["outcome"], event["reason"], event["amount"], event["destination"],
            event["destination_digits"]) == ("fail", "wrong response", 150000, DESTINATION, "1234567")
    assert v.finish(ch["challenge_id"], signature(key, ch["challenge"], 150000, "1234567"))["ok"], \
        "the right signature still confirms on a later try"


def test_a_login_response_is_no_signature_and_a_signature_no_login_response(world):
    v, clock, key, _ = world
    ch = withdrawal(v)
    as_login = ocra(SUITE, key, ch["challenge"], pin="1234")
    assert v.finish(ch["challenge_id"], as_login)["reason"] == "wrong response"
    login = v.start("alice", PASSWORD)
    question = login["challenge"][-6:]  # a login's challenge has the suite's question length
    as_signature = signature(key, question, 1, "0")
    assert v.finish(login["challenge_id"], as_signature)["reason"] == "wrong response"
    assert v.finish(login["challenge_id"], ocra(SUITE, key, login["challenge"], pin="1234"))["ok"]


def test_the_destination_digits_may_be_given_and_a_destination_without_digits_needs_them(world):
    v, clock, key, _ = world
    for bad in (dict(destination="Mizuho Bank"), dict(destination=""), dict(destination="x" * 65),
                dict(destination="Bank\n123"), dict(destination=None), dict(destination_digits="123456789"),
                dict(destination_digits="12a"), dict(destination_digits="")):
        with pytest.raises(service.VerifierError) as e:
            withdrawal(v, **dict(dict(destination=DESTINATION), **bad))
        assert e.value.code == "bad-destination"
    with pytest.raises(service.VerifierError) as e:
        v.start("alice", PASSWORD, destination=DESTINATION)
    assert e.value.code == "bad-destination", "only a withdrawal takes a destination"
    with v.engine.connect() as conn:
        assert conn.execute(select(store.challenges.c.id)).all() == [], "a refusal issues nothing"
    assert failures(v) == 0
    ch = withdrawal(v, destination="Mizuho Bank", destination_digits="42")
    assert ch["sign"]["destination"] == "42"
    assert v.finish(ch["challenge_id"], signature(key, ch["challenge"], 150000, "42"))["ok"]
    ch = withdrawal(v, destination="Account 12-3456-7890 (JP)")
    assert ch["destination_digits"] == "34567890", "the last 8 digits of the text"


def test_code_cards_confirm_withdrawals_only_up_to_the_policy_limit(world):
    v, clock, key, _ = world
    v.set_token_status("alice", "DSC00001", False)  # only a printed card left
    card = v.issue_printed_card("alice")
    assert v.policy.unsigned_withdrawal_limit == 0
    with pytest.raises(service.VerifierError) as e:
        withdrawal(v, amount=1)
    assert e.value.code == "limit", "by default a device that cannot sign confirms no withdrawal"
    assert v.withdrawals("alice")["room"]["code-card"] == 0
    v.policy.unsigned_withdrawal_limit = 5000
    with pytest.raises(service.VerifierError) as e:
        withdrawal(v, amount=5001)
    assert e.value.code == "limit"
    ch = withdrawal(v, amount=5000)
    assert ch["kind"] == "code-card" and "sign" not in ch
    assert card["serial"] == ch["serial"]
    for bad in (-1, 10 ** 12, 2.5, True):
        with pytest.raises(service.VerifierError) as e:
            service.Policy(unsigned_withdrawal_limit=bad)
        assert "unsigned_withdrawal_limit" in str(e.value)


def test_schema_10_is_migrated_keeping_withdrawals_and_closing_unsigned_open_withdrawals(world, db):
    v, clock, key, tmp_path = world
    master = str(tmp_path / "master.key")
    done = withdrawal(v, amount=700)
    assert v.finish(done["challenge_id"], signature(key, done["challenge"], 700, "1234567"))["ok"]
    open_withdrawal = withdrawal(v, amount=800)
    login = v.start("alice", PASSWORD)
    v.close()
    engine = store.engine_for(db)
    with engine.begin() as conn:  # as schema 10 was: no amount or destination columns
        for table, columns in (("challenges", ("amount", "destination", "destination_digits")),
                               ("audit", ("amount", "destination", "destination_digits")),
                               ("withdrawals", ("destination", "destination_digits"))):
            for column in columns:
                conn.exec_driver_sql("ALTER TABLE %s DROP COLUMN %s" % (table, column))
        store.set_meta(conn, "schema_version", b"10")
    engine.dispose()
    assert service.init_db(db, master) == 10
    v = service.Verifier(db, master, clock=clock)
    try:
        assert [w["amount"] for w in v.withdrawals("alice")["withdrawals"]] == [700]
        ok = [e for e in v.audit_log("alice") if e["purpose"] == "withdrawal" and e["outcome"] == "ok"]
        assert [e["amount"] for e in ok] == [700], "an older event's amount still shows"
        assert v.challenge_state(open_withdrawal["challenge_id"]) == "closed", "it had nothing to be signed over"
        assert v.finish(login["challenge_id"], ocra(SUITE, key, login["challenge"], pin="1234"))["ok"]
    finally:
        v.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=st.integers(1, 999_999_999_999), other_amount=st.integers(1, 999_999_999_999),
       digits=st.text("0123456789", min_size=1, max_size=8), other_digits=st.text("0123456789", min_size=1, max_size=8))
def test_any_other_amount_or_destination_is_refused(world, amount, other_amount, digits, other_digits):
    v, clock, key, _ = world
    v.policy.lockout_failures = 1000
    ch = withdrawal(v, amount=amount, destination="Account", destination_digits=digits)
    same = (other_amount == amount and int(other_digits) == int(digits))
    result = v.finish(ch["challenge_id"], signature(key, ch["challenge"], other_amount, other_digits))
    assert result["ok"] is same


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=80), st.from_regex(r"[A-Za-z ]{0,20}[0-9 -]{0,20}", fullmatch=True)),
       digits=st.one_of(st.none(), st.text("0123456789", max_size=10), st.text(max_size=10)))
def test_a_destination_is_taken_as_printable_text_and_its_digits_or_refused_as_bad_destination(text, digits):
    from host.verifier import inputs

    try:
        shown, keyed = inputs.destination(text, digits)
    except service.VerifierError as e:
        assert e.code == "bad-destination"
        return
    assert shown == " ".join(text.split()) and 0 < len(shown) <= 64 and shown.isprintable()
    assert 1 <= len(keyed) <= 8 and all("0" <= c <= "9" for c in keyed)
    if digits is None:
        assert keyed == "".join(c for c in text if "0" <= c <= "9")[-8:], "the text's last 8 digits"
    else:
        assert keyed == digits
