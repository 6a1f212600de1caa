"""The second-factor step over HTTP (`dsc serve`, POST /validate/check with
transaction_id and response, challenges issued beforehand) against the same step
through the library (Verifier.finish) in the same run, with durable commits, on
SQLite and on PostgreSQL, with 1 and 2 workers (processes); the CPU the load
generator (wrk, C, with bench/http_validate.lua) and the server used; and the
full login including the password KDF on its own line.

    python bench/bench_http.py        (or bench/run.py http)

Skipped, with one line, when wrk is not installed (scripts/bootstrap.sh installs it).
"""

import http.client
import json
import math
import multiprocessing
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from host import ocra  # noqa: E402
from host.verifier import service  # noqa: E402
from host.verifier.policy import Policy  # noqa: E402
from tests.server.conftest import Server  # noqa: E402
from tests.verifier import pg  # noqa: E402

LUA = str(ROOT / "bench" / "http_validate.lua")
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
PIN = "1234"
USERS = 8  # challenges spread over several users, as logins are
SECONDS = int(os.environ.get("BENCH_HTTP_SECONDS", "3"))  # each measured wrk run
WRK_THREADS = 1  # one C thread drives the server easily and leaves it the most CPU
CONNECTIONS_PER_WORKER = int(os.environ.get("BENCH_HTTP_CONNECTIONS", "4"))
LIBRARY_SECONDS = 2  # each library run, or fewer when its challenges run out first
LIBRARY_CALLS = int(os.environ.get("BENCH_HTTP_LIBRARY_CALLS", "1500"))  # challenges per process
WARM_CALLS = 50  # per library process, untimed: the first calls open connections
LOGIN_SECONDS = 3
TARGET_RATIO, TARGET_PER_S, TARGET_P99_MS = 0.5, 1000, 10.0
TICKS = os.sysconf("SC_CLK_TCK")


# ---- the database: users, tokens, challenges issued beforehand ------------------------------

class Challenges:
    """Issues challenges through the library and computes their right answers.
    Issuing is setup, not what is measured: this verifier's own connections commit
    without waiting for the disk, which the server's and the timed library's do."""

    def __init__(self, db, keyring):
        self.suite = ocra.Suite(SUITE)
        self.keys = {}
        self.passwords = {}
        self.verifier = service.Verifier(db, keyring, policy=Policy(challenge_ttl=3600))  # lasts the whole run
        sqlite = db.endswith(".db")

        @event.listens_for(self.verifier.engine, "connect")
        def _setup_only(conn, _):
            cursor = conn.cursor()
            cursor.execute("PRAGMA synchronous=OFF" if sqlite else "SET synchronous_commit = off")
            cursor.close()

        self.verifier.engine.dispose()  # the connection opened by Verifier() predates the listener
        for i in range(USERS):
            name, key = "bench%d" % i, os.urandom(32)
            self.passwords[name] = os.urandom(12).hex()
            self.verifier.add_user(name, self.passwords[name])
            self.verifier.enroll_token(name, "DSC%05d" % (i + 1), key, PIN, suite=SUITE, active=True)
            self.keys[name] = key

    def issue(self, count):
        """[(user, challenge_id, right response)], round robin over the users."""
        out = []
        names = sorted(self.keys)
        for i in range(count):
            name = names[i % len(names)]
            ch = self.verifier.issue(name)
            out.append((name, ch["challenge_id"], self.suite.response(self.keys[name], ch["challenge"], pin=PIN)))
        return out

    def write(self, answers, path):
        with open(path, "w") as f:
            f.writelines("%s,%s,%s\n" % a for a in answers)
        os.chmod(path, 0o600)

    def close(self):
        self.verifier.close()


def durable_postgres():
    """tests/verifier/pg.py's throwaway server, restarted with durable commits:
    pg.py starts it with fsync=off (right for its tests, not for a benchmark) and
    has no option for that, so restart it with fsync, synchronous_commit and
    full_page_writes on."""
    server = pg.Server()
    try:
        options = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on "
                   "-c full_page_writes=on -c max_connections=200" % (server.port, server.dir))
        server._run([server.pg_ctl, "-D", server.data, "-l", server.log, "-o", options, "-w", "-t", "30", "restart"])
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=%d user=%s dbname=postgres" % (server.port, pg.SUPERUSER)) as conn:
            settings = {name: conn.execute("SHOW " + name).fetchone()[0]
                        for name in ("fsync", "synchronous_commit", "full_page_writes")}
        if set(settings.values()) != {"on"}:
            raise RuntimeError("PostgreSQL is not durable after the restart: %s" % settings)
    except BaseException:
        server.stop()
        raise
    return server


