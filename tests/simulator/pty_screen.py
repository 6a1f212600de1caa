"""Reading the simulator's terminal UI from a pty, for tests that drive it like a person."""

import os
import select
import time


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
