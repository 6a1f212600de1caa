"""Web Push to OpenDSC Mobile (docs/mobile.md, "Web Push"): when a challenge is
issued for a phone, wake its app through the push service its browser
subscribed with (pywebpush: RFC 8291 encryption, RFC 8292 VAPID).

The verifier calls Pusher.notify (its on_mobile_challenge hook, set by
create_app) in the request's thread once the challenge has committed; notify
only queues the device id. A small pool of threads looks up the subscription,
encrypts the one payload there is, {"type": "login-waiting"} (no user, number,
question, serial or transaction: the app learns those from its signed poll),
and POSTs it. Nothing of this can delay or fail a login: a full queue drops the
push, a failure is logged by its kind only, and a subscription the push
service says is gone (404, 410) is forgotten. Redirects are not followed: the
server POSTs only to the URL a phone registered with its device key.
"""

import concurrent.futures
import json
import logging
import threading
import time
from urllib.parse import urlsplit

import requests
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

log = logging.getLogger("dsc.server")

PAYLOAD = json.dumps({"type": "login-waiting"}, separators=(",", ":"))
TTL = 120  # seconds a push service keeps the message for a phone that is offline: about a challenge's life
TIMEOUT = (3.0, 5.0)  # seconds to connect to the push service, and for its answer
WORKERS = 2
QUEUE_MAX = 100  # pushes waiting for a thread; past that a push is dropped (the app still polls)
GONE = (404, 410)  # the subscription expired or was unsubscribed (RFC 8030 section 7.3)
CLAIMS_LIFE = 12 * 3600  # seconds a VAPID token is valid (RFC 8292 allows at most 24 h)


class Pusher:
    def __init__(self, verifier, contact):
        self.verifier = verifier
        self.contact = contact  # the VAPID `sub`
        self._lock = threading.Lock()
        self._pool = None
        self._waiting = 0
        self._closed = False
        self._local = threading.local()
        self._signer = None  # the VAPID key, read from the database at the first push

    def notify(self, device_id):
        """The verifier's on_mobile_challenge hook: queue a push and return at once."""
        with self._lock:
            if self._closed:
                return
            if self._waiting >= QUEUE_MAX:
                log.warning("push dropped: %d waiting", self._waiting)
                return
            if self._pool is None:  # threads only in a process that pushes
                self._pool = concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="dsc-push")
            self._pool.submit(self._run, device_id)
            self._waiting += 1

    def _run(self, device_id):
        try:
            self.send(device_id)
        except Exception as e:  # noqa: BLE001 - a push is a hint; the kind says enough, the text may hold the URL
            log.warning("push failed: %s", type(e).__name__)
        finally:
            with self._lock:
                self._waiting -= 1

    def send(self, device_id):
        """Push to the device's subscription, if it has one and is active. Returns the
        push service's status, or None when there was nothing to push to."""
        target = self.verifier.mobile_push_target(device_id)
        if target is None:
            return None
        endpoint = target["endpoint"]
        url = urlsplit(endpoint)
        claims = {"sub": self.contact, "aud": "%s://%s" % (url.scheme, url.netloc),
                  "exp": int(time.time()) + CLAIMS_LIFE}
        try:
            response = webpush({"endpoint": endpoint, "keys": {"p256dh": target["p256dh"], "auth": target["auth"]}},
                               data=PAYLOAD, vapid_private_key=self._vapid(), vapid_claims=claims, ttl=TTL,
                               headers={"Urgency": "high"}, timeout=TIMEOUT, requests_session=self._session())
        except WebPushException as e:
            status = getattr(e.response, "status_code", None)
            if status in GONE:
                self.verifier.mobile_push_drop(device_id, endpoint)
                log.info("push subscription gone (%d): dropped", status)
            else:
                log.warning("push refused: %s", status)
            return status
        return response.status_code

    def _vapid(self):
        if self._signer is None:
            self._signer = Vapid(private_key=self.verifier.mobile_push_vapid()[0])
        return self._signer

    def _session(self):
        """One HTTP session a thread (keep-alive to the push service), following no redirect."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.max_redirects = 0  # a redirect is refused, not followed to wherever it points
        return session

    def close(self):
        """At the server's shutdown: pushes still queued are dropped (their logins
        end with the server), a push being sent ends within TIMEOUT."""
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def install(app, verifier, settings):
    """Let `verifier` wake phones: its hook queues pushes on this process's Pusher."""
    pusher = app.state.push = Pusher(verifier, settings.push_contact)
    verifier.on_mobile_challenge = pusher.notify
    app.router.add_event_handler("shutdown", pusher.close)
    return pusher
