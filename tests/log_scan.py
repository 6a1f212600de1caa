"""The suite-wide log scan: when the whole test run ends, every log file any test
wrote (every *.log under pytest's temporary directories, from every xdist worker)
is searched for every secret any test used: passwords, PINs, keys, responses,
passcodes, API keys. A hit fails the run (exit status 1) and names the file, never
the secret.

Tests register what they send with the `secrets_sent` fixture (tests/conftest.py).
Each worker writes its set to <run dir>/log-scan-secrets/<worker>.txt at its end;
the process that ends last (the xdist controller, or the only process) scans.
Short secrets (a 4-digit PIN) count only as whole tokens, so a timestamp or a
request's duration ("1234.5ms") that happens to hold the same digits is no hit;
nor does a server's process id ("Started server process [9369]"), which can
equal a 4-digit PIN outright."""

import os
import pathlib
import re

SECRETS = set()
SHORT = 8  # below this many characters a secret must stand alone to count
# What a log says that no test sent, read past when looking for short secrets.
PROCESS_ID = re.compile(r"process \[[0-9]+\]")


def _run_dir(config):
    """The directory shared by every worker of this run (the parent of each worker's basetemp)."""
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return None
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _pattern(secret):
    if len(secret) >= SHORT:
        return re.compile(re.escape(secret))
    # standing alone: not inside a word or a number (the access log's "1234.5ms" is a duration)
    return re.compile(r"(?<![0-9A-Za-z])(?<![0-9]\.)%s(?![0-9A-Za-z])(?!\.[0-9])" % re.escape(secret))


def _patterns(secrets):
    return [(s, len(s) < SHORT, _pattern(s)) for s in secrets if s]


def _found(text, patterns):
    without_ids = PROCESS_ID.sub("process [pid]", text)
    return [s for s, short, p in patterns if p.search(without_ids if short else text)]


def leaked(text, secrets):
    """The secrets that appear in `text`, by the rules above (a fixture's scan of its own server's log)."""
    return _found(text, _patterns(secrets))


def scan(root, secrets):
    """[(log file, count of secrets in it)] for every *.log under root holding any."""
    patterns = _patterns(secrets)  # compiled once for every file
    found = []
    for path in sorted(pathlib.Path(root).rglob("*.log")):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        hits = len(_found(text, patterns))
        if hits:
            found.append((path, hits))
    return found


def save(config):
    run = _run_dir(config)
    if run is None:
        return
    folder = run / "log-scan-secrets"
    folder.mkdir(exist_ok=True)
    name = os.environ.get("PYTEST_XDIST_WORKER", "main")
    (folder / (name + ".txt")).write_text("\n".join(sorted(s for s in SECRETS if "\n" not in s)))


def check(session):
    """At the end of the run (the controller's or the only process's sessionfinish)."""
    run = _run_dir(session.config)
    if run is None:
        return
    secrets = set(SECRETS)
    for part in (run / "log-scan-secrets").glob("*.txt") if (run / "log-scan-secrets").is_dir() else ():
        secrets.update(line for line in part.read_text().splitlines() if line)
    if not secrets:
        return
    leaks = scan(run, secrets)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    logs = sum(1 for _ in run.rglob("*.log"))
    if leaks:
        for path, hits in leaks:
            line = "log scan: %d secret(s) used by the tests appear in %s" % (hits, path)
            reporter.write_line(line, red=True) if reporter else print(line)
        session.exitstatus = 1
    elif reporter:
        reporter.write_line("log scan: %d log files, %d secrets used by the tests, none in any log" % (logs, len(secrets)))
