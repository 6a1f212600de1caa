"""The simulator as a person and a host tool see it: the terminal UI, the pty
link, and the two runtimes behaving the same."""

import os
import select
import subprocess
import sys
import time

import pytest

from host.client import TokenClient
from simulator import runtime as runtimes
from simulator.tui import OFF_HINT, ON_HINT, hints, key_for, render_token
from tests.ocra_reference import ocra
from tests.simulator.pty_screen import at_a_terminal, read_until

DSC = [sys.executable, "-m", "host.cli"]


def test_the_drawing_shows_both_display_lines_and_every_key():
    drawing = "\n".join(render_token(("CHALLNG>", "123456")))
    assert "CHALLNG>" in drawing and "123456" in drawing
    for key in "0123456789":
        assert "[" + key in drawing
    assert "OK" in drawing and "PWR" in drawing
    widths = {len(line) for line in render_token(("12345678", "90"))}
    assert len(widths) == 1, "the case's right edge is straight"


def test_keyboard_keys_map_to_keypad_keys():
    assert [key_for(c) for c in "0123456789"] == list("0123456789")
    assert key_for("\r") == "OK" and key_for("\x7f") == "C" and key_for("p") == "PWR"
    assert key_for("x") is None
    assert key_for("a") == key_for("A") == "F1", "the keypad's A, which starts signing"
    assert "[A" in "\n".join(render_token(("PIN>", ""))) and "a=A" in hints(("PIN>", ""))[0]


@pytest.mark.parametrize("rt", runtimes.RUNTIMES)
def test_a_person_at_the_terminal_keys_pin_and_challenge(rt, tmp_path):
    """The terminal UI: p powers on, digits and Enter key PIN and challenge."""
    with at_a_terminal(DSC + ["sim", "--runtime", rt, "--link", "socket://127.0.0.1:0", "--state", str(tmp_path)]) as (master, proc):
        first = read_until(master, "\n")
        url = first.strip().splitlines()[0]
        with TokenClient(url) as client:
            key = os.urandom(20)
            client.provision(key)
        os.write(master, b"p")
        read_until(master, "PIN>")
        os.write(master, b"1234\r")
        read_until(master, "CHALLNG>")
        os.write(master, b"654321\r")
        read_until(master, ocra("OCRA-1:HOTP-SHA256-8:QN06-PSHA1", key, "654321", pin="1234"))
        os.write(master, b"q")
        assert proc.wait(10) == 0


@pytest.mark.parametrize("rt", runtimes.RUNTIMES)
def test_a_key_typed_before_the_screen_is_up_is_kept(rt, tmp_path):
    """A person who presses p while dsc sim is still starting sees the token come on
    (switching the terminal to single keys used to discard what was typed ahead)."""
    with at_a_terminal(DSC + ["sim", "--runtime", rt, "--link", "socket://127.0.0.1:0", "--state", str(tmp_path)]) as (master, proc):
        os.write(master, b"p")
        read_until(master, "NO KEY")  # a blank token, on
        os.write(master, b"q")
        assert proc.wait(10) == 0


def screen_showing(master, wanted, timeout=10):
    """The first whole screen the terminal UI draws from now on for which wanted(screen) is
    true; fails with the last screen after `timeout` seconds."""
    seen, last = "", ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            seen += os.read(master, 4096).decode(errors="replace")
        for screen in seen.split("\x1b[2J")[1:]:
            if OFF_HINT in screen or ON_HINT in screen:  # its last line: drawn whole
                last = screen
                if wanted(screen):
                    return screen
        seen = seen[seen.rfind("\x1b[2J"):] if "\x1b[2J" in seen else seen
    raise AssertionError("the terminal never showed it; last screen:\n%s" % last)


def pin_entry(screen):
    """The display's second line under PIN>."""
    return screen.split("PIN>", 1)[1].split("\n", 2)[1].strip("│ \r")


def test_the_terminal_says_when_the_token_is_off_and_that_p_turns_it_on(tmp_path):
    """Digits typed at an off token do nothing, as on a real one: the screen says why.
    p turns it on; pressed again it starts over at PIN>, it never turns the token off."""
    with at_a_terminal(DSC + ["sim", "--link", "socket://127.0.0.1:0", "--state", str(tmp_path)]) as (master, proc):
        url = read_until(master, OFF_HINT).strip().splitlines()[0]  # the link, then the off token
        with TokenClient(url) as client:
            client.provision(os.urandom(20))
        os.write(master, b"12p")
        on = screen_showing(master, lambda screen: "PIN>" in screen)
        assert ON_HINT in on and pin_entry(on) == "", "digits typed while the token was off were kept"
        os.write(master, b"3")
        screen_showing(master, lambda screen: "PIN>" in screen and pin_entry(screen) == "*")
        os.write(master, b"p")
        again = screen_showing(master, lambda screen: "PIN>" not in screen or pin_entry(screen) != "*")
        assert "PIN>" in again and pin_entry(again) == "" and ON_HINT in again, "p turned the token off"
        os.write(master, b"q")
        assert proc.wait(10) == 0


def test_the_link_can_be_a_pty(tmp_path):
    proc = subprocess.Popen(DSC + ["sim", "--headless", "--link", "pty", "--state", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/")
        with TokenClient(path) as client:
            assert client.info()["state"] == "blank"
            key = os.urandom(32)
            client.provision(key)
            assert client.respond("2468", "135790") == ocra("OCRA-1:HOTP-SHA256-8:QN06-PSHA1", key, "135790", pin="2468")
    finally:
        proc.terminate()
        proc.wait(5)


def test_both_runtimes_show_the_same_screens_for_the_same_keys(tmp_path):
    script = ["PWR", "1", "2", "C", "2", "3", "4", "OK", "9", "OK", "1", "2", "3", "4", "5", "6", "7", "OK", "OK", "PWR"]
    # and a signature, with every signing screen (issue 19): A, the PIN, the challenge, a short one
    # refused (C leaves its message), a 12-digit amount over both lines, a cleared destination, then the power key
    script += ["F1", "1", "2", "3", "4", "OK", "1", "2", "OK", "C", "1", "2", "3", "4", "5", "6", "OK"] + list("123456789012") + \
        ["OK", "9", "C", "4", "3", "2", "1", "OK", "OK", "PWR"]
    screens = {}
    for name in runtimes.RUNTIMES:
        token = runtimes.make_runtime(name, tmp_path / name)
        seen = []
        token.on_display.append(lambda a, b: seen.append((a, b)))
        token.start()
        try:
            sent = []
            token.on_serial = sent.append
            token.serial_in(b"provision key=" + b"31" * 32 + b" serial=SAME0001\n")
            _wait(lambda: b"".join(sent).endswith(b"\n"))
            for k in script:
                token.press(k)
                time.sleep(0.02)
            _wait(lambda: seen and seen[-1] == ("PIN>", "") and ("AMT>1234", "56789012") in seen
                  and seen[-2][0] == "CHALLNG>")  # the last PWR starts over
        finally:
            token.stop()
        screens[name] = seen
    assert screens["cpython"] == screens["micropython"]
    assert ("CHAL LEN", "6 DIGITS") in screens["cpython"]
    key = bytes.fromhex("31" * 32)
    signed = ocra("OCRA-1:HOTP-SHA256-8:QA26-PSHA1", key, "123456" + "123456789012" + "00004321", pin="1234")
    assert ("SIGN PIN", "****") in screens["cpython"] and ("DEST>", "") in screens["cpython"]
    assert ("SIGNED", signed) in screens["cpython"]


def _wait(cond, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)
