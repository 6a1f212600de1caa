"""Web Push to OpenDSC Mobile (docs/mobile.md, "Web Push") from a real `dsc serve`
to a push service played by a local HTTP receiver: the app of
tests/verifier/test_mobile_protocol.py subscribes with its own P-256 key pair and
auth secret, a login starts, and the receiver gets the push, checks its VAPID
token and decrypts it (RFC 8291, http-ece) to find no secret in it."""

import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import httpx
import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from starlette.testclient import TestClient

from host.server import push
from host.server.app import create_app
from host.server.settings import Settings
from host.verifier import mobile, service
from host.verifier.store import push_subscriptions
from tests.server.conftest import PASSWORD, Server, make_db, wait_for
from tests.verifier.test_mobile_activation import activate
from tests.verifier.test_mobile_protocol import App

START = "/api/v1/login/start"
PUSH_WAIT = 5.0  # seconds: a push leaves within milliseconds; this is for a loaded machine
pytestmark = pytest.mark.xdist_group("mobile-push")  # one server and one receiver for the module


def unb64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Receiver(ThreadingHTTPServer):
    """A push service on 127.0.0.1: records each POST; answers 201, or what `status` says for a path."""

    daemon_threads = True

    def __init__(self):
        self.pushes, self.status, self.arrived = [], {}, threading.Condition()
        super().__init__(("127.0.0.1", 0), _Handler)
        self.origin = "http://127.0.0.1:%d" % self.server_address[1]

    def received(self, path, count=1, timeout=PUSH_WAIT):
        """The pushes to `path` once `count` have arrived (fewer after `timeout`)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.to(path)) >= count, timeout)
            return self.to(path)

    def to(self, path):
        return [p for p in self.pushes if p["path"] == path]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.arrived:  # recorded before the answer, so the sender never finds it missing
            self.server.pushes.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            self.server.arrived.notify_all()
        status = self.server.status.get(self.path, 201)
        self.send_response(status)
        if status in (301, 302, 307, 308):
            self.send_header("Location", "/push/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Browser:
    """What PushManager.subscribe() makes in the phone's browser: an endpoint on the
    push service, and the key pair and auth secret that decrypt what comes to it."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def subscription(self, serial, now=None, endpoint=None):
        return mobile.canonical({"auth": mobile.b64u(self.auth), "device": serial, "endpoint": endpoint or self.endpoint,
                                 "p256dh": mobile.b64u(mobile.raw_point(self.key.public_key())),
                                 "poll": int(time.time() if now is None else now)}).decode()

    def decrypt(self, push):
        assert push["headers"]["content-encoding"] == "aes128gcm"
        return http_ece.decrypt(push["body"], private_key=self.key, auth_secret=self.auth, version="aes128gcm")


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    thread = threading.Thread(target=r.serve_forever, daemon=True)
    thread.start()
    yield r
    r.shutdown()
    r.server_close()


@pytest.fixture(scope="module")
def world(tmp_path_factory, receiver):
    """(server, {user: (app, serial)}, library verifier): a `dsc serve` that may push
    to http on 127.0.0.1, and a phone activated for erin, gus and harry."""
    tmp = tmp_path_factory.mktemp("push")
    db, keyring = make_db(tmp, users=("alice", "erin", "gus", "harry"))
    v = service.Verifier(db, keyring)
    phones = {}
    for name in ("erin", "gus", "harry"):
        issued = v.mobile_activation(name)
        phones[name] = (activate(v, issued["code"])[0], issued["serial"])
    s = Server(tmp, db, keyring, extra_env={"DSC_PUSH_ALLOW_HTTP": "1"})
    try:
        yield s, phones, v
    finally:
        s.stop()
        v.close()
    assert "Traceback" not in s.log_text()


def subscribe(http, app, browser, serial, **kw):
    message = browser.subscription(serial, **kw)
    return http.post("/mobile/api/push/subscribe",
                     json={"message": message, "signature": mobile.b64u(app.sign(message.encode()))})


