"""The broker policies around the token: temporary passcodes, security code
cards, re-activation, replacement of a lost token, device sharing, withdrawal
limits by device, and master key rotation cut short."""

import os

import pytest

from host.verifier import cards, service
from tests.ocra_reference import ocra
from tests.verifier.conftest import DAY, IDENTITY, PASSWORD, SUITE
from tests.verifier.test_signing import DESTINATION, signature

MONDAY = 1_700_438_400.0  # 2023-11-20 00:00 UTC, a Monday


@pytest.fixture
def start_time():
    """`world` (tests/verifier/conftest.py) starts at 09:00 on a Monday here."""
    return MONDAY + 9 * 3600


def respond(v, key, ch, pin="1234", secret=None):
    if ch["kind"] == "token" and ch["purpose"] == "withdrawal":
        return signature(key, ch["challenge"], ch["amount"], ch["destination_digits"], pin=pin)
    if ch["kind"] == "token":
        return ocra(SUITE, key, ch["challenge"], pin=pin)
    if ch["kind"] == "temp-passcode":
        return secret
    return cards.expected(secret, *cards.parse_challenge(ch["challenge"]))


def login(v, key, secret=None, name="alice", **start):
    ch = v.start(name, PASSWORD, **start)
    return ch, v.finish(ch["challenge_id"], respond(v, key, ch, secret=secret))


def test_a_temporary_passcode_gives_full_access_for_two_days_then_only_an_online_card(world):
    v, clock, key, _ = world
    v.set_token_status("alice", "DSC00001", active=False)  # the token is misplaced
    temp = v.issue_temp_passcode("alice")
    assert len(temp["passcode"]) == 10 and temp["passcode"].isalnum() and temp["passcode"].isupper()
    with pytest.raises(service.VerifierError) as again:
        v.issue_temp_passcode("alice")
    assert again.value.code == "passcode-exists", "issued once"
    ch, ok = login(v, key, temp["passcode"])
    assert ch["kind"] == "temp-passcode" and ch["challenge"] == "" and ok["ok"]
    ch = v.start("alice", PASSWORD)
    with pytest.raises(service.VerifierError) as spaced:
        v.finish(ch["challenge_id"], temp["passcode"][:5] + " " + temp["passcode"][5:])
    assert "without spaces" in str(spaced.value)
    assert v.finish(ch["challenge_id"], temp["passcode"])["ok"], "unchanging: the same passcode again"
    clock.now += 2 * DAY
    with pytest.raises(service.VerifierError) as refused:
        v.start("alice", PASSWORD)
    assert refused.value.code == "no-device"
    ch = v.start("alice", PASSWORD, purpose="card")
    got = v.finish(ch["challenge_id"], temp["passcode"])
    assert got["ok"] and got["card"]["kind"] == "online-card" and len(got["card"]["grid"]) == cards.SIZE
    assert got["card"]["expires_at"] == clock.now + 21 * DAY
    ch, ok = login(v, key, got["card"]["grid"])
    assert ch["kind"] == "online-card" and ok["ok"]
    clock.now += 10 * DAY
    kinds = {d["kind"]: d["status"] for d in v.devices("alice")}
    assert kinds["temp-passcode"] == "expired" and kinds["online-card"] == "active"
    clock.now += 11 * DAY
    assert {d["kind"]: d["status"] for d in v.devices("alice")}["online-card"] == "expired"


def test_a_wrong_card_code_is_a_failed_login_and_the_same_positions_are_asked_again(world):
    v, clock, key, _ = world
    card = v.issue_printed_card("alice")
    ch = v.start("alice", PASSWORD, device=card["serial"])
    i, j = cards.parse_challenge(ch["challenge"])
    wrong = cards.expected(card["grid"], j, i) if card["grid"][i - 1] != card["grid"][j - 1] else "000000"
    if wrong == cards.expected(card["grid"], i, j):
        wrong = "999999" if wrong != "999999" else "000000"
    assert v.finish(ch["challenge_id"], wrong) == {"ok": False, "reason": "wrong response", "tries_left": 2}
    assert v.audit_log("alice")[-1]["reason"] == "wrong response"
    assert v.finish(ch["challenge_id"], cards.expected(card["grid"], i, j))["ok"] is True


