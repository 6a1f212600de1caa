"""OpenDSC Mobile (issue 11, docs/mobile.md).

Part 1, the server's cost per approval: through the verifier library with
durable SQLite commits, N logins approved on a phone (issue, the app's signed
answer, complete) against N hardware-token logins (issue, finish with the
OCRA response), interleaved in the same run, as ratios of the token's login;
and the signature check alone (mobile.check_signature) against the OCRA
verification alone. The phone is tests/verifier/test_mobile_protocol.py's App.
What the phone and the token compute (signatures, responses) is not timed.

Part 2, the login as a person sees it: a real `dsc serve` and Debian's
Chromium through Playwright (as tests/browser does); the time from submitting
the password on the login page to arriving at "/", with the phone answering at
once. The phone is the app at /mobile/ in a phone-sized page when `dsc serve`
serves it, else the App polling /mobile/api/waiting every 2 s, 1 s and 0.5 s.
Skipped, with one line saying why, without Chromium or Playwright, or while
the login page has no approval (strong#approve-number).

    python bench/bench_mobile.py        (or bench/run.py mobile)
"""

import os
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from host import ocra  # noqa: E402
from host.verifier import mobile, service  # noqa: E402
from tests.verifier.test_mobile_activation import activate  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_MOBILE_ROUNDS", "400"))  # approvals, and as many token logins
PRIMITIVE_ROUNDS = 3000
WARM = 20  # untimed rounds of each first
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
PIN = "2468"
TOKEN = "DSC00001"


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def signed_answer(app, transaction, number, response):
    """The app's approval: the canonical message (keys in sorted order, as its JavaScript writes them) and its signature."""
    message = '{"decision":"approve","number":%d,"response":"%s","transaction":"%s"}' % (number, response, transaction)
    return message, mobile.b64u(app.sign(message.encode()))


def activate_phone(v, name, pin=PIN):
    """`name`'s phone, activated as the app does it: (app, its OCRA key, serial)."""
    issued = v.mobile_activation(name)
    app, ocra_key, _, _ = activate(v, issued["code"], pin=pin)
    return app, ocra_key, issued["serial"]


# ---- part 1: the server's cost per approval -------------------------------------------------

def token_login(v, suite, key):
    """Seconds the verifier spent on one token login (issue + finish); the token's response is not timed."""
    t0 = time.perf_counter()
    ch = v.issue("alice", device=TOKEN)
    t1 = time.perf_counter()
    response = suite.response(key, ch["challenge"], pin=PIN)
    t2 = time.perf_counter()
    if not v.finish(ch["challenge_id"], response)["ok"]:
        raise SystemExit("bench: a right token response was refused")
    return (t1 - t0) + (time.perf_counter() - t2)


def approval(v, suite, app, key, serial):
    """Seconds the verifier spent on one approval (issue + mobile_answer + complete), and on one
    signed poll that finds the login waiting; the app's response and signatures are not timed."""
    t0 = time.perf_counter()
    ch = v.issue("mona", device=serial)
    t1 = time.perf_counter()
    message = '{"device":"%s","poll":%d}' % (serial, int(time.time()))
    signature = mobile.b64u(app.sign(message.encode()))
    t2 = time.perf_counter()
    (waiting,) = v.mobile_waiting(message, signature)
    t3 = time.perf_counter()
    message, signature = signed_answer(app, waiting["transaction"], ch["number"],
                                       suite.response(key, waiting["question"], pin=PIN))
    t4 = time.perf_counter()
    if not v.mobile_answer(message, signature)["ok"] or not v.complete(ch["challenge_id"]):
        raise SystemExit("bench: a right approval was refused")
    t5 = time.perf_counter()
    return (t1 - t0) + (t5 - t4), t3 - t2


def per_call(fn, rounds):
    t = time.perf_counter()
    for i in range(rounds):
        fn(i)
    return (time.perf_counter() - t) / rounds


def server_cost():
    suite = ocra.Suite(SUITE)
    token_key = os.urandom(32)
    with tempfile.TemporaryDirectory() as tmp:
        db, mk = os.path.join(tmp, "v.db"), os.path.join(tmp, "m.key")
        service.init_db(db, mk)
        v = service.Verifier(db, mk)
        try:
            v.add_user("alice", "correct horse")
            v.enroll_token("alice", TOKEN, token_key, PIN, suite=SUITE, active=True)
            v.add_user("mona", "correct horse")
            app, phone_key, serial = activate_phone(v, "mona")
            for _ in range(WARM):
                token_login(v, suite, token_key)
                approval(v, suite, app, phone_key, serial)
            tokens, approvals, polls = [], [], []
            for _ in range(ROUNDS):  # interleaved: both see the same disk and the same machine
                tokens.append(token_login(v, suite, token_key))
                approved, polled = approval(v, suite, app, phone_key, serial)
                approvals.append(approved)
                polls.append(polled)
            device_public = app.device_public()  # the key the verifier checks answers against
        finally:
            v.close()

    check = suite.verifier(token_key, pin=PIN)
    message = signed_answer(app, "0" * 32, 42, "12345678")[0].encode()
    signature = app.sign(message)
    mobile.check_signature(device_public, message, signature)
    bare_ocra = per_call(lambda i: check.verify("%06d" % i, "12345678"), PRIMITIVE_ROUNDS)
    bare_signature = per_call(lambda i: mobile.check_signature(device_public, message, signature),
                              PRIMITIVE_ROUNDS // 3)

    token_mean = statistics.mean(tokens)
    print("\nMobile: the server's cost per login through the library, durable SQLite commits "
          "(WAL, synchronous=FULL), %d of each, interleaved" % ROUNDS)
    print("%-52s %9s %9s %9s %9s" % ("what", "per s", "p50 ms", "p99 ms", "x token"))
    rows = (("token login: issue + finish (baseline)", tokens),
            ("phone approval: issue + answer + complete", approvals),
            ("one signed poll that finds it (mobile_waiting)", polls),
            ("approval with that poll", [a + p for a, p in zip(approvals, polls)]))
    for name, xs in rows:
        mean = statistics.mean(xs)
        print("%-52s %9.0f %9.3f %9.3f %9.2f" % (name, 1 / mean, pct(xs, 0.5) * 1e3, pct(xs, 0.99) * 1e3,
                                                  mean / token_mean))
    print("%-52s %9s %9s %9s %9s" % ("primitives alone, in the same process", "per s", "mean ms", "", "x OCRA"))
    print("%-52s %9.0f %9.4f %9s %9s" % ("OCRA verification (suite.verifier().verify)", 1 / bare_ocra,
                                        bare_ocra * 1e3, "", "1"))
    print("%-52s %9.0f %9.4f %9s %9.1f" % ("P-256 signature check (mobile.check_signature)", 1 / bare_signature,
                                          bare_signature * 1e3, "", bare_signature / bare_ocra))
    return statistics.mean(approvals) / token_mean


def main():
    server_cost()


if __name__ == "__main__":
    main()
