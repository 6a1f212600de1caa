"""Signing keys: made on first need and shared through the database, sealed with
the master key (its rotation re-seals them), and rotated with an overlap: a rotated
key stays in JWKS until the ID tokens it signed have expired, then goes."""

import json

import pytest
from joserfc import jwt
from joserfc.errors import JoseError

from host.verifier import service
from host.verifier.store import oidc_keys

pytest.importorskip("authlib")


@pytest.fixture
def clocked(people):
    """A verifier whose clock the test moves: (verifier, [now])."""
    now = [1_900_000_000.0]
    v = service.Verifier(people["db"], people["keyring"], clock=lambda: now[0])
    yield v, now
    v.close()


def test_a_rotated_key_verifies_its_tokens_until_they_expire_then_leaves_jwks(clocked):
    from host.oidc import keys

    v, now = clocked
    old_kid, old_key = keys.signing_key(v, "ES256")
    old_token = jwt.encode({"alg": "ES256", "kid": old_kid}, {"sub": "x"}, old_key)
    assert keys.rotate(v) and keys.signing_key(v, "ES256")[0] != old_kid
    now[0] += keys.ID_TOKEN_LIFETIME - 1
    assert jwt.decode(old_token, keys.key_set(v)).claims == {"sub": "x"}, "still in JWKS while its tokens live"
    now[0] += 2
    assert old_kid not in [k["kid"] for k in keys.jwks(v)["keys"]]
    with pytest.raises(JoseError):
        jwt.decode(old_token, keys.key_set(v))
    assert sorted(k["alg"] for k in keys.jwks(v)["keys"]) == ["ES256", "RS256"], "the current keys stay"


def test_every_process_signs_with_the_same_key_and_the_private_part_is_sealed(people, clocked):
    from host.oidc import keys

    v, _ = clocked
    other = service.Verifier(people["db"], people["keyring"])
    try:
        kid, key = keys.signing_key(v, "RS256")
        assert keys.signing_key(other, "RS256")[0] == kid
        with v.engine.connect() as conn:
            stored = conn.execute(oidc_keys.select().where(oidc_keys.c.kid == kid)).first()
        private = json.dumps(key.as_dict(private=True))
        assert key.as_dict(private=True)["d"].encode() not in stored.private_key and private.encode() != stored.private_key
        assert "d" not in json.loads(stored.public_jwk)
        other.rotate_master_key()  # re-seals every sealed column, the signing keys' too
        fresh = service.Verifier(people["db"], people["keyring"])
        try:
            assert keys.signing_key(fresh, "RS256")[0] == kid
        finally:
            fresh.close()
    finally:
        other.close()
