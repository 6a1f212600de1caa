"""What the help desk and a user at the terminal need, through `dsc`: unlock,
list and remove users and devices, shared devices in the list, readable times,
a second chance after a typo, the amount in the withdrawal prompt, reprinting
and revoking cards."""

import json
import os
import re
import subprocess
import sys

import pytest

from tests import dsc_runner
from tests.ocra_reference import ocra

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
PASSWORD = "correct horse"
DSC = [sys.executable, "-m", "host.cli"]
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def run(tmp, *args, stdin=None):
    env = dict(os.environ, DSC_DB=str(tmp / "v.db"), DSC_MASTER_KEY_FILE=str(tmp / "m.key"))
    env.pop("DSC_POLICY_FILE", None)
    if (tmp / "policy.json").exists():  # a test's own policy
        env["DSC_POLICY_FILE"] = str(tmp / "policy.json")
    out = dsc_runner.run(args, input=stdin, env=env, timeout=60, cwd=str(tmp))
    assert "Traceback" not in out.stderr + out.stdout
    return out


@pytest.fixture
def desk(tmp_path):
    """A database with alice (a token, key in alice.key) and bob, identical identity data."""
    assert run(tmp_path, "db", "init").returncode == 0
    ident = ["--birth-date", "1980-01-01", "--citizenship", "FI", "--residence", "FI", "--id-type", "passport",
             "--id-number", "X1"]
    for name in ("alice", "bob"):
        assert run(tmp_path, "user", "add", name, "--password-stdin", *ident, stdin=PASSWORD + "\n").returncode == 0
    key = os.urandom(32)
    (tmp_path / "alice.key").write_text(key.hex())
    (tmp_path / "alice.key").chmod(0o600)
    out = run(tmp_path, "token", "enroll", "alice", "--serial", "DSC00001", "--key-file", "alice.key", "--pin-stdin",
              "--active", stdin="1234\n")
    assert out.returncode == 0, out.stderr
    return tmp_path, key


def start(tmp, name, password=PASSWORD, *args):
    out = run(tmp, "auth", "start", name, "--password-stdin", *args, stdin=password + "\n")
    return json.loads(out.stdout)


def test_a_locked_user_is_unlocked_by_the_help_desk(desk):
    tmp, key = desk
    (tmp / "policy.json").write_text('{"lockout_failures": 3}')  # the default's rule at a lower number: quicker
    for _ in range(3):
        assert start(tmp, "alice", "wrong password")["error"] == "bad-credentials"
    assert start(tmp, "alice")["error"] == "locked"
    shown = json.loads(run(tmp, "user", "show", "alice").stdout)
    assert ISO.fullmatch(shown["locked_until"])
    out = run(tmp, "user", "unlock", "alice")
    assert out.returncode == 0 and "unlocked" in out.stdout
    assert json.loads(run(tmp, "user", "show", "alice").stdout)["locked_until"] is None
    ch = start(tmp, "alice")
    assert ch["ok"] and ch["kind"] == "token"


def test_users_are_listed_and_removed_and_the_audit_log_keeps_them(desk):
    tmp, _ = desk
    assert [u["user"] for u in json.loads(run(tmp, "user", "list").stdout)] == ["alice", "bob"]
    assert run(tmp, "user", "remove", "bob").returncode == 0
    assert [u["user"] for u in json.loads(run(tmp, "user", "list").stdout)] == ["alice"]
    events = [json.loads(line) for line in run(tmp, "audit", "bob").stdout.splitlines()]
    assert events[-1]["reason"] == "removed"
    assert start(tmp, "bob")["error"] == "bad-credentials"


