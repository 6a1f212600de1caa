"""Issue 7, section 1 item 8 (the verifier's part): files and permissions.

- The database is created 0600 (today 0644, exposing password hashes and identity
  data), and so are the files SQLite keeps beside it.
- A master key file that group or others may read is refused in one line, as
  ssh refuses such a private key.
- `dsc db init` with a new key file on a database initialised with another key
  fails and leaves no new key file behind.
- A mistyped `--db` (a path that does not exist) is refused by every command but
  `db init`, and creates nothing (today: an empty database).
- `--db postgresql://user@127.0.0.1:1/x` gives one clear line (today: a
  ModuleNotFoundError traceback).
"""

import os
import stat

import pytest

from tests.verifier.issue7_dsc import FUZZ, Dsc, assert_one_line_refusal, parallel


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_database_is_created_private_even_with_a_permissive_umask(tmp_path):
    w = Dsc(tmp_path)
    old = os.umask(0o022)  # the usual umask: files 0644 unless the program says otherwise
    try:
        w.init()
        w.add_user("alice")
    finally:
        os.umask(old)
    assert mode(w.db) == 0o600, "the database is mode %o, not 0600" % mode(w.db)
    assert mode(w.key_file) == 0o600
    for name in os.listdir(w.dir):
        if name.startswith(os.path.basename(w.db)):
            m = mode(os.path.join(w.dir, name))
            assert m & 0o077 == 0, "%s is mode %o: readable by others" % (name, m)


def test_master_key_file_readable_by_others_is_refused(tmp_path):
    w = Dsc(tmp_path)
    w.init()
    w.add_user("alice")
    before = w.audit_lines("alice")
    key_ring = open(w.key_file, "rb").read()
    for bits in (0o644, 0o640):  # readable by everyone; by the group
        os.chmod(w.key_file, bits)
        runs = []
        parallel([lambda argv=argv: runs.append(w.run(*argv)) for argv in [
            ("temp-passcode", "issue", "alice"),
            ("db", "rotate-master-key"),
        ]])
        for r in runs:
            assert_one_line_refusal(r, os.path.basename(w.key_file))
    os.chmod(w.key_file, 0o600)
    assert open(w.key_file, "rb").read() == key_ring, "a command refused for its key file changed the key file"
    assert w.audit_lines("alice") == before, "a command refused for its key file still changed the database"


def test_db_init_with_a_new_key_file_on_an_existing_database_fails_and_leaves_no_key_file(tmp_path):
    w = Dsc(tmp_path)
    w.init()
    w.add_user("alice")
    other = os.path.join(w.dir, "other-master.key")
    r = w.run("db", "init", env=w.env(DSC_MASTER_KEY_FILE=other))
    assert r.rc != 0, "db init accepted a new master key for a database sealed under another: " + r.describe()
    assert len(r.lines) == 1, r.describe()
    assert not os.path.exists(other), "db init left a useless new key file behind"
    assert w.run("audit", "alice").rc == 0, "the database no longer opens with its own key"


MISTYPED = [
    ("db", "rotate-master-key"),
    ("user", "add", "bob", "--password-stdin"),
    ("token", "enroll", "bob", "--serial", "B1", "--key-file", "KEY", "--suite", "OCRA-1:HOTP-SHA256-8:QN06-PSHA1",
     "--pin-stdin", "--active"),
    ("auth", "start", "bob", "--password-stdin"),
    ("auth", "finish", "0123456789abcdef0123456789abcdef", "--response", "12345678"),
    ("temp-passcode", "issue", "bob"),
    ("card", "issue", "bob", "--printed"),
    ("withdraw", "bob", "--amount", "100"),
    ("audit", "bob"),
    ("login", "bob"),
]
QUICK = ("rotate-master-key", "add", "start", "temp-passcode", "audit")  # without DSC_FUZZ=1: one of each kind


def test_a_mistyped_db_path_is_refused_and_creates_nothing(tmp_path):
    w = Dsc(tmp_path)
    w.init()
    key = tmp_path / "k.key"
    key.write_text("ab" * 32 + "\n")
    typo = os.path.join(w.dir, "dsc.bd")
    listing = sorted(os.listdir(w.dir))
    runs = []

    def one(argv):
        argv = [str(key) if a == "KEY" else a for a in argv]
        runs.append(w.run(*argv, "--db", typo, input="some-password-1\n1234\n"))

    commands = MISTYPED if FUZZ else [argv for argv in MISTYPED if set(argv) & set(QUICK)]
    parallel([lambda argv=argv: one(argv) for argv in commands])
    for r in runs:
        assert r.rc != 0, "a command on a database that does not exist succeeded: " + r.describe()
        assert len(r.lines) == 1, "one line, please: " + r.describe()
    assert not os.path.exists(typo), "a mistyped --db created a database"
    assert sorted(os.listdir(w.dir)) == listing, "a mistyped --db left files behind: %s" % (
        sorted(set(os.listdir(w.dir)) - set(listing)))


@pytest.mark.parametrize("argv", [("db", "init"), ("auth", "start", "alice", "--password-stdin")],
                         ids=["db init", "auth start"])
def test_a_postgresql_url_gives_one_clear_line(tmp_path, argv):
    w = Dsc(tmp_path)
    r = w.run(*argv, "--db", "postgresql://user@127.0.0.1:1/x", input="some-password-1\n", timeout=60)
    assert_one_line_refusal(r)
