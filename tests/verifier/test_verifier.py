"""The verifier's policies, through its library and its command line, with an
injected clock and a simulated token."""

import json
import os
import subprocess
import sys

import pytest

from host.verifier import service
from tests import dsc_runner
from tests.ocra_reference import ocra
from tests.verifier.conftest import DAY, PASSWORD, SUITE, is_postgresql
from tests.verifier.test_signing import signature

# `world` (alice, her token and the clock, starting at T0) is in tests/verifier/conftest.py.


def answer(v, key, pin="1234", **start):
    ch = v.start("alice", PASSWORD, **start)
    return ch, v.finish(ch["challenge_id"], ocra(SUITE, key, ch["challenge"], pin=pin))


def fail_once(v):
    ch = v.start("alice", PASSWORD)
    assert v.finish(ch["challenge_id"], "00000000" if ch["challenge"] else "1")["ok"] is False


def test_a_login_with_the_right_response_succeeds_once(world):
    v, clock, key, _ = world
    ch, result = answer(v, key)
    assert result == {"ok": True, "user": "alice", "device": "DSC00001", "kind": "token", "purpose": "login"}
    assert len(ch["challenge"]) == 6 and ch["challenge"].isdigit()
    assert ch["expires_in"] == 120 and ch["expires_at"] == "2023-11-14T22:15:20Z"  # T0 + 120 s, ISO 8601
    again = v.finish(ch["challenge_id"], ocra(SUITE, key, ch["challenge"], pin="1234"))
    assert again == {"ok": False, "reason": "challenge already used"}


def test_a_wrong_pin_gives_a_wrong_response_and_the_right_one_after_it_logs_in(world):
    v, clock, key, _ = world
    ch, result = answer(v, key, pin="1235")
    assert result == {"ok": False, "reason": "wrong response", "tries_left": 2}
    right = ocra(SUITE, key, ch["challenge"], pin="1234")
    assert v.finish(ch["challenge_id"], right)["ok"] is True
    assert v.finish(ch["challenge_id"], right)["reason"] == "challenge already used"


def test_a_response_with_spaces_is_refused_and_changes_nothing(world):
    v, clock, key, _ = world
    ch = v.start("alice", PASSWORD)
    right = ocra(SUITE, key, ch["challenge"], pin="1234")
    for typed in (right[:4] + " " + right[4:], " " + right, right + "\n", "12-34-56-78", ""):
        with pytest.raises(service.VerifierError) as e:
            v.finish(ch["challenge_id"], typed)
        assert "without spaces" in str(e.value)
    assert v.finish(ch["challenge_id"], right)["ok"] is True


def test_a_challenge_expires_after_120_seconds(world):
    v, clock, key, _ = world
    ch = v.start("alice", PASSWORD)
    clock.now += 119.9
    ch2 = v.start("alice", PASSWORD)
    assert v.finish(ch["challenge_id"], ocra(SUITE, key, ch["challenge"], pin="1234"))["ok"] is True
    clock.now += 120
    assert v.finish(ch2["challenge_id"], ocra(SUITE, key, ch2["challenge"], pin="1234")) == {
        "ok": False, "reason": "challenge expired"}


def test_challenges_are_unpredictable_digits(world):
    v = world[0]
    from host.verifier.kinds import kind

    token = type("Device", (), {"suite": SUITE, "kind": "token"})()
    seen = {kind("token").challenge(token, v) for _ in range(2000)}
    assert len(seen) > 1990 and all(len(c) == 6 and c.isdigit() for c in seen)


def test_ten_failures_within_a_day_lock_even_the_right_credentials(world):
    v, clock, key, _ = world
    for i in range(9):
        clock.now += 60
        fail_once(v)
    _, ok = answer(v, key)
    assert ok["ok"], "success resets the count"
    for i in range(10):
        clock.now += 60
        fail_once(v)
    last = clock.now
    with pytest.raises(service.VerifierError) as right:
        v.start("alice", PASSWORD)
    with pytest.raises(service.VerifierError) as wrong:
        v.start("alice", "not the password")
    assert right.value.code == wrong.value.code == "locked"
    assert str(right.value) == str(wrong.value), "the lockout never tells whether the password was right"
    # each refused attempt is a failure too, so the lock now runs from the last of them
    clock.now = last + DAY - 1
    with pytest.raises(service.VerifierError):
        v.start("alice", PASSWORD)
    last = clock.now
    clock.now = last + DAY
    _, ok = answer(v, key)
    assert ok["ok"], "24 h after the last failure the lock is over"


