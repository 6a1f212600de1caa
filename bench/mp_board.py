# MicroPython side of bench_firmware.py: the Pico board's display and serial
# paths, each against its pre-issue-10 baseline, on this port.
#
#   micropython bench/mp_board.py FIRMWARE_DIR BASELINE_DIR SERIAL_BYTES < BYTES
#
# BASELINE_DIR holds the old drivers under names of their own (ssd1306_full_frame.py,
# keypad_every_key.py), taken from git by bench_firmware.py.
# Prints JSON lines: {"display": ...} per driver and screen change, {"serial": ...}
# per implementation. stdin must hold 2 x SERIAL_BYTES bytes (baseline first).
import sys
import gc
import json
import select
import time

sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])

REPEAT = 200
# Screen changes a person sees: (before, after).
CHANGES = (
    ("ok-to-response", ("CHALLNG>", "123456"), ("48391045", "")),
    ("power-to-pin", ("48391045", ""), ("PIN>", "")),
    ("one-digit", ("PIN>", "*"), ("PIN>", "**")),
)


class CountingI2C:
    """Counts what would go on the wire: the address byte and the data of each write."""

    def __init__(self):
        self.bytes = 0

    def writeto(self, addr, buf, stop=True):
        self.bytes += 1 + len(buf)

    def writevto(self, addr, vector, stop=True):
        self.bytes += 1
        for b in vector:
            self.bytes += len(b)


def display(name, driver):
    for change, before, after in CHANGES:
        i2c = CountingI2C()
        d = driver(i2c, 0x3C, 128, 32)
        d.show(*after)
        d.show(*before)
        i2c.bytes = 0
        d.show(*after)
        sent = i2c.bytes
        gc.collect()
        t0 = time.ticks_us()
        for _ in range(REPEAT):
            d.show(*before)
            d.show(*after)
        us = time.ticks_diff(time.ticks_us(), t0) / (2 * REPEAT)
        print(json.dumps({"display": name, "change": change, "bytes": sent, "us": us}))


class Link:
    """What Board.serial_read reads through: the real stdin and poll, as on the Pico."""

    def __init__(self):
        self._stdin = sys.stdin.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._rx = bytearray(512)
        self._rx_view = memoryview(self._rx)
        self._byte = bytearray(1)


def baseline_serial_read(self):
    # boards/pico.py before issue 10
    data = b""
    while len(data) < 512 and self._poll.poll(0):
        byte = self._stdin.read(1)
        if not byte:
            break
        data += byte
    return data


def serial(name, read, total):
    link = Link()
    got = 0
    gc.collect()
    heap = 0
    t0 = time.ticks_us()
    while got < total:
        before = gc.mem_alloc()
        data = read(link)
        heap += gc.mem_alloc() - before  # what this call allocated (no collection inside: 512 B a call at most)
        got += len(data)
        gc.collect()
    us = time.ticks_diff(time.ticks_us(), t0)
    print(json.dumps({"serial": name, "bytes": got, "us_per_byte": us / got, "heap_per_byte": heap / got}))


import ssd1306_full_frame  # noqa: E402
from boards.ssd1306 import SSD1306  # noqa: E402

display("baseline", ssd1306_full_frame.SSD1306)
display("now", SSD1306)


class Pin:
    """A GPIO that reads released (pulled up), like a keypad nobody touches."""

    def value(self, v=None):
        return 1


def keypad(name, keypad_class):
    keys = (("1", "2", "3", "F1"), ("4", "5", "6", "F2"), ("7", "8", "9", "F3"), ("C", "0", "OK", "F4"))
    pad = keypad_class([Pin() for _ in range(4)], [Pin() for _ in range(4)], keys)
    gc.collect()
    t0 = time.ticks_us()
    for now in range(REPEAT * 5):
        pad.scan(now)
    print(json.dumps({"keypad": name, "us": time.ticks_diff(time.ticks_us(), t0) / (REPEAT * 5)}))


import keypad_every_key  # noqa: E402
from boards.keypad import Keypad  # noqa: E402

keypad("baseline", keypad_every_key.Keypad)
keypad("now", Keypad)
total = int(sys.argv[3])
serial("baseline", baseline_serial_read, total)
from boards.pico import Board  # noqa: E402  (imports machine, which the unix port has; Board is not made)

serial("now", Board.serial_read, total)
