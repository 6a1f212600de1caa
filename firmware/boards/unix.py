"""MicroPython unix-port board: the simulator (`dsc sim --runtime micropython`)
drives it over stdin/stdout with one message per line.

    simulator -> board   K <key>      a key press
                         S <hex>      bytes arriving on the serial link (at most CHUNK)
                         R            a new client is on the link (a USB re-plug)
                         Q            power cut: exit at once
    board -> simulator   READY        booted, the loop is running
                         D <l1> <l2>  the display changed (percent-encoded lines)
                         S <hex>      bytes the token sends on the link
"""

import binascii
import os
import select
import sys
import time

from dsc.quoting import quote
from dsc.storage import DirFS, stored_id

CHUNK = 512  # the most bytes one S message carries (the simulator splits larger writes)
MESSAGE_MAX = 2 * CHUNK + 16  # the longest message line read from the simulator
RX_MAX = 4 * CHUNK  # received bytes held for the token; beyond this stdin waits (flow control)
KEYS_MAX = 64  # key presses held, likewise


class Board:
    def __init__(self, state_dir, clock=True):
        """clock=False (--no-clock): a token with no real-time clock."""
        try:
            os.mkdir(state_dir)
        except OSError:
            pass  # already there
        self.fs = DirFS(state_dir)
        self._start = time.ticks_ms()
        self._has_clock = clock
        self._clock_offset = 0  # set_clock moves this token's time, not the computer's
        self._keys = []
        self._rx = b""
        self._reset = False  # a new client connected; its bytes wait until the token knows
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)

    def ticks_ms(self):
        return time.ticks_diff(time.ticks_ms(), self._start)

    def clock(self):
        return "host" if self._has_clock else "none"

    def epoch(self):
        if not self._has_clock:
            return None
        return int(time.time()) + self._clock_offset

    def set_clock(self, epoch):
        if not self._has_clock:
            raise OSError("no real-time clock")
        self._clock_offset += epoch - self.epoch()

    def read_key(self):
        self._pump(0)
        return self._keys.pop(0) if self._keys else None

    def show(self, line1, line2):
        self._send(b"D " + quote(line1).encode() + b" " + quote(line2).encode())

    def serial_read(self):
        self._pump(0)
        if self._reset:
            return b""  # the new client's bytes come after serial_reset() said so
        data = self._rx
        self._rx = b""
        return data

    def serial_reset(self):
        self._pump(0)
        reset = self._reset
        self._reset = False
        return reset

    def serial_write(self, data):
        self._send(b"S " + binascii.hexlify(data))

    def random(self, n):
        return os.urandom(n)

    def unique_id(self):
        return stored_id(self.fs, self.random)

    def idle(self, ms):
        if not self._keys and not self._rx and not self._reset:
            self._pump(ms)

    def ready(self):
        self._send(b"READY")

    def _send(self, line):
        self._out.write(line + b"\n")
        self._out.flush()

    def _pump(self, ms):
        """Read the messages waiting on stdin (waiting up to `ms` for the first),
        until RX_MAX received bytes or KEYS_MAX keys are held: the rest stays in
        the pipe, so however much arrives, memory use is bounded."""
        while len(self._rx) < RX_MAX and len(self._keys) < KEYS_MAX and self._poll.poll(ms):
            ms = 0
            line = self._in.readline(MESSAGE_MAX)
            if not line or line[:1] == b"Q":
                sys.exit(0)  # the simulator went away or cut the power
            kind = line[:1]
            body = line[2:].strip()
            if kind == b"K":
                self._keys.append(body.decode())
            elif kind == b"S":
                try:
                    self._rx += binascii.unhexlify(body)
                except ValueError:
                    pass  # the simulator only sends hex; ignore a damaged message
            elif kind == b"R":
                self._rx = b""
                self._reset = True
