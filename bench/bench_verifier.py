"""Second-factor verifications through the verifier library with durable SQLite
commits, as ratios of the bare OCRA computation in the same run; p50/p99
latency; and the password KDF on its own line (deliberately slow).

    python bench/bench_verifier.py        (or bench/run.py for every bench)
"""

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from host import ocra  # noqa: E402
from host.verifier import passwords, service  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1500"))
TARGET_PER_S, TARGET_P99_MS = 1000, 5.0


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main():
    suite = ocra.Suite(ocra.DEFAULT_SUITE)
    key = os.urandom(32)
    check = suite.verifier(key, pin="1234")
    t = time.perf_counter()
    for i in range(20000):
        check.verify("%06d" % i, "12345678")
    bare = (time.perf_counter() - t) / 20000

    with tempfile.TemporaryDirectory() as tmp:
        db, mk = os.path.join(tmp, "v.db"), os.path.join(tmp, "m.key")
        service.init_db(db, mk)
        v = service.Verifier(db, mk)
        v.add_user("alice", "correct horse")
        v.enroll_token("alice", "DSC00001", key, "1234", active=True)
        full, verify_only = [], []
        for i in range(ROUNDS):
            t0 = time.perf_counter()
            ch = v.issue("alice")
            t1 = time.perf_counter()
            ok = v.finish(ch["challenge_id"], suite.response(key, ch["challenge"], pin="1234"))
            t2 = time.perf_counter()
            if not ok["ok"]:
                raise SystemExit("bench: a right response was refused")
            full.append(t2 - t0)
            verify_only.append(t2 - t1)
        t = time.perf_counter()
        for _ in range(5):
            passwords.hash_password("correct horse")
        kdf = (time.perf_counter() - t) / 5
        v.close()

    print("\nVerifier: issue + verify with durable SQLite commits (WAL, synchronous=FULL), %d rounds" % ROUNDS)
    print("%-44s %10s %9s %9s %12s" % ("what", "per s", "p50 ms", "p99 ms", "x bare OCRA"))
    print("%-44s %10.0f %9.4f %9.4f %12s" % ("bare OCRA verification (baseline)", 1 / bare, bare * 1e3, bare * 1e3, "1"))
    for name, xs in (("complete second factor (issue + verify)", full), ("verification alone (finish)", verify_only)):
        mean = statistics.mean(xs)
        print("%-44s %10.0f %9.3f %9.3f %12.0f" % (name, 1 / mean, pct(xs, 0.5) * 1e3, pct(xs, 0.99) * 1e3, mean / bare))
    print("%-44s %10.1f %9.1f %9s %12s" % ("password KDF (scrypt n=2^14 r=8), not above", 1 / kdf, kdf * 1e3, "", ""))
    rate = 1 / statistics.mean(full)
    print("target: >= %d complete verifications/s, p99 < %.0f ms: %s" % (
        TARGET_PER_S, TARGET_P99_MS, "met" if rate >= TARGET_PER_S and pct(full, 0.99) * 1e3 < TARGET_P99_MS else "MISSED"))


if __name__ == "__main__":
    main()
