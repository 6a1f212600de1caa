"""Shared test setup. The repository and its firmware/ directory are on sys.path
through pytest's `pythonpath` setting (pyproject.toml), so tests import the firmware
core (`dsc`, `boards`), the host tools (`host`, `simulator`) and the shared helpers
(`tests.ocra_reference`, `tests.png`) from the checkout.

tests/ mirrors the code: tests/firmware/, tests/simulator/, tests/host/,
tests/verifier/, tests/hardware/, and tests/hil/ (against a real board).

The tests are the top of the firmware here, so they attach the debug link as
app.py and the simulator do (the core never imports it)."""

import dsc.debuglink  # noqa: F401


def pytest_addoption(parser):
    parser.addoption("--port", metavar="URL", default=None,
                     help="run tests/hil against a real token on this serial port or pyserial URL "
                          "(a debug build: the tests press keys through the debug link)")
