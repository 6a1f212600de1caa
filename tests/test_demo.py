"""`dsc demo` (make run): the first run makes the accounts and enrolls the simulated
token, a newcomer logs in with what it prints, and a second run, in the foreground
terminal UI, reuses all of it. The printed passwords and PIN are secrets: no
assertion here shows them (comparisons are made before the assert)."""

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time

import httpx

from host.client import TokenClient
from host.verifier import service

DSC = [sys.executable, "-m", "host.cli"]
BLOCK_END = "the portal stops too."
PATTERNS = {
    "portal": r"portal +(http://\S+)/login",
    "demo": r"user +demo +password (\S+) +PIN ([^\r\n]*\S)",
    "helpdesk": r"help desk +helpdesk +password (\S+) +card (\S+)",
    "link": r"token +(socket://\S+)",
}


def demo_env():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("DSC_POLICY_FILE", None)
    return env


def demo_args(state, ui=False):
    return DSC + ["demo", "--state", str(state), "--listen", "127.0.0.1:0", "--link", "socket://127.0.0.1:0",
                  *([] if ui else ["--no-ui"])]


def stop(proc):
    """SIGTERM, as Ctrl-C would (killed if it does not end then): its exit status (None
    when it had to be killed) and what it wrote on stderr."""
    proc.send_signal(signal.SIGTERM)
    try:
        status = proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        status = None
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    return status, stderr


