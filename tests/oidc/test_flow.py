"""The code flow through the portal's login, in process: discovery and JWKS, PKCE,
the ID token's claims after a token, card or phone login, step-up by acr_values,
prompt and max_age, consent, and a code used twice."""

import time

import pytest
from joserfc import jwk, jwt

from host.verifier import mobile
from tests.ocra_reference import ocra
from tests.oidc.conftest import (APP, ISSUER, answer_for, authorize_params, consent_form_action, log_in, pkce,
                                 register, returned)
from tests.portal.test_login_pages import post
from tests.portal.test_mobile_pages import answer, shown_number
from tests.server.conftest import PASSWORD, PIN, SUITE
from tests.verifier.test_mobile_activation import activate

pytest.importorskip("authlib")

TOKEN, PHONE, OTP = "urn:opendsc:acr:token", "urn:opendsc:acr:phone", "urn:opendsc:acr:otp"


def exchange(client, rp, code, verifier, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": APP, "code_verifier": verifier}
    data.update(extra)
    return client.post("/oidc/token", data=data, auth=(rp["client_id"], rp["client_secret"]))


def id_token_claims(client, token_response, rp, nonce):
    keys = jwk.KeySet.import_key_set(client.get("/oidc/jwks").json())
    decoded = jwt.decode(token_response["id_token"], keys)
    claims = decoded.claims
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": rp["client_id"]},
                          nonce={"essential": True, "value": nonce}).validate(claims)
    return decoded.header, claims


def code_after_login(client, people, rp, name="alice"):
    """A first authorization for a browser with no session: (code, PKCE verifier)."""
    verifier, challenge = pkce()
    client.get("/oidc/authorize", params=authorize_params(rp, challenge))
    log_in(client, name, answer_for(name, people))
    return returned(client.get("/oidc/resume"))["code"], verifier


def flow(client, people, rp, name="alice", **extra):
    """Authorize (logging in when asked), then exchange the code: (token JSON, params sent)."""
    verifier, challenge = pkce()
    params = authorize_params(rp, challenge, **extra)
    r = client.get("/oidc/authorize", params=params)
    if r.status_code == 303 and r.headers["location"] == "/login":
        log_in(client, name, answer_for(name, people))
        r = client.get("/oidc/resume")
    back = returned(r)
    assert back["state"] == params["state"] and back["iss"] == ISSUER
    token = exchange(client, rp, back["code"], verifier)
    assert token.status_code == 200, token.text
    return token.json(), params, back


def test_discovery_names_the_endpoints_and_jwks_holds_the_signing_key(provider, people):
    with provider(people) as client:
        config = client.get("/.well-known/openid-configuration").json()
        assert config["issuer"] == ISSUER
        assert config["authorization_endpoint"] == ISSUER + "/oidc/authorize"
        assert config["response_types_supported"] == ["code"]
        assert config["code_challenge_methods_supported"] == ["S256"]
        assert "none" not in config["id_token_signing_alg_values_supported"]
        assert config["authorization_response_iss_parameter_supported"] is True
        assert config["end_session_endpoint"] == ISSUER + "/oidc/logout"
        rp = register(client, first_party=True)
        token, params, _ = flow(client, people, rp)
        header, _ = id_token_claims(client, token, rp, params["nonce"])
        published = client.get("/oidc/jwks").json()["keys"]
        assert header["alg"] == "ES256" and header["kid"] in [k["kid"] for k in published]
        assert all("d" not in k for k in published), "no private part in JWKS"


@pytest.mark.parametrize("public_url", ["", "http://login.example"])
def test_without_an_https_or_loopback_issuer_the_provider_says_so_and_serves_nothing(in_process, people, public_url):
    """No public URL (and a request to a name that is not this machine's), or a plain
    http one elsewhere (OAuth asks TLS of it; Authlib's check had given a 500)."""
    with in_process(people, public_url=public_url) as client:
        client.headers["Accept"] = "text/html"
        rp = register(client, first_party=True)
        page = client.get("/oidc/authorize", params=authorize_params(rp, pkce()[1]))
        assert page.status_code == 404 and "location" not in page.headers
        assert "public https address (dsc serve --public-url)" in page.text
        for answer in (client.get("/.well-known/openid-configuration"), client.get("/oidc/userinfo"),
                       client.post("/oidc/token", data={"grant_type": "authorization_code", "code": "x"})):
            assert answer.status_code == 404 and answer.json()["error"] == "no-public-url", answer.text
            assert "https" in answer.json()["message"]


