"""Worker processes for tests/verifier/test_verifier_races.py.

Every worker is a separate process with its own Verifier, engine and database
connection on the shared database. `start(mode, path)` forks it from a
multiprocessing fork server that has imported the verifier once (a fresh
interpreter spends ~0.5 s of CPU on imports, which dozens of racers per test
multiplied); `python -m tests.verifier.workers MODE ARGS.json` runs one by hand.

race:  open a Verifier, create the `ready` file, wait for the `go` file, then make
       one attempt (finish() on a challenge, or start() with a password) and write
       the outcome, with the monotonic times around the call, to `out` as JSON.
crash: open a Verifier, create the `ready` file, then make the attempts of `plan`
       in order; after each attempt returns, append "<index> <outcome>" to `log`
       and fsync it, so the parent knows which attempts completed for sure.
"""

import json
import multiprocessing
import os
import sys
import time

from host.verifier import service

_context = None


class Worker:
    """A started worker, with the parts of subprocess.Popen's interface the tests use."""

    def __init__(self, process, stderr_path):
        self.process, self.stderr_path = process, stderr_path
        self.pid = process.pid

    def poll(self):
        return self.process.exitcode

    def wait(self, timeout=None):
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise TimeoutError("worker %d still running after %s s" % (self.pid, timeout))
        return self.process.exitcode

    def send_signal(self, sig):
        if self.process.exitcode is None:
            os.kill(self.pid, sig)

    def kill(self):
        self.process.kill()


def start(mode, path):
    """Fork a worker running `mode` on the arguments in the JSON file `path`; its
    stderr goes to path + ".stderr"."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(["tests.verifier.workers"])
    process = _context.Process(target=_child, args=(mode, path), daemon=True)
    process.start()
    return Worker(process, path + ".stderr")


def _child(mode, path):
    err = os.open(path + ".stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(err, 2)
    os.close(err)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    main(mode, path)


def main(mode, path):
    with open(path) as f:
        arguments = json.load(f)
    {"race": race, "crash": crash}[mode](arguments)


def _verifier(args):
    return service.Verifier(args["db"], args["key_file"], policy=service.Policy(**args.get("policy", {})))


def _touch(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)


def attempt(v, op):
    """One attempt; returns a short outcome string."""
    if op["kind"] == "password":
        try:
            v.start(op["user"], op["password"])
        except service.VerifierError as e:
            return "error:" + e.code
        return "issued"
    try:
        result = v.finish(op["challenge_id"], op["response"])
    except service.VerifierError as e:
        return "error:" + e.code
    return "ok" if result["ok"] else result["reason"]


def race(args):
    v = _verifier(args)
    _touch(args["ready"])
    deadline = time.monotonic() + 120
    while not os.path.exists(args["go"]):
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.0002)
    t0 = time.monotonic()
    outcome = attempt(v, args["op"])
    t1 = time.monotonic()
    tmp = args["out"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"outcome": outcome, "t0": t0, "t1": t1, "pid": os.getpid()}, f)
    os.replace(tmp, args["out"])
    v.close()


def crash(args):
    v = _verifier(args)
    log = os.open(args["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    _touch(args["ready"])
    for i, op in enumerate(args["plan"]):
        outcome = attempt(v, op)
        os.write(log, ("%d %s\n" % (i, outcome)).encode())
        os.fsync(log)
    os.write(log, b"done\n")
    os.fsync(log)
    os.close(log)
    v.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
