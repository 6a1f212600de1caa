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
once. The phone is the app at /mobile/ in a phone-sized page (it long-polls),
then the App polling /mobile/api/waiting every 2 s without a long poll, the
slowest plain polling the issue allows; without the app (or with BENCH_MOBILE_PHONE=simulator), the App
every 2 s, 1 s and 0.5 s. Skipped, with one line saying why, without Chromium
or Playwright, or if the login page shows no approval (strong#approve-number).

    python bench/bench_mobile.py        (or bench/run.py mobile)
"""

import os
import pathlib
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from host import ocra  # noqa: E402
from host.server import longpoll  # noqa: E402
from host.verifier import mobile, service  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORTS  # noqa: E402
from tests.server import test_mobile_api as mobile_api  # noqa: E402
from tests.server.conftest import PASSWORD, Server, make_db  # noqa: E402
from tests.verifier.test_mobile_activation import activate  # noqa: E402

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout, sync_playwright
except ImportError:  # part 2 says so and is skipped
    sync_playwright = None

ROUNDS = int(os.environ.get("BENCH_MOBILE_ROUNDS", "200"))  # approvals, and as many token logins
PRIMITIVE_ROUNDS = 3000
WARM = 20  # untimed rounds of each first
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
PIN = "2468"
TOKEN = "DSC00001"
LOGINS = int(os.environ.get("BENCH_MOBILE_LOGINS", "10"))  # browser logins per phone
INTERVALS = (2.0, 1.0, 0.5)  # the simulated phone's polling, when the app is not there
TARGET_S = 1.0


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
          "(WAL, synchronous=FULL), %d of each, interleaved; load average %.1f" % (ROUNDS, os.getloadavg()[0]))
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


# ---- part 2: the login page's password to "/", in Chromium -------------------------------------

# When (time.time()) the page now shown had loaded: its DOMContentLoaded, from its navigation timing.
LOADED = """(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    return (performance.timeOrigin + nav.domContentLoadedEventEnd) / 1000;
})()"""

# Put into the app's page: window.benchAnswer(n) has the page pick n, type the
# PIN and press Approve on the login's request as soon as it is there (at once
# if it is already), and note the time in window.benchAnswered; no round trip
# to Playwright between the request appearing and the answer.
ANSWER_AT_ONCE = """(pin) => {
    let wanted = null;
    window.benchAnswered = null;
    const tryAnswer = () => {
        if (wanted === null) { return; }
        for (const request of document.querySelectorAll("article.request")) {
            const number = [...request.querySelectorAll("button.number")].find((b) => b.textContent.trim() === wanted);
            if (!number) { continue; }
            wanted = null;
            number.click();
            request.querySelector("input.pin").value = pin;
            request.querySelector("button.approve").click();
            window.benchAnswered = Date.now() / 1000;
            return;
        }
    };
    new MutationObserver(tryAnswer).observe(document.body, { subtree: true, childList: true });
    window.benchAnswer = (n) => { wanted = String(n); window.benchAnswered = null; tryAnswer(); };
}"""

class NotBuilt(Exception):
    """What part 2 needs from the portal is not there yet."""


class SimulatedPhone:
    """The App polling /mobile/api/waiting every `interval` s and answering at once
    with the number the login page shows. Its first poll after the password is at
    `phase` s (the logins' phases are spread evenly over one interval: a phone
    polls on its own clock, not the login's). One per login."""

    def __init__(self, url, app, key, serial, interval, phase):
        self.url, self.app, self.key, self.serial = url, app, key, serial
        self.interval, self.phase = interval, phase
        self.shown, self.stopped = threading.Event(), threading.Event()
        self.number, self.error, self.answered = None, None, None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def before_submit(self):
        self.thread.start()

    def _run(self):
        suite = ocra.Suite(SUITE)
        start = time.perf_counter()
        try:
            with httpx.Client(base_url=self.url, timeout=30) as http:
                for k in range(int(30 / self.interval)):
                    if self.stopped.wait(max(0.0, start + self.phase + k * self.interval - time.perf_counter())):
                        return
                    r = mobile_api.poll(http, self.app, self.serial)
                    r.raise_for_status()
                    waiting = r.json()["waiting"]
                    if waiting:
                        if not self.shown.wait(30) or self.stopped.is_set():
                            return  # a person would look at the login page for the number
                        login = waiting[0]
                        self.answered = time.time()  # as the app's Approve is pressed
                        r = mobile_api.answer(http, self.app, login["transaction"], self.number,
                                              suite.response(self.key, login["question"], pin=PIN))
                        r.raise_for_status()
                        return
                raise RuntimeError("no login waited for the phone")
        except Exception as e:  # reported by the main thread
            self.error = e

    def show(self, number):
        self.number = number
        self.shown.set()

    def stop(self):
        self.stopped.set()
        self.shown.set()
        self.thread.join(35)

    def join(self):
        self.thread.join(35)
        if self.error is not None or self.answered is None:
            raise RuntimeError("the simulated phone failed: %r" % self.error)


class AppPhone:
    """The app at /mobile/ in a phone-sized page, activated with the code and
    answering each login at once: the number the login page shows, the PIN,
    Approve. The app long-polls (the server checks every longpoll.STEP while it
    holds the poll); the password is submitted (i + 0.5) / LOGINS of a step
    after the previous login ended, so the logins fall evenly across that step."""

    def __init__(self, browser, url, code):
        self.context = browser.new_context(**VIEWPORTS["phone"])
        self.page = self.context.new_page()
        self.page.goto("%s/mobile/#activate=%s" % (url, code))
        self.page.fill("#pin", PIN)
        self.page.fill("#pin2", PIN)
        self.page.click("#finish")
        self.page.locator("li.account").first.wait_for(timeout=15000)
        self.page.evaluate(ANSWER_AT_ONCE, PIN)
        self.logins = 0
        time.sleep(1.5)  # its first long poll is waiting

    def before_submit(self):
        time.sleep(0.5 + (self.logins + 0.5) / LOGINS * longpoll.STEP)
        self.logins += 1

    def show(self, number):
        """The number to pick; the page answers as soon as the request is there (ANSWER_AT_ONCE)."""
        self.page.evaluate("(n) => window.benchAnswer(n)", number)

    def answer_time(self):
        """When (time.time()) the page pressed Approve for the last login."""
        self.page.wait_for_function("window.benchAnswered !== null", timeout=30000)
        return self.page.evaluate("window.benchAnswered")

    def close(self):
        self.context.close()


def one_login(page, url, phone):
    """mona's login on the desktop `page`, in a new session (the browser's cache
    stays, as a returning user's does): the times (time.time()) of submitting
    the password, of the number shown, and of arriving at "/". The page's own
    navigation timings say when each page was there (its DOMContentLoaded), not
    when Playwright next looked."""
    page.context.clear_cookies()
    page.goto(url + "/login")
    page.fill("#username", "mona")
    page.fill("#password", PASSWORD)
    phone.before_submit()
    t0 = time.time()
    page.click("button[type=submit]")
    try:
        number = page.locator("strong#approve-number").inner_text(timeout=5000)
    except PlaywrightTimeout:
        raise NotBuilt("the login page shows no strong#approve-number after the password (%s)" % page.url)
    phone.show(int(number))
    shown = page.evaluate(LOADED)
    page.wait_for_url(lambda u: urllib.parse.urlsplit(u).path == "/", timeout=30000)
    return t0, shown, page.evaluate(LOADED)


def seconds(t0, shown, arrived, answered):
    """Seconds from the password to the number shown, the phone's answer, and "/"."""
    return shown - t0, answered - t0, arrived - t0


def with_simulator(desktop, url, phone_args, interval):
    times = []
    for i in range(LOGINS):
        phone = SimulatedPhone(url, *phone_args, interval=interval, phase=(i + 0.5) / LOGINS * interval)
        try:
            login = one_login(desktop, url, phone)
        except BaseException:
            phone.stop()
            raise
        phone.join()
        times.append(seconds(*login, phone.answered))
    return times


def with_app(desktop, url, phone):
    return [seconds(*one_login(desktop, url, phone), phone.answer_time()) for _ in range(LOGINS)]


def login_flow():
    """[(phone, [seconds() of each login])], or None when skipped (says why)."""
    if not os.access(CHROMIUM, os.X_OK):
        print("\nMobile in the browser: skipped, %s is missing (scripts/bootstrap.sh installs it)" % CHROMIUM)
        return None
    if sync_playwright is None:
        print("\nMobile in the browser: skipped, Playwright is missing (pip install -e '.[dev]')")
        return None
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        db, keyring = make_db(tmp, users=("alice", "mona"))  # alice has the token; mona gets a phone only
        v = service.Verifier(db, keyring)
        server = Server(tmp, db, keyring)
        playwright = sync_playwright().start()
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            desktop = browser.new_context(**VIEWPORTS["desktop"]).new_page()
            phone = None
            if (os.environ.get("BENCH_MOBILE_PHONE", "app") == "app"
                    and "OpenDSC Mobile" in httpx.get(server.url + "/mobile/", timeout=30).text):
                try:
                    phone = AppPhone(browser, server.url, v.mobile_activation("mona")["code"])
                except PlaywrightTimeout as e:
                    print("\nMobile in the browser: the app at /mobile/ did not activate (%s); the App simulator "
                          "answers instead" % str(e).splitlines()[0])
            if phone:
                try:
                    results.append(("the app at /mobile/ (long poll)",
                                    with_app(desktop, server.url, phone)))
                finally:
                    phone.close()
            phone_args = activate_phone(v, "mona")  # replaces the app's phone, as a new phone does
            for interval in INTERVALS[:1] if phone else INTERVALS:  # with the app: the slowest polling allowed
                results.append(("App simulator polling every %g s" % interval,
                                with_simulator(desktop, server.url, phone_args, interval)))
            browser.close()
        except NotBuilt as e:
            print("\nMobile in the browser: skipped, %s" % e)
            return None
        finally:
            playwright.stop()
            v.close()
            server.stop()
        if "Traceback" in server.log_text():
            raise SystemExit("bench: dsc serve logged a traceback:\n" + server.log_text()[-3000:])
    return results


def print_logins(results):
    print("\nMobile: a login in Chromium on a real dsc serve (SQLite), %d for each phone, the phone answering "
          "at once; seconds from submitting the password (median, and the max at \"/\"); load average %.1f"
          % (LOGINS, os.getloadavg()[0]))
    print("%-44s %8s %8s %8s %8s %8s" % ("phone", "number", "answered", "at \"/\"", "max", "< %g s" % TARGET_S))
    for name, times in results:
        shown, answered, total = ([t[i] for t in times] for i in range(3))
        median, most = statistics.median(total), max(total)
        verdict = "all" if most < TARGET_S else "median" if median < TARGET_S else "MISSED"
        print("%-44s %8.2f %8.2f %8.2f %8.2f %8s" % (name, statistics.median(shown), statistics.median(answered),
                                                     median, most, verdict))
    print("number: the login page shows it (after the password's KDF); answered: Approve pressed on the phone; "
          "at \"/\": the login page saw it approved (it polls /login/status) and landed on the user's page")


def main():
    server_cost()
    results = login_flow()
    if results:
        print_logins(results)


if __name__ == "__main__":
    main()
