"""OCRA speed: the host's verifier against a bare hmac.digest, and the firmware's
response on CPython and on the MicroPython unix port (time and heap).

    python bench/bench_ocra.py        (or bench/run.py for every bench)
"""

import functools
import hmac
import os
import shutil
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
FIRMWARE = os.path.join(REPO, "firmware")
for path in (REPO, FIRMWARE):
    if path not in sys.path:
        sys.path.insert(0, path)

from dsc import ocra as fw  # noqa: E402
from host import ocra as host  # noqa: E402

KEY = bytes(range(32))
QUESTION, PIN = "123456", "1234"
TARGET = 0.5  # verification rate >= TARGET x floor
MP_ITERATIONS = 2000


def per_op(fn, repeat=5, seconds=0.2):
    """Best-of-`repeat` seconds per call of fn(), timed with perf_counter."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt > 0.05:
            break
        n *= 2
    n = max(1, int(n * seconds / dt))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best / n


def response_from_scratch(text, key, question, pin):
    return host.Suite(text).response(key, question, pin=pin)


def cpython_rows():
    suite = host.Suite(host.DEFAULT_SUITE)
    msg = suite.message(QUESTION, pin=PIN)
    verifier = suite.verifier(KEY, pin_hash=suite.pin_digest(PIN))
    response = verifier.response(QUESTION)
    fw_suite = fw.Suite(fw.DEFAULT_SUITE)
    assert verifier.verify(QUESTION, response) and fw_suite.response(KEY, QUESTION, pin=PIN) == response
    return [
        ("(a) floor: hmac.digest sha256, %d-byte msg" % len(msg), functools.partial(hmac.digest, KEY, msg, "sha256")),
        ("(b) host verifier.verify (stored PIN hash)", functools.partial(verifier.verify, QUESTION, response)),
        ("(c) host Suite(text).response (parse each)",
         functools.partial(response_from_scratch, host.DEFAULT_SUITE, KEY, QUESTION, PIN)),
        ("(d) firmware dsc.ocra response (CPython)", functools.partial(fw_suite.response, KEY, QUESTION, pin=PIN)),
    ]


def find_micropython():
    exe = shutil.which("micropython") or os.path.join(os.path.dirname(sys.executable), "micropython")
    return exe if os.path.exists(exe) else None


def micropython_section():
    print()
    exe = find_micropython()
    if exe is None:
        print("(e) MicroPython: skipped, no `micropython` on PATH or next to %s" % sys.executable)
        return
    script = os.path.join(BENCH, "mp_ocra.py")
    proc = subprocess.run([exe, script, FIRMWARE, str(MP_ITERATIONS)], capture_output=True, text=True, timeout=600)
    if proc.returncode:
        print("(e) MicroPython failed: " + (proc.stderr or proc.stdout).strip()[-500:])
        return
    lines = proc.stdout.splitlines()
    print("(e) firmware dsc.ocra on the MicroPython unix port (%s), pre-parsed suite, PIN hashed" % lines[0])
    print("    %-34s %12s %10s %12s" % ("suite", "µs/response", "iterations", "heap bytes"))
    for line in lines[1:]:
        text, us, heap, count = line.split()
        print("    %-34s %12.1f %10s %12s" % (text, float(us), count, heap))
    print("    heap bytes: gc.mem_alloc() growth over one response with the GC off, i.e. all it")
    print("    allocates (the peak if nothing is collected; micropython.mem_peak() ignores GC frees).")


def main():
    rows = [(name, per_op(fn)) for name, fn in cpython_rows()]
    floor = rows[0][1]
    print("OCRA on CPython %s, suite %s, %d-byte key" % (sys.version.split()[0], host.DEFAULT_SUITE, len(KEY)))
    print("%-44s %12s %10s %16s" % ("", "ops/s", "µs/op", "ratio to floor"))
    for name, seconds in rows:
        print("%-44s %12.0f %10.2f %16.2f" % (name, 1 / seconds, seconds * 1e6, floor / seconds))
    ratio = floor / rows[1][1]
    met = ratio >= TARGET
    print("target: verification >= %.1f x floor: %s (%.2f x)" % (TARGET, "met" if met else "NOT met", ratio))
    micropython_section()
    return met


if __name__ == "__main__":
    main()
