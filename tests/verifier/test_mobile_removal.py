"""An account removed from OpenDSC Mobile (docs/mobile.md, "Removal"): the phone's
signed removal revokes it on the server, its push subscription goes, a login that
waited for it can no longer be approved, and nothing but the phone's own signed,
fresh removal ends it; on SQLite and PostgreSQL."""

import concurrent.futures

import pytest

from host.verifier import mobile
from host.verifier.errors import VerifierError
from tests.ocra_reference import ocra
from tests.verifier.conftest import PASSWORD, SUITE
from tests.verifier.test_mobile_approval import PIN, answer, phone, poll  # noqa: F401  (phone: a fixture)
from tests.verifier.test_mobile_push_store import rows, subscribe, subscribe_message
from tests.verifier.test_mobile_protocol import App


def removal(serial, now, remove=True):
    return mobile.canonical({"device": serial, "poll": int(now), "remove": remove}).decode()


def remove(v, app, message):
    return v.mobile_remove(message, mobile.b64u(app.sign(message.encode())))


def phone_status(v, serial):
    return [d["status"] for d in v.devices("alice") if d["serial"] == serial]


def test_a_removed_phone_is_revoked_and_its_waiting_login_is_not_approved(phone):  # noqa: F811
    v, clock, app, key, serial = phone
    subscribe(v, app, subscribe_message(serial, clock.now))
    login = v.start("alice", PASSWORD, device=serial)
    (waiting,) = poll(v, app, serial, clock.now)
    assert remove(v, app, removal(serial, clock.now)) == {"serial": serial, "user": "alice"}
    assert phone_status(v, serial) == ["revoked"]
    assert rows(v) == [], "its push subscription is forgotten"
    assert v.audit_log("alice", limit=1, newest=True)[0]["reason"] == "removed in the app"
    with pytest.raises(VerifierError) as e:
        poll(v, app, serial, clock.now)
    assert e.value.code == "bad-signature", "the app learns the account is no longer active"
    result = answer(v, app, waiting["transaction"], login["number"],
                    response=ocra(SUITE, key, waiting["question"], pin=PIN))
    assert not result["ok"] and result["reason"] == "device not usable"
    with pytest.raises(VerifierError) as e:
        v.start("alice", PASSWORD, device=serial)
    assert e.value.code == "no-device"
    with pytest.raises(VerifierError) as e:
        remove(v, app, removal(serial, clock.now))
    assert e.value.code == "bad-signature", "a replayed removal changes nothing more"


@pytest.mark.postgresql_under_fuzz  # refusals: make test runs them on SQLite
def test_only_the_phones_own_fresh_removal_revokes_it(phone):  # noqa: F811
    v, clock, app, _, serial = phone
    poll_message = '{"device":"%s","poll":%d}' % (serial, int(clock.now))
    refused = [
        (app, poll_message, "bad-message"),  # a poll's signature is not a removal's
        (app, removal(serial, clock.now, remove=False), "bad-message"),
        (app, removal(serial, clock.now, remove=1), "bad-message"),
        (app, removal(serial, clock.now - 61), "stale-poll"),
        (App(), removal(serial, clock.now), "bad-signature"),  # another phone's key
        (app, removal("MA-00000000", clock.now), "bad-signature"),
        (app, '{"poll":%d,"remove":true,"device":"%s"}' % (clock.now, serial), "bad-message"),  # not canonical
    ]
    for signer, message, code in refused:
        with pytest.raises(VerifierError) as e:
            remove(v, signer, message)
        assert e.value.code == code, message
    assert phone_status(v, serial) == ["active"]


def test_racing_removals_revoke_once(phone):  # noqa: F811
    v, clock, app, _, serial = phone
    message = removal(serial, clock.now)

    def attempt(_):
        try:
            return remove(v, app, message)["serial"]
        except VerifierError as e:
            return e.code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(attempt, range(4)))
    assert sorted(outcomes) == sorted(["bad-signature"] * 3 + [serial])
    assert [e["reason"] for e in v.audit_log("alice")].count("removed in the app") == 1
