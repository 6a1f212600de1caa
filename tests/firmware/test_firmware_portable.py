"""The firmware stays MicroPython code: it compiles with mpy-cross for the Pico's
Cortex-M0+ and uses none of the CPython-only features MicroPython lacks."""

import ast
import os
import subprocess
import sys

import pytest

FIRMWARE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "firmware")
CPYTHON_ONLY_BOARDS = {"sim.py"}  # the simulator's board runs on CPython by design
MODULES = sorted(
    os.path.relpath(os.path.join(d, f), FIRMWARE)
    for d, _, files in os.walk(FIRMWARE) for f in files
    if f.endswith(".py") and "__pycache__" not in d
)
CORE = [m for m in MODULES if os.path.basename(m) not in CPYTHON_ONLY_BOARDS]
# Not in MicroPython (or not on the Pico): see micropython-notes in the docs.
FORBIDDEN_IMPORTS = {"hmac", "typing", "dataclasses", "secrets", "threading", "abc", "enum"}


def mpy_cross():
    beside = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return beside if os.path.exists(beside) else "mpy-cross"


@pytest.mark.parametrize("module", CORE)
def test_compiles_for_the_pico(module, tmp_path):
    out = subprocess.run([mpy_cross(), "-march=armv6m", "-o", str(tmp_path / "m.mpy"), module],
                         cwd=FIRMWARE, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("module", CORE)
def test_uses_only_what_micropython_has(module):
    tree = ast.parse(open(os.path.join(FIRMWARE, module)).read(), module)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [(node.module or "").split(".")[0]]
        else:
            names = []
        assert not set(names) & FORBIDDEN_IMPORTS, "%s imports %s" % (module, names)
        # `assert` vanishes from optimised builds, so it must never guard anything.
        assert not isinstance(node, ast.Assert), "%s line %d uses assert" % (module, node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            # int.from_bytes(..., byteorder=) and hexdigest()/copy() fail on MicroPython.
            assert node.func.attr not in ("hexdigest", "zfill", "rjust", "ljust"), \
                "%s line %d calls .%s()" % (module, node.lineno, node.func.attr)
            assert not any(k.arg == "byteorder" for k in node.keywords), \
                "%s line %d passes byteorder= by keyword" % (module, node.lineno)
