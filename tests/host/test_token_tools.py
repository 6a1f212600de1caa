"""Issue 7 for the token tools (dsc info|provision|respond|lock|wipe|ocra|sim):
input checks, one implementation of each rule, replies the client cannot read,
and the command line a new user meets (help, --version, labels)."""

import argparse
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dsc.config
import dsc.ocra
from host import cli, files, ocra
from host.client import TokenClient
from host.transport import HostError

DSC = [sys.executable, "-m", "host.cli"]
KEY = "3132333435363738393031323334353637383930313233343536373839303132"
NON_ASCII_DIGITS = ["١٢٣٤", "۱۲۳۴", "१२३४", "１２３４", "²³45"]


def run_dsc(*args, timeout=60):
    return subprocess.run(DSC + list(args), capture_output=True, text=True, timeout=timeout)


def one_line_error(out, code=None):
    assert out.returncode != 0 if code is None else out.returncode == code, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


# -- 9. input checks ------------------------------------------------------------------


def test_ocra_refuses_an_empty_pin():
    out = run_dsc("ocra", "--key", KEY, "--question", "123456", "--pin", "")
    assert out.stdout == ""
    assert "a PIN is 4 to 8 digits" in one_line_error(out, 2)


@pytest.mark.parametrize("pin", NON_ASCII_DIGITS + ["123", "123456789", "12a4", " 1234"])
def test_ocra_and_respond_refuse_pins_the_keypad_cannot_key(pin):
    for args in (["ocra", "--key", KEY, "--question", "123456", "--pin", pin],
                 ["respond", "socket://127.0.0.1:9", "--pin", pin, "--challenge", "123456"]):
        out = run_dsc(*args)
        assert "PIN" in one_line_error(out, 2) and pin not in out.stderr  # never echo a PIN


@pytest.mark.parametrize("digits", NON_ASCII_DIGITS)
def test_non_ascii_digits_are_refused_as_challenges_and_numbers(digits):
    checks = [
        ["ocra", "--key", KEY, "--question", digits + "56", "--pin", "1234"],
        ["ocra", "--key", KEY, "--suite", "OCRA-1:HOTP-SHA1-6:C-QN06", "--question", "123456", "--counter", digits],
        ["respond", "socket://127.0.0.1:9", "--challenge", digits + "56"],
        ["provision", "socket://127.0.0.1:9", "--key", KEY, "--pinlen", digits[:1]],
        ["provision", "socket://127.0.0.1:9", "--key", KEY, "--counter", digits],
        ["provision", "socket://127.0.0.1:9", "--key", KEY, "--idle-timeout", digits],
        ["info", "socket://127.0.0.1:9", "--timeout", digits],
    ]
    for args in checks:
        out = run_dsc(*args)
        assert out.stdout == "", args
        one_line_error(out)


def test_ocra_asks_for_a_pin_exactly_when_the_suite_has_one():
    assert "needs --pin" in one_line_error(run_dsc("ocra", "--key", KEY, "--question", "123456"), 1)
    out = run_dsc("ocra", "--key", KEY, "--suite", "OCRA-1:HOTP-SHA1-6:QN06", "--question", "123456", "--pin", "1234")
    assert "takes no PIN" in one_line_error(out, 1)
    assert run_dsc("ocra", "--key", KEY, "--question", "123456", "--pin", "1234").stdout == "90187643\n"


def test_provision_checks_serial_label_and_suite_locally_with_the_tokens_rules():
    for args, says in ((["--serial", "dsc1"], "serial"), (["--label", "x" * 17], "label"),
                       (["--suite", "OCRA-1:HOTP-SHA1-6:QA06"], "digits only"), (["--pinlen", "9"], "PIN length")):
        out = run_dsc("provision", "socket://127.0.0.1:9", "--key", KEY, *args)
        assert says in one_line_error(out, 2), args


# -- section 4: one implementation of each rule ----------------------------------------


def test_the_host_parses_suites_with_the_firmwares_parser():
    assert issubclass(ocra.Suite, dsc.ocra.Suite)
    assert ocra.DEFAULT_SUITE is dsc.ocra.DEFAULT_SUITE
    assert not hasattr(ocra, "_number") and "def _parse_inputs" not in open(ocra.__file__).read()


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.sampled_from(["OCRA-1:HOTP-SHA1-6:QN08", "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1",
                                  "OCRA-1:HOTP-SHA512-8:QN08-T1M", "OCRA-1:HOTP-SHA1-6:QH40-S064"]),
                 st.text(alphabet="OCRA-1:HOTPSHA2568QNHT0MPC", max_size=40)))
