"""Shared test setup: the firmware (MicroPython code that also runs on CPython) is
imported straight from the repository's firmware/ directory."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(REPO, "firmware")
if FIRMWARE not in sys.path:
    sys.path.insert(0, FIRMWARE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def pytest_addoption(parser):
    parser.addoption("--port", metavar="URL", default=None,
                     help="run tests/hil against a real token on this serial port or pyserial URL "
                          "(a debug build: the tests press keys through the debug link)")