def check_vapid(authorization, server_key, audience):
    """RFC 8292: `vapid t=JWT,k=KEY`, KEY the server's public key, the JWT signed by it (ES256) for `audience`."""
    scheme, _, params = authorization.partition(" ")
    fields = dict(p.split("=", 1) for p in params.split(","))
    assert scheme == "vapid" and set(fields) == {"t", "k"}
    assert fields["k"] == server_key
    signed, _, signature = fields["t"].rpartition(".")
    header, claims = (json.loads(unb64u(part)) for part in signed.split("."))
    assert header == {"typ": "JWT", "alg": "ES256"}
    raw = unb64u(signature)
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64u(server_key))
    key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
               signed.encode(), ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature if it is not the server's
    assert claims["aud"] == audience and time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert claims["sub"].startswith(("mailto:", "https://"))


def test_a_login_wakes_the_phone_with_a_push_that_holds_no_secret(world, receiver, secrets_sent):
    server, phones, _ = world
    app, serial = phones["erin"]
    browser = Browser(receiver.origin + "/push/erin")
    secrets_sent.add(mobile.b64u(browser.auth))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        key = http.get("/mobile/api/push/key").json()["public_key"]
        assert len(unb64u(key)) == 65 and unb64u(key)[0] == 4
        r = subscribe(http, app, browser, serial)
        assert r.status_code == 200 and r.json() == {"serial": serial}, r.text
        logins = [http.post(START, json={"username": "erin", "password": PASSWORD}).json()]
        assert logins[0]["kind"] == "mobile"
        (push,) = receiver.received("/push/erin")
        # privacyIDEA's /validate/check wakes it too.
        detail = http.post("/validate/check", data={"user": "erin", "pass": PASSWORD}).json()["detail"]
        poll_entry, typed = detail["multi_challenge"]  # the number and the question, in the messages
        logins.append({"challenge_id": detail["transaction_id"], "number": int(poll_entry["message"].rsplit(" ", 1)[1]),
                       "challenge": typed["message"].rsplit(": ", 1)[1]})
        pushes = receiver.received("/push/erin", 2)
        assert len(pushes) == 2
    for push in pushes:
        assert push["headers"]["ttl"] == "120" and push["headers"]["urgency"] == "high"
        check_vapid(push["headers"]["authorization"], key, receiver.origin)
        plain = browser.decrypt(push)
        assert json.loads(plain) == {"type": "login-waiting"}
        for login in logins:
            for secret in ("erin", serial, login["challenge_id"], login["challenge"], str(login["number"]), PASSWORD):
                assert secret.encode() not in plain
            for secret in (serial, login["challenge_id"], PASSWORD):  # long enough not to occur in ciphertext by chance
                assert secret.encode() not in push["body"]
    assert mobile.b64u(browser.auth) not in server.log_text()


def test_an_unsigned_or_forged_subscription_is_refused_and_stores_nothing(world, receiver):
    server, phones, v = world
    app, serial = phones["harry"]
    browser = Browser(receiver.origin + "/push/forged")
    message = browser.subscription(serial)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for signature in ("", mobile.b64u(bytes(64)), mobile.b64u(App().sign(message.encode())),
                          mobile.b64u(phones["erin"][0].sign(message.encode()))):
            r = http.post("/mobile/api/push/subscribe", json={"message": message, "signature": signature})
            assert r.status_code == 401 and r.json()["error"] == "bad-signature", r.text
        r = http.post("/mobile/api/push/subscribe", json={"message": message})
        assert r.status_code == 422 and r.json()["error"] == "invalid-request"
        stale = subscribe(http, app, browser, serial, now=time.time() - 120)
        assert stale.status_code == 401 and stale.json()["error"] == "stale-poll"
    with v.engine.connect() as conn:
        assert conn.execute(push_subscriptions.select().where(push_subscriptions.c.endpoint == browser.endpoint)
                            ).all() == []


def test_an_http_endpoint_needs_the_setting(world, receiver):
    server, phones, _ = world
    app, serial = phones["harry"]
    tmp = server.log_path.parent  # where make_db put the database and its key ring
    strict = create_app(Settings(db=str(tmp / "v.db"), master_key_file=str(tmp / "master.key")))  # no DSC_PUSH_ALLOW_HTTP
    try:
        with TestClient(strict) as http:
            r = subscribe(http, app, Browser(receiver.origin + "/push/plain"), serial)
            assert r.status_code == 400 and r.json()["error"] == "bad-endpoint", r.text
            r = subscribe(http, app, Browser("https://127.0.0.1/push"), serial)
            assert r.status_code == 400 and r.json()["error"] == "bad-endpoint", "nor a local address over https"
    finally:
        strict.state.verifier.close()