def test_host_and_firmware_accept_the_same_suites(text):
    def parse(cls):
        try:
            s = cls(text)
        except ValueError:
            return None
        return (s.digits, s.counter, s.question_format, s.question_length, s.pin_hash, s.session_length, s.time_step)

    assert parse(ocra.Suite) == parse(dsc.ocra.Suite)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEF xg\n", max_size=140))
def test_the_host_key_rule_is_the_tokens(text):
    def outcome(f, arg):
        try:
            return f(arg)
        except ValueError as e:
            return str(e)

    assert outcome(files.parse_hex_key, text) == outcome(dsc.config.key_from_hex, text.strip())


def test_the_rules_are_written_once():
    """The default suite, the quoting and the key and PIN limits live in the
    firmware core; the host modules import them."""
    host_dir = os.path.dirname(cli.__file__)
    for name in ("cli.py", "client.py", "ocra.py", "files.py", "pskc_io.py"):
        source = open(os.path.join(host_dir, name)).read()
        assert '"OCRA-1:HOTP-SHA256-8:QN06-PSHA1"' not in source, name
        assert "def quote" not in source and "def unquote" not in source, name
        assert "16, 64" not in source and "16 <= " not in source and "4 <= len(pin)" not in source, name


# -- section 4: a reply the client cannot read is one line, not a traceback ------------------


@pytest.mark.parametrize("value", ["%zz", "%4", "%", "%ff%fe", "%C3"])
def test_a_malformed_reply_value_is_a_host_error(value):
    from host.client import reply_value

    with pytest.raises(HostError) as e:
        reply_value(value)
    assert "\n" not in str(e.value)


def test_dsc_info_on_a_token_that_sends_a_bad_escape_prints_one_line(monkeypatch, capsys):
    class Port:
        timeout = 1

        def __init__(self):
            self.out = b""

        def write(self, data):
            if b"ping" in data:
                self.out += b"OK ping proto=1\n"
            elif data.startswith(b"info"):
                self.out += b"OK info label=%zz\n"

        def read_until(self, end=b"\n"):
            line, _, self.out = self.out.partition(b"\n")
            return line + b"\n"

        def close(self):
            pass

    monkeypatch.setattr("host.client.open_port", lambda port, timeout: Port())
    assert cli.main(["info", "fake"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dsc info: the token sent a malformed value") and err.count("\n") == 1


# -- section 2: what a new user meets ----------------------------------------------------


def test_dsc_has_a_version():
    out = run_dsc("--version")
    assert out.returncode == 0 and out.stdout.startswith("dsc (OpenDSC) ") and "protocol 1" in out.stdout


def test_every_option_of_the_token_tools_has_help_and_choices_are_listed():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in cli.TOKEN_COMMANDS:
        command = sub.choices[name]
        for action in command._actions:
            assert action.help, "dsc %s %s has no help" % (name, action.option_strings or action.dest)
            if action.choices:
                shown = command.format_help()
                assert all(str(c) in shown for c in action.choices), (name, action.dest)


def test_a_token_command_builds_only_its_own_parser():
    """How dsc info answers in well under 0.1 s (bench/bench_host.py measures it)."""
    code = ("import sys, host.cli as c; c.build_parser('info').parse_args(['info', 'x']);"
            "print(sorted(m for m in ('host.verifier.cli', 'simulator.cli', 'serial', 'dsc.config') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_provision_labels_the_key_check_value(tmp_path):
    sim = subprocess.Popen(DSC + ["sim", "--headless", "--link", "socket://127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    try:
        url = sim.stdout.readline().strip()
        out = run_dsc("provision", url, "--generate", "--key-out", str(tmp_path / "k.key"))
        assert out.returncode == 0, out.stderr
        key = bytes.fromhex((tmp_path / "k.key").read_text())
        with TokenClient(url) as client:
            assert out.stdout == "kcv: %s\n" % client.info()["kcv"]
        assert key.hex() not in out.stdout + out.stderr
    finally:
        sim.terminate()
        sim.wait()


def test_the_readme_puts_dsc_on_path_and_the_tour_stays_off_make_runs_port():
    readme = open(os.path.join(os.path.dirname(cli.__file__), "..", "README.md")).read()
    assert ". .venv/bin/activate" in readme and ".venv/bin/dsc" in readme
    tour = readme.split("## A tour of the host tools", 1)[1].split("## Layout", 1)[0]
    assert "127.0.0.1:7000" not in tour
    assert "--key-out .state/" in tour and "--stdin-keys" in tour
    # the tour erases its token only after the verifier section enrolled its key
    verifier = readme.split("## The verifier", 1)[1]
    assert "--key-file .state/alice.key" in verifier
    assert tour.index("dsc wipe") > tour.index("verifier below")
