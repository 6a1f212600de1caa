"""How long a host command takes against the simulated token over a socket link.

`dsc info` as a person runs it (a new process: start-up, imports, connect, sync,
one request, close), and the same connect/request/close inside one process. The
baseline is a bare `python -c pass` in the same run, so the ratio shows what the
command adds on this machine.
"""

import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from host.client import TokenClient  # noqa: E402
from bench.timing_table import print_table  # noqa: E402

RUNS = 15
TARGET_S = 0.1


def _timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def _in_process(url):
    t = time.perf_counter()
    with TokenClient(url) as client:
        client.info()
    return time.perf_counter() - t


def main():
    sim = subprocess.Popen([sys.executable, "-m", "host.cli", "sim", "--headless", "--link", "socket://127.0.0.1:0"],
                           stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        url = sim.stdout.readline().strip()
        dsc = [sys.executable, "-m", "host.cli", "info", url]
        _timed(dsc)  # warm the file cache
        base = statistics.median(_timed([sys.executable, "-c", "pass"]) for _ in range(RUNS))
        rows = [("python -c pass (baseline)", base),
                ("dsc info (new process)", statistics.median(_timed(dsc) for _ in range(RUNS))),
                ("TokenClient open+info+close", statistics.median(_in_process(url) for _ in range(RUNS)))]
    finally:
        sim.terminate()
        sim.wait()
    print_table("A host command against `dsc sim` over socket:// (median of %d runs)" % RUNS, rows, TARGET_S)


if __name__ == "__main__":
    main()
