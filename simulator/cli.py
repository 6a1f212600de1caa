"""`dsc sim`: run the simulated token and expose its serial link."""

import os
import signal
import sys
import threading

from simulator import RUNTIMES

DEFAULT_LINK = "socket://127.0.0.1:7000"
DEMO_SERIAL = "DEMO0001"
DEMO_LABEL = "Demo"
# What the token keeps in its flash folder (dsc.storage, dsc.storage.stored_id).
TOKEN_FILES = ("token.cfg", "token.cfg.tmp", "uid")


class Stop(BaseException):
    """SIGTERM, SIGINT or SIGHUP: unwind, restoring the terminal and removing a temporary state."""


def _factor(text):
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:  # also refuses nan and inf
        raise argparse.ArgumentTypeError("must be a number from 1 to 1000")
    return value


def add_arguments(parser):
    parser.add_argument("--runtime", choices=RUNTIMES, default="cpython",
                        help="run the firmware on CPython (the sim board) or on the real MicroPython unix port "
                             "(the unix board): one of %(choices)s (default %(default)s)")
    parser.add_argument("--link", default=DEFAULT_LINK, metavar="URL",
                        help="socket://HOST:PORT (port 0 picks a free one) or pty (default %(default)s)")
    parser.add_argument("--state", metavar="DIR",
                        help="keep the token's flash (its key) in DIR between runs, owner-only (0700, files 0600); "
                             "default: a temporary folder removed at exit")
    parser.add_argument("--headless", action="store_true", help="no terminal UI: for scripts and tests")
    parser.add_argument("--slow", type=_factor, default=1.0, metavar="FACTOR",
                        help="make each pass of the token's loop take FACTOR times as long (1-1000; --runtime cpython): "
                             "a token as slow as a real board, to test that tools wait for replies, not for a time")
    parser.add_argument("--no-clock", action="store_true",
                        help="a token without a real-time clock, like a Pico with no DS3231: it refuses time-based "
                             "(T) suites")
    parser.add_argument("--stdin-keys", action="store_true",
                        help="with --headless: stdin is the keypad, one key per character: 0-9, o = OK, c = C, "
                             "p = power, a = A (signing) (at a terminal Enter is OK too), so a person can confirm lock and wipe")
    parser.add_argument("--demo-key", metavar="FILE",
                        help="if the token is blank, provision it (serial %s, label %s) with the key in FILE, "
                             "or with a new random key written to FILE (mode 0600) when FILE does not exist"
                             % (DEMO_SERIAL, DEMO_LABEL))


def run(args):
    """Start the token and its link; print the link's URL first; run until stopped."""
    from simulator import runtime as runtimes

    temporary = args.state is None
    state = runtimes.fresh_state_dir() if temporary else prepare_state_dir(args.state)
    try:
        return _run(args, state)
    finally:
        if temporary:
            import shutil

            shutil.rmtree(state, ignore_errors=True)  # it held the token's key


def _run(args, state):
    from simulator import link as links
    from simulator import runtime as runtimes

    if args.stdin_keys and not args.headless:
        raise SystemExit("dsc sim: --stdin-keys goes with --headless (the terminal UI reads the keys itself)")
    stopped = threading.Event()

    def on_signal(signum, frame):
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # one is enough: let the clean-up run
        raise Stop()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        try:
            token = runtimes.make_runtime(args.runtime, state, clock=not args.no_clock, slow=args.slow)
        except ValueError as e:
            raise SystemExit("dsc sim: %s" % e)
        try:
            token.start()
        except RuntimeError as e:
            raise SystemExit("dsc sim: %s" % e)
        link = None
        try:
            if args.demo_key:
                provision_demo(token, args.demo_key)
            try:
                link = links.open_link(args.link, token)
            except OSError as e:
                raise SystemExit("dsc sim: cannot open link %s: %s" % (args.link, e.strerror or e))
            except ValueError as e:
                raise SystemExit("dsc sim: %s" % e)
            token.on_exit.append(stopped.set)
            print(link.url, flush=True)
            if not args.headless and sys.stdin.isatty() and sys.stdout.isatty():
                from simulator import tui

                tui.run(token, link.url, stopped)
            else:
                keys = StdinKeys(token) if args.stdin_keys else None
                try:
                    while not stopped.wait(0.5):
                        pass
                finally:
                    if keys is not None:
                        keys.close()
        finally:
            token.stop()
            if link is not None:
                link.close()
    except Stop:
        return 0
    if token.exit_reason:
        sys.stderr.write("dsc sim: the token stopped: %s\n" % token.exit_reason)
        return 1
    return 0


