"""dsc serve itself: health, readiness, metrics, refusing to start, SIGTERM, and its logs."""

import re
import signal
import socket
import subprocess
import sys
import time

from tests.server.conftest import PASSWORD, ROOT, Server, in_own_thread, make_db



def test_health_and_ready(http):
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {"status": "ready"}


def test_metrics(http):
    http.post("/api/v1/login/start", json={"username": "alice", "password": "wrong-for-metrics"})
    r = http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert re.search(r'dsc_verifications_total\{outcome="bad-credentials",step="start"\} [1-9]', text)
    assert 'dsc_request_seconds_bucket{le="0.5",route="/api/v1/login/start"}' in text
    assert "dsc_lockouts_total" in text


def _serve(env_extra, tmp_path, args=()):
    import os

    env = dict(os.environ, **env_extra)
    env.pop("DSC_POLICY_FILE", None) if "DSC_POLICY_FILE" not in env_extra else None
    return subprocess.run([sys.executable, "-m", "host.cli", "serve", "--listen", "127.0.0.1:0", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_refuses_to_start_in_one_line(tmp_path):
    db, keyring = make_db(tmp_path, users=("alice",))
    bad_policy = tmp_path / "policy.json"
    bad_policy.write_text('{"lockout_failures": 0}')
    for env, args in (
        ({"DSC_MASTER_KEY_FILE": keyring, "DSC_POLICY_FILE": str(bad_policy)}, ["--db", db]),
        ({"DSC_MASTER_KEY_FILE": str(tmp_path / "missing.key")}, ["--db", db]),
        ({"DSC_MASTER_KEY_FILE": keyring}, ["--db", str(tmp_path / "no.db")]),
        ({"DSC_MASTER_KEY_FILE": keyring}, ["--db", db, "--listen", "nowhere"]),
    ):
        r = _serve(env, tmp_path, args)
        assert r.returncode != 0 and r.stdout == "", (args, r)
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("dsc serve: "), r.stderr


def test_sigterm_finishes_the_request_in_flight(tmp_path):
    db, keyring = make_db(tmp_path, users=("alice",))
    server = Server(tmp_path, db, keyring)
    try:
        import httpx

        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200  # its signal handlers are set
        host, port = server.url.split("//")[1].rsplit(":", 1)
        body = b'{"username": "alice", "password": "%s"}' % PASSWORD.encode()
        sock = socket.create_connection((host, int(port)), timeout=30)
        sock.sendall(b"POST /api/v1/login/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        time.sleep(1.0)  # the request is in flight: its headers are read, its body not yet sent
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.proc.poll() is None  # still finishing
        sock.sendall(body)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        sock.close()
        assert reply.startswith(b"HTTP/1.1 200"), reply
        assert b'"challenge_id"' in reply
    finally:
        code = server.stop()
    assert code == 0
    log = server.log_text()
    assert "Traceback" not in log and "Finished server process" in log


def test_two_workers(tmp_path):
    import httpx

    db, keyring = make_db(tmp_path, users=("alice",))
    server = Server(tmp_path, db, keyring, args=("--workers", "2"))
    try:
        ok = False
        for _ in range(100):
            try:
                ok = httpx.get(server.url + "/readyz", timeout=5).status_code == 200
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert ok
    finally:
        assert server.stop() == 0


def test_access_lines_of_one_turn_of_the_event_loop_go_out_in_one_write_in_order():
    """dsc serve's access log (host/server/logs.py): lines of requests that end in the same
    turn of the event loop are one write, whole and in order, before the loop waits again;
    a line from a thread without a loop is written at once; flush() writes what waits.
    (In a thread of its own, which has no loop running until the test starts one.)"""
    in_own_thread(_access_lines_of_one_turn)


def _access_lines_of_one_turn():
    import asyncio
    import logging

    from host.server.logs import LoopBatchedStreamHandler

    class Stream:
        def __init__(self):
            self.writes = []

        def write(self, text):
            self.writes.append(text)

        def flush(self):
            pass

    stream = Stream()
    handler = LoopBatchedStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    log = logging.getLogger("test.batched-access")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        async def turn():
            for i in range(5):
                log.info('127.0.0.1 "GET /healthz" 200 %d', i)
            assert stream.writes == []  # nothing before the turn ends
            await asyncio.sleep(0)
            await asyncio.sleep(0)

        asyncio.run(turn())
        assert stream.writes == ["".join('test.batched-access 127.0.0.1 "GET /healthz" 200 %d\n' % i for i in range(5))]
        log.info("from a thread without a loop")
        assert stream.writes[-1] == "test.batched-access from a thread without a loop\n"

        async def left_waiting():
            log.info("logged as the loop stops")

        asyncio.run(left_waiting())
        handler.flush()
        assert "test.batched-access logged as the loop stops\n" in stream.writes[-2:]
    finally:
        log.removeHandler(handler)
