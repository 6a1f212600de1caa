"""`dsc` as a user runs it, without paying for a fresh interpreter each time.

Each call is still a process of its own, with its own environment, working
directory, stdin, stdout, stderr and exit code: it is forked from a
multiprocessing fork server that has imported the command line and the
verifier once. A fresh `python -m host.cli` spends about half a second of CPU
importing SQLAlchemy and cryptography before it does anything, and the
command-line tests run hundreds of commands. An exception that escapes main()
prints its traceback and exits 1, as the interpreter would, so the tests'
"no traceback" checks still see it.

run(args, env=, cwd=, input=, timeout=) returns a subprocess.CompletedProcess
with text stdout and stderr, like subprocess.run(..., capture_output=True, text=True).
"""

import io
import multiprocessing
import os
import subprocess
import sys
import tempfile
import traceback

import host.cli  # noqa: F401 - preloaded by the fork server
import host.verifier.cli  # noqa: F401
import host.verifier.service  # noqa: F401

_context = None


def run(args, env=None, cwd=None, input=None, timeout=60):
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload([__name__])
    args = [str(a) for a in args]
    with tempfile.TemporaryDirectory(prefix="dsc-run-") as scratch:
        stdin_path = os.path.join(scratch, "stdin")
        with open(stdin_path, "w") as f:
            f.write(input or "")
        out_path, err_path = os.path.join(scratch, "stdout"), os.path.join(scratch, "stderr")
        process = _context.Process(target=_child, args=(args, dict(env if env is not None else os.environ),
                                                        cwd or os.getcwd(), stdin_path, out_path, err_path))
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(["dsc"] + args, timeout)
        out, err = (_read(p) for p in (out_path, err_path))
    return subprocess.CompletedProcess(["dsc"] + args, process.exitcode, out, err)


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _child(args, env, cwd, stdin_path, out_path, err_path):
    code = 1
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        for fd, path, flags in ((0, stdin_path, os.O_RDONLY), (1, out_path, os.O_WRONLY | os.O_CREAT),
                                (2, err_path, os.O_WRONLY | os.O_CREAT)):
            opened = os.open(path, flags, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", line_buffering=True)
        sys.argv = ["dsc"] + args
        try:
            code = host.cli.main(args)
        except SystemExit as e:  # argparse's usage errors, sys.exit in a command
            code = e.code
            if isinstance(code, str):
                sys.stderr.write(code + "\n")
                code = 1
        code = 0 if code is None else int(code)
    except BaseException:  # noqa: BLE001 - what the interpreter would print for an uncaught exception
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed pipe: nothing more to say
                pass
        os._exit(code & 0xFF)
