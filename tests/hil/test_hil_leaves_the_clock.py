"""`make hil` on a board with a DS3231 used to leave its clock 3 hours ahead: the
clock test sets it and nothing set it back. Here `make hil`'s clock test runs
against a simulated board given with --port, as a real one would be, whose clock,
like a DS3231, keeps what is set for as long as it runs."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host.client import TokenClient
from tests.hil.conftest import SimulatedToken

HERE = Path(__file__).resolve().parent


def test_make_hil_sets_the_boards_time_back_after_its_clock_test(request, tmp_path):
    if request.config.getoption("--port"):
        pytest.skip("runs make hil's clock test against a simulated board of its own")
    board = SimulatedToken("cpython", tmp_path / "flash").start()
    try:
        with TokenClient(board.url) as client:
            before = int(client.clock()["time"])
        started = time.monotonic()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # not one of this run's workers
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
                              "--basetemp", str(tmp_path / "make-hil"), str(HERE / "test_token_over_serial.py"),
                              "-k", "test_the_clock_is_set_only_with", "--port", board.url],
                             capture_output=True, text=True, timeout=120, cwd=HERE.parent.parent, env=env)
        assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]
        with TokenClient(board.url) as client:
            after = int(client.clock()["time"])
        expected = before + (time.monotonic() - started)
    finally:
        board.stop()
    assert abs(after - expected) <= 2, "make hil left the clock %+d s off" % round(after - expected)
