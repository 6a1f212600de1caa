# MicroPython side of bench_ocra.py: the firmware's OCRA response on this port.
#
#   micropython bench/mp_ocra.py FIRMWARE_DIR [ITERATIONS]
#
# Prints the MicroPython version, then one line per suite:
#   "<suite> <us per response> <heap bytes> <iterations>"
# where heap bytes is gc.mem_alloc() growth over one response with the GC off:
# all the heap it allocates, so its peak if nothing is collected meanwhile.
# (micropython.mem_peak() is no help: its count never drops when the GC frees.)
import sys
import gc
import time

sys.path.insert(0, sys.argv[1])
from dsc import ocra

KEY = bytes(range(32))
SHA512_SUITE = "OCRA-1:HOTP-SHA512-8:QN08"  # no sha512 in the unix port's hashlib: pure-Python dsc.sha


def respond(suite):
    return suite.response(KEY, "123456", pin="1234" if suite.pin_hash else None)


def main(n):
    print(sys.version)
    for text, count in ((ocra.DEFAULT_SUITE, n), (SHA512_SUITE, max(1, n // 10))):
        suite = ocra.Suite(text)
        respond(suite)  # warm up
        gc.collect()
        t0 = time.ticks_us()
        for _ in range(count):
            respond(suite)
        us = time.ticks_diff(time.ticks_us(), t0) / count
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        respond(suite)
        heap = gc.mem_alloc() - before
        gc.enable()
        print(text, us, heap, count)


main(int(sys.argv[2]) if len(sys.argv) > 2 else 2000)
