"""The token driven over its serial link with the host tools, as a user would:
provision, key PINs and challenges, and check every response against an
independent OCRA implementation (tests/ocra_reference.py)."""

import hashlib
import hmac
import os
import random
import socket
import time

import pytest

from host.client import TokenClient, TokenError
from tests.hil.conftest import confirm_with_ok, dsc, wipe
from tests.ocra_reference import ocra

DEFAULT_SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"


def kcv(key):
    return hmac.new(key, b"OpenDSC KCV", hashlib.sha256).digest()[:3].hex().upper()


def provision(client, suite=DEFAULT_SUITE, **fields):
    key = os.urandom(32)
    client.provision(key, suite=suite, **fields)
    return key


def test_generated_key_goes_to_the_key_file_only_and_responses_match(target, tmp_path):
    key_file = tmp_path / "token.key"
    out = dsc("provision", target.url, "--generate", "--key-out", key_file, "--serial", "DSC00042", "--label", "Alice Smith")
    assert out.returncode == 0, out.stderr
    key_hex = key_file.read_text().strip()
    key = bytes.fromhex(key_hex)
    assert len(key) == 32
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert out.stdout == "kcv: %s\n" % kcv(key)
    assert key_hex not in out.stdout + out.stderr and key_hex.upper() not in out.stdout + out.stderr

    info = dsc("info", target.url)
    assert info.returncode == 0, info.stderr
    assert "state: provisioned" in info.stdout and "serial: DSC00042" in info.stdout
    assert "label: Alice Smith" in info.stdout and "kcv: " + kcv(key) in info.stdout
    assert key_hex not in info.stdout.lower()

    for pin, challenge in (("1234", "123456"), ("0000", "000000"), ("9876", "654321")):
        got = dsc("respond", target.url, "--pin", pin, "--challenge", challenge)
        assert got.returncode == 0, got.stderr
        assert got.stdout == ocra(DEFAULT_SUITE, key, challenge, pin=pin) + "\n"


def test_many_random_pins_and_challenges_match_the_reference(target):
    rng = random.Random(6287)
    with target.client() as client:
        key = provision(client)
        for _ in range(12):
            pin = "%04d" % rng.randrange(10000)
            challenge = "%06d" % rng.randrange(1000000)
            assert client.respond(pin, challenge) == ocra(DEFAULT_SUITE, key, challenge, pin=pin)


def signature(suite, key, challenge, amount, destination, pin, counter=None):
    """docs/protocol.md "Signing", written out here: the suite's question becomes QA26 over
    the 6-digit challenge, the amount in 12 digits and the destination's digits in 8."""
    head, _, inputs = suite.rpartition(":")
    signing_suite = head + ":" + "-".join("QA26" if item[0] == "Q" else item for item in inputs.split("-"))
    return ocra(signing_suite, key, challenge + "%012d" % int(amount) + "%08d" % int(destination),
                counter=counter, pin=pin)


def test_the_keypad_signs_a_withdrawal_through_the_debug_link_and_dsc_respond(target):
    """A at PIN>, then the challenge, the amount and the destination, each at its prompt
    (issue 19): the signature is the reference's, it changes with the amount and the
    destination, and the login response to the same challenge is another."""
    suite = "OCRA-1:HOTP-SHA256-8:C-QN06-PSHA1"  # the counter shows that signing steps it like a login
    with target.client() as client:
        key = provision(client, suite=suite, counter=7)
        client.press("PWR", "F1")
        assert client.request("state")["signing"] == "1" and client.display()[0] == "SIGN PIN"
        client.press(*"1234", "OK", *"123456", "OK")
        assert client.ui_state() == "amount"
        client.press(*"123456789012")
        assert client.display()[:2] == ("AMT>1234", "56789012"), "all 12 digits are on the display"
        client.press("OK", *"4321", "OK")
        assert client.display()[:2] == ("SIGNED", signature(suite, key, "123456", 123456789012, "4321", "1234", 7))
        assert client.respond("1234", "123456", ("150000", "12345678")) == \
            signature(suite, key, "123456", 150000, "12345678", "1234", 8)
        assert client.respond("1234", "123456") == ocra(suite, key, "123456", counter=9, pin="1234")
    for amount, destination, counter in (("150001", "12345678", 10), ("150000", "12345679", 11)):
        out = dsc("respond", target.url, "--pin", "1234", "--challenge", "123456",
                  "--amount", amount, "--destination", destination)
        assert out.returncode == 0, out.stderr
        assert out.stdout == signature(suite, key, "123456", amount, destination, "1234", counter) + "\n"


