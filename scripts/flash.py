"""Install a firmware bundle on a board with mpremote.

    python scripts/flash.py PORT BUNDLE_DIR [--resume]

Removes the previous firmware's code first (so a release install leaves no
debug-link module behind from a debug one), keeps the token's /state files,
copies the bundle and resets the board, in one mpremote session. --resume skips
the soft reset mpremote does on connect (for the unix port's REPL in tests, which
a soft reset would end); a Pico is still reset at the end, so the new firmware
starts instead of leaving a bare REPL (after maintenance mode, say).
"""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import firmware_manifest  # noqa: E402

# Whatever any build (firmware/manifest.py) installs at the top of the filesystem.
CODE = tuple(firmware_manifest.code_roots())
# Runs on the board: remove the old code, whatever is there of it.
REMOVE = """
import os
def _rm(p):
    try:
        if os.stat(p)[0] & 0x4000:
            for n in os.listdir(p):
                _rm(p + '/' + n)
            os.rmdir(p)
        else:
            os.remove(p)
    except OSError:
        pass
for _p in %r:
    _rm(_p)
""" % (CODE,)
# Runs on the board last with --resume: restart a Pico into the new firmware; the
# unix port (a REPL in tests) has no machine.reset and stays as it is.
RESET_A_BOARD = """
import machine
_reset = getattr(machine, 'reset', None)
if _reset:
    _reset()
"""


def mpremote():
    beside = Path(sys.executable).parent / "mpremote"
    return str(beside) if beside.exists() else "mpremote"


def mpremote_command(port, entries, resume):
    cmd = [mpremote(), "connect", port] + (["resume"] if resume else [])
    cmd += ["exec", REMOVE, "+", "cp", "-r"] + entries + [":./"]
    cmd += ["+", "exec", "--no-follow", RESET_A_BOARD] if resume else ["+", "reset"]
    return cmd


def main():
    args = [a for a in sys.argv[1:] if a != "--resume"]
    resume = "--resume" in sys.argv
    if len(args) != 2:
        raise SystemExit("usage: flash.py PORT BUNDLE_DIR [--resume]")
    port, bundle = args[0], Path(args[1])
    if not (bundle / "main.py").exists():
        raise SystemExit("flash: %s is not a built bundle (run make firmware)" % bundle)
    entries = sorted(p.name for p in bundle.iterdir())
    try:
        out = subprocess.run(mpremote_command(port, entries, resume), cwd=bundle, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise SystemExit("flash: no answer from %s within 300 s" % port)
    if out.returncode != 0:
        lines = (out.stderr or out.stdout).strip().splitlines() or ["mpremote failed"]
        raise SystemExit("flash: %s" % lines[-1])
    files = sum(1 for p in bundle.rglob("*") if p.is_file())
    print("flash: %d files from %s installed on %s" % (files, bundle, port))


if __name__ == "__main__":
    main()
