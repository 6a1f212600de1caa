"""Web Push's storage in the verifier (host/verifier/mobile_push.py): the VAPID
pair made once and sealed, a phone's signed subscription, and the hook a
challenge for a phone calls; on SQLite and PostgreSQL. Sending is the server's
(tests/server/test_mobile_push.py)."""

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from host.verifier import mobile, service
from host.verifier.errors import VerifierError
from host.verifier.mobile_push import check_endpoint
from host.verifier.store import push_keys, push_subscriptions
from tests.verifier.conftest import PASSWORD
from tests.verifier.test_mobile_activation import mobile_rows
from tests.verifier.test_mobile_approval import phone  # noqa: F401  (a fixture)

ENDPOINT = "https://push.example.net/v2/abc-DEF_123"


def subscription():
    """What a browser's PushManager.subscribe() gives: an endpoint, p256dh and auth."""
    key = ec.generate_private_key(ec.SECP256R1())
    return ENDPOINT, mobile.b64u(mobile.raw_point(key.public_key())), mobile.b64u(os.urandom(16))


def subscribe_message(serial, now, endpoint=ENDPOINT, p256dh=None, auth=None):
    _, fresh_p256dh, fresh_auth = subscription()
    return mobile.canonical({"auth": auth or fresh_auth, "device": serial, "endpoint": endpoint,
                             "p256dh": p256dh or fresh_p256dh, "poll": int(now)}).decode()


def subscribe(v, app, message):
    return v.mobile_push_subscribe(message, mobile.b64u(app.sign(message.encode())))


def rows(v):
    with v.engine.connect() as conn:
        return conn.execute(push_subscriptions.select()).all()


def test_a_signed_subscription_is_kept_per_device_and_replaced(phone):  # noqa: F811
    v, clock, app, _, serial = phone
    message = subscribe_message(serial, clock.now)
    assert subscribe(v, app, message) == {"serial": serial}
    (row,) = rows(v)
    target = v.mobile_push_target(row.device_id)
    assert target["endpoint"] == ENDPOINT and len(mobile.unb64u(target["auth"], "auth")) == 16
    again = subscribe_message(serial, clock.now, endpoint=ENDPOINT + "-2")
    subscribe(v, app, again)
    assert [r.endpoint for r in rows(v)] == [ENDPOINT + "-2"], "one subscription a device: the newest"
    assert not v.mobile_push_drop(row.device_id, ENDPOINT), "a gone endpoint that was replaced drops nothing"
    assert v.mobile_push_drop(row.device_id, ENDPOINT + "-2") and rows(v) == []
    assert any(e["reason"] == "push subscribed" for e in v.audit_log("alice"))


@pytest.mark.postgresql_under_fuzz  # refusals and reads: make test runs them on SQLite
def test_an_unsigned_forged_or_stale_subscription_stores_nothing(phone):  # noqa: F811
    from tests.verifier.test_mobile_protocol import App

    v, clock, app, _, serial = phone
    message = subscribe_message(serial, clock.now)
    refusals = [
        (message, "", "bad-signature"),
        (message, mobile.b64u(App().sign(message.encode())), "bad-signature"),
        (subscribe_message("MA-NOPE", clock.now), mobile.b64u(app.sign(b"x")), "bad-signature"),
        (subscribe_message(serial, clock.now - 61), None, "stale-poll"),
        (subscribe_message(serial, clock.now, endpoint="http://push.example.net/x"), None, "bad-endpoint"),
        (subscribe_message(serial, clock.now, p256dh=mobile.b64u(b"\x04" + bytes(64))), None, "bad-p256dh"),
        (subscribe_message(serial, clock.now, auth=mobile.b64u(bytes(15))), None, "bad-auth"),
        (message.replace('{"auth"', '{ "auth"'), None, "bad-message"),
        ('{"device":"%s","poll":%d}' % (serial, clock.now), None, "bad-message"),
    ]
    for text, signature, code in refusals:
        with pytest.raises(VerifierError) as e:
            v.mobile_push_subscribe(text, mobile.b64u(app.sign(text.encode())) if signature is None else signature)
        assert e.value.code == code, (text, code)
    assert rows(v) == []


