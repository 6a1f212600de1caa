"""Activating OpenDSC Mobile (docs/mobile.md): the code from the portal, the key
agreement with the app, and the phone becoming alice's `mobile` device, on
SQLite and PostgreSQL. The app is the one in test_mobile_protocol.py."""

import hashlib
import threading

import pytest

from host.verifier import mobile
from host.verifier.errors import VerifierError
from host.verifier.store import devices, mobile_activations
from tests.ocra_reference import ocra
from tests.verifier.test_mobile_protocol import SUITE, App


def activate(v, code, app=None, pin="2468"):
    """The app's two requests; returns (app, its OCRA key, the server's answers)."""
    app = app or App()
    agreed = v.mobile_activate(code, mobile.b64u(app.ecdh_public()), mobile.b64u(app.device_public()))
    ocra_key, pin_key = app.derive(mobile.unb64u(agreed["ecdh"], "ecdh"), agreed["activation"])
    blob = mobile.b64u(app.seal_pin(pin_key, agreed["activation"], pin))
    signature = app.sign(mobile.canonical({"activation": agreed["activation"], "pin": blob}))
    done = v.mobile_activate_finish(agreed["activation"], blob, mobile.b64u(signature))
    return app, ocra_key, agreed, done


def mobile_rows(v, name_id=None):
    with v.engine.connect() as conn:
        return conn.execute(devices.select().where(devices.c.kind == "mobile").order_by(devices.c.id)).all()


def test_a_phone_activated_with_the_code_answers_challenges_with_its_pin(world):
    v, clock, _, _ = world
    issued = v.mobile_activation("alice")
    assert len(issued["code"]) == 8 and issued["expires_at"] == clock.now + 600
    app, ocra_key, agreed, done = activate(v, issued["code"])
    assert agreed["user"] == "alice" and agreed["suite"] == SUITE and done["serial"] == issued["serial"]
    phones = [d for d in v.devices("alice") if d["kind"] == "mobile"]
    assert [(d["serial"], d["status"]) for d in phones] == [(issued["serial"], "active")]
    # The verifier checks the phone's response exactly as a hardware token's.
    ch = v.start("alice", "correct horse", device=issued["serial"])
    assert v.finish(ch["challenge_id"], ocra(SUITE, ocra_key, ch["challenge"], pin="2468"))["ok"]
    ch = v.start("alice", "correct horse", device=issued["serial"])
    assert not v.finish(ch["challenge_id"], ocra(SUITE, ocra_key, ch["challenge"], pin="1111"))["ok"], "a wrong PIN fails"


@pytest.mark.postgresql_under_fuzz  # reads and refusals: the races and state changes run on both
def test_the_database_never_holds_the_code_the_key_or_the_pin(world):
    v, _, _, tmp_path = world
    issued = v.mobile_activation("alice")
    _, ocra_key, _, _ = activate(v, issued["code"], pin="2468")
    with v.engine.connect() as conn:
        rows = [tuple(r) for t in (devices, mobile_activations) for r in conn.execute(t.select()).all()]
    dump = repr(rows).encode()
    for secret in (issued["code"].encode(), ocra_key, ocra_key.hex().encode(), hashlib.sha1(b"2468").digest()):
        assert secret not in dump


def test_a_code_works_once_and_only_for_ten_minutes(world):
    v, clock, _, _ = world
    issued = v.mobile_activation("alice")
    activate(v, issued["code"])
    with pytest.raises(VerifierError) as e:
        activate(v, issued["code"])
    assert e.value.code == "bad-code"
    late = v.mobile_activation("alice")
    clock.now += 601
    with pytest.raises(VerifierError) as e:
        activate(v, late["code"])
    assert e.value.code == "bad-code"
    with pytest.raises(VerifierError) as e:
        activate(v, mobile.new_code())
    assert e.value.code == "bad-code"


@pytest.mark.postgresql_under_fuzz  # reads and refusals: the races and state changes run on both
def test_the_typed_code_may_have_any_case_and_spaces(world):
    v, _, _, _ = world
    code = v.mobile_activation("alice")["code"]
    activate(v, code[:4].lower() + " " + code[4:].lower())
    assert [d.status for d in mobile_rows(v)] == ["active"]


