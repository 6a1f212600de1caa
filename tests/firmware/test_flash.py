"""`make flash` installs a bundle with mpremote: tried here against the unix
port's REPL on a pty, whose files are a folder on this machine."""

import os
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class ReplOnPty:
    """The unix port's REPL reachable as /dev/pts/N, like a board's USB port."""

    def __init__(self, cwd):
        board_side, self._board_tty = os.openpty()
        self._host_side, host_tty = os.openpty()
        for fd in (self._board_tty, host_tty, self._host_side):
            tty.setraw(fd)  # plain bytes both ways, as over USB CDC
        self.port = os.ttyname(host_tty)
        self._keep = host_tty
        self.proc = subprocess.Popen([str(BIN / "micropython")], stdin=self._board_tty, stdout=self._board_tty,
                                     stderr=self._board_tty, cwd=str(cwd), start_new_session=True)
        for a, b in ((board_side, self._host_side), (self._host_side, board_side)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        while True:
            try:
                data = os.read(src, 4096)
                os.write(dst, data)
            except OSError:
                return
            if not data:
                return

    def close(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def board(tmp_path):
    if not (BIN / "mpremote").exists():
        pytest.skip("no mpremote next to this Python: run make setup")
    device = tmp_path / "device"
    device.mkdir()
    repl = ReplOnPty(device)
    yield device, repl.port
    repl.close()


def flash(port, bundle):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "flash.py"), port, str(bundle), "--resume"],
                          capture_output=True, text=True, timeout=120)


def test_flashing_release_over_debug_leaves_no_debug_link_and_keeps_the_state(board, tmp_path):
    device, port = board
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_firmware.py"), "build", "--out", str(tmp_path / "b")],
                   check=True, capture_output=True)
    (device / "state").mkdir()
    (device / "state" / "token.cfg").write_text("the token's flash\n")
    first = flash(port, tmp_path / "b" / "debug")
    assert first.returncode == 0, first.stderr
    assert (device / "dsc" / "debuglink.mpy").exists()
    second = flash(port, tmp_path / "b" / "release")
    assert second.returncode == 0, second.stderr
    assert "installed" in second.stdout
    release = tmp_path / "b" / "release"
    for path in release.rglob("*"):
        if path.is_file():
            assert (device / path.relative_to(release)).read_bytes() == path.read_bytes()
    assert not (device / "dsc" / "debuglink.mpy").exists(), "the debug link must not survive a release install"
    assert (device / "state" / "token.cfg").read_text() == "the token's flash\n"


def test_a_board_restarts_into_the_new_firmware_even_with_resume(board, tmp_path):
    """After maintenance mode a Pico sits at a bare REPL: --resume (no soft reset on
    connect) must still end with a reset, or the new firmware never starts."""
    device, port = board
    (device / "machine.py").write_text("def reset():\n    open('reset-called', 'w').write('yes')\n")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "main.py").write_text("print('token')\n")
    done = flash(port, bundle)
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 10
    while not (device / "reset-called").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (device / "reset-called").exists(), "the board was left at the REPL"
    assert (device / "main.py").read_text() == "print('token')\n"


def test_flash_errors_are_one_line(tmp_path):
    out = subprocess.run(["make", "-s", "flash"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode != 0 and "PORT=" in out.stderr
    bogus = flash("/dev/does-not-exist", ROOT / "firmware")
    assert bogus.returncode != 0 and bogus.stderr.count("\n") == 1 and "Traceback" not in bogus.stderr
