"""Fixtures shared by the firmware tests."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def release_bundle(tmp_path_factory):
    """The Pico release bundle as `make firmware` builds it (bytecode only: the unix port runs it too)."""
    out = tmp_path_factory.mktemp("firmware")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_firmware.py"), "build", "--out", str(out)],
                   check=True, capture_output=True)
    return out / "release"
