"""Time from `dsc sim --headless` start until `PIN>` is reachable over its link.

For each runtime: start the simulator, read its URL, connect, provision, press
PWR through the debug link and wait until the display says PIN>. The baseline is
a bare `python -c pass` in the same run, so the ratio shows what the simulator adds.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from host.client import TokenClient  # noqa: E402
from bench.timing_table import print_table  # noqa: E402

RUNS = 7
TARGET_S = 0.5


def python_startup():
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t


def sim_to_pin(runtime):
    """Seconds from launching `dsc sim` to PIN> on a provisioned token's display."""
    state = tempfile.mkdtemp(prefix="dsc-bench-")
    # Provision once first, so the timed run starts a token that boots to PIN>.
    for timed in (False, True):
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "host.cli", "sim", "--headless", "--runtime", runtime,
                                 "--link", "socket://127.0.0.1:0", "--state", state],
                                stdout=subprocess.PIPE, text=True)
        try:
            url = proc.stdout.readline().strip()
            with TokenClient(url) as client:
                if not timed:
                    client.provision(os.urandom(32))
                    continue
                client.press("PWR")
                line1, _, _ = client.display()
                elapsed = time.perf_counter() - t
                if line1 != "PIN>":
                    raise RuntimeError("token showed %r, not PIN>" % line1)
                return elapsed
        finally:
            proc.terminate()
            proc.wait()


def main():
    base = statistics.median(python_startup() for _ in range(RUNS))
    rows = [("python -c pass (baseline)", base)]
    for runtime in ("cpython", "micropython"):
        rows.append(("dsc sim --runtime " + runtime, statistics.median(sim_to_pin(runtime) for _ in range(RUNS))))
    print_table("Simulator start to PIN> over the link (median of %d runs)" % RUNS, rows, TARGET_S)


if __name__ == "__main__":
    main()