def test_wrong_pin_gives_a_different_response_not_an_error(target):
    with target.client() as client:
        key = provision(client)
        right = client.respond("1234", "111111")
        wrong = client.respond("1235", "111111")
    assert right == ocra(DEFAULT_SUITE, key, "111111", pin="1234")
    assert wrong == ocra(DEFAULT_SUITE, key, "111111", pin="1235") != right


@pytest.mark.parametrize("suite,extra", [
    ("OCRA-1:HOTP-SHA1-6:QN08", {}),
    ("OCRA-1:HOTP-SHA512-8:QN08-PSHA512", {"pinlen": 6}),
    ("OCRA-1:HOTP-SHA256-10:QN10-PSHA256", {"pinlen": 8}),
])
def test_other_suites_and_pin_lengths(target, suite, extra):
    """SHA-512 runs on MicroPython through the pure-Python fallback."""
    pinlen = extra.get("pinlen", 4)
    pin = "12345678"[:pinlen] if "-P" in suite else ""
    qlen = int(suite.split(":")[2].split("-")[0][2:])
    challenge = "3141592653"[:qlen]
    with target.client() as client:
        key = provision(client, suite=suite, **extra)
        assert client.respond(pin, challenge) == ocra(suite, key, challenge, pin=pin or None)


def test_counter_suite_steps_and_survives_a_restart(target):
    suite = "OCRA-1:HOTP-SHA256-8:C-QN06-PSHA1"
    with target.client() as client:
        key = provision(client, suite=suite, counter=41)
        assert client.respond("1234", "222222") == ocra(suite, key, "222222", counter=41, pin="1234")
        assert client.respond("1234", "222222") == ocra(suite, key, "222222", counter=42, pin="1234")
        assert client.info()["counter"] == "43"
    if target.sim:
        target.sim.restart()
        with TokenClient(target.sim.url) as client:
            assert client.info()["counter"] == "43"
            assert client.respond("1234", "222222") == ocra(suite, key, "222222", counter=43, pin="1234")


def test_time_suite_uses_the_current_time_step(target):
    """On a token that knows the time; one without a clock (a Pico with no DS3231,
    or one whose clock lost the time) refuses the suite and stays blank."""
    suite = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1-T1M"
    with target.client() as client:
        if client.info()["clock"] not in ("rtc", "host"):
            with pytest.raises(TokenError) as refused:
                provision(client, suite=suite)
            assert refused.value.code == "no-clock" and client.info()["state"] == "blank"
            return
        key = provision(client, suite=suite)
        before = int(time.time()) // 60
        got = client.respond("1234", "424242")
        after = int(time.time()) // 60
    assert got in {ocra(suite, key, "424242", pin="1234", timestamp=t) for t in (before, after)}


def test_the_clock_is_set_only_with_the_ok_press_and_dsc_reads_it(target, clock_restored):
    wanted = int(time.time()) + 3 * 3600  # far enough from now to tell apart
    with target.client() as client:
        clock = client.info()["clock"]
        reply = confirm_with_ok(client, "clock", set=wanted)
        if clock == "none":
            assert reply.startswith("ERR clock no-clock "), reply
            return
        assert reply.startswith("OK clock clock=%s time=" % ("host" if clock == "host" else "rtc")), reply
        assert wanted <= int(reply.rsplit("time=", 1)[1]) <= wanted + 5
    out = dsc("clock", "show", target.url)
    assert out.returncode == 0, out.stderr
    hours = {time.strftime("%Y-%m-%d %H", time.gmtime(wanted + s)) for s in (0, 10)}
    assert out.stdout.startswith("clock: ") and any("time: " + h in out.stdout for h in hours), out.stdout


def test_key_and_state_persist_across_a_restart(target):
    if not target.sim:
        pytest.skip("restarting is a simulator feature")
    with target.client() as client:
        key = provision(client, serial="PERSIST1")
    target.sim.restart()
    with TokenClient(target.sim.url) as client:
        info = client.info()
        assert info["serial"] == "PERSIST1" and info["kcv"] == kcv(key)
        assert client.respond("4321", "765432") == ocra(DEFAULT_SUITE, key, "765432", pin="4321")


