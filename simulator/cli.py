"""`dsc sim`: run the simulated token and expose its serial link."""

import signal
import sys
import threading

from simulator import link as links
from simulator import runtime as runtimes

DEFAULT_LINK = "socket://127.0.0.1:7000"


def add_arguments(parser):
    parser.add_argument("--runtime", choices=runtimes.RUNTIMES, default="cpython",
                        help="run the firmware on CPython (sim board) or on the real MicroPython (unix board)")
    parser.add_argument("--link", default=DEFAULT_LINK,
                        help="socket://HOST:PORT (port 0 picks a free one) or pty (default %(default)s)")
    parser.add_argument("--state", metavar="DIR", help="keep the token's flash here between runs (default: a fresh temp dir)")
    parser.add_argument("--headless", action="store_true", help="no terminal UI: for scripts and tests")


def run(args):
    """Start the token and its link; print the link's URL first; run until stopped."""
    state = args.state or runtimes.fresh_state_dir()
    token = runtimes.make_runtime(args.runtime, state)
    try:
        link = links.open_link(args.link, token)
    except OSError as e:
        raise SystemExit("dsc sim: cannot open link %s: %s" % (args.link, e.strerror or e))
    except ValueError as e:
        raise SystemExit("dsc sim: %s" % e)
    try:
        token.start()
    except RuntimeError as e:
        link.close()
        raise SystemExit("dsc sim: %s" % e)
    print(link.url, flush=True)
    stopped = threading.Event()
    token.on_exit.append(stopped.set)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        if not args.headless and sys.stdin.isatty() and sys.stdout.isatty():
            from simulator import tui

            tui.run(token, link.url)
        else:
            while not stopped.wait(0.5):
                pass
    finally:
        token.stop()
        link.close()
    return 0


