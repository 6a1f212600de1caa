"""Issue 7 against `dsc sim` as people and scripts run it: leftover bytes from the
last client, a megabyte without a newline, a token that dies, state folders and
their permissions, signals, non-ASCII keys, stdin as the keypad, make run's demo key."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.client import TokenClient
from tests.ocra_reference import ocra
from tests.simulator.pty_screen import at_a_terminal, read_until

DSC = [sys.executable, "-m", "host.cli"]
RUNTIMES = ("cpython", "micropython")
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"


class Sim:
    """`dsc sim --headless` in a child process; .url once it listens."""

    def __init__(self, *args, env=None, stdin=subprocess.DEVNULL):
        self.proc = subprocess.Popen(DSC + ["sim", "--headless", "--link", "socket://127.0.0.1:0"] + list(args),
                                     stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.url = self.proc.stdout.readline().decode().strip()
        if not self.url.startswith("socket://"):
            self.proc.kill()
            raise AssertionError("dsc sim did not start: " + self.proc.stderr.read().decode())
        self.port = int(self.url.rpartition(":")[2])

    def raw(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return code, self.proc.stderr.read().decode()


@pytest.fixture
def sims():
    started = []

    def start(*args, **kw):
        sim = Sim(*args, **kw)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        if sim.proc.poll() is None:
            sim.proc.kill()
            sim.proc.wait()


def read_lines(sock, count, timeout=30):
    sock.settimeout(timeout)
    data = b""
    while data.count(b"\n") < count:
        chunk = sock.recv(4096)
        assert chunk, "the link closed after %r" % data
        data += chunk
    return data.decode().splitlines()


# -- 5. leftover bytes ----------------------------------------------------------------


@pytest.mark.parametrize("rt", RUNTIMES)
def test_a_wipe_left_without_newline_is_never_run_by_the_next_client(rt, sims, tmp_path):
    sim = sims("--runtime", rt, "--state", str(tmp_path / "flash"))
    with TokenClient(sim.url) as client:
        client.provision(os.urandom(32))
    s = sim.raw()
    s.sendall(b"wipe")
    s.close()
    out = subprocess.run(DSC + ["info", sim.url], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "state: provisioned" in out.stdout
    with TokenClient(sim.url) as client:
        assert client.display()[:2] != ("WIPE?", "OK=YES") and client.ui_state() != "confirm"
    # a plain client that starts with a newline (as dsc once did) does not complete it either
    s = sim.raw()
    s.sendall(b"wipe")
    s.close()
    s = sim.raw()
    s.sendall(b"\nstate\n")
    assert read_lines(s, 1) == ["OK state ui=off entered=0 signing=0"]
    s.close()


def test_the_client_makes_a_leftover_harmless_where_the_token_cannot_see_a_new_client(tmp_path):
    """Over a pty (or USB without DTR) nothing tells the token; dsc's first bytes
    cancel the leftover instead of completing it."""
    from host import client as client_module

    assert client_module.CANCEL == b"\x18\n"
    from boards.sim import SimBoard
    from dsc.token import Token

    board = SimBoard(str(tmp_path), manual_clock=True)
    token = Token(board, debug=False)
    token.receive(b"provision key=" + b"ab" * 32 + b"\n")
    token.receive(b"wipe")  # left over; no connect() reaches this token
    token.receive(client_module.CANCEL + b"ping\n")
    replies = board.take_sent().decode().splitlines()
    assert replies[1:] == ["ERR - bad-request line has a non-printable byte", "OK ping proto=1"]
    assert token.config.state == "provisioned" and token.ui.state == "off"


# -- 6. bounded buffers, and a token that dies ------------------------------------------


@pytest.mark.parametrize("rt", RUNTIMES)
def test_a_megabyte_without_a_newline_gets_an_error_and_the_token_lives_on(rt, sims, tmp_path):
    sim = sims("--runtime", rt)
    s = sim.raw()
    s.sendall(b"x" * (1 << 20))
    s.sendall(b"\nping\n")
    assert read_lines(s, 2, timeout=60) == ["ERR - too-long line exceeds 256 bytes", "OK ping proto=1"]
    s.close()
    assert sim.proc.poll() is None
    code, err = sim.stop()
    assert code == 0 and err == ""


def test_the_simulator_says_when_its_micropython_token_dies(sims):
    sim = sims("--runtime", "micropython")
    child = None
    deadline = time.monotonic() + 10
    while child is None and time.monotonic() < deadline:
        out = subprocess.run(["pgrep", "-P", str(sim.proc.pid)], capture_output=True, text=True)
        child = int(out.stdout.split()[0]) if out.stdout.split() else None
    assert child, "no micropython child"
    os.kill(child, signal.SIGKILL)
    code = sim.proc.wait(15)
    err = sim.proc.stderr.read().decode()
    assert code != 0
    assert err.strip().splitlines() == ["dsc sim: the token stopped: micropython exited with status -9"]


# -- 8. state folders -------------------------------------------------------------------


@pytest.mark.parametrize("rt", RUNTIMES)
def test_the_state_folder_and_its_key_file_are_owner_only(rt, sims, tmp_path):
    state = tmp_path / "new" / "flash"
    sim = sims("--runtime", rt, "--state", str(state))
    with TokenClient(sim.url) as client:
        client.provision(os.urandom(32))
    assert sim.stop()[0] == 0
    assert state.stat().st_mode & 0o777 == 0o700
    assert sorted(os.listdir(state)) == ["token.cfg", "uid"]
    for name in os.listdir(state):
        assert (state / name).stat().st_mode & 0o777 == 0o600, name


def test_an_existing_state_folder_with_open_files_is_tightened(sims, tmp_path):
    state = tmp_path / "flash"
    state.mkdir(mode=0o755)
    (state / "uid").write_bytes(b"12345678")
    os.chmod(state / "uid", 0o644)
    os.chmod(state, 0o755)
    sims("--state", str(state)).stop()
    assert state.stat().st_mode & 0o777 == 0o700 and (state / "uid").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("bad, says", [("/etc/passwd", "is not a folder"), ("/proc/version/x", "")])
def test_a_state_that_cannot_be_a_folder_is_one_line_and_a_nonzero_exit(bad, says):
    out = subprocess.run(DSC + ["sim", "--headless", "--link", "socket://127.0.0.1:0", "--state", bad],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dsc sim: ") and says in lines[0], out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("args, says", [(["--slow", "0.5"], "from 1 to 1000"), (["--slow", "nan"], "from 1 to 1000"),
                                        (["--slow", "10", "--runtime", "micropython"], "--runtime cpython")])
def test_a_bad_slow_factor_is_one_line_and_a_nonzero_exit(args, says):
    out = subprocess.run(DSC + ["sim", "--headless", "--link", "socket://127.0.0.1:0"] + args,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert lines and says in lines[-1] and "Traceback" not in out.stderr, out.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
@pytest.mark.parametrize("rt", RUNTIMES)
def test_a_temporary_state_with_the_key_is_removed_at_exit(rt, sig, sims, tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    sim = sims("--runtime", rt, env=env)
    with TokenClient(sim.url) as client:
        client.provision(os.urandom(32))
    made = [p for p in os.listdir(tmp_path) if p.startswith("dsc-token-")]
    assert len(made) == 1 and os.path.exists(tmp_path / made[0] / "token.cfg")
    code, err = sim.stop(sig)
    assert code == 0, err
    assert not [p for p in os.listdir(tmp_path) if p.startswith("dsc-token-")]


# -- 7. the terminal UI and non-ASCII keys ---------------------------------------------------


def test_non_ascii_keys_are_ignored_not_taken_for_quit():
    from simulator.tui import keys_for

    for text in ("é", "£", "²", "٣", "€", "ü"):
        assert keys_for(text.encode()) == [], text
    for byte in range(0x80, 0x100):
        assert keys_for(bytes([byte])) == []
    assert keys_for(b"\x1b[C") == []  # an arrow key is not C
    assert keys_for("1é2".encode()) == ["1", "2"]
    assert keys_for(b"q") == ["quit"] and keys_for(b"p\r") == ["PWR", "OK"]


def test_the_terminal_ui_keeps_running_after_non_ascii_keys(tmp_path):
    with at_a_terminal(DSC + ["sim", "--link", "socket://127.0.0.1:0", "--state", str(tmp_path)]) as (master, proc):
        read_until(master, "link: socket://", timeout=15)
        os.write(master, "é£".encode())
        os.write(master, b"p")
        assert "NO KEY" in read_until(master, "NO KEY", timeout=15)  # still running: the keys after é and £ work
        assert proc.poll() is None
        os.write(master, b"q")
        assert proc.wait(10) == 0


# -- section 2: stdin as the keypad, the display after provisioning, make run's demo key ------


def test_stdin_keys_are_one_key_per_character():
    from simulator.cli import stdin_key

    assert [stdin_key(c, False) for c in "0123456789"] == list("0123456789")
    assert stdin_key("o", False) == stdin_key("O", True) == "OK"
    assert stdin_key("c", False) == "C" and stdin_key("p", False) == "PWR"
    assert stdin_key("\n", False) is None and stdin_key("\n", True) == "OK"
    assert stdin_key("٣", True) is None and stdin_key("x", True) is None


@pytest.mark.parametrize("rt", RUNTIMES)
def test_a_person_confirms_wipe_on_a_headless_token_through_stdin(rt, sims):
    """The link serves one client at a time: while the host tool waits for OK, only
    the keypad (here stdin) can answer."""
    sim = sims("--runtime", rt, "--stdin-keys", stdin=subprocess.PIPE)

    def press_ok():
        sim.proc.stdin.write(b"o\n")  # from a script the newline is not a second OK
        sim.proc.stdin.flush()

    with TokenClient(sim.url) as client:
        client.provision(os.urandom(32))
        client.wipe(on_wait=press_ok)
        assert client.info()["state"] == "blank"
        assert client.ui_state() == "off"
    sim.proc.stdin.close()  # end of stdin: the token keeps running
    time.sleep(0.3)
    assert sim.proc.poll() is None


@pytest.mark.parametrize("rt", RUNTIMES)
def test_after_provisioning_the_display_leaves_no_key(rt, sims):
    sim = sims("--runtime", rt)
    with TokenClient(sim.url) as client:
        client.press("PWR")
        assert client.display()[0] == "NO KEY"
        client.provision(os.urandom(32))
        assert client.display()[:2] == ("PIN>", "")


@pytest.mark.parametrize("rt", RUNTIMES)
def test_make_run_keeps_its_token_and_provisions_a_demo_key_once(rt, sims, tmp_path):
    state, key_file = tmp_path / ".state" / "token", tmp_path / ".state" / "demo.key"
    sim = sims("--runtime", rt, "--state", str(state), "--demo-key", str(key_file))
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = bytes.fromhex(key_file.read_text())
    with TokenClient(sim.url) as client:
        assert client.info()["serial"] == "DEMO0001"
        client.press("PWR")
        assert client.display()[0] == "PIN>"
        assert client.respond("1234", "123456") == ocra(SUITE, key, "123456", pin="1234")
    code, err = sim.stop()
    assert code == 0 and "demo key" in err and key.hex() not in err
    again = sims("--runtime", rt, "--state", str(state), "--demo-key", str(key_file))
    with TokenClient(again.url) as client:
        assert client.respond("1234", "654321") == ocra(SUITE, key, "654321", pin="1234")
    code, err = again.stop()
    assert code == 0 and err == ""  # a provisioned token is left alone
    assert key_file.read_text() == key.hex() + "\n"


def test_make_run_uses_a_persistent_state_and_the_demo_key():
    makefile = open(os.path.join(os.path.dirname(__file__), "..", "..", "Makefile")).read()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "dsc demo --state .state" in run  # the whole system; tests/test_demo.py checks its layout
    ignored = open(os.path.join(os.path.dirname(__file__), "..", "..", ".gitignore")).read().split()
    assert "/.state/" in ignored and "*.key" in ignored


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=16))
def test_whatever_the_keyboard_sends_the_ui_gets_keys_or_quit_only(data):
    from simulator.tui import QUIT, keys_for

    keys = keys_for(data)
    assert all(k in ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "OK", "C", "PWR", "F1", QUIT) for k in keys)
    assert QUIT not in keys[:-1]
    if QUIT in keys:
        assert any(b in data for b in b"qQ\x03")