# ---- CPU of processes that are not our children ----------------------------------------------

def cpu_ticks(root_pids):
    """{pid: user+system clock ticks} of `root_pids` and all their descendants."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rpartition(")")[2].split()
            except OSError:  # ended meanwhile
                continue
            stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    found, todo = {}, [p for p in root_pids if p in stats]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found[pid] = stats[pid][1]
            todo.extend(p for p, (ppid, _) in stats.items() if ppid == pid)
    return found


def cpu_seconds_since(before, root_pids):
    after = cpu_ticks(root_pids)
    return sum(t - before.get(pid, 0) for pid, t in after.items()) / TICKS


def postmaster_pid(server):
    with open(os.path.join(server.data, "postmaster.pid")) as f:
        return int(f.readline())


# ---- the library: Verifier.finish in a loop, in 1 or 2 processes ------------------------------

def _library_process(db, keyring, answers, start, results, release):
    v = service.Verifier(db, keyring)
    try:
        for _, challenge_id, response in answers[:WARM_CALLS]:
            v.finish(challenge_id, response)
        start.wait()
        latencies, refused = [], 0
        cpu0, t0 = time.process_time(), time.perf_counter()
        for _, challenge_id, response in answers[WARM_CALLS:]:
            t = time.perf_counter()
            if not v.finish(challenge_id, response)["ok"]:
                refused += 1
            latencies.append(time.perf_counter() - t)
            if t - t0 > LIBRARY_SECONDS:
                break
        t1 = time.perf_counter()
        results.put((t0, t1, latencies, refused, time.process_time() - cpu0))
        release.wait(60)  # PostgreSQL's backend for this process lives until its CPU is read
    finally:
        v.close()


def library_run(db, keyring, challenges, processes, db_pids):
    """Verifier.finish in `processes` processes at once, each on its own challenges."""
    context = multiprocessing.get_context("fork")
    start, release, results = context.Barrier(processes + 1), context.Event(), context.Queue()
    per = WARM_CALLS + LIBRARY_CALLS
    answers = challenges.issue(per * processes)
    procs = [context.Process(target=_library_process,
                             args=(db, keyring, answers[i * per:(i + 1) * per], start, results, release))
             for i in range(processes)]
    for p in procs:
        p.start()
    start.wait()
    db_before = cpu_ticks(db_pids)
    done = [results.get(timeout=300) for _ in procs]
    db_cpu = cpu_seconds_since(db_before, db_pids) if db_pids else None
    release.set()
    for p in procs:
        p.join()
    elapsed = max(d[1] for d in done) - min(d[0] for d in done)
    latencies = [x for d in done for x in d[2]]
    q = statistics.quantiles(latencies, n=100)
    return dict(rate=len(latencies) / elapsed, p50=q[49] * 1e3, p99=q[98] * 1e3, refused=sum(d[3] for d in done),
                generator_cpu=None, server_cpu=sum(d[4] for d in done), db_cpu=db_cpu, seconds=elapsed,
                ran_out=False)


# ---- HTTP: wrk against dsc serve ------------------------------------------------------------

def wrk(url, answers_path, seconds, connections):
    """wrk's figures (from the Lua script's done()) and the CPU seconds wrk used."""
    args = ["wrk", "-t", str(WRK_THREADS), "-c", str(connections), "-d", "%ds" % seconds, "-s", LUA,
            url, "--", answers_path, str(WRK_THREADS)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)  # wait4: the CPU of wrk alone
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = [x for x in out.splitlines() if x.startswith("dsc-bench ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError("wrk failed (exit %s): %s" % (proc.returncode, out[-1000:]))
    found = dict(kv.split("=") for kv in lines[-1].split()[1:])
    return {k: int(v) for k, v in found.items()}, usage.ru_utime + usage.ru_stime


def http_run(tmp, url, server, challenges, workers, library_rate, db_pids):
    """A 1 s warm-up, then SECONDS of wrk on challenges enough for 1.3x the
    library's rate (the HTTP path is not expected to be faster)."""
    connections = CONNECTIONS_PER_WORKER * workers
    path = str(tmp / "answers.csv")
    challenges.write(challenges.issue(int(library_rate) + 100), path)
    wrk(url, path, 1, connections)  # lets every worker load the app and open its connections
    challenges.write(challenges.issue(int(math.ceil(library_rate * SECONDS * 1.3)) + 200), path)
    server_pids = [server.proc.pid]
    server_before, db_before = cpu_ticks(server_pids), cpu_ticks(db_pids)
    found, generator_cpu = wrk(url, path, SECONDS, connections)
    server_cpu = cpu_seconds_since(server_before, server_pids)
    db_cpu = cpu_seconds_since(db_before, db_pids) if db_pids else None
    seconds = found["duration_us"] / 1e6
    return dict(rate=found["accepted"] / seconds, p50=found["p50_us"] / 1e3, p99=found["p99_us"] / 1e3,
                refused=found["other"] + found["errors"], generator_cpu=generator_cpu, server_cpu=server_cpu,
                db_cpu=db_cpu, seconds=seconds, ran_out=bool(found["ran_out"]), connections=connections)


