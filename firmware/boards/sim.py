"""CPython board for the simulator and tests: a virtual keypad, display and link.

Other threads feed keys and serial bytes in with press() and feed(), and say
when a new client is on the link with connect(); the token's loop reads them
through the board interface. With manual_clock=True time moves
only when a test calls advance(), so tests are deterministic.
"""

import os
import secrets
import tempfile
import threading
import time

from dsc.storage import DirFS, stored_id


class SimBoard:
    def __init__(self, state_dir=None, manual_clock=False, on_display=None, on_serial=None, clock=True):
        """clock=False: a token with no real-time clock (a Pico without its DS3231)."""
        if state_dir is None:
            state_dir = tempfile.mkdtemp(prefix="dsc-token-")
        os.makedirs(state_dir, exist_ok=True)
        self.state_dir = state_dir
        self.fs = DirFS(state_dir)
        self.lines = ("", "")
        self.sent = bytearray()
        self.on_display = on_display
        self.on_serial = on_serial
        self._manual = manual_clock
        self._now = 0
        self._epoch = 1_700_000_000
        self._has_clock = clock
        self._clock_offset = 0  # set_clock moves this token's time, not the computer's
        self._start = time.monotonic()
        self._keys = []
        self._rx = bytearray()
        self._reset = False  # a new client connected; its bytes wait until the token knows
        self._wake = threading.Condition()

    # -- the board interface ------------------------------------------------

    def ticks_ms(self):
        if self._manual:
            return self._now
        return int((time.monotonic() - self._start) * 1000)

    def clock(self):
        return "host" if self._has_clock else "none"

    def epoch(self):
        if not self._has_clock:
            return None
        return self._clock_offset + (self._epoch + self._now // 1000 if self._manual else int(time.time()))

    def set_clock(self, epoch):
        if not self._has_clock:
            raise OSError("no real-time clock")
        self._clock_offset += epoch - self.epoch()

    def read_key(self):
        with self._wake:
            return self._keys.pop(0) if self._keys else None

    def show(self, line1, line2):
        self.lines = (line1, line2)
        if self.on_display:
            self.on_display(line1, line2)

    def serial_read(self):
        with self._wake:
            if self._reset:
                return b""  # the new client's bytes come after serial_reset() said so
            data = bytes(self._rx)
            self._rx.clear()
            self._wake.notify_all()  # room again for a feed() waiting with a limit
        return data

    def serial_reset(self):
        with self._wake:
            reset = self._reset
            self._reset = False
            return reset

    def serial_write(self, data):
        if self.on_serial:
            self.on_serial(bytes(data))
        else:
            self.sent += data

    def random(self, n):
        return secrets.token_bytes(n)

    def unique_id(self):
        return stored_id(self.fs, self.random)

    def idle(self, ms):
        with self._wake:
            if not self._keys and not self._rx and not self._reset:
                self._wake.wait(ms / 1000)

    # -- the outside world's side -------------------------------------------

    def press(self, key):
        with self._wake:
            self._keys.append(key)
            self._wake.notify()

    def feed(self, data, limit=None):
        """Bytes arriving on the link. With `limit`, wait while that many are
        still unread (flow control, as a USB endpoint NAKs): the token's loop
        must be running in another thread."""
        with self._wake:
            while limit is not None and len(self._rx) >= limit:
                self._wake.wait(0.1)
            self._rx += data
            self._wake.notify_all()

    def connect(self):
        """A new client is on the link (a USB re-plug): bytes not yet read are
        dropped, and the token drops any half line it holds."""
        with self._wake:
            self._rx.clear()
            self._reset = True
            self._wake.notify_all()

    def advance(self, ms):
        """Move the manual clock forward."""
        self._now += ms

    def take_sent(self):
        data = bytes(self.sent)
        self.sent.clear()
        return data