def test_a_token_login_gives_an_id_token_with_the_hardware_level(provider, people):
    with provider(people) as client:
        rp = register(client, first_party=True)
        token, params, _ = flow(client, people, rp)
        _, claims = id_token_claims(client, token, rp, params["nonce"])
        assert claims["acr"] == TOKEN and claims["amr"] == ["pwd", "hwk", "mfa"]
        assert claims["preferred_username"] == "alice" and claims["sub"] != "alice"
        info = client.get("/oidc/userinfo", headers={"Authorization": "Bearer " + token["access_token"]})
        assert info.status_code == 200 and info.json()["sub"] == claims["sub"]
        again, params, _ = flow(client, people, rp)  # the portal session answers at once
        assert id_token_claims(client, again, rp, params["nonce"])[1]["sub"] == claims["sub"], "sub is stable"


def test_a_card_login_is_the_otp_level_and_acr_values_for_the_token_steps_up(provider, people):
    with provider(people) as client:
        rp = register(client, first_party=True)
        token, params, _ = flow(client, people, rp, name="kai")
        _, claims = id_token_claims(client, token, rp, params["nonce"])
        assert claims["acr"] == OTP and claims["amr"] == ["pwd", "otp", "mfa"]
        client.verifier.enroll_token("kai", "DSC00031", bytes(range(32)), "1234",
                                     suite="OCRA-1:HOTP-SHA256-8:QN06-PSHA1", active=True)
        verifier, challenge = pkce()
        params = authorize_params(rp, challenge, acr_values=TOKEN)
        r = client.get("/oidc/authorize", params=params)
        assert r.status_code == 303 and r.headers["location"] == "/login", "a lower session must log in again"
        log_in(client, "kai", answer_for("alice", people))  # the default device is now the token
        back = returned(client.get("/oidc/resume"))
        token = exchange(client, rp, back["code"], verifier).json()
        assert id_token_claims(client, token, rp, params["nonce"])[1]["acr"] == TOKEN


def test_a_client_level_above_the_users_devices_is_refused_after_the_login(provider, people):
    with provider(people) as client:
        rp = register(client, first_party=True, level=PHONE)
        verifier, challenge = pkce()
        params = authorize_params(rp, challenge)
        client.get("/oidc/authorize", params=params)
        log_in(client, "kai", answer_for("kai", people))
        back = returned(client.get("/oidc/resume"))
        assert back["error"] == "access_denied" and back["state"] == params["state"] and "code" not in back


def test_prompt_none_without_a_session_and_prompt_login_with_one(provider, people):
    with provider(people) as client:
        rp = register(client, first_party=True)
        params = authorize_params(rp, pkce()[1], prompt="none")
        back = returned(client.get("/oidc/authorize", params=params))
        assert back["error"] == "login_required" and back["iss"] == ISSUER
        flow(client, people, rp)
        back = returned(client.get("/oidc/authorize", params=authorize_params(rp, pkce()[1], prompt="none")))
        assert "code" in back, "a session answers prompt=none silently"
        r = client.get("/oidc/authorize", params=authorize_params(rp, pkce()[1], prompt="login"))
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert client.get("/").status_code == 303, "prompt=login ended the portal session"
        log_in(client, "alice", answer_for("alice", people))
        assert "code" in returned(client.get("/oidc/resume")), "the new login answers it, not another login"