def test_the_highest_level_device_is_the_default_and_a_printed_card_is_permanent(world):
    v, clock, key, _ = world
    card = v.issue_printed_card("alice")
    assert v.start("alice", PASSWORD)["kind"] == "token"
    v.set_token_status("alice", "DSC00001", active=False)
    clock.now += 400 * DAY
    ch, ok = login(v, key, card["grid"])
    assert ch["kind"] == "code-card" and ok["ok"]


def test_reactivating_the_token_revokes_the_temporary_passcode_and_online_card_at_once(world):
    v, clock, key, _ = world
    v.set_token_status("alice", "DSC00001", active=False)
    temp = v.issue_temp_passcode("alice")
    ch = v.start("alice", PASSWORD, purpose="card")
    card = v.finish(ch["challenge_id"], temp["passcode"])["card"]
    v.set_token_status("alice", "DSC00001", active=True)
    statuses = {d["kind"]: d["status"] for d in v.devices("alice")}
    assert statuses == {"token": "active", "temp-passcode": "revoked", "online-card": "revoked"}
    with pytest.raises(service.VerifierError):
        v.start("alice", PASSWORD, device=card["serial"])
    assert login(v, key)[1]["ok"]


def test_replacing_a_lost_token(world):
    v, clock, key, _ = world
    temp = v.replace_token("alice", "DSC00001")
    assert login(v, key, temp["passcode"])[1]["ok"]
    new_key = os.urandom(32)
    v.enroll_token("alice", "DSC00002", new_key, "4321")
    ch = v.start("alice", PASSWORD, purpose="activation")
    assert v.finish(ch["challenge_id"], ocra(SUITE, new_key, ch["challenge"], pin="4321"))["ok"]
    statuses = {d["serial"]: d["status"] for d in v.devices("alice")}
    assert statuses["DSC00001"] == "inactive" and statuses["DSC00002"] == "active"
    assert statuses[temp["serial"]] == "revoked", "the new token's activation ends the passcode"


def test_sharing_a_device_between_users_with_identical_identity(world):
    v, clock, key, _ = world
    v.add_user("bob", PASSWORD, **IDENTITY)
    ch = v.start_share("bob", "alice", PASSWORD)
    assert ch["purpose"] == "share" and ch["device"] == "DSC00001"
    done = v.finish(ch["challenge_id"], ocra(SUITE, key, ch["challenge"], pin="1234"))
    assert done["ok"] and done["shared_with"] == "bob"
    ch, ok = login(v, key, name="bob")
    assert ch["device"] == "DSC00001" and ok["ok"] and ok["user"] == "bob"


def test_sharing_is_refused_with_the_issue_messages(world):
    v, clock, key, _ = world
    v.add_user("carol", PASSWORD, **dict(IDENTITY, id_number="OTHER"))
    with pytest.raises(service.VerifierError) as e:
        v.start_share("carol", "alice", PASSWORD)
    assert str(e.value) == "different identification information"
    v.add_user("bob", PASSWORD, **IDENTITY)
    card = v.issue_printed_card("alice")
    with pytest.raises(service.VerifierError) as e:
        v.start_share("bob", "alice", PASSWORD, device=card["serial"])
    assert str(e.value) == "less secure device"
    with pytest.raises(service.VerifierError) as e:
        v.start_share("bob", "alice", "wrong password")
    assert e.value.code == "bad-credentials"
    v.issue_temp_passcode("bob")
    with pytest.raises(service.VerifierError) as e:
        v.start_share("bob", "alice", PASSWORD)
    assert e.value.code == "temporary-device"


def withdraw(v, key, amount, secret=None):
    ch = v.start("alice", PASSWORD, purpose="withdrawal", amount=amount, destination=DESTINATION)
    return ch, v.finish(ch["challenge_id"], respond(v, key, ch, secret=secret))


