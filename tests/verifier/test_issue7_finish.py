"""Issue 7, section 1 item 4: a right response must never end in a traceback or
leave its challenge unconsumed.

- `auth start --purpose share` (a share starts only from `dsc token share`) is
  refused at the start; today it issues a challenge whose right response raises
  AttributeError at `auth finish`.
- `--purpose withdrawal --amount 99999999999999999999999` is refused with a clear
  error (amounts have a documented range); today: OverflowError.
- A purpose that needs extra data refuses to start without it: a withdrawal
  without an amount, a PIN change without a new PIN.
- Over generated (purpose, amount, new PIN): every `auth start` either refuses in
  one line and changes nothing (no challenge, audit log unchanged) or issues a
  challenge; every `auth finish` with the right response either succeeds, or
  consumes the challenge and writes an audit event; never a traceback, and the
  challenge is never usable again after an answer that was not a refusal.
"""

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.verifier.issue7_dsc import FUZZ, Dsc, assert_one_line_refusal

NO_LOCK = {"lockout_failures": 1000}  # the generated runs may fail often: keep the account open


def _world(directory):
    w = Dsc(directory)
    w.init()
    w.add_user("alice")
    w.enroll("alice", "A1")
    w.audit_known = None  # alice's audit lines, while nothing can have changed them
    return w


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """One world for the refusals: a refusal changes nothing (each test checks)."""
    return _world(tmp_path_factory.mktemp("finish"))


@pytest.fixture
def cli_property(tmp_path):
    return _world(tmp_path)


def audit_before(w):
    if w.audit_known is None:
        w.audit_known = w.audit_lines("alice")
    return w.audit_known


def assert_audit_unchanged(w, before, what):
    w.audit_known = None
    after = w.audit_lines("alice")
    assert after == before, what
    w.audit_known = after


def refused_at_start(w, *extra, input_extra="", words=()):
    """auth start must refuse in one line; if it issues a challenge instead, the
    right response is sent first, so a traceback at finish shows up as the failure."""
    before = audit_before(w)
    r = w.start("alice", w.passwords["alice"], "--device", "A1", *extra, input_extra=input_extra)
    if r.rc == 0 and r.out.strip().startswith("{") and r.json().get("challenge_id"):
        w.audit_known = None
        ch = r.json()
        f = w.finish(ch["challenge_id"], w.response("A1", ch["challenge"]))  # asserts: no traceback
        raise AssertionError("auth start %s issued a challenge instead of refusing (finish then: %s)"
                             % (" ".join(extra), f.describe()))
    assert_one_line_refusal(r, *words)
    if r.out.strip():  # a refusal by the library is JSON; a usage error is a line on stderr
        assert r.json().get("ok") is False
    assert_audit_unchanged(w, before, "a refused auth start wrote to the audit log")
    return r


def test_share_is_refused_at_start_not_at_finish(cli):
    r = refused_at_start(cli, "--purpose", "share")
    assert "share" in r.lines[0]


def test_withdrawal_amount_beyond_the_documented_range_is_refused(cli):
    refused_at_start(cli, "--purpose", "withdrawal", "--amount", "99999999999999999999999", words=("amount",))


def test_withdrawal_without_an_amount_is_refused(cli):
    refused_at_start(cli, "--purpose", "withdrawal", words=("amount",))


def test_pin_change_without_a_new_pin_is_refused(cli):
    refused_at_start(cli, "--purpose", "pin-change", words=("pin",))


PURPOSES = st.sampled_from([None, "login", "activation", "pin-change", "withdrawal", "card", "share"])
AMOUNTS = st.one_of(st.none(), st.integers(-5, 10 ** 25).map(str), st.integers(1, 10 ** 6).map(str),
                    st.sampled_from(["99999999999999999999999", "999999999999", "1000000000000", "0", "-1",
                                     "١٢٣", "1e3", "0x10", " 5", "", "+5", "5.0", "007", "1_000", "NaN"]))
NEW_PINS = st.one_of(st.none(), st.sampled_from(["5678", "123456", "12", "١٢٣٤", "abcd", ""]))


@settings(max_examples=60 if FUZZ else 4, deadline=None, derandomize=not FUZZ,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(purpose=PURPOSES, amount=AMOUNTS, new_pin=NEW_PINS)
@example(purpose="share", amount=None, new_pin=None)  # the issue's two tracebacks
@example(purpose="withdrawal", amount="99999999999999999999999", new_pin=None)
def test_every_start_and_finish_path_is_clean_property(cli_property, purpose, amount, new_pin):
    w = cli_property
    w.set_policy(NO_LOCK)
    extra = ["--device", "A1"]
    if purpose:
        extra += ["--purpose", purpose]
    if amount is not None:
        extra += ["--amount", amount]
    if new_pin is not None:
        extra += ["--new-pin-stdin"]
    before = audit_before(w)
    r = w.start("alice", w.passwords["alice"], *extra, input_extra="" if new_pin is None else new_pin + "\n")
    ch = r.json() if r.rc == 0 else None
    if not (ch and ch.get("challenge_id")):
        assert_one_line_refusal(r)
        assert_audit_unchanged(w, before, "a refused auth start wrote to the audit log: " + r.describe())
        return
    w.audit_known = None
    pin = new_pin if purpose == "pin-change" else None
    f = w.finish(ch["challenge_id"], w.response("A1", ch["challenge"], pin=pin))
    result = f.json()
    if f.rc == 0:
        assert result.get("ok") is True, f.describe()
        if purpose == "pin-change":
            w.keys["A1"] = (w.keys["A1"][0], new_pin)
    else:
        assert result.get("ok") is False
        assert len(w.audit_lines("alice")) > len(before), \
            "a right response that was not accepted left no audit event: " + f.describe()
    again = w.finish(ch["challenge_id"], w.response("A1", ch["challenge"], pin=pin))
    assert again.rc != 0 and again.json().get("ok") is not True, \
        "a challenge answered once (%s) was accepted again" % f.describe()