def test_a_revoked_phone_gets_no_push(world, receiver):
    server, phones, v = world
    old, old_serial = phones["gus"]
    old_browser, new_browser = Browser(receiver.origin + "/push/gus-old"), Browser(receiver.origin + "/push/gus-new")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert subscribe(http, old, old_browser, old_serial).status_code == 200
        issued = v.mobile_activation("gus")
        new, new_serial = activate(v, issued["code"])[0], issued["serial"]  # a new phone revokes the old one
        assert subscribe(http, old, old_browser, old_serial).status_code == 401, "a revoked phone cannot subscribe"
        login = http.post(START, json={"username": "gus", "password": PASSWORD}).json()
        assert login["serial"] == new_serial, "the new phone has no subscription yet: nothing to push to"
        assert subscribe(http, new, new_browser, new_serial).status_code == 200
        http.post(START, json={"username": "gus", "password": PASSWORD})
        assert len(receiver.received("/push/gus-new")) == 1
    assert receiver.to("/push/gus-old") == [], "the revoked phone's subscription is never used"


def test_a_subscription_the_push_service_says_is_gone_is_dropped(world, receiver):
    server, phones, v = world
    app, serial = phones["harry"]
    browser = Browser(receiver.origin + "/push/gone")
    receiver.status["/push/gone"] = 410
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert subscribe(http, app, browser, serial).status_code == 200

        def subscribed():
            with v.engine.connect() as conn:
                return conn.execute(push_subscriptions.select().where(push_subscriptions.c.endpoint == browser.endpoint)
                                    ).first() is not None

        assert subscribed()
        r = http.post(START, json={"username": "harry", "password": PASSWORD})
        assert r.status_code == 200, "a push service's refusal never fails the login"
        assert len(receiver.received("/push/gone")) == 1
        assert wait_for(lambda: not subscribed(), PUSH_WAIT)


class FakeVerifier:
    """What the Pusher asks of the verifier, for one subscription; mobile_push_target
    waits for `go` (a slow database or push service)."""

    def __init__(self, browser):
        self.browser, self.go, self.dropped = browser, threading.Event(), []
        self.go.set()
        self.key = ec.generate_private_key(ec.SECP256R1())

    def mobile_push_target(self, device_id):
        self.go.wait(5)
        return {"endpoint": self.browser.endpoint, "auth": mobile.b64u(self.browser.auth),
                "p256dh": mobile.b64u(mobile.raw_point(self.browser.key.public_key()))}

    def mobile_push_vapid(self):
        return self.key, mobile.raw_point(self.key.public_key())

    def mobile_push_drop(self, device_id, endpoint):
        self.dropped.append((device_id, endpoint))


def test_a_redirect_is_not_followed(receiver):
    receiver.status["/push/redirect"] = 307
    pusher = push.Pusher(FakeVerifier(Browser(receiver.origin + "/push/redirect")), "mailto:ops@bank.example")
    with pytest.raises(requests.TooManyRedirects):
        pusher.send(7)
    assert len(receiver.to("/push/redirect")) == 1 and receiver.to("/push/elsewhere") == []


def test_the_hook_returns_at_once_and_a_full_queue_drops_pushes(receiver):
    verifier = FakeVerifier(Browser(receiver.origin + "/push/queue"))
    verifier.go.clear()  # every push waits, as behind a push service that hangs
    pusher = push.Pusher(verifier, "mailto:ops@bank.example")
    begun = time.monotonic()
    for _ in range(push.QUEUE_MAX + 20):
        pusher.notify(3)
    assert time.monotonic() - begun < 1.0 and pusher._waiting == push.QUEUE_MAX
    verifier.go.set()
    assert len(receiver.received("/push/queue", push.QUEUE_MAX)) == push.QUEUE_MAX
    assert wait_for(lambda: pusher._waiting == 0, PUSH_WAIT)
    pusher.close()
    pusher.notify(3)  # after the server's shutdown: nothing
    assert pusher._waiting == 0 and verifier.dropped == []
