# MicroPython side of bench_firmware.py: one response through the whole token
# (UI + OCRA + display update) from a built bundle, on this port.
#
#   micropython bench/mp_token.py BUNDLE_DIR ITERATIONS
#
# Prints "<us per response> <heap bytes allocated by one response>".
import sys
import gc
import time

sys.path.insert(0, sys.argv[1])
from dsc.token import Token
from dsc.storage import DirFS


class Board:
    """Just enough board for the token: a RAM filesystem would do, the state dir is fine."""

    def __init__(self, path):
        self.fs = DirFS(path)
        self.now = 0

    def ticks_ms(self):
        return self.now

    def epoch(self):
        return 1700000000

    def read_key(self):
        return None

    def show(self, a, b):
        pass

    def serial_read(self):
        return b""

    def serial_write(self, data):
        pass

    def random(self, n):
        return bytes(n)

    def unique_id(self):
        return b"12345678"

    def idle(self, ms):
        pass


def main(path, n):
    token = Token(Board(path), False)
    token.receive(b"provision key=" + b"31" * 32 + b"\n")
    for k in ("PWR", "1", "2", "3", "4", "OK"):
        token.key(k)
    digits = ("1", "2", "3", "4", "5", "6")

    def one():
        for d in digits:
            token.key(d)
        token.key("OK")  # the response is computed and drawn
        token.key("OK")  # back to CHALLNG>

    one()
    gc.collect()
    t0 = time.ticks_us()
    for _ in range(n):
        one()
    us = time.ticks_diff(time.ticks_us(), t0) / n
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    one()
    heap = gc.mem_alloc() - before
    gc.enable()
    print(us, heap)


main(sys.argv[1] + "/state", int(sys.argv[2]))