def test_failures_spread_over_more_than_a_day_do_not_lock(world):
    v, clock, key, _ = world
    for i in range(12):
        fail_once(v)
        clock.now += DAY / 9 + 1
    _, ok = answer(v, key)
    assert ok["ok"]


def test_wrong_passwords_count_towards_the_lockout(world):
    v, clock, key, _ = world
    for i in range(10):
        with pytest.raises(service.VerifierError) as e:
            v.start("alice", "wrong password %d" % i)
        assert e.value.code == "bad-credentials"
    with pytest.raises(service.VerifierError) as e:
        v.start("alice", PASSWORD)
    assert e.value.code == "locked"
    events = v.audit_log("alice", outcome="fail")
    assert [ev["reason"] for ev in events] == ["wrong password"] * 10 + ["locked"]


def test_a_shipped_token_activates_on_its_first_challenge_or_after_14_days(world):
    v, clock, key, _ = world
    other = os.urandom(32)
    v.enroll_token("alice", "DSC00002", other, "4321")
    assert [d["status"] for d in v.devices("alice")] == ["active", "shipped"]
    with pytest.raises(service.VerifierError) as e:
        v.start("alice", PASSWORD, device="DSC00002")
    assert e.value.code == "no-device"
    ch = v.start("alice", PASSWORD, device="DSC00002", purpose="activation")
    assert v.finish(ch["challenge_id"], ocra(SUITE, other, ch["challenge"], pin="4321"))["ok"]
    assert [d["status"] for d in v.devices("alice")] == ["active", "active"]
    v.enroll_token("alice", "DSC00003", os.urandom(32), "1111")
    clock.now += 14 * DAY
    assert v.devices("alice")[2]["status"] == "active"


def test_the_login_uses_the_named_device_or_the_highest_active_one(world):
    v, clock, key, _ = world
    second = os.urandom(32)
    v.enroll_token("alice", "DSC00009", second, "9999", active=True)
    assert v.start("alice", PASSWORD)["device"] == "DSC00009"  # same level: the newest
    ch, result = answer(v, key, device="DSC00001")
    assert ch["device"] == "DSC00001" and result["ok"]


def test_a_pin_change_commits_only_when_the_response_uses_the_new_pin(world):
    v, clock, key, _ = world
    ch = v.start("alice", PASSWORD, purpose="pin-change", new_pin="5678")
    assert v.finish(ch["challenge_id"], ocra(SUITE, key, ch["challenge"], pin="1234"))["ok"] is False
    _, still_old = answer(v, key, pin="1234")
    assert still_old["ok"], "a failed PIN change changes nothing"
    ch = v.start("alice", PASSWORD, purpose="pin-change", new_pin="5678")
    assert v.finish(ch["challenge_id"], ocra(SUITE, key, ch["challenge"], pin="5678"))["ok"] is True
    assert answer(v, key, pin="1234")[1]["ok"] is False
    assert answer(v, key, pin="5678")[1]["ok"] is True


def stored_bytes(v, db, tmp):
    """Everything the database holds: the SQLite file with its -wal and -shm, or on
    PostgreSQL every value of every table."""
    if not is_postgresql(db):
        return open(tmp / "v.db", "rb").read() + b"".join(
            open(p, "rb").read() for p in tmp.iterdir() if p.name.startswith("v.db-"))
    from host.verifier import store
    out = []
    with v.engine.connect() as conn:
        for table in store.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                out += [value if isinstance(value, bytes) else str(value).encode() for value in row]
    return b"\0".join(out)