def prepare_state_dir(path):
    """The --state folder, made owner-only: created 0700; the token's files 0600.
    SystemExit with one line if it cannot be the token's flash."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise SystemExit("dsc sim: --state %s is not a folder" % path)
    try:
        if not os.path.isdir(path):
            os.makedirs(path, mode=0o700)
        names = os.listdir(path)
        if all(n in TOKEN_FILES for n in names):  # the token's own folder: tighten it
            os.chmod(path, 0o700)
        elif os.stat(path).st_mode & 0o077:
            sys.stderr.write("dsc sim: warning: %s is open to other users; the token's key file in it is not\n" % path)
        for name in TOKEN_FILES:
            if name in names:
                os.chmod(os.path.join(path, name), 0o600)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as e:
        raise SystemExit("dsc sim: cannot keep the token's flash in %s: %s" % (path, e.strerror or e))
    return path


def provision_demo(token, key_file):
    """Provision a blank token with the demo key, as `dsc provision` would over
    the link (a blank token needs no OK press). A provisioned token is left alone."""
    from dsc.quoting import quote

    def ask(line):
        replies = bytearray()
        got = threading.Event()

        def collect(data):
            replies.extend(data)
            if b"\n" in replies:
                got.set()

        token.on_serial = collect
        try:
            token.serial_in(line.encode() + b"\n")
            if not got.wait(10):
                raise SystemExit("dsc sim: the token did not answer %s" % line.split()[0])
        finally:
            token.on_serial = None
        return bytes(replies).split(b"\n")[0].decode(errors="replace")

    if " state=blank" not in ask("info"):
        return
    key = _demo_key(key_file)
    reply = ask("provision key=%s serial=%s label=%s" % (key.hex(), DEMO_SERIAL, quote(DEMO_LABEL)))
    if not reply.startswith("OK provision"):
        raise SystemExit("dsc sim: the token refused the demo key: %s" % " ".join(reply.split()[2:]))
    sys.stderr.write("dsc sim: provisioned the blank token with the demo key in %s (serial %s)\n" % (key_file, DEMO_SERIAL))


def _demo_key(path):
    from host.files import create_private, read_key_file

    if os.path.exists(path):
        try:
            return read_key_file(path)
        except ValueError as e:
            raise SystemExit("dsc sim: %s" % e)
    import secrets

    key = secrets.token_bytes(32)
    try:
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, mode=0o700, exist_ok=True)
        with create_private(path) as f:
            f.write(key.hex() + "\n")
    except OSError as e:
        raise SystemExit("dsc sim: cannot write the demo key to %s: %s" % (path, e.strerror or e))
    return key


STDIN_KEYS = {"o": "OK", "O": "OK", "c": "C", "C": "C", "p": "PWR", "P": "PWR", "a": "F1", "A": "F1"}


def stdin_key(ch, terminal):
    """The key for one character read from stdin, or None: 0-9, o, c, p, a (A, signing); Enter
    is OK at a terminal only (`echo o` from a script must press OK once)."""
    if ch in "0123456789" and len(ch) == 1:
        return ch
    if terminal and ch in ("\r", "\n"):
        return "OK"
    return STDIN_KEYS.get(ch)


class StdinKeys:
    """stdin as the token's keypad, read in a thread until stdin ends (the token
    keeps running then). At a terminal each key acts at once (cbreak mode, restored
    by close())."""

    def __init__(self, token):
        self.token = token
        self.fd = sys.stdin.fileno()
        self.terminal = os.isatty(self.fd)
        self._saved = None
        if self.terminal:
            import termios
            import tty

            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd, termios.TCSANOW)  # no Enter needed, typed-ahead keys kept; Ctrl-C still stops dsc sim
        threading.Thread(target=self._read, name="stdin-keys", daemon=True).start()

    def _read(self):
        try:
            while True:
                data = os.read(self.fd, 64)
                if not data:
                    return
                for ch in data.decode("ascii", errors="ignore"):
                    key = stdin_key(ch, self.terminal)
                    if key:
                        self.token.press(key)
        except OSError:
            return

    def close(self):
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None
