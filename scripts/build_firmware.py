"""Build the Pico firmware bundles and check the release one.

    python scripts/build_firmware.py build [--out build] [--board pico|unix]
    python scripts/build_firmware.py check-release [--out build]

build/debug    the firmware with the debug link, compiled with mpy-cross -O0
build/release  compiled with -O1 (__debug__ is False, so `if __debug__:` code is
               not even compiled) and without dsc/debuglink: no debug code at all

Which files go into each build is firmware/manifest.py's to say.

Modules are bytecode-only .mpy (no native code), so the same bundle runs on the
Pico and on the unix port, which is how check-release tests it. main.py stays
source: MicroPython runs main.py itself, and it only imports app; the release
main.py turns Ctrl-C off on its first line.

A package's __init__.py that holds nothing but its docstring is left out of
the bundles: MicroPython imports a folder without one as a namespace package,
and on the Pico every file loaded before the token is ready costs about 13 ms
(issue 18), so each empty one was a file load at boot for nothing. For the same
reason the core modules loaded at boot go into one file, dsc/token.mpy
(scripts/firmware_merge.py says how).
"""

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import firmware_manifest  # noqa: E402
import firmware_merge  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = firmware_manifest.FIRMWARE
# Names that exist only in debug code: none may appear in a release .mpy.
DEBUG_MARKERS = [b"debuglink", b"poll_wait", b"MAX_PRESSES"]
DEBUG_COMMANDS = ["press keys=OK", "display", "state", "wait gen=0"]
# main.py runs as source (so __debug__ is True in it): the release one turns
# Ctrl-C off before anything else, closing the window while the imports run.
RELEASE_MAIN = """# OpenDSC release build
import micropython

micropython.kbd_intr(-1)  # from the first line on, 0x03 on USB is data, not a way into the REPL

import app

app.main()
"""


def mpy_cross():
    beside = Path(sys.executable).parent / "mpy-cross"
    return str(beside) if beside.exists() else "mpy-cross"


def sources(release, board="pico"):
    """The manifest's modules to compile (main.py is written separately; empty
    package __init__ files are not needed, see above)."""
    return [f for f in firmware_manifest.files(board, debug=not release)
            if f != "main.py" and not is_empty_package_init(f)]


def is_empty_package_init(path):
    """True for a package's __init__.py with no statement beyond its docstring."""
    if not path.endswith("/__init__.py"):
        return False
    body = ast.parse((FIRMWARE / path).read_text()).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def merged(files):
    """{path: source} for the files the merge replaces: each group whose every member the build has."""
    out = {}
    for group in firmware_merge.GROUPS:
        if all(p in files for p in firmware_merge.group_paths(group)):
            out.update(firmware_merge.merged_sources(lambda path: (FIRMWARE / path).read_text(), group))
    return out


def compile_bundle(out, release, board="pico"):
    if out.exists():
        shutil.rmtree(out)
    files = sources(release, board)
    replaced = merged(files)
    with tempfile.TemporaryDirectory() as tmp:
        for src in files:
            target = out / (src[:-3] + ".mpy")
            target.parent.mkdir(parents=True, exist_ok=True)
            compiled = src
            if src in replaced:
                compiled = str(Path(tmp) / src.replace("/", "_"))
                Path(compiled).write_text(replaced[src])
            cmd = [mpy_cross(), "-O1" if release else "-O0", "-s", src, "-o", str(target), compiled]
            subprocess.run(cmd, cwd=FIRMWARE, check=True)
    if release:
        (out / "main.py").write_text(RELEASE_MAIN)
    else:
        shutil.copy(FIRMWARE / "main.py", out / "main.py")
    return out


def bundle_size(out):
    return sum(p.stat().st_size for p in out.rglob("*") if p.is_file())


def build(out_dir, board="pico"):
    for name, release in (("debug", False), ("release", True)):
        out = compile_bundle(out_dir / name, release, board)
        files = sum(1 for p in out.rglob("*") if p.is_file())
        print("%s: %d files, %d bytes" % (out.relative_to(ROOT) if out.is_relative_to(ROOT) else out, files, bundle_size(out)))