def test_withdrawals_are_limited_by_the_confirming_device(world):
    v, clock, key, _ = world
    ch, ok = withdraw(v, key, 5_000_000)
    assert ch["kind"] == "token" and ok["ok"] and ok["amount"] == 5_000_000, "the token has no limit"
    v.set_token_status("alice", "DSC00001", active=False)
    card = v.issue_printed_card("alice")
    v.policy.unsigned_withdrawal_limit = 200_000  # a card cannot sign: it confirms only up to this
    ch, ok = withdraw(v, key, 150_000, card["grid"])
    assert ch["kind"] == "code-card" and ok["ok"]
    with pytest.raises(service.VerifierError) as e:
        v.start("alice", PASSWORD, purpose="withdrawal", amount=50_001, destination=DESTINATION)
    assert e.value.code == "limit"
    assert withdraw(v, key, 50_000, card["grid"])[1]["ok"], "exactly 200,000 in a day"
    for day in (1, 2):  # Tuesday, Wednesday
        clock.now = MONDAY + day * DAY + 9 * 3600
        assert withdraw(v, key, 200_000, card["grid"])[1]["ok"]
    clock.now = MONDAY + 3 * DAY + 9 * 3600  # Thursday: 600,000 over five business days already
    with pytest.raises(service.VerifierError):
        v.start("alice", PASSWORD, purpose="withdrawal", amount=1, destination=DESTINATION)
    clock.now = MONDAY + 7 * DAY + 9 * 3600  # next Monday: last Monday is out of the window
    assert withdraw(v, key, 200_000, card["grid"])[1]["ok"]


def test_a_limit_reached_meanwhile_refuses_the_second_confirmation(world):
    v, clock, key, _ = world
    v.set_token_status("alice", "DSC00001", active=False)
    card = v.issue_printed_card("alice")
    v.policy.unsigned_withdrawal_limit = 150_000
    first = v.start("alice", PASSWORD, purpose="withdrawal", amount=150_000, destination=DESTINATION)
    second = v.start("alice", PASSWORD, purpose="withdrawal", amount=150_000, destination=DESTINATION)
    assert v.finish(first["challenge_id"], respond(v, key, first, secret=card["grid"]))["ok"]
    late = v.finish(second["challenge_id"], respond(v, key, second, secret=card["grid"]))
    assert late["ok"] is False and late["reason"] == "limit"


def test_bad_withdrawal_amounts_are_refused(world):
    v, clock, key, _ = world
    for amount in (0, -5, 1.5, "100", True, 10 ** 12, 10 ** 30, None):
        with pytest.raises(service.VerifierError) as e:
            v.start("alice", PASSWORD, purpose="withdrawal", amount=amount, destination=DESTINATION)
        assert e.value.code == "bad-amount"


def test_a_rotation_cut_short_while_writing_its_key_file_changes_nothing(world, db, tmp_path, monkeypatch):
    v, clock, key, _ = world

    def power_cut(src, dst):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(KeyboardInterrupt):
        v.rotate_master_key()
    monkeypatch.undo()
    again = service.Verifier(db, str(tmp_path / "master.key"), clock=clock)
    ch = again.start("alice", PASSWORD)
    assert again.finish(ch["challenge_id"], ocra(SUITE, key, ch["challenge"], pin="1234"))["ok"]
    again.rotate_master_key()
    assert not (tmp_path / "master.key.tmp").exists()
    ch = again.start("alice", PASSWORD)
    assert again.finish(ch["challenge_id"], ocra(SUITE, key, ch["challenge"], pin="1234"))["ok"]


def test_the_audit_log_is_append_only_in_the_database(world, db):
    """The database itself refuses, whoever connects: triggers on both backends."""
    from sqlalchemy import create_engine, exc, text

    from host.verifier import store

    v, clock, key, _ = world
    login(v, key)
    engine = create_engine(store.url_for(db))  # a plain engine: not the verifier's
    statements = ["UPDATE audit SET outcome = 'ok'", "DELETE FROM audit"]
    if db.startswith("postgresql"):
        statements.append("TRUNCATE audit")
    try:
        for statement in statements:
            with pytest.raises(exc.DatabaseError, match="append-only"):
                with engine.begin() as conn:
                    conn.execute(text(statement))
    finally:
        engine.dispose()
    assert [e["purpose"] for e in v.audit_log("alice")] == ["user", "enroll", "login"]


