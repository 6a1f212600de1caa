"""Authlib's client against OpenDSC's OpenID Connect provider (issue 20): the whole
authorization code flow as an app runs it, the user logging in with the keypad token on
the portal's forms in between, and every refusal the issue names: a redirect URI that
was not registered, a token request without the PKCE verifier, a code used twice (what
the first use gave is revoked), a code older than 60 s (the provider's clock moved), and
on the client's side a tampered ID token and a nonce that is not the one sent.

The provider runs in-process (FastAPI's TestClient) on a verifier whose clock the tests
move; Authlib's relying party reaches it through the same transport."""

import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from host.verifier import service
from host.verifier.policy import Policy
from tests.oidc.peers import register_client, relying_party, sign_in
from tests.portal.test_confirm_pages import token_answer
from tests.server.conftest import PASSWORD, PIN, make_db
from tests.verifier.conftest import Clock

pytest.importorskip("authlib")
REDIRECT_URI = "https://app.example/callback"
ISSUER = "https://login.example"  # --public-url, and the TestClient's base URL


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """A database with alice (an active token) and the app registered as a confidential,
    first-party client of that redirect URI."""
    tmp = tmp_path_factory.mktemp("oidc-client")
    db, keyring = make_db(tmp)
    client = register_client(db, keyring, "Example app", "--redirect-uri", REDIRECT_URI, "--first-party")
    return {"db": db, "keyring": keyring, "client": client}


@pytest.fixture
def provider(registered, secrets_sent):
    """(browser, app's relying party, clock): the service in-process on a verifier whose clock
    starts now; `browser` is the user agent (cookies kept, redirects not followed)."""
    from fastapi.testclient import TestClient

    from host.server.app import create_app
    from host.server.settings import Settings

    secrets_sent.add(registered["client"]["client_secret"])
    clock = Clock(time.time())
    v = service.Verifier(registered["db"], registered["keyring"], clock=clock,
                         policy=Policy(throttle_per_address=0, throttle_per_user=0))
    settings = Settings(db=registered["db"], master_key_file=registered["keyring"], public_url=ISSUER)
    try:
        with TestClient(create_app(settings, verifier=v), base_url=ISSUER, follow_redirects=False) as browser:
            # the app's client reaches the provider through the TestClient's in-process transport
            rp = relying_party(browser._transport, ISSUER, registered["client"])
            yield browser, rp, clock
    finally:
        v.close()


def alice_signs_in(browser, rp, secrets_sent, **params):
    """The app sends alice's browser to the provider; she logs in with her token. The
    authorization request (url, state, nonce, code_verifier) and the callback's query."""
    asked = rp.create_authorization_url(REDIRECT_URI, **params)
    answer = token_answer(PIN)

    def keyed(page):
        response = answer(page)
        secrets_sent.add(response)
        return response

    back = sign_in(browser, asked["url"], "alice", PASSWORD, keyed, REDIRECT_URI)
    assert isinstance(back, str), "the sign-in never returned to the app (HTTP %s)" % back.status_code
    query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    secrets_sent.add(query.get("code", ""))
    return asked, query


def redeem(rp, asked, query, **changes):
    params = dict(dict(code=query["code"], code_verifier=asked["code_verifier"]), **changes)
    return rp.fetch_access_token(REDIRECT_URI, **{k: v for k, v in params.items() if v is not None})


def test_the_code_flow_gives_alice_an_id_token_naming_her_login_on_the_token(provider, secrets_sent):
    browser, rp, clock = provider
    asked, query = alice_signs_in(browser, rp, secrets_sent)
    assert query["state"] == asked["state"]
    assert query["iss"] == ISSUER  # RFC 9207: which provider answered
    token = redeem(rp, asked, query)
    secrets_sent.update({token["access_token"], token["id_token"]})
    claims = rp.parse_id_token(token, asked["nonce"])  # signature (JWKS), iss, aud, exp, nonce, at_hash
    assert claims["iss"] == ISSUER and claims["aud"] in (rp.client_id, [rp.client_id])
    assert claims["preferred_username"] == "alice"
    assert claims["sub"] and "alice" not in claims["sub"]  # stable per user, not the name
    assert claims["acr"] == "urn:opendsc:acr:token"
    assert claims["amr"] == ["pwd", "hwk", "mfa"]
    assert abs(claims["auth_time"] - clock.now) < 5
    assert rp.load_server_metadata()["id_token_signing_alg_values_supported"][0] == "ES256"
    info = rp.userinfo(token=token)
    assert info["sub"] == claims["sub"] and info["preferred_username"] == "alice"

    again, query = alice_signs_in(browser, rp, secrets_sent)  # her session: straight back, the same sub
    assert rp.parse_id_token(redeem(rp, again, query), again["nonce"])["sub"] == claims["sub"]


