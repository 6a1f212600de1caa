"""Type-check the firmware against the Raspberry Pi Pico's MicroPython stubs.

The stubs (PyPI micropython-rp2-rpi-pico-stubs) go into .venv/typings, the
layout mypy needs: installed into a venv, mypy would fall back to CPython's
standard library stubs and miss what MicroPython lacks.
"""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import firmware_manifest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TYPINGS = Path(sys.prefix) / "typings"
STUBS = "micropython-rp2-rpi-pico-stubs"
# Everything that runs on the Pico, debug link included (firmware/manifest.py).
MODULES = firmware_manifest.files("pico", debug=True)


def main():
    if not (TYPINGS / "machine.pyi").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "--target", str(TYPINGS), STUBS], check=True)
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
           "--custom-typeshed-dir", str(TYPINGS), "--cache-dir", str(Path(sys.prefix) / "mypy-cache")] + MODULES
    out = subprocess.run(cmd, cwd=ROOT / "firmware", env={"MYPYPATH": str(TYPINGS), "PATH": ""},
                         capture_output=True, text=True)
    print((out.stdout + out.stderr).strip())
    return out.returncode


if __name__ == "__main__":
    sys.exit(main())