def test_an_older_database_is_migrated_by_db_init(db, tmp_path):
    from host.verifier import store
    from sqlalchemy import inspect, text

    master = str(tmp_path / "m.key")
    engine = store.engine_for(db, create=True)
    with engine.begin() as conn:  # a version 1 database, as the first release made it
        store.MIGRATIONS[1](conn)
        store.set_meta(conn, "schema_version", b"1")
    engine.dispose()
    from host.verifier.keystore import new_key, write_keyring

    write_keyring(master, {1: new_key()}, new=True)
    with pytest.raises(service.VerifierError) as e:
        service.Verifier(db, master)
    assert e.value.code == "old-database"
    assert service.init_db(db, master) == 1
    v = service.Verifier(db, master)
    v.add_user("zed", PASSWORD)
    v.close()
    engine = store.engine_for(db)
    with engine.connect() as conn:
        assert store.version(conn) == store.SCHEMA_VERSION
        names = set(inspect(conn).get_table_names())
        if db.startswith("postgresql"):
            names |= {r[0] for r in conn.execute(text("SELECT tgname FROM pg_trigger"))}
            triggers = {"audit_no_change", "audit_no_truncate"}
        else:
            names |= {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master"))}
            triggers = {"audit_no_update", "audit_no_delete"}
    engine.dispose()
    assert {"shares", "withdrawals", "lockouts", "failures", "master_keys"} | triggers <= names
    assert service.init_db(db, master) == store.SCHEMA_VERSION, "migrating again changes nothing"


def test_a_database_url_that_cannot_be_reached_is_one_line_without_its_password(tmp_path):
    from host.verifier import store

    url = "postgresql://dsc:hunter2secret@127.0.0.1:1/dsc"  # nothing listens on port 1
    master = str(tmp_path / "m.key")
    with pytest.raises(store.StoreError) as e:
        service.init_db(url, master)
    assert "hunter2secret" not in str(e.value) and "\n" not in str(e.value) and "127.0.0.1" in str(e.value)
    assert not os.path.exists(master), "db init writes no key file for a database it cannot reach"
    from host.verifier.keystore import new_key, write_keyring

    write_keyring(master, {1: new_key()}, new=True)
    with pytest.raises(store.StoreError) as e:
        service.Verifier(url, master)
    assert "hunter2secret" not in str(e.value) and "\n" not in str(e.value) and "127.0.0.1" in str(e.value)


@pytest.mark.parametrize("end", ["revoked by the help desk", "reported lost", "turned off as misplaced"])
def test_a_token_ended_while_its_challenge_is_open_answers_nothing(world, end):
    """The help desk revokes a stolen token while the thief's login waits for its
    response: the right response no longer logs in, and it is no failure of the user's."""
    from sqlalchemy import func, select

    from host.verifier.store import failures

    v, clock, key, _ = world
    ch = v.start("alice", PASSWORD)
    assert ch["serial"] == "DSC00001"
    if end == "revoked by the help desk":
        v.revoke_device("alice", "DSC00001")
    elif end == "reported lost":
        v.replace_token("alice", "DSC00001")
    else:
        v.set_token_status("alice", "DSC00001", active=False)
    clock.now += 5
    result = v.finish(ch["challenge_id"], respond(v, key, ch))
    assert not result["ok"] and result["reason"] == "device not usable"
    assert v.audit_log("alice", limit=1, newest=True)[0]["reason"] == "device not usable"
    with v.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(failures)).scalar() == 0


def test_a_temporary_passcode_past_its_full_access_finishes_no_login_begun_before(world):
    v, clock, key, _ = world
    v.set_token_status("alice", "DSC00001", active=False)
    temp = v.issue_temp_passcode("alice")
    clock.now += v.policy.temp_full_access - 30  # the login starts 30 s before full access ends
    ch = v.start("alice", PASSWORD)
    assert ch["kind"] == "temp-passcode"
    clock.now += 60
    result = v.finish(ch["challenge_id"], temp["passcode"])
    assert not result["ok"] and result["reason"] == "device not usable"