def test_max_age_passed_asks_for_a_new_login(provider, people):
    with provider(people) as client:
        rp = register(client, first_party=True)
        flow(client, people, rp)
        back = returned(client.get("/oidc/authorize", params=authorize_params(rp, pkce()[1], max_age="3600")))
        assert "code" in back
        session_start = client.verifier.clock()
        import host.portal.web as web

        saved = web.time.time
        web.time.time = lambda: session_start + 120
        try:
            r = client.get("/oidc/authorize", params=authorize_params(rp, pkce()[1], max_age="60"))
        finally:
            web.time.time = saved
        assert r.status_code == 303 and r.headers["location"] == "/login"


def test_a_third_party_client_asks_consent_and_deny_goes_back_as_access_denied(provider, people):
    with provider(people) as client:
        rp = register(client, name="Partner Shop")
        verifier, challenge = pkce()
        params = authorize_params(rp, challenge)
        client.get("/oidc/authorize", params=params)
        log_in(client, "alice", answer_for("alice", people))
        page = client.get("/oidc/resume")
        assert page.status_code == 200 and "Partner Shop" in page.text and consent_form_action(page.text)
        assert "your user name" in page.text
        back = returned(post(client, "/oidc/consent", page.text, decision="deny"))
        assert back["error"] == "access_denied" and back["state"] == params["state"]
        params = authorize_params(rp, challenge)
        page = client.get("/oidc/authorize", params=params)
        assert client.post("/oidc/consent", data={"csrf": "forged", "decision": "allow"}).status_code == 403
        back = returned(post(client, "/oidc/consent", page.text, decision="allow"))
        assert exchange(client, rp, back["code"], verifier).status_code == 200
        prompt_none = returned(client.get("/oidc/authorize", params=authorize_params(rp, challenge, prompt="none")))
        assert prompt_none["error"] == "consent_required"


def test_a_code_used_twice_is_refused_and_revokes_the_first_access_token(provider, people):
    with provider(people) as client:
        rp = register(client, first_party=True)
        code, verifier = code_after_login(client, people, rp)
        first = exchange(client, rp, code, verifier)
        assert first.status_code == 200
        bearer = {"Authorization": "Bearer " + first.json()["access_token"]}
        assert client.get("/oidc/userinfo", headers=bearer).status_code == 200
        second = exchange(client, rp, code, verifier)
        assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
        assert client.get("/oidc/userinfo", headers=bearer).status_code == 401, "the first token is revoked"
        events = [e for e in client.verifier.audit_log("alice") if e["purpose"] == "oidc"]
        assert [(e["reason"], e["actor"]) for e in events] == [
            (reason, "oidc:" + rp["client_id"]) for reason in ("authorized", "token issued", "code reused")]


def test_bad_client_or_redirect_uri_is_a_page_and_never_a_redirect(provider, people):
    with provider(people) as client:
        rp = register(client, first_party=True)
        for bad in ({"client_id": "nobody"}, {"redirect_uri": APP + "/other"}, {"redirect_uri": APP.upper()}):
            r = client.get("/oidc/authorize", params=authorize_params(rp, pkce()[1], **bad),
                           headers={"Accept": "text/html"})
            assert r.status_code == 400 and "location" not in r.headers and "not valid" in r.text
        back = returned(client.get("/oidc/authorize", params=authorize_params(rp, None, response_type="token")))
        assert back["error"] == "unsupported_response_type"


def test_a_public_client_must_send_pkce(provider, people):
    with provider(people) as client:
        rp = register(client, first_party=True, public=True)
        back = returned(client.get("/oidc/authorize", params=authorize_params(rp, None, code_challenge_method=None)))
        assert back["error"] == "invalid_request"
        back = returned(client.get("/oidc/authorize", params=authorize_params(rp, pkce()[1],
                                                                             code_challenge_method="plain")))
        assert back["error"] == "invalid_request"