def test_garbage_on_the_link_leaves_the_token_working_and_its_key_intact(target):
    rng = random.Random(1)
    with target.client() as client:
        key = provision(client)
        before = client.info()
        ser = client._serial
        junk = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600))) for _ in range(40)]
        junk += [b"x" * 5000 + b"\n", b"provision key=zz\n", b"wipe now\n", b"\x03\x04\x00\n", b"%%%\r\n"]
        if not target.sim:
            # A debug build keeps Ctrl-C (so mpremote can reflash it): 0x03 would stop it.
            junk = [j.replace(b"\x03", b"") for j in junk]
        for chunk in junk:
            ser.write(chunk)
        ser.write(b"\nping\n")
        # Wait for the answer to that ping, not for a fixed time: a Pico takes about
        # 1.6 s to work through this junk, and replies arriving late would be read
        # by the next request. Every reply before it is a refusal.
        replies = []
        while True:
            reply = _read(ser, timeout=120)
            if reply == "OK ping proto=1":
                break
            replies.append(reply)
        assert replies and all(r.startswith("ERR ") for r in replies), [r[:40] for r in replies if not r.startswith("ERR ")]
        assert client.info() == before
        assert client.respond("1234", "123123") == ocra(DEFAULT_SUITE, key, "123123", pin="1234")


def test_provisioning_again_needs_ok_on_the_keypad(target):
    with target.client() as client:
        first = provision(client)
        ser = client._serial
        ser.write(b"provision key=" + os.urandom(32).hex().encode() + b"\n")
        assert _read(ser) == "WAIT provision confirm"
        ser.write(b"press keys=C\n")
        replies = {_read(ser), _read(ser)}
        assert "ERR provision denied refused on the token's keypad" in replies
        assert client.info()["kcv"] == kcv(first)
        second = os.urandom(32)
        reply = confirm_with_ok(client, "provision", key=second.hex())
        assert reply.startswith("OK provision") and "kcv=" + kcv(second) in reply


def test_lock_refuses_provisioning_until_wiped(target):
    with target.client() as client:
        provision(client)
        assert confirm_with_ok(client, "lock") == "OK lock"
        assert client.info()["state"] == "locked"
        with pytest.raises(TokenError) as refused:
            client.provision(os.urandom(32))
        assert refused.value.code == "locked"
        assert wipe(client) == "OK wipe"
        assert client.info()["state"] == "blank"
    out = dsc("respond", target.url, "--pin", "1234", "--challenge", "123456")
    assert out.returncode == 1 and "not provisioned" in out.stderr


def test_a_new_client_is_served_after_the_previous_one_leaves_mid_line(target):
    if not target.sim:
        pytest.skip("needs the simulator's socket link")
    host, port = target.url[len("socket://"):].split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(b"provision key=00")  # half a line, then the cable is pulled
    with target.client() as client:
        assert client.info()["state"] == "blank"


def test_cli_errors_are_one_line_and_nonzero(target, tmp_path):
    cases = [
        ("info", "socket://127.0.0.1:1"),
        ("info", "/dev/does-not-exist"),
        ("respond", target.url, "--pin", "12a4", "--challenge", "123456"),
        ("respond", target.url, "--pin", "1234", "--challenge", "12345", "--amount", "1", "--destination", "2"),
        ("provision", target.url, "--key", "xyz"),
        ("provision", target.url, "--generate"),
        ("ocra", "--key", "00" * 20, "--question", "12", "--suite", "OCRA-9:nope"),
    ]
    for args in cases:
        out = dsc(*args)
        assert out.returncode != 0, args
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, (args, out.stderr)
    existing = tmp_path / "exists.key"
    existing.write_text("keep me\n")
    out = dsc("provision", target.url, "--generate", "--key-out", existing)
    assert out.returncode == 1 and "already exists" in out.stderr
    assert existing.read_text() == "keep me\n"
    assert dsc("info", target.url).stdout.count("state: blank") == 1


def _read(ser, timeout=10):
    from tests.hil.conftest import _line

    return _line(ser, timeout)
