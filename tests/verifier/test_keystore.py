"""Master keys: every sealed value names its key, writers seal with the key that
is current in their own transaction, and a rotation cut short at any step leaves
every secret readable and is finished by the next one. On SQLite and PostgreSQL
(the `db` fixture, tests/verifier/conftest.py)."""

import os
import stat

import pytest

from host.verifier import keystore, service
from host.verifier.keystore import VaultError, key_id_of, read_keyring
from tests.ocra_reference import ocra

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
PASSWORD = "correct horse"


@pytest.fixture
def paths(db, tmp_path):
    keyring = str(tmp_path / "master.key")
    service.init_db(db, keyring)
    return db, keyring


def enroll_and_login(v, name, serial):
    key = os.urandom(32)
    v.add_user(name, PASSWORD)
    v.enroll_token(name, serial, key, "1234", active=True)
    return key


def logs_in(v, name, key):
    ch = v.start(name, PASSWORD)
    return v.finish(ch["challenge_id"], ocra(SUITE, key, ch["challenge"], pin="1234"))["ok"]


def sealed_key_ids(v):
    from sqlalchemy import select

    with v.engine.connect() as conn:
        ids = set()
        for table, pk, column, _ in keystore.SEALED:
            ids |= {key_id_of(blob) for (blob,) in conn.execute(select(column).where(column.is_not(None)))}
    return ids


def test_a_process_opened_before_rotations_seals_with_the_current_key(paths):
    db, keyring = paths
    stale = service.Verifier(db, keyring)  # loaded key 1 only
    other = service.Verifier(db, keyring)
    alice = enroll_and_login(other, "alice", "A1")
    assert other.rotate_master_key() == 2
    bob = enroll_and_login(stale, "bob", "B1")  # must seal with key 2, which it has never loaded
    assert sealed_key_ids(other) == {2}
    assert other.rotate_master_key() == 3  # retires key 2 and drops 1 and 2 from the file
    assert set(read_keyring(keyring)) == {3}
    fresh = service.Verifier(db, keyring)
    assert logs_in(fresh, "alice", alice) and logs_in(fresh, "bob", bob)
    assert logs_in(stale, "bob", bob), "the stale process reads the key ring again"
    for v in (stale, other, fresh):
        v.close()


def test_a_rotation_killed_after_writing_the_new_key_changes_nothing(paths, monkeypatch):
    db, keyring = paths
    v = service.Verifier(db, keyring)
    alice = enroll_and_login(v, "alice", "A1")
    real = keystore.write_keyring

    def write_then_die(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(keystore, "write_keyring", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        v.rotate_master_key()
    monkeypatch.setattr(keystore, "write_keyring", real)
    assert set(read_keyring(keyring)) == {1, 2}  # the new key was written, never adopted
    again = service.Verifier(db, keyring)
    assert logs_in(again, "alice", alice)
    assert again.rotate_master_key() == 3
    assert set(read_keyring(keyring)) == {3} and sealed_key_ids(again) == {3}
    assert logs_in(again, "alice", alice)
    v.close()
    again.close()


def test_a_rotation_killed_while_re_sealing_keeps_the_old_key_readable_until_the_next(paths, monkeypatch):
    db, keyring = paths
    v = service.Verifier(db, keyring)
    alice = enroll_and_login(v, "alice", "A1")
    bob = enroll_and_login(v, "bob", "B1")
    calls = []
    real = keystore.Keystore.finish_rotation

    def die_after_the_switch(self, engine):
        calls.append(1)
        if len(calls) == 2:  # the first call finishes nothing; the second runs after the switch
            raise KeyboardInterrupt("killed")
        return real(self, engine)

    monkeypatch.setattr(keystore.Keystore, "finish_rotation", die_after_the_switch)
    with pytest.raises(KeyboardInterrupt):
        v.rotate_master_key()
    monkeypatch.setattr(keystore.Keystore, "finish_rotation", real)
    assert set(read_keyring(keyring)) == {1, 2}
    assert sealed_key_ids(v) == {1}, "nothing was re-sealed yet"
    other = service.Verifier(db, keyring)
    assert logs_in(other, "alice", alice), "a retiring key still opens what it sealed"
    carol = enroll_and_login(other, "carol", "C1")  # sealed with key 2, the current one
    assert sealed_key_ids(other) == {1, 2}
    assert other.rotate_master_key() == 3  # finishes the first rotation, then makes key 3
    assert set(read_keyring(keyring)) == {3} and sealed_key_ids(other) == {3}
    for name, key in (("alice", alice), ("bob", bob), ("carol", carol)):
        assert logs_in(other, name, key)
    v.close()
    other.close()


def test_a_key_file_that_others_can_read_is_refused(paths):
    db, keyring = paths
    os.chmod(keyring, 0o640)
    with pytest.raises(VaultError, match="chmod 600"):
        service.Verifier(db, keyring)
    os.chmod(keyring, 0o600)
    service.Verifier(db, keyring).close()


def test_db_init_never_writes_a_key_for_a_database_it_cannot_open(paths, tmp_path):
    db, keyring = paths
    other = str(tmp_path / "other.key")
    with pytest.raises(VaultError):
        service.init_db(db, other)
    assert not os.path.exists(other)
    keystore.write_keyring(other, {1: keystore.new_key()}, new=True)
    with pytest.raises(VaultError, match="does not open"):
        service.init_db(db, other)


@pytest.mark.sqlite_only
def test_new_databases_and_key_files_are_private(paths):
    db, keyring = paths
    for path in (db, keyring):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_sealed_value_moved_to_another_field_does_not_open(paths):
    db, keyring = paths
    v = service.Verifier(db, keyring)
    with v.engine.begin() as conn:
        blob = v.keys.seal(conn, b"secret", "device:1:secret")
    assert v.keys.open(blob, "device:1:secret") == b"secret"
    with pytest.raises(VaultError):
        v.keys.open(blob, "device:2:secret")
    v.close()
