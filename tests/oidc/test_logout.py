"""RP-initiated logout, the cross-site bounce that lets the strict session cookie
through, and no secret of the flow in any log line."""

import logging
import re

import pytest
from tests import log_scan
from tests.oidc.conftest import authorize_params, continued, pkce, register
from tests.oidc.test_flow import code_after_login, exchange, flow
from tests.portal.test_login_pages import post
from tests.server.conftest import PASSWORD, PIN

pytest.importorskip("authlib")

AFTER = "https://app.example/logged-out"


def logged_in(client):
    return client.get("/").status_code == 200


def test_logout_with_an_id_token_hint_ends_the_session_and_returns_only_to_a_registered_uri(provider, people):
    with provider(people) as client:
        rp = register(client, first_party=True, post_logout_redirect_uris=[AFTER])
        token, _, _ = flow(client, people, rp)
        assert logged_in(client)
        r = client.get("/oidc/logout", params={"id_token_hint": token["id_token"], "post_logout_redirect_uri": AFTER,
                                               "state": "bye"})
        assert r.status_code == 303 and r.headers["location"] == AFTER + "?state=bye"
        assert not logged_in(client)
        token, _, _ = flow(client, people, rp)
        r = client.get("/oidc/logout", params={"id_token_hint": token["id_token"],
                                               "post_logout_redirect_uri": "https://evil.example/"})
        assert r.status_code == 200 and "location" not in r.headers and "You are logged out" in r.text
        assert not logged_in(client)


def test_logout_without_a_valid_hint_asks_first_and_a_forged_form_changes_nothing(provider, people):
    with provider(people) as client:
        rp = register(client, first_party=True, post_logout_redirect_uris=[AFTER])
        token, _, _ = flow(client, people, rp)
        tampered = token["id_token"][:-4] + ("AAAA" if not token["id_token"].endswith("AAAA") else "BBBB")
        page = client.get("/oidc/logout", params={"id_token_hint": tampered, "client_id": rp["client_id"],
                                                  "post_logout_redirect_uri": AFTER})
        assert page.status_code == 200 and 'action="/oidc/logout"' in page.text and logged_in(client)
        assert client.post("/oidc/logout", data={"csrf": "forged"}).status_code == 403 and logged_in(client)
        r = post(client, "/oidc/logout", page.text, client_id=rp["client_id"], post_logout_redirect_uri=AFTER)
        # Back to the app by the logged-out page's meta refresh: a redirect after the form is blocked by form-action.
        assert continued(r) == AFTER and "You are logged out" in r.text and not logged_in(client)


def test_a_cross_site_arrival_without_the_cookie_reloads_from_this_site(provider, people):
    with provider(people) as client:
        rp = register(client, first_party=True)
        params = authorize_params(rp, pkce()[1])
        r = client.get("/oidc/authorize", params=params, headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 200 and "location" not in r.headers
        target = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', r.text).group(1).replace("&amp;", "&")
        assert target.startswith("/oidc/authorize?") and "client_id=" + rp["client_id"] in target
        assert "script" not in r.headers["content-security-policy"].split("script-src")[0]
        again = client.get(target, headers={"Sec-Fetch-Site": "same-origin"})
        assert again.status_code == 303 and again.headers["location"] == "/login"


def test_no_secret_of_the_flow_reaches_a_log_line(provider, people, caplog):
    caplog.set_level(logging.DEBUG)  # every logger at its own level: Authlib's DEBUG lines carry tokens
    with provider(people) as client:
        rp = register(client, first_party=True)
        code, verifier = code_after_login(client, people, rp)
        token = exchange(client, rp, code, verifier).json()
        exchange(client, rp, code, verifier)  # the refused reuse is logged nowhere either
        client.get("/oidc/userinfo", headers={"Authorization": "Bearer " + token["access_token"]})
    sent = {rp["client_secret"], code, token["access_token"], token["id_token"], verifier, PASSWORD, PIN}
    log_scan.SECRETS.update(sent)
    assert caplog.records, "the flow logged something"
    leaks = len(log_scan.leaked(caplog.text + "\n".join(str(r.args) for r in caplog.records), sent))
    assert leaks == 0, "secrets of the flow in the log (not shown here)"


def test_an_id_token_of_another_user_does_not_log_this_one_out_unasked(provider, people):
    with provider(people) as client:
        rp = register(client, first_party=True, post_logout_redirect_uris=[AFTER])
        kais, _, _ = flow(client, people, rp, name="kai")
        client.cookies.clear()
        flow(client, people, rp)  # alice's session, in a browser sent kai's ID token by a page elsewhere
        r = client.get("/oidc/logout", params={"id_token_hint": kais["id_token"], "post_logout_redirect_uri": AFTER})
        assert r.status_code == 200 and 'action="/oidc/logout"' in r.text and logged_in(client)
