"""Web Push for OpenDSC Mobile (docs/mobile.md, "Web Push"): the server's VAPID
key pair, and each phone's push subscription.

Only storage and checks live here: no network I/O. When a challenge is issued
for an active phone, the verifier calls its hook `on_mobile_challenge(device_id)`
after the challenge's transaction has committed; the server sets the hook
(host/server/push.py), sends the push off the request thread, and asks this
module for the subscription (`mobile_push_target`) and the VAPID key
(`mobile_push_vapid`). A push only says that a login is waiting: the app learns
what waits from its signed poll, so a lost, late or forged push changes nothing.
"""

import ipaddress
import logging
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from host.verifier import audit as audit_log, mobile
from host.verifier.errors import VerifierError
from host.verifier.kinds import MOBILE
from host.verifier.store import devices, insert_missing, push_keys, push_subscriptions, users

log = logging.getLogger("dsc.verifier")

VAPID_ID = 1  # the one row of push_keys
VAPID_CONTEXT = "push-key:%d:private" % VAPID_ID
ENDPOINT_MAX = 1024  # characters of a subscription's endpoint URL
AUTH_LENGTH = 16  # bytes of a subscription's authentication secret (RFC 8291)
SUBSCRIBE_FIELDS = ("auth", "endpoint", "p256dh")  # besides the poll's device and time
SUBSCRIBE_MAX = 2048  # bytes of the signed subscribe message: the endpoint and two keys


def check_endpoint(endpoint, allow_http=False):
    """The endpoint URL a browser's push service gave, or VerifierError. The server
    POSTs to it, so: https, a host name, no user info, and not an address of this
    machine or its private network. `allow_http` (tests and local development
    only: the server's DSC_PUSH_ALLOW_HTTP) allows http, and such addresses too."""
    bad = VerifierError("bad-endpoint", "endpoint must be an https URL of a push service, at most %d characters"
                        % ENDPOINT_MAX)
    if not isinstance(endpoint, str) or not 0 < len(endpoint) <= ENDPOINT_MAX or not endpoint.isascii() \
            or any(c <= " " or c == "\x7f" for c in endpoint):
        raise bad
    try:
        url = urlsplit(endpoint)
        url.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise bad
    if url.scheme not in (("https", "http") if allow_http else ("https",)) or not url.hostname \
            or "@" in url.netloc or url.fragment or "\\" in endpoint:
        raise bad
    if not allow_http:
        host = url.hostname.rstrip(".")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if host == "localhost" or host.endswith(".localhost") or (address is not None and not address.is_global):
            raise bad
    return endpoint


class MobilePush:
    # Set by the server (host/server/app.py): called with a device id after a
    # challenge for an active `mobile` device has committed. It must return at
    # once (the login waits for it); whatever it raises is logged and ignored.
    on_mobile_challenge = None

    def _notify_phone(self, device_id):
        hook = self.on_mobile_challenge
        if hook is None:
            return
        try:
            hook(device_id)
        except Exception as e:  # noqa: BLE001 - a push is a hint: it never fails a login
            log.warning("push hook failed: %s", type(e).__name__)

    def mobile_push_vapid(self):
        """(private key, raw public point) of the server's VAPID pair (P-256),
        made on first need and kept in the database, its private key sealed, so
        that every server process signs with the same one."""
        cached = getattr(self, "_vapid", None)
        if cached is not None:
            return cached
        with self.engine.connect() as conn:
            row = conn.execute(select(push_keys).where(push_keys.c.id == VAPID_ID)).first()
        if row is None:
            made = ec.generate_private_key(ec.SECP256R1())
            scalar = made.private_numbers().private_value.to_bytes(32, "big")
            with self.engine.begin() as conn:  # another process may win: then its pair is the one
                insert_missing(conn, push_keys, id=VAPID_ID, public_key=mobile.raw_point(made.public_key()),
                               private_key=self.keys.seal(conn, scalar, VAPID_CONTEXT), created_at=self.clock())
                row = conn.execute(select(push_keys).where(push_keys.c.id == VAPID_ID)).first()
        scalar = self.keys.open(row.private_key, VAPID_CONTEXT)
        private = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
        if mobile.raw_point(private.public_key()) != row.public_key:
            raise VerifierError("bad-push-key", "the stored VAPID key pair does not match")
        self._vapid = (private, row.public_key)
        return self._vapid

    def mobile_push_key(self):
        """The VAPID public key the app subscribes with (applicationServerKey), base64url."""
        return mobile.b64u(self.mobile_push_vapid()[1])

    def mobile_push_subscribe(self, message, signature, allow_http=False):
        """A phone's push subscription, signed by its device key: the canonical
        {auth, device, endpoint, p256dh, poll}, within a poll's ±60 s. It replaces
        the device's previous one. Returns {"serial"}."""
        now = self.clock()
        obj = mobile.parse_poll(message, now, SUBSCRIBE_FIELDS, SUBSCRIBE_MAX)
        signed = mobile.unb64u(signature, "signature", mobile.SIGNATURE_LENGTH)
        endpoint = check_endpoint(obj["endpoint"], allow_http)
        p256dh = mobile.unb64u(obj["p256dh"], "p256dh", mobile.POINT_LENGTH)
        mobile.public_key(p256dh, "p256dh")
        auth = mobile.unb64u(obj["auth"], "auth", AUTH_LENGTH)
        with self.engine.begin() as conn:
            dev = self._signing_phone(conn, obj["device"], message, signed)
            insert_missing(conn, push_subscriptions, device_id=dev.id, endpoint=endpoint, p256dh=p256dh, auth=auth,
                           created_at=now)
            conn.execute(push_subscriptions.update().where(push_subscriptions.c.device_id == dev.id)
                         .values(endpoint=endpoint, p256dh=p256dh, auth=auth, created_at=now))
            name = conn.execute(select(users.c.username).where(users.c.id == dev.user_id)).scalar()
            audit_log.record(conn, now, name, "%s:%s" % (MOBILE, dev.serial), "activation", "ok", "push subscribed")
        return {"serial": dev.serial}

    def mobile_push_target(self, device_id):
        """{"endpoint", "p256dh", "auth"} (the keys base64url) of an active phone's
        subscription, or None: a revoked phone is pushed nothing."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(push_subscriptions.c.endpoint, push_subscriptions.c.p256dh, push_subscriptions.c.auth)
                .join(devices, devices.c.id == push_subscriptions.c.device_id)
                .where(push_subscriptions.c.device_id == device_id).where(devices.c.kind == MOBILE)
                .where(devices.c.status == "active")).first()
        if row is None:
            return None
        return {"endpoint": row.endpoint, "p256dh": mobile.b64u(row.p256dh), "auth": mobile.b64u(row.auth)}

    def mobile_push_drop(self, device_id, endpoint):
        """Forget a subscription its push service says is gone (404, 410), unless the
        phone has subscribed again since. True if one was dropped."""
        with self.engine.begin() as conn:
            return conn.execute(push_subscriptions.delete().where(push_subscriptions.c.device_id == device_id)
                                .where(push_subscriptions.c.endpoint == endpoint)).rowcount == 1

