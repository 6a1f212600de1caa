"""Install a firmware bundle on a board with mpremote.

    python scripts/flash.py PORT BUNDLE_DIR [--resume]

Removes the previous firmware's code first (so a release install leaves no
debug-link module behind from a debug one), keeps the token's /state files,
copies the bundle and resets the board. --resume skips the soft reset that
mpremote does on connect (needed for the unix port's REPL in tests).
"""

import subprocess
import sys
from pathlib import Path

CODE = ["main.py", "app.mpy", "app.py", "dsc", "boards"]


def mpremote():
    beside = Path(sys.executable).parent / "mpremote"
    return str(beside) if beside.exists() else "mpremote"


def run(port, resume, *args, check=True):
    cmd = [mpremote(), "connect", port] + (["resume"] if resume else []) + list(args)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise SystemExit("flash: mpremote %s failed: %s" % (" ".join(args), (out.stderr or out.stdout).strip().splitlines()[-1:]))
    return out


def main():
    args = [a for a in sys.argv[1:] if a != "--resume"]
    resume = "--resume" in sys.argv
    if len(args) != 2:
        raise SystemExit("usage: flash.py PORT BUNDLE_DIR [--resume]")
    port, bundle = args
    bundle = Path(bundle)
    if not (bundle / "main.py").exists():
        raise SystemExit("flash: %s is not a built bundle (run make firmware)" % bundle)
    for name in CODE:
        run(port, resume, "rm", "-r", ":" + name, check=False)  # absent on a fresh board
    for path in sorted(bundle.rglob("*")):
        rel = path.relative_to(bundle).as_posix()
        if path.is_dir():
            run(port, resume, "mkdir", ":" + rel, check=False)
        else:
            run(port, resume, "cp", str(path), ":" + rel)
    files = sum(1 for p in bundle.rglob("*") if p.is_file())
    if not resume:
        run(port, resume, "reset", check=False)
    print("flash: %d files from %s installed on %s" % (files, bundle, port))


if __name__ == "__main__":
    main()
