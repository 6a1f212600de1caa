"""Reading the simulator's terminal UI from a pty, for tests that drive it like a person."""

import contextlib
import os
import pty
import select
import subprocess
import time


@contextlib.contextmanager
def at_a_terminal(argv):
    """`argv` run on a new pty, as a person at a terminal would: yields (the pty's
    master fd, the process), and kills the process if it is still running at the end."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    try:
        yield master, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def read_until(fd, text, timeout=10):
    """The output read from `fd` until `text` appears; fails after `timeout` seconds."""
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        assert time.monotonic() < deadline, "screen never showed %r; last output %r" % (text, seen[-400:])
        if select.select([fd], [], [], 0.2)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return seen.decode(errors="replace")
