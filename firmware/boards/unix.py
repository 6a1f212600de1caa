"""MicroPython unix-port board: the simulator (`dsc sim --runtime micropython`)
drives it over stdin/stdout with one message per line.

    simulator -> board   K <key>      a key press
                         S <hex>      bytes arriving on the serial link
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

from dsc.protocol import quote
from dsc.storage import DirFS, stored_id


class Board:
    def __init__(self, state_dir):
        try:
            os.mkdir(state_dir)
        except OSError:
            pass  # already there
        self.fs = DirFS(state_dir)
        self._start = time.ticks_ms()
        self._keys = []
        self._rx = b""
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)

    def ticks_ms(self):
        return time.ticks_diff(time.ticks_ms(), self._start)

    def epoch(self):
        return int(time.time())

    def read_key(self):
        self._pump(0)
        return self._keys.pop(0) if self._keys else None

    def show(self, line1, line2):
        self._send(b"D " + quote(line1).encode() + b" " + quote(line2).encode())

    def serial_read(self):
        self._pump(0)
        data = self._rx
        self._rx = b""
        return data

    def serial_write(self, data):
        self._send(b"S " + binascii.hexlify(data))

    def random(self, n):
        return os.urandom(n)

    def unique_id(self):
        return stored_id(self.fs, self.random)

    def idle(self, ms):
        if not self._keys and not self._rx:
            self._pump(ms)

    def ready(self):
        self._send(b"READY")

    def _send(self, line):
        self._out.write(line + b"\n")
        self._out.flush()

    def _pump(self, ms):
        """Read every message waiting on stdin (waiting up to `ms` for the first)."""
        while self._poll.poll(ms):
            ms = 0
            line = self._in.readline()
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