def test_a_new_phone_revokes_the_old_one(world):
    v, _, _, _ = world
    first = v.mobile_activation("alice")
    _, old_key, _, _ = activate(v, first["code"])
    second = v.mobile_activation("alice")
    activate(v, second["code"])
    assert [(d.serial, d.status) for d in mobile_rows(v)] == [(first["serial"], "revoked"), (second["serial"], "active")]
    with pytest.raises(VerifierError):
        v.start("alice", "correct horse", device=first["serial"])
    events = [(e["device"], e["purpose"], e["reason"]) for e in v.audit_log("alice")]
    assert ("mobile:" + first["serial"], "revoke", "a new phone was activated") in events


@pytest.mark.postgresql_under_fuzz  # reads and refusals: the races and state changes run on both
def test_the_pin_must_be_sealed_and_signed_by_the_phone_that_agreed(world):
    v, _, _, _ = world
    code = v.mobile_activation("alice")["code"]
    app, intruder = App(), App()
    agreed = v.mobile_activate(code, mobile.b64u(app.ecdh_public()), mobile.b64u(app.device_public()))
    _, pin_key = app.derive(mobile.unb64u(agreed["ecdh"], "ecdh"), agreed["activation"])
    blob = mobile.b64u(app.seal_pin(pin_key, agreed["activation"], "2468"))
    message = mobile.canonical({"activation": agreed["activation"], "pin": blob})
    forged = mobile.b64u(intruder.sign(message))
    with pytest.raises(VerifierError) as e:
        v.mobile_activate_finish(agreed["activation"], blob, forged)
    assert e.value.code == "bad-signature"
    wrong_key = mobile.b64u(app.seal_pin(b"\x00" * 32, agreed["activation"], "2468"))
    with pytest.raises(VerifierError) as e:
        v.mobile_activate_finish(agreed["activation"], wrong_key,
                                 mobile.b64u(app.sign(mobile.canonical({"activation": agreed["activation"],
                                                                        "pin": wrong_key}))))
    assert e.value.code == "bad-pin"
    assert mobile_rows(v) == [], "nothing was activated by the refusals"
    v.mobile_activate_finish(agreed["activation"], blob, mobile.b64u(app.sign(message)))
    assert [d.status for d in mobile_rows(v)] == ["active"]
    with pytest.raises(VerifierError) as e:  # the same finish again: the activation is done
        v.mobile_activate_finish(agreed["activation"], blob, mobile.b64u(app.sign(message)))
    assert e.value.code == "bad-activation"


@pytest.mark.postgresql_under_fuzz  # reads and refusals: the races and state changes run on both
def test_bad_activation_requests_are_refused_with_one_error(world):
    v, _, _, _ = world
    off_curve = mobile.b64u(b"\x04" + b"\x01" * 64)
    for args, code in ((("ABCDEFG", "x", "x"), "bad-code"), (("ABCDEFGH", "!!", "AAAA"), "bad-ecdh"),
                       (("ABCDEFGH", off_curve, off_curve), "bad-device-key")):
        with pytest.raises(VerifierError) as e:
            v.mobile_activate(*args)
        assert e.value.code == code, args


def test_two_apps_racing_with_one_code_activate_one_phone(world):
    v, _, _, _ = world
    code = v.mobile_activation("alice")["code"]
    results = []

    def race():
        try:
            activate(v, code)
            results.append("ok")
        except VerifierError as e:
            results.append(e.code)

    threads = [threading.Thread(target=race) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["bad-code"] * 5 + ["ok"]
    assert [d.status for d in mobile_rows(v)] == ["active"]


def test_an_activation_spans_a_master_key_rotation(world):
    v, _, _, _ = world
    before = v.mobile_activation("alice")["code"]  # its digest is under the old key
    v.rotate_master_key()
    app = App()
    agreed = v.mobile_activate(before, mobile.b64u(app.ecdh_public()), mobile.b64u(app.device_public()))
    v.rotate_master_key()  # the agreed keys are re-sealed under the newest key
    ocra_key, pin_key = app.derive(mobile.unb64u(agreed["ecdh"], "ecdh"), agreed["activation"])
    blob = mobile.b64u(app.seal_pin(pin_key, agreed["activation"], "2468"))
    signature = app.sign(mobile.canonical({"activation": agreed["activation"], "pin": blob}))
    v.mobile_activate_finish(agreed["activation"], blob, mobile.b64u(signature))
    ch = v.start("alice", "correct horse", device=agreed["serial"])
    assert v.finish(ch["challenge_id"], ocra(SUITE, ocra_key, ch["challenge"], pin="2468"))["ok"]