def test_device_list_shows_shared_devices_with_their_owner_and_iso_times(desk):
    tmp, key = desk
    out = run(tmp, "token", "share", "bob", "--owner", "alice", stdin=PASSWORD + "\n" + "0" * 8 + "\n")
    assert out.returncode == 1  # a wrong response: nothing shared
    ch_line = [line for line in out.stdout.splitlines() if line.startswith("To confirm")]
    assert ch_line
    bob = json.loads(run(tmp, "device", "list", "bob").stdout)
    assert bob == []
    # now the right response, computed from the challenge the command shows
    proc = subprocess.Popen(DSC + ["token", "share", "bob", "--owner", "alice"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(tmp),
                            env=dict(os.environ, DSC_DB=str(tmp / "v.db"), DSC_MASTER_KEY_FILE=str(tmp / "m.key")))
    proc.stdin.write(PASSWORD + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    challenge = line.rsplit(": ", 1)[1].strip()
    out, err = proc.communicate(ocra(SUITE, key, challenge, pin="1234") + "\n", timeout=60)
    assert proc.returncode == 0, err
    bob = json.loads(run(tmp, "device", "list", "bob").stdout)
    assert [(d["serial"], d["owner"], d["shared"]) for d in bob] == [("DSC00001", "alice", True)]
    assert ISO.fullmatch(bob[0]["activated_at"]) and bob[0]["expires_at"] is None


def test_a_typo_at_the_response_prompt_is_asked_again(desk):
    tmp, key = desk
    proc = subprocess.Popen(DSC + ["login", "alice"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(tmp),
                            env=dict(os.environ, DSC_DB=str(tmp / "v.db"), DSC_MASTER_KEY_FILE=str(tmp / "m.key")))
    proc.stdin.write(PASSWORD + "\n")
    proc.stdin.flush()
    challenge = proc.stdout.readline().rsplit(": ", 1)[1].strip()
    right = ocra(SUITE, key, challenge, pin="1234")
    out, err = proc.communicate("%s %s\n%s\n" % (right[:4], right[4:], right), timeout=60)
    assert proc.returncode == 0, err
    assert "try again" in out and "Logged in as alice" in out
    assert "Traceback" not in err


def test_the_withdrawal_prompt_shows_the_amount(desk):
    tmp, _ = desk
    out = run(tmp, "withdraw", "alice", "--amount", "150000", "--destination", "Mizuho Bank 1234567",
              stdin=PASSWORD + "\n00000000\n")
    assert out.returncode == 1
    assert "withdrawal of 150,000" in out.stdout


def test_a_printed_card_is_reprinted_and_revoked(desk):
    tmp, _ = desk
    first = run(tmp, "card", "issue", "alice", "--printed", "--out", "card.txt")
    assert first.returncode == 0, first.stderr
    serial = re.search(r"card (CC-[0-9A-F]+)", first.stdout).group(1)
    text = (tmp / "card.txt").read_text()
    assert "Valid until: revoked or replaced" in text
    again = run(tmp, "card", "reprint", "alice", "--serial", serial, "--out", "again.txt")
    assert again.returncode == 0, again.stderr
    assert (tmp / "again.txt").read_text() == text
    assert run(tmp, "device", "revoke", "alice", "--serial", serial).returncode == 0
    refused = run(tmp, "card", "reprint", "alice", "--serial", serial)
    assert refused.returncode == 1 and "revoked" in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert [d["status"] for d in json.loads(run(tmp, "device", "list", "alice").stdout)
            if d["serial"] == serial] == ["revoked"]
    assert run(tmp, "device", "remove", "alice", "--serial", serial).returncode == 0
    assert serial not in run(tmp, "device", "list", "alice").stdout


def test_an_online_card_shows_a_readable_expiry(desk):
    tmp, _ = desk
    assert run(tmp, "token", "deactivate", "alice", "--serial", "DSC00001").returncode == 0  # misplaced
    out = run(tmp, "temp-passcode", "issue", "alice")
    passcode = re.search(r"passcode ([A-Z0-9]+)", out.stdout).group(1)
    assert re.search(r"until \d{4}-\d\d-\d\d \d\d:\d\d UTC", out.stdout)
    card = run(tmp, "card", "issue", "alice", "--out", "online.txt", stdin=PASSWORD + "\n" + passcode.lower() + "\n")
    assert card.returncode == 0, card.stdout + card.stderr
    assert re.search(r"Valid until: \d{4}-\d\d-\d\d \d\d:\d\d UTC", (tmp / "online.txt").read_text())


def test_identity_data_is_checked(tmp_path):
    assert run(tmp_path, "db", "init").returncode == 0
    for bad in (["--birth-date", "1980-13-01"], ["--birth-date", "2999-01-01"], ["--citizenship", "<script>"],
                ["--id-number", "x" * 65]):
        out = run(tmp_path, "user", "add", "carol", "--password-stdin", *bad, stdin=PASSWORD + "\n")
        assert out.returncode == 1 and len(out.stderr.splitlines()) == 1, bad
    assert json.loads(run(tmp_path, "user", "list").stdout) == []