def read_until(fd, text, timeout=30):
    """What `fd` gave until `text`; the failure never shows the output (it holds the passwords)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        assert time.monotonic() < deadline, "dsc demo never printed %r" % text
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # a pty whose other end closed
                chunk = b""
            assert chunk, "dsc demo ended before printing %r" % text
            seen += chunk
    return seen.decode(errors="replace")


def parse_block(text):
    found = {}
    for name, pattern in PATTERNS.items():
        match = re.search(pattern, text)
        assert match, "the block has no %s line" % name
        found[name] = match.groups()
    return {"portal": found["portal"][0], "password": found["demo"][0], "pin": found["demo"][1],
            "helpdesk_password": found["helpdesk"][0], "card": found["helpdesk"][1], "link": found["link"][0]}


def log_in_as_demo(block, secrets_sent):
    """The newcomer's login: the printed password, then the challenge keyed with the
    printed PIN into the simulated token (through its debug link)."""
    with httpx.Client(base_url=block["portal"], timeout=30) as http:
        start = http.post("/api/v1/login/start", json={"username": "demo", "password": block["password"]})
        assert start.status_code == 200, start.json().get("error")
        challenge = start.json()
        with TokenClient(block["link"]) as token:
            response = token.respond(block["pin"], challenge["challenge"])
        secrets_sent.add(response)
        finish = http.post("/api/v1/login/finish", json={"challenge_id": challenge["challenge_id"],
                                                         "response": response})
    result = finish.json()
    assert finish.status_code == 200 and result["ok"] is True and result["user"] == "demo", result.get("error")
    assert result["device"] == "DEMO0001"


def portal_answers(portal):
    try:
        httpx.get(portal + "/healthz", timeout=2)
    except httpx.TransportError:
        return False
    return True


def graceful_stops(state):
    """How many times the portal stopped after finishing its requests (uvicorn's last line)."""
    return (state / "server.log").read_text().count("Finished server process")


def change_pin(state, block, new_pin, secrets_sent):
    """demo's PIN changed through the library, as the portal changes it: a challenge
    answered with the new PIN."""
    v = service.Verifier(str(state / "dsc.db"), str(state / "dsc-master.key"))
    try:
        asked = v.start("demo", block["password"], device="DEMO0001", purpose="pin-change", new_pin=new_pin)
        with TokenClient(block["link"]) as token:
            response = token.respond(new_pin, asked["challenge"])
        secrets_sent.add(response)
        assert v.finish(asked["challenge_id"], response)["ok"] is True
    finally:
        v.close()


CHANGED_ON = r"changed on \d{4}-\d\d-\d\d"


def test_a_newcomer_logs_in_with_what_the_demo_prints_and_a_second_run_reuses_it(tmp_path, secrets_sent):
    """... and once the PIN was changed, the running demo, its credentials file and the
    next run's banner (printed and above the token) say when, no longer the old PIN, which
    would only count towards the lockout."""
    state = tmp_path / "state"
    first = subprocess.Popen(demo_args(state), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=demo_env())
    try:
        block = parse_block(read_until(first.stdout.fileno(), BLOCK_END))
        assert re.fullmatch(r"[0-9]{4}", block["pin"])
        new_pin = "%04d" % ((int(block["pin"]) + 1) % 10000)
        secrets_sent.update({block["password"], block["pin"], new_pin, block["helpdesk_password"]})
        log_in_as_demo(block, secrets_sent)
        change_pin(state, block, new_pin, secrets_sent)
        said = read_until(first.stdout.fileno(), " not the first one.", timeout=10)
        assert re.search(r"The demo PIN was %s \d\d:\d\d UTC" % CHANGED_ON, said)
    finally:
        stopped, stderr = stop(first)
    assert stopped == 0 and "Traceback" not in stderr
    assert not portal_answers(block["portal"]), "SIGTERM left the portal running"
    assert graceful_stops(state) == 1
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    for name in ("demo-credentials.txt", "helpdesk-card.txt", "demo.key", "dsc-master.key", "dsc.db"):
        assert oct((state / name).stat().st_mode & 0o777) == "0o600", name
    assert block["card"] == str(state / "helpdesk-card.txt")
    assert "SECURITY CARD" in (state / "helpdesk-card.txt").read_text()
    (field,) = [line for line in (state / "demo-credentials.txt").read_text().splitlines()
                if line.startswith("demo PIN: ")]
    changed = re.fullmatch(r"demo PIN: %s \d\d:\d\d UTC(: .*)" % CHANGED_ON, field)
    assert changed and not re.search(r"[0-9]", changed.group(1)), "the credentials file still names a PIN"

    # The second run, as make run starts it: the token's terminal UI in the foreground.
    leader, follower = os.openpty()
    second = subprocess.Popen(demo_args(state, ui=True), stdin=follower, stdout=follower, stderr=follower,
                              env=demo_env(), start_new_session=True)
    os.close(follower)
    try:
        screen = read_until(leader, "PWR")  # the block, then the token drawn under its head
        printed, drawn = screen.split("\x1b[?1049h", 1)
        again = parse_block(printed)
        same = all(again[k] == block[k] for k in ("password", "helpdesk_password", "card"))
        assert same, "the second run printed other credentials"
        assert re.fullmatch(CHANGED_ON, again["pin"]) and re.fullmatch(CHANGED_ON, parse_block(drawn)["pin"])
        assert "In the token window below," in screen and "press the power key (p)" in screen
        log_in_as_demo(dict(again, pin=new_pin), secrets_sent)
        os.write(leader, b"p")
        read_until(leader, "PIN>")  # the enrolled token is on, asking for the PIN
        os.write(leader, b"q")
        assert second.wait(20) == 0
    finally:
        if second.poll() is None:  # its own session: the portal it started goes too
            os.killpg(second.pid, signal.SIGKILL)
            second.wait()
        os.close(leader)
    assert not portal_answers(again["portal"]), "quitting the token left the portal running"
    assert graceful_stops(state) == 2

    v = service.Verifier(str(state / "dsc.db"), str(state / "dsc-master.key"))
    try:
        devices = v.devices("demo")
        roles = {u["user"]: u["role"] for u in v.users()}
        helpdesk_devices = v.devices("helpdesk")
    finally:
        v.close()
    assert [(d["kind"], d["serial"], d["status"]) for d in devices] == [("token", "DEMO0001", "active")]
    assert roles == {"demo": "user", "helpdesk": "helpdesk"}
    assert [d["kind"] for d in helpdesk_devices] == ["code-card"]
    assert helpdesk_devices[0]["status"] == "active"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def portal_login(portal, link, password, pin, secrets_sent):
    """demo logged in to the portal's pages, the challenge keyed into the token."""
    http = httpx.Client(base_url=portal, timeout=30)
    page = http.get("/login").text
    r = http.post("/login", data={"username": "demo", "password": password, "csrf": csrf_of(page)})
    assert r.status_code == 303
    page = http.get("/login").text
    with TokenClient(link) as token:
        response = token.respond(pin, re.search(r'id="challenge-code">([0-9]{6})<', page).group(1))
    secrets_sent.add(response)
    r = http.post("/login/response", data={"response": response, "csrf": csrf_of(page)})
    assert r.status_code == 303
    return http


def csrf_of(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_a_taken_token_port_is_refused_before_anything_is_made_with_a_demo_args_line_that_works(tmp_path,
                                                                                                secrets_sent):
    """The portal's port is free, the token's is not: one line naming both options, nothing
    in the state folder, and the DEMO_ARGS it prints starts the demo, whose phone
    activation link is the portal's own address whatever Host a request names."""
    listen = "127.0.0.1:%d" % free_port()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    state = tmp_path / "state"
    try:
        link = "socket://127.0.0.1:%d" % taken.getsockname()[1]
        out = subprocess.run(DSC + ["demo", "--state", str(state), "--listen", listen, "--link", link, "--no-ui"],
                             capture_output=True, text=True, env=demo_env(), timeout=30)
        assert out.returncode == 1
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
        assert "--link %s (Address already in use)" % link in out.stderr, out.stderr
        assert not state.exists(), "the refused run made the state folder"
        suggested = re.search(r'make run DEMO_ARGS="([^"]*)"', out.stderr).group(1).split()
        assert suggested[:2] == ["--listen", listen], "the free portal port is kept"
        assert suggested[2] == "--link" and suggested[3] != link and suggested[4:] == ["--state", str(state),
                                                                                       "--no-ui"]
        proc = subprocess.Popen(DSC + ["demo"] + suggested, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=demo_env())
    finally:
        taken.close()
    try:
        block = parse_block(read_until(proc.stdout.fileno(), BLOCK_END))
        secrets_sent.update({block["password"], block["pin"], block["helpdesk_password"]})
        assert block["portal"] == "http://" + listen and block["link"] == suggested[3]
        http = portal_login(block["portal"], block["link"], block["password"], block["pin"], secrets_sent)
        try:
            home = http.get("/").text
            added = http.post("/mobile/add", data={"csrf": csrf_of(home)}, headers={"Host": "phone.example"})
        finally:
            http.close()
        assert added.status_code == 200
        assert 'id="server-address">http://%s<' % listen in added.text and "phone.example" not in added.text
    finally:
        stopped, stderr = stop(proc)
    assert stopped == 0 and "Traceback" not in stderr


def test_a_taken_port_is_refused_in_one_line_that_names_listen(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        out = subprocess.run(DSC + ["demo", "--state", str(tmp_path / "state"), "--listen", "127.0.0.1:%d" % port,
                                    "--no-ui"], capture_output=True, text=True, env=demo_env(), timeout=30)
    finally:
        taken.close()
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "--listen" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "state").exists()  # refused before anything was made