def test_secrets_are_encrypted_at_rest_and_the_master_key_rotates(world, db):
    v, clock, key, tmp = world
    raw = stored_bytes(v, db, tmp)
    import hashlib
    assert key not in raw and key.hex().encode() not in raw
    assert hashlib.sha1(b"1234").digest() not in raw
    assert b"correct horse" not in raw
    old = (tmp / "master.key").read_text()
    v.rotate_master_key()
    assert (tmp / "master.key").read_text() != old
    assert oct((tmp / "master.key").stat().st_mode & 0o777) == "0o600"
    fresh = service.Verifier(db, str(tmp / "master.key"), clock=clock)
    ch = fresh.start("alice", PASSWORD)
    assert fresh.finish(ch["challenge_id"], ocra(SUITE, key, ch["challenge"], pin="1234"))["ok"]
    (tmp / "old.key").write_text(old)
    (tmp / "old.key").chmod(0o600)
    with pytest.raises(service.VaultError, match="does not open this database"):
        service.Verifier(db, str(tmp / "old.key"))


def test_bad_input_is_refused_without_changes(world):
    v, clock, key, _ = world
    with pytest.raises(service.VerifierError):
        v.add_user("Not Valid!", "password123")
    with pytest.raises(service.VerifierError) as e:
        v.add_user("ALICE", "password123")
    assert e.value.code == "user-exists"
    with pytest.raises(service.VerifierError):
        v.enroll_token("alice", "DSC00001", key, "1234")
    with pytest.raises(service.VerifierError):
        v.enroll_token("alice", "DSC00005", key, "12a4")
    with pytest.raises(service.VerifierError):
        v.finish("not-an-id", "12345678")
    with pytest.raises(service.VerifierError):
        v.start("alice", PASSWORD, purpose="coffee")
    with pytest.raises(service.VerifierError) as e:
        v.start("nobody", PASSWORD)
    assert e.value.code == "bad-credentials"
    assert [d["serial"] for d in v.devices("alice")] == ["DSC00001"]


# -- the command line, against the simulated token -----------------------------

DSC = [sys.executable, "-m", "host.cli"]


def dsc(tmp, *args, stdin=None):
    env = dict(os.environ, DSC_DB=str(tmp / "cli.db"), DSC_MASTER_KEY_FILE=str(tmp / "cli.key"))
    return dsc_runner.run(args, input=stdin, env=env, timeout=60, cwd=str(tmp))


