"""The provider's signing keys (joserfc JWKs), shared by every server process
through the database (store.oidc_keys), their private parts sealed with the
master key like every other secret (keystore.SEALED re-seals them on rotation).

Each algorithm (ES256, RS256) has one current key, made on first need. A
rotation (`dsc oidc keys rotate`) makes a new current key; the old one signs
nothing more but stays in JWKS until the ID tokens it signed have expired
(retired_at + ID_TOKEN_LIFETIME), then it is deleted.
"""

import json

from joserfc import jwk
from sqlalchemy import delete, select

from host.verifier.store import insert_missing, meta, oidc_keys

ALGORITHMS = ("ES256", "RS256")  # ES256 by default; RS256 for clients registered so
ID_TOKEN_LIFETIME = 600  # seconds: what a rotated key's overlap must cover


def _context(kid):
    return "oidc-key:%s:private" % kid


def _generate(alg):
    if alg == "ES256":
        return jwk.ECKey.generate_key("P-256", private=True)
    return jwk.RSAKey.generate_key(2048, private=True)


def _public(key, alg):
    return dict(key.as_dict(private=False), kid=key.thumbprint(), alg=alg, use="sig")


def _insert_new(conn, verifier, alg, now):
    key = _generate(alg)
    kid = key.thumbprint()
    sealed = verifier.keys.seal(conn, json.dumps(key.as_dict(private=True)).encode(), _context(kid))
    insert_missing(conn, oidc_keys, kid=kid, alg=alg, public_jwk=json.dumps(_public(key, alg)),
                   private_key=sealed, created_at=now, retired_at=None)
    return kid


def _current_row(conn, alg):
    return conn.execute(select(oidc_keys).where(oidc_keys.c.alg == alg).where(oidc_keys.c.retired_at.is_(None))
                        .order_by(oidc_keys.c.created_at.desc())).first()


def _lock(conn):
    """Whoever makes or rotates keys holds this row's lock (SQLite: the write lock),
    so there is one current key per algorithm whatever processes race."""
    insert_missing(conn, meta, name="oidc_keys_lock", value=b"")
    conn.execute(select(meta.c.name).where(meta.c.name == "oidc_keys_lock").with_for_update()).first()


def signing_key(verifier, alg):
    """(kid, private joserfc key) of `alg`'s current key, made now if there is none."""
    if alg not in ALGORITHMS:
        raise ValueError("no such signing algorithm: %s" % alg)
    with verifier.engine.connect() as conn:  # a read: every ID token asks, a write would serialise them
        row = _current_row(conn, alg)
    if row is None:
        with verifier.engine.begin() as conn:
            _lock(conn)
            if _current_row(conn, alg) is None:  # still none once we hold the lock
                _insert_new(conn, verifier, alg, verifier.clock())
            row = _current_row(conn, alg)
    private = json.loads(verifier.keys.open(row.private_key, _context(row.kid)))
    return row.kid, jwk.import_key(private)


def _sweep(conn, now):
    conn.execute(delete(oidc_keys).where(oidc_keys.c.retired_at.is_not(None))
                 .where(oidc_keys.c.retired_at < now - ID_TOKEN_LIFETIME))


def jwks(verifier):
    """The public keys that may have signed a live ID token: {"keys": [...]}."""
    now = verifier.clock()
    with verifier.engine.connect() as conn:
        rows = conn.execute(select(oidc_keys.c.public_jwk, oidc_keys.c.retired_at)
                            .order_by(oidc_keys.c.created_at)).all()
    live = [r for r in rows if r.retired_at is None or r.retired_at >= now - ID_TOKEN_LIFETIME]
    if len(live) < len(rows):  # a write only when a retired key's overlap has ended
        with verifier.engine.begin() as conn:
            _sweep(conn, now)
    return {"keys": [json.loads(r.public_jwk) for r in live]}


def key_set(verifier):
    """The JWKS as a joserfc KeySet (to check our own ID tokens, e.g. an id_token_hint)."""
    return jwk.KeySet.import_key_set(jwks(verifier))


def rotate(verifier):
    """A new current key for each algorithm in one transaction; the old ones are
    retired (kept in JWKS for ID_TOKEN_LIFETIME). Returns the new key ids."""
    now = verifier.clock()
    made = []
    with verifier.engine.begin() as conn:
        _lock(conn)
        _sweep(conn, now)
        for alg in ALGORITHMS:
            conn.execute(oidc_keys.update().where(oidc_keys.c.alg == alg).where(oidc_keys.c.retired_at.is_(None))
                         .values(retired_at=now))
            made.append(_insert_new(conn, verifier, alg, now))
    return made