# ---- the full login: password (KDF) then response, over HTTP ---------------------------------

def _post(conn, form):
    conn.request("POST", "/validate/check", urllib.parse.urlencode(form),
                 {"Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    body = response.read()
    return json.loads(body) if response.status == 200 else {}


def keepalive_floor(url, count=20):
    """p50 ms of GET /healthz, one after another on one keep-alive connection: the
    transport's own latency, with no verifier work and no concurrency."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    times = []
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            times.append(time.perf_counter() - t0)
    finally:
        conn.close()
    return statistics.median(times) * 1e3


def _login_loop(url, challenges, name, deadline, times, failures):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        while time.perf_counter() < deadline and len(failures) < 5:
            t0 = time.perf_counter()
            first = _post(conn, {"user": name, "pass": challenges.passwords[name]})
            if first.get("result", {}).get("authentication") != "CHALLENGE":
                failures.append(name)
                continue
            detail = first["detail"]
            question = detail["message"].rsplit(": ", 1)[1]  # the prompt ends with the challenge, as a user reads it
            answer = challenges.suite.response(challenges.keys[name], question, pin=PIN)
            second = _post(conn, {"user": name, "pass": answer, "transaction_id": detail["transaction_id"]})
            if second.get("result", {}).get("authentication") == "ACCEPT":
                times.append(time.perf_counter() - t0)
            else:
                failures.append(name)
    finally:
        conn.close()


def full_logins(url, challenges, clients):
    """`clients` users logging in over and over for LOGIN_SECONDS, each login two requests."""
    times, failures = [], []
    deadline = time.perf_counter() + LOGIN_SECONDS
    t0 = time.perf_counter()
    threads = [threading.Thread(target=_login_loop, args=(url, challenges, name, deadline, times, failures))
               for name in sorted(challenges.keys)[:clients]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return dict(rate=len(times) / elapsed, p50=statistics.median(times) * 1e3 if times else float("nan"),
                logins=len(times), failures=len(failures))


# ---- one backend: library 1 and 2 processes, then HTTP 1 and 2 workers ------------------------

def bench_backend(label, tmp, db, keyring, db_pids):
    rows, login, floor = [], None, None
    challenges = Challenges(db, keyring)
    try:
        library = {n: library_run(db, keyring, challenges, n, db_pids) for n in (1, 2)}
        for workers in (1, 2):
            server = Server(tmp, db, keyring, args=("--workers", str(workers)))
            try:
                if workers == 1:
                    floor = keepalive_floor(server.url)
                result = http_run(tmp, server.url, server, challenges, workers, library[workers]["rate"], db_pids)
                if workers == 2 and label == "SQLite":
                    login = full_logins(server.url, challenges, clients=workers)
            finally:
                server.stop()
            if "Traceback" in server.log_text():
                print("bench_http: the server logged a traceback (%s)" % server.log_path)
            result["ratio"] = result["rate"] / library[workers]["rate"]
            rows.append((label, workers, "http", result))
            rows.append((label, workers, "library", dict(library[workers], ratio=1.0)))
    finally:
        challenges.close()
    return rows, login, floor


# ---- the table ------------------------------------------------------------------------------

def cores(seconds, elapsed):
    return "%.2f" % (seconds / elapsed)


def print_table(rows):
    print("\n| backend | workers | path | per s | p50 ms | p99 ms | x library | load generator CPU (cores) "
          "| verifier CPU (cores): dsc serve or library | PostgreSQL CPU (cores) | not ACCEPT |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for backend, workers, path, r in rows:
        generator = cores(r["generator_cpu"], r["seconds"]) if r["generator_cpu"] is not None else "-"
        db_cpu = cores(r["db_cpu"], r["seconds"]) if r["db_cpu"] is not None else "-"
        print("| %s | %d | %s | %.0f%s | %.2f | %.2f | %.2f | %s | %s | %s | %d |" % (
            backend, workers, path, r["rate"], " (challenges ran out: at least)" if r["ran_out"] else "",
            r["p50"], r["p99"], r["ratio"], generator, cores(r["server_cpu"], r["seconds"]), db_cpu, r["refused"]))


def print_targets(rows):
    for backend, workers, path, r in rows:
        if path == "http" and workers == 2:
            met = r["ratio"] >= TARGET_RATIO and r["rate"] >= TARGET_PER_S and r["p99"] < TARGET_P99_MS and not r["refused"]
            print("target on %s, 2 workers: >= %.1fx the library, >= %d/s, p99 < %.0f ms, all ACCEPT: %s" % (
                backend, TARGET_RATIO, TARGET_PER_S, TARGET_P99_MS, "met" if met else "MISSED"))


def main():
    if not shutil.which("wrk"):
        print("bench_http: wrk is not installed (scripts/bootstrap.sh installs it); skipped")
        return
    rows, login, floors = [], None, {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        db, keyring = str(tmp / "v.db"), str(tmp / "master.key")
        service.init_db(db, keyring)
        sqlite_rows, login, floors["SQLite"] = bench_backend("SQLite", tmp, db, keyring, [])
        rows += sqlite_rows
        try:
            postgres = durable_postgres()
        except Exception as e:
            print("bench_http: PostgreSQL skipped: %s" % str(e).splitlines()[0])
            postgres = None
        if postgres is not None:
            try:
                url, _ = postgres.new_database()
                pg_keyring = str(tmp / "master-pg.key")
                service.init_db(url, pg_keyring)
                pg_rows, _, floors["PostgreSQL"] = bench_backend("PostgreSQL", tmp, url, pg_keyring,
                                                                  [postmaster_pid(postgres)])
                rows += pg_rows
            finally:
                postgres.stop()

    print("\nSecond factor: POST /validate/check with transaction_id and response (challenges issued beforehand)")
    print("over HTTP with wrk (%d thread, %d connections per worker, %d s, Lua: only 200 + ACCEPT counts) vs"
          % (WRK_THREADS, CONNECTIONS_PER_WORKER, SECONDS))
    print("Verifier.finish in a loop in as many processes as workers (%d s or %d calls each); durable commits: SQLite"
          % (LIBRARY_SECONDS, LIBRARY_CALLS))
    print("WAL synchronous=FULL, PostgreSQL fsync=on synchronous_commit=on. %d cores. CPU in cores = CPU s / wall s."
          % os.cpu_count())
    print("Load average (1 min) before the run %.1f, after %.1f: above %d, other processes shared the cores and disk."
          % (load_before, os.getloadavg()[0], os.cpu_count()))
    print_table(rows)
    print()
    print_targets(rows)
    for backend, floor in floors.items():
        print("transport floor (%s server, 1 worker): GET /healthz one at a time on one keep-alive connection: "
              "p50 %.1f ms" % (backend, floor))
    if login is not None:
        print("full login over HTTP on SQLite, 2 workers, 2 clients (password with the scrypt KDF -> CHALLENGE, "
              "then response -> ACCEPT): %.1f logins/s, p50 %.0f ms (%d logins, %d failed)" % (
                  login["rate"], login["p50"], login["logins"], login["failures"]))


if __name__ == "__main__":
    main()