def test_the_whole_flow_from_the_command_line_against_the_simulator(tmp_path):
    sim = subprocess.Popen(DSC + ["sim", "--headless", "--link", "socket://127.0.0.1:0", "--state", str(tmp_path / "flash")],
                           stdout=subprocess.PIPE, text=True)
    try:
        url = sim.stdout.readline().strip()
        assert dsc(tmp_path, "db", "init").returncode == 0
        assert oct((tmp_path / "cli.key").stat().st_mode & 0o777) == "0o600"
        assert dsc(tmp_path, "user", "add", "Bob", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
        out = dsc(tmp_path, "provision", url, "--generate", "--key-out", tmp_path / "bob.key", "--serial", "DSC00077")
        assert out.returncode == 0, out.stderr
        out = dsc(tmp_path, "token", "enroll", "bob", "--serial", "DSC00077", "--key-file", tmp_path / "bob.key",
                  "--pin-stdin", "--active", stdin="2468\n")
        assert out.returncode == 0, out.stderr
        for pin, expect in (("2468", 0), ("1111", 1)):
            start = dsc(tmp_path, "auth", "start", "bob", "--password-stdin", stdin=PASSWORD + "\n")
            assert start.returncode == 0, start.stdout + start.stderr
            ch = json.loads(start.stdout)
            response = dsc(tmp_path, "respond", url, "--pin", pin, "--challenge", ch["challenge"]).stdout.strip()
            finish = dsc(tmp_path, "auth", "finish", ch["challenge_id"], "--response", response)
            assert finish.returncode == expect and json.loads(finish.stdout)["ok"] is (expect == 0)
        bad = dsc(tmp_path, "auth", "start", "bob", "--password-stdin", stdin="nope\n")
        assert bad.returncode == 1 and json.loads(bad.stdout)["error"] == "bad-credentials"
        events = [json.loads(line) for line in dsc(tmp_path, "audit", "bob").stdout.splitlines()]
        assert [e["outcome"] for e in events if e["purpose"] == "login"] == ["ok", "fail", "fail"]
        listed = json.loads(dsc(tmp_path, "device", "list", "bob").stdout)
        assert listed[0]["serial"] == "DSC00077" and "key" not in json.dumps(listed).lower().replace("kind", "")
    finally:
        sim.terminate()
        sim.wait()


def test_cli_refusals_are_one_line(tmp_path):
    assert dsc(tmp_path, "user", "add", "x", "--password-stdin", stdin="password123\n").returncode == 1  # no db yet
    assert dsc(tmp_path, "db", "init").returncode == 0
    for args, stdin in ((("user", "add", "Bad Name", "--password-stdin"), "password123\n"),
                        (("user", "add", "ok", "--password-stdin"), ""),
                        (("token", "enroll", "nobody", "--serial", "S1", "--key-file", "/nonexistent"), None),
                        (("device", "list", "nobody"), None),
                        (("audit", "bad name"), None)):
        out = dsc(tmp_path, *args, stdin=stdin)
        assert out.returncode == 1 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, (args, out.stderr)
    out = dsc(tmp_path, "auth", "finish", "0" * 32, "--response", "1234 5678")
    assert out.returncode == 1 and "without spaces" in json.loads(out.stdout)["message"]


def interactive(tmp, args, answers, key, pin, respond=None):
    """Run an interactive dsc command: answer its prompts, read the challenge it shows,
    and type the response: `respond(challenge)`, or the reference OCRA for key and pin."""
    env = dict(os.environ, DSC_DB=str(tmp / "cli.db"), DSC_MASTER_KEY_FILE=str(tmp / "cli.key"))
    proc = subprocess.Popen(DSC + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=str(tmp))
    proc.stdin.write("".join(a + "\n" for a in answers))
    proc.stdin.flush()
    shown = proc.stdout.readline()
    challenge = shown.strip().rsplit(" ", 1)[-1]
    response = respond(challenge) if respond else ocra(SUITE, key, challenge, pin=pin)
    out, _ = proc.communicate(response + "\n", timeout=60)
    return proc.returncode, shown + out


def typed_in_turn(key, *pins):
    """interactive()'s `respond`: the response with each PIN, typed in turn at the Response: prompt."""
    return lambda challenge: "\n".join(ocra(SUITE, key, challenge, pin=pin) for pin in pins)


def test_login_and_pin_change_in_the_terminal(tmp_path):
    assert dsc(tmp_path, "db", "init").returncode == 0
    assert dsc(tmp_path, "user", "add", "dave", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    key = os.urandom(20)
    (tmp_path / "d.key").write_text(key.hex())
    assert dsc(tmp_path, "token", "enroll", "dave", "--serial", "D1", "--key-file", tmp_path / "d.key",
               "--pin-stdin", "--active", stdin="1234\n").returncode == 0
    code, out = interactive(tmp_path, ["login", "dave"], [PASSWORD], key, "1234")
    assert code == 0 and "Logged in as dave" in out and "key your PIN" in out
    code, out = interactive(tmp_path, ["pin", "change", "dave"], [PASSWORD, "8642", "8642"], key, None,
                            respond=typed_in_turn(key, "1234", "1234", "1234"))
    assert code == 1 and "PIN not changed" in out, "answered with the old PIN: nothing changes"
    assert out.count("tries left for this challenge") == 2, "each wrong response but the last is asked again"
    code, out = interactive(tmp_path, ["pin", "change", "dave"], [PASSWORD, "8642", "8642"], key, None,
                            respond=typed_in_turn(key, "1234", "8642"))
    assert code == 0 and "PIN changed" in out and "tries left for this challenge: 2" in out, "a typo is typed again"
    code, out = interactive(tmp_path, ["login", "dave"], [PASSWORD], key, "8642")
    assert code == 0
    mismatch = dsc(tmp_path, "pin", "change", "dave", stdin=PASSWORD + "\n1111\n2222\n")
    assert mismatch.returncode == 1 and "differ" in mismatch.stderr


def test_lost_token_cards_and_withdrawals_from_the_command_line(tmp_path):
    assert dsc(tmp_path, "db", "init").returncode == 0
    assert dsc(tmp_path, "user", "add", "erin", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    key = os.urandom(32)
    (tmp_path / "e.key").write_text(key.hex())
    assert dsc(tmp_path, "token", "enroll", "erin", "--serial", "E1", "--key-file", tmp_path / "e.key",
               "--pin-stdin", "--active", stdin="1234\n").returncode == 0
    replaced = dsc(tmp_path, "token", "replace", "erin", "--serial", "E1")
    assert replaced.returncode == 0 and "shown only now" in replaced.stdout
    passcode = replaced.stdout.split()[2]
    assert passcode.isalnum() and passcode.isupper()
    # the user signs in with the passcode for an online card, printed to a PDF
    env_args = ["card", "issue", "erin", "--out", str(tmp_path / "online.pdf")]
    code, out = interactive_answer(tmp_path, env_args, [PASSWORD], passcode)
    assert code == 0 and (tmp_path / "online.pdf").read_bytes().startswith(b"%PDF")
    printed = dsc(tmp_path, "card", "issue", "erin", "--printed", "--out", tmp_path / "card.png")
    assert printed.returncode == 0 and (tmp_path / "card.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cards_before = dsc(tmp_path, "device", "list", "erin").stdout.count("code-card")
    again = dsc(tmp_path, "card", "issue", "erin", "--printed", "--out", tmp_path / "card.png")
    assert again.returncode == 1 and "exists already" in again.stderr, "never overwrites a card file"
    assert dsc(tmp_path, "device", "list", "erin").stdout.count("code-card") == cards_before, "nor issues one unseen"
    kinds = {d["kind"]: d["status"] for d in json.loads(dsc(tmp_path, "device", "list", "erin").stdout)}
    assert kinds["token"] == "inactive" and kinds["online-card"] == "active"
    assert dsc(tmp_path, "token", "activate", "erin", "--serial", "E1").returncode == 0
    kinds = {d["kind"]: d["status"] for d in json.loads(dsc(tmp_path, "device", "list", "erin").stdout)}
    assert kinds["temp-passcode"] == kinds["online-card"] == "revoked"
    code, out = interactive(tmp_path, ["withdraw", "erin", "--amount", "900000", "--destination", "Mizuho Bank 1234567"],
                            [PASSWORD], key, "1234", respond=lambda c: signature(key, c, 900000, "1234567"))
    assert code == 0 and "withdrawal of 900,000 confirmed" in out
    assert "withdrawal of 900,000 to Mizuho Bank 1234567" in out
    events = [json.loads(line) for line in dsc(tmp_path, "audit", "erin").stdout.splitlines()]
    assert any(e["purpose"] == "withdrawal" and e["outcome"] == "ok" and e["destination"] == "Mizuho Bank 1234567"
               for e in events)


def interactive_answer(tmp, args, answers, response):
    env = dict(os.environ, DSC_DB=str(tmp / "cli.db"), DSC_MASTER_KEY_FILE=str(tmp / "cli.key"))
    proc = subprocess.Popen(DSC + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=str(tmp))
    out, err = proc.communicate("".join(a + "\n" for a in answers) + response + "\n", timeout=60)
    return proc.returncode, out + err


def drive(tmp, args, answers, token_url, pin):
    """An interactive dsc command answered by keying its challenge into the simulated token."""
    return interactive(tmp, args, answers, None, pin, respond=lambda challenge: dsc(
        tmp, "respond", token_url, "--pin", pin, "--challenge", challenge).stdout.strip())


def test_activation_pin_change_and_withdrawal_against_the_simulated_token(tmp_path):
    sim = subprocess.Popen(DSC + ["sim", "--headless", "--runtime", "micropython", "--link", "socket://127.0.0.1:0",
                                  "--state", str(tmp_path / "flash")], stdout=subprocess.PIPE, text=True)
    try:
        url = sim.stdout.readline().strip()
        assert dsc(tmp_path, "db", "init").returncode == 0
        assert dsc(tmp_path, "user", "add", "fay", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
        assert dsc(tmp_path, "provision", url, "--generate", "--key-out", tmp_path / "f.key").returncode == 0
        serial = dsc(tmp_path, "info", url).stdout.split("serial: ")[1].split()[0]
        assert dsc(tmp_path, "token", "enroll", "fay", "--serial", serial, "--key-file", tmp_path / "f.key",
                   "--pin-stdin", stdin="1357\n").returncode == 0
        # shipped: the first challenge activates it
        start = json.loads(dsc(tmp_path, "auth", "start", "fay", "--password-stdin", "--purpose", "activation",
                               stdin=PASSWORD + "\n").stdout)
        response = dsc(tmp_path, "respond", url, "--pin", "1357", "--challenge", start["challenge"]).stdout.strip()
        assert json.loads(dsc(tmp_path, "auth", "finish", start["challenge_id"], "--response", response).stdout)["ok"]
        assert json.loads(dsc(tmp_path, "device", "list", "fay").stdout)[0]["status"] == "active"
        # the PIN changes at the verifier only: the token just computes with what is keyed
        code, out = drive(tmp_path, ["pin", "change", "fay"], [PASSWORD, "8642", "8642"], url, "8642")
        assert code == 0 and "PIN changed" in out
        code, out = drive(tmp_path, ["login", "fay"], [PASSWORD], url, "1357")
        assert code == 1, "the old PIN no longer works"
        # a withdrawal is signed: A, the PIN, then the challenge, the amount and the destination keyed into the token
        code, out = interactive(tmp_path, ["withdraw", "fay", "--amount", "1000000", "--destination", "Bank 42"],
                                [PASSWORD], None, "8642", respond=lambda challenge: dsc(
                                    tmp_path, "respond", url, "--pin", "8642", "--challenge", challenge,
                                    "--amount", "1000000", "--destination", "42").stdout.strip())
        assert code == 0 and "confirmed" in out, "a token confirms without a limit"
    finally:
        sim.terminate()
        sim.wait()


def test_provisioning_and_enrolment_apart_through_a_pskc_seed_file(tmp_path):
    """The bench provisions and writes a seed file; the bank imports it and enrolls."""
    sim = subprocess.Popen(DSC + ["sim", "--headless", "--link", "socket://127.0.0.1:0", "--state", str(tmp_path / "flash")],
                           stdout=subprocess.PIPE, text=True)
    try:
        url = sim.stdout.readline().strip()
        (tmp_path / "pass").write_text("a long seed passphrase\n")
        out = dsc(tmp_path, "provision", url, "--generate", "--key-out", tmp_path / "k", "--serial", "DSC00300",
                  "--pskc-out", tmp_path / "seed.pskc", "--pskc-password-file", tmp_path / "pass")
        assert out.returncode == 0, out.stderr
        key_hex = (tmp_path / "k").read_text().strip()
        assert key_hex not in (tmp_path / "seed.pskc").read_text().lower()
        assert dsc(tmp_path, "db", "init").returncode == 0
        assert dsc(tmp_path, "user", "add", "gus", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
        (tmp_path / "wrong").write_text("not the passphrase\n")
        bad = dsc(tmp_path, "token", "import", tmp_path / "seed.pskc", "--user", "gus", "--pskc-password-file",
                  tmp_path / "wrong", "--pin-stdin", stdin="2580\n")
        assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and key_hex not in bad.stderr
        good = dsc(tmp_path, "token", "import", tmp_path / "seed.pskc", "--user", "gus", "--pskc-password-file",
                   tmp_path / "pass", "--pin-stdin", "--active", stdin="2580\n")
        assert good.returncode == 0, good.stderr
        start = json.loads(dsc(tmp_path, "auth", "start", "gus", "--password-stdin", stdin=PASSWORD + "\n").stdout)
        response = dsc(tmp_path, "respond", url, "--pin", "2580", "--challenge", start["challenge"]).stdout.strip()
        assert json.loads(dsc(tmp_path, "auth", "finish", start["challenge_id"], "--response", response).stdout)["ok"]
    finally:
        sim.terminate()
        sim.wait()


def test_sharing_a_token_from_the_command_line(tmp_path):
    assert dsc(tmp_path, "db", "init").returncode == 0
    ident = ["--birth-date", "1975-05-05", "--citizenship", "DE", "--residence", "DE", "--id-type", "id-card",
             "--id-number", "ID77"]
    for name in ("hana", "ivan"):
        assert dsc(tmp_path, "user", "add", name, "--password-stdin", *ident, stdin=PASSWORD + "\n").returncode == 0
    assert dsc(tmp_path, "user", "add", "jo", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    key = os.urandom(32)
    (tmp_path / "h.key").write_text(key.hex())
    assert dsc(tmp_path, "token", "enroll", "hana", "--serial", "H1", "--key-file", tmp_path / "h.key",
               "--pin-stdin", "--active", stdin="1234\n").returncode == 0
    code, out = interactive(tmp_path, ["token", "share", "ivan", "--owner", "hana"], [PASSWORD], key, "1234")
    assert code == 0 and "ivan may now use token H1" in out
    code, out = interactive(tmp_path, ["login", "ivan"], [PASSWORD], key, "1234")
    assert code == 0 and "Logged in as ivan" in out
    refused = dsc(tmp_path, "token", "share", "jo", "--owner", "hana", stdin=PASSWORD + "\n")
    assert refused.returncode == 1 and "different identification information" in refused.stderr


def test_the_withdrawal_table_and_other_numbers_come_from_a_policy_file(tmp_path):
    assert dsc(tmp_path, "db", "init").returncode == 0
    assert dsc(tmp_path, "user", "add", "kim", "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    card = dsc(tmp_path, "card", "issue", "kim", "--printed")
    assert card.returncode == 0
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"withdrawal_limits": {"code-card": [1000, 3000]}, "challenge_ttl": 30,
                                  "unsigned_withdrawal_limit": 2000}))
    env = dict(os.environ, DSC_DB=str(tmp_path / "cli.db"), DSC_MASTER_KEY_FILE=str(tmp_path / "cli.key"),
               DSC_POLICY_FILE=str(policy))
    out = dsc_runner.run(["auth", "start", "kim", "--password-stdin", "--purpose", "withdrawal"], input=PASSWORD + "\n", env=env, cwd=str(tmp_path))
    assert out.returncode == 1 and json.loads(out.stdout)["error"] == "bad-amount"
    out = dsc_runner.run(["auth", "start", "kim", "--password-stdin", "--purpose", "withdrawal", "--amount", "999",
                          "--destination", "Bank 12"], input=PASSWORD + "\n", env=env, cwd=str(tmp_path))
    assert out.returncode == 0 and json.loads(out.stdout)["kind"] == "code-card"
    out = dsc_runner.run(["withdraw", "kim", "--amount", "1001", "--destination", "Bank 12"], input=PASSWORD + "\n",
                         env=env, cwd=str(tmp_path))
    assert out.returncode == 1 and "exceeds the withdrawal limits" in out.stderr
    start = dsc_runner.run(["auth", "start", "kim", "--password-stdin"], input=PASSWORD + "\n",
                           env=env, cwd=str(tmp_path))
    ch = json.loads(start.stdout)
    assert ch["expires_in"] == 30
    policy.write_text('{"lockout_failures": "ten"}')
    bad = dsc_runner.run(["device", "list", "kim"], env=env, cwd=str(tmp_path))
    assert bad.returncode == 1 and "lockout_failures" in bad.stderr and bad.stderr.count("\n") == 1