@pytest.mark.parametrize("endpoint", [
    "http://push.example.net/x", "https://127.0.0.1/x", "https://[::1]/x", "https://10.1.2.3/x",
    "https://169.254.169.254/latest", "https://localhost/x", "https://a.localhost./x", "https://user@push.example.net/x",
    "https://push.example.net/x#f", "https://push.example.net:99999/x", "https:///x", "ftp://push.example.net/x",
    "https://push.example.net/a b", "https://push.exämple.net/x", "https://push.example.net/" + "a" * 1000, "", None, 5,
])
def test_an_endpoint_must_be_an_https_url_of_a_push_service(endpoint):
    with pytest.raises(VerifierError) as e:
        check_endpoint(endpoint)
    assert e.value.code == "bad-endpoint"


def test_real_push_services_pass_and_local_ones_only_when_allowed():
    for endpoint in ("https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91b", "https://web.push.apple.com/QGx-1",
                     "https://updates.push.services.mozilla.com/wpush/v2/gAAAAA", "https://push.example.net:8443/x"):
        assert check_endpoint(endpoint) == endpoint
    assert check_endpoint("http://127.0.0.1:8123/push/1", allow_http=True)
    with pytest.raises(VerifierError):
        check_endpoint("ftp://127.0.0.1/x", allow_http=True)


@pytest.mark.postgresql_under_fuzz  # refusals and reads: make test runs them on SQLite
def test_the_hook_runs_after_a_phone_challenge_commits_and_never_fails_a_login(phone):  # noqa: F811
    v, clock, app, _, serial = phone
    calls = []

    def hook(device_id):  # committed: the phone's poll (another connection) sees the login already
        calls.append((device_id, len(v.mobile_waiting(*signed_poll(app, serial, clock.now)))))
        raise RuntimeError("a push service that is down")

    v.on_mobile_challenge = hook
    login = v.start("alice", PASSWORD, device=serial)
    assert login["number"] and len(calls) == 1 and calls[0][1] == 1
    v.issue("alice", device=serial)  # the portal's way: the password checked already
    assert len(calls) == 2 and calls[1][1] == 2
    v.start("alice", PASSWORD, device="DSC00001")
    assert len(calls) == 2, "a token's challenge wakes no phone"
    assert {c[0] for c in calls} == {d.id for d in mobile_rows(v)}


def signed_poll(app, serial, now):
    message = '{"device":"%s","poll":%d}' % (serial, int(now))
    return message, mobile.b64u(app.sign(message.encode()))


@pytest.mark.postgresql_under_fuzz  # refusals and reads: make test runs them on SQLite
def test_a_revoked_phone_is_pushed_nothing(phone):  # noqa: F811
    v, clock, app, _, serial = phone
    subscribe(v, app, subscribe_message(serial, clock.now))
    (row,) = rows(v)
    assert v.mobile_push_target(row.device_id)
    v.revoke_device("alice", serial)
    assert v.mobile_push_target(row.device_id) is None


def test_the_vapid_pair_is_made_once_shared_sealed_and_rotated(world, db):
    v, clock, _, tmp = world
    key = v.mobile_push_key()
    assert len(mobile.unb64u(key, "key")) == 65
    other = service.Verifier(db, str(tmp / "master.key"), clock=clock)  # another server process
    try:
        assert other.mobile_push_key() == key
        private, public = other.mobile_push_vapid()
        scalar = private.private_numbers().private_value.to_bytes(32, "big")
        with v.engine.connect() as conn:
            (row,) = conn.execute(push_keys.select()).all()
        assert row.public_key == public and scalar not in row.private_key, "the private key is sealed"
        v.rotate_master_key()
        with v.engine.connect() as conn:
            resealed = conn.execute(push_keys.select()).first().private_key
        assert resealed != row.private_key
        fresh = service.Verifier(db, str(tmp / "master.key"), clock=clock)
        try:
            assert fresh.mobile_push_vapid()[0].private_numbers() == private.private_numbers()
        finally:
            fresh.close()
    finally:
        other.close()