def test_an_expired_code_and_an_expired_access_token_are_refused(provider, people):
    from host.verifier.store import oidc_codes, oidc_tokens

    with provider(people) as client:
        rp = register(client, first_party=True)
        code, verifier = code_after_login(client, people, rp)
        with client.verifier.engine.begin() as conn:  # the code's 60 s have passed
            conn.execute(oidc_codes.update().values(expires_at=oidc_codes.c.created_at - 1))
        late = exchange(client, rp, code, verifier)
        assert late.status_code == 400 and late.json()["error"] == "invalid_grant"
        token, _, _ = flow(client, people, rp)
        bearer = {"Authorization": "Bearer " + token["access_token"]}
        assert token["expires_in"] == 600 and client.get("/oidc/userinfo", headers=bearer).status_code == 200
        with client.verifier.engine.begin() as conn:
            conn.execute(oidc_tokens.update().values(expires_at=oidc_tokens.c.created_at - 1))
        assert client.get("/oidc/userinfo", headers=bearer).status_code == 401


def test_an_rs256_client_gets_an_rs256_id_token_with_its_key_in_jwks(provider, people):
    with provider(people) as client:
        rp = register(client, first_party=True, alg="RS256")
        token, params, _ = flow(client, people, rp)
        header = jwt.decode(token["id_token"], jwk.KeySet.import_key_set(client.get("/oidc/jwks").json())).header
        assert header["alg"] == "RS256"


def test_what_the_conformance_lists_ask_of_the_basic_flow(provider, people):
    """A request without nonce, with an unknown parameter or without response_type;
    client_secret_post; userinfo by POST with the token in the header."""
    with provider(people) as client:
        rp = register(client, first_party=True)
        flow(client, people, rp)  # a session
        verifier, challenge = pkce()
        back = returned(client.get("/oidc/authorize", params=authorize_params(rp, challenge, nonce=None,
                                                                               unknown_parameter="x")))
        r = client.post("/oidc/token", data={"grant_type": "authorization_code", "code": back["code"],
                                             "redirect_uri": APP, "code_verifier": verifier,
                                             "client_id": rp["client_id"], "client_secret": rp["client_secret"]})
        assert r.status_code == 200, r.text
        claims = jwt.decode(r.json()["id_token"], jwk.KeySet.import_key_set(client.get("/oidc/jwks").json())).claims
        assert "nonce" not in claims and claims["aud"] == [rp["client_id"]]
        info = client.post("/oidc/userinfo", headers={"Authorization": "Bearer " + r.json()["access_token"]})
        assert info.status_code == 200 and info.json()["sub"] == claims["sub"]
        wrong = client.post("/oidc/token", data={"grant_type": "authorization_code", "code": "x" * 43,
                                                 "redirect_uri": APP, "client_id": rp["client_id"],
                                                 "client_secret": "not-" + rp["client_secret"]})
        assert wrong.status_code in (400, 401) and wrong.json()["error"] == "invalid_client"
        back = returned(client.get("/oidc/authorize", params=authorize_params(rp, challenge, response_type=None)))
        assert back["error"] in ("invalid_request", "unsupported_response_type") and "code" not in back


def test_a_login_approved_on_the_phone_gives_the_phone_level(provider, people):
    with provider(people) as client:
        v = client.verifier
        app, key = activate(v, v.mobile_activation("dave")["code"], pin=PIN)[:2]
        rp = register(client, first_party=True, level=PHONE)
        verifier, challenge = pkce()
        params = authorize_params(rp, challenge)
        assert client.get("/oidc/authorize", params=params).headers["location"] == "/login"
        assert post(client, "/login", client.get("/login").text, username="dave", password=PASSWORD).status_code == 303
        page = client.get("/login").text
        serial = [d["serial"] for d in v.devices("dave") if d["kind"] == "mobile"][0]
        message = '{"device":"%s","poll":%d}' % (serial, time.time())
        (waiting,) = v.mobile_waiting(message, mobile.b64u(app.sign(message.encode())))
        answer(v, app, waiting["transaction"], shown_number(page),
               response=ocra(SUITE, key, waiting["question"], pin=PIN))
        r = post(client, "/login/approved", page)
        assert r.status_code == 303 and r.headers["location"] == "/oidc/resume"
        back = returned(client.get("/oidc/resume"))
        token = exchange(client, rp, back["code"], verifier).json()
        _, claims = id_token_claims(client, token, rp, params["nonce"])
        assert claims["acr"] == PHONE and claims["amr"] == ["pwd", "swk", "mfa"]