def test_a_redirect_uri_not_registered_is_refused_and_never_redirected_to(provider, secrets_sent):
    browser, rp, _ = provider
    for wrong in ("https://evil.example/callback", REDIRECT_URI + "/more", REDIRECT_URI + "?x=1",
                  REDIRECT_URI.replace("https", "http")):
        asked = rp.create_authorization_url(wrong)
        page = browser.get(asked["url"])
        assert page.status_code == 400, wrong
        assert "location" not in page.headers  # an error page here, never a redirect to that address
        assert "This sign-in request is not valid" in page.text


def test_a_token_request_without_the_pkce_verifier_is_refused(provider, secrets_sent):
    from authlib.integrations.base_client import OAuthError

    browser, rp, _ = provider
    asked, query = alice_signs_in(browser, rp, secrets_sent)
    with pytest.raises(OAuthError) as refused:
        redeem(rp, asked, query, code_verifier=None)
    assert refused.value.error in ("invalid_request", "invalid_grant")
    with pytest.raises(OAuthError) as wrong:
        redeem(rp, asked, query, code_verifier=asked["code_verifier"][::-1])
    assert wrong.value.error == "invalid_grant"


def test_a_code_used_twice_is_refused_and_revokes_what_its_first_use_gave(provider, secrets_sent):
    from authlib.integrations.base_client import OAuthError

    browser, rp, _ = provider
    asked, query = alice_signs_in(browser, rp, secrets_sent)
    token = redeem(rp, asked, query)
    secrets_sent.update({token["access_token"], token["id_token"]})
    assert rp.userinfo(token=token)["preferred_username"] == "alice"
    with pytest.raises(OAuthError) as replayed:
        redeem(rp, asked, query)
    assert replayed.value.error == "invalid_grant"
    refused = browser.get("/oidc/userinfo", headers={"Authorization": "Bearer " + token["access_token"]})
    assert refused.status_code == 401 and "error" in refused.json()


def test_a_code_older_than_60_seconds_is_refused(provider, secrets_sent):
    from authlib.integrations.base_client import OAuthError

    browser, rp, clock = provider
    asked, query = alice_signs_in(browser, rp, secrets_sent)
    clock.now += 61
    with pytest.raises(OAuthError) as expired:
        redeem(rp, asked, query)
    assert expired.value.error == "invalid_grant"


def tampered(id_token, **claims):
    """The ID token with its payload changed and its signature kept."""
    header, payload, signature = id_token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(claims)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return ".".join([header, forged, signature])


def test_the_client_rejects_a_tampered_id_token_and_a_nonce_that_is_not_its_own(provider, secrets_sent):
    from joserfc.errors import BadSignatureError, InvalidClaimError

    browser, rp, _ = provider
    asked, query = alice_signs_in(browser, rp, secrets_sent)
    token = redeem(rp, asked, query)
    secrets_sent.update({token["access_token"], token["id_token"]})
    assert rp.parse_id_token(token, asked["nonce"])["preferred_username"] == "alice"  # the real one passes
    with pytest.raises(BadSignatureError):
        rp.parse_id_token(dict(token, id_token=tampered(token["id_token"], preferred_username="mallory")),
                          asked["nonce"])
    with pytest.raises(InvalidClaimError, match="nonce"):
        rp.parse_id_token(token, asked["nonce"] + "x")
    # and the provider put the nonce it was sent in the token, not one the client did not send
    other, query = alice_signs_in(browser, rp, secrets_sent, nonce="a-nonce-of-the-apps-own")
    assert rp.parse_id_token(redeem(rp, other, query), "a-nonce-of-the-apps-own")["nonce"] == "a-nonce-of-the-apps-own"
