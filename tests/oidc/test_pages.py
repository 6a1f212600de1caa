"""The provider's pages in Japanese (Accept-Language: ja): the consent page, the
refused request, the logout confirmation, the logged-out page, the cross-site reload
and the pages that go back to the app after a form show no English word but the
application's name, each with the portal's CSP."""

import pytest

from host.portal.web import CSP
from tests.oidc.conftest import answer_for, authorize_params, continued, log_in, pkce, register
from tests.portal.test_japanese import ENGLISH_STOP, KANA, Visible, english_words
from tests.portal.test_login_pages import post

pytest.importorskip("authlib")

JA = {"Accept-Language": "ja"}


def english_in(response, known):
    assert response.headers["content-security-policy"] == CSP
    assert '<html lang="ja">' in response.text
    parser = Visible()
    parser.feed(response.text)
    text = " ".join(parser.parts)
    assert KANA.search(text)
    return english_words(text, known) + [stop.group(0) for stop in ENGLISH_STOP.finditer(text)]


def test_the_providers_pages_in_japanese(provider, people):
    with provider(people) as client:
        client.headers.update(JA)
        rp = register(client, name="Partner Shop", post_logout_redirect_uris=["https://app.example/bye"])
        known = {"Partner Shop", rp["client_id"], "alice", "OpenDSC", "invalid_client"}  # OAuth's codes stay
        pages = {"cross-site reload": client.get("/oidc/authorize", params=authorize_params(rp, pkce()[1]),
                                                 headers={"Sec-Fetch-Site": "cross-site"}),
                 "refused request": client.get("/oidc/authorize",
                                               params=authorize_params(rp, pkce()[1], client_id="nobody"))}
        client.get("/oidc/authorize", params=authorize_params(rp, pkce()[1]))
        log_in(client, "alice", answer_for("alice", people))
        pages["consent"] = consent = client.get("/oidc/resume")
        pages["back to the app"] = post(client, "/oidc/consent", consent.text, decision="deny")
        pages["logout confirmation"] = confirm = client.get("/oidc/logout", params={"client_id": rp["client_id"]})
        pages["logged out"] = post(client, "/oidc/logout", confirm.text)
        log_in(client, "alice", answer_for("alice", people))
        confirm = client.get("/oidc/logout", params={"client_id": rp["client_id"]})
        pages["logged out, back to the app"] = post(client, "/oidc/logout", confirm.text, client_id=rp["client_id"],
                                                    post_logout_redirect_uri="https://app.example/bye")
        assert all(continued(pages[what]) for what in ("back to the app", "logged out, back to the app"))
        found = {what: english_in(r, known) for what, r in pages.items()}
        assert not any(found.values()), found