def check_release(out_dir):
    """Fail (exit 1, one line) unless the release bundle has no debug code and,
    run on the unix port, answers correctly and refuses every debug command."""
    release = out_dir / "release"
    build(out_dir)  # always from the current sources: a stale bundle proves nothing
    problems = []
    for path in release.rglob("*"):
        if "debuglink" in path.name:
            problems.append("%s is in the bundle" % path.name)
        if path.suffix == ".py" and path.name != "main.py":
            problems.append("%s is source, not compiled" % path.name)
        if path.is_file():
            data = path.read_bytes()
            problems += ["%s contains %r" % (path.name, m.decode()) for m in DEBUG_MARKERS if m in data]
    if problems:
        raise SystemExit("check-release: " + "; ".join(problems))
    answers = run_on_unix_port(release)
    print("check-release: no debug code in %d files; on the unix port: %s" % (
        sum(1 for p in release.rglob("*") if p.is_file()), answers))


def run_on_unix_port(release):
    """Run the release build for the unix port (the same core, compiled the same
    way, with the unix board instead of the Pico's) in the simulator."""
    sys.path.insert(0, str(ROOT))
    from host import ocra
    from simulator.runtime import MicroPythonRuntime

    with tempfile.TemporaryDirectory() as tmp:
        bundle = compile_bundle(Path(tmp) / "bundle", True, "unix")
        core = [f for f in sources(True, "unix") if not f.startswith("boards/")]
        if core != [f for f in sources(True, "pico") if not f.startswith("boards/")]:
            raise SystemExit("check-release: the unix and pico release builds differ beyond their boards")
        token = MicroPythonRuntime(Path(tmp) / "flash", firmware=bundle)
        replies = []
        token.on_serial = replies.append
        token.start()
        try:
            key = os.urandom(32)

            def ask(line):
                del replies[:]
                token.serial_in(line.encode() + b"\n")
                return _wait_reply(replies)

            info = ask("info")
            if " debug=0" not in info:
                raise SystemExit("check-release: info does not say debug=0: " + info)
            for command in DEBUG_COMMANDS:
                reply = ask(command)
                if not reply.startswith("ERR %s no-debug" % command.split()[0]):
                    raise SystemExit("check-release: %r answered %r" % (command, reply))
            if not ask("provision key=" + key.hex()).startswith("OK provision"):
                raise SystemExit("check-release: provisioning failed")
            suite = ocra.Suite(ocra.DEFAULT_SUITE)
            for pin, challenge in (("1234", "123456"), ("9999", "000001")):
                for k in ["PWR"] + list(pin) + ["OK"] + list(challenge) + ["OK"]:
                    token.press(k)  # the keypad, not the serial link
                expected = suite.response(key, challenge, pin=pin)
                _wait(lambda: token.lines[0] == expected, "response %s, display %r" % (expected, token.lines))
                token.press("PWR")  # starts over: a new PIN is asked for
                _wait(lambda: token.lines == ("PIN>", ""), "the PIN prompt again")
        finally:
            token.stop()
    return "debug commands refused, responses correct"


def _wait_reply(replies, timeout=10):
    _wait(lambda: b"\n" in b"".join(replies), "a reply", timeout)
    return b"".join(replies).decode().splitlines()[0]


def _wait(cond, what, timeout=10):
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit("check-release: timed out waiting for " + what)
        time.sleep(0.01)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["build", "check-release"])
    p.add_argument("--out", default=str(ROOT / "build"), help="output folder (default build/)")
    p.add_argument("--board", choices=firmware_manifest.BOARDS, default="pico",
                   help="build: the board to build for (default pico; unix runs on the unix port)")
    args = p.parse_args()
    out = Path(args.out).resolve()
    if args.action == "build":
        build(out, args.board)
    else:
        check_release(out)


if __name__ == "__main__":
    main()
