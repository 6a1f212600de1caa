# MicroPython side of bench_firmware.py: what the firmware does from main.py to
# its loop (imports, board, token, gc), timed in this process.
#
#   micropython bench/mp_boot.py BUNDLE_DIR STATE_DIR
#
# Prints {"us": ..., "heap": ...}: microseconds, and heap bytes in use afterwards.
import sys
import gc
import json
import time

sys.path.insert(0, sys.argv[1])
sys.argv.append("--state")
sys.argv.append(sys.argv[2])
t0 = time.ticks_us()
import app  # noqa: E402

board = app.make_board()
token = app.Token(board, debug=not app.RELEASE)
gc.collect()
us = time.ticks_diff(time.ticks_us(), t0)
print(json.dumps({"us": us, "heap": gc.mem_alloc()}))
