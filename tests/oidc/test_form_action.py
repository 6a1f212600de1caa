"""The way back to the application after a form: the portal's CSP has form-action
'self', and Chromium applies it to every redirect a form's submission leads to (the
login's POST -> /oidc/resume -> the app, the consent's, the logout confirmation's).
httpx ignores CSP, so these tests check each hop against the form page's CSP as the
browser does (tests/browser/test_oidc_apache.py sees it in Chromium)."""

from urllib.parse import urljoin, urlsplit

import pytest

from tests.oidc.conftest import APP, answer_for, authorize_params, continued, pkce, register
from tests.portal.test_login_pages import post
from tests.server.conftest import PASSWORD

pytest.importorskip("authlib")

AFTER = "https://app.example/logged-out"


def origin(url):
    return "%s://%s" % urlsplit(url)[:2]


def form_action_allows(csp, page_url, target):
    """Whether CSP `csp` of the page at `page_url` lets its form's submission go to `target`
    (form-action does not fall back to default-src: without it anything goes)."""
    for directive in csp.split(";"):
        name, *sources = directive.split() or [""]
        if name == "form-action":
            return any(source == origin(target) or (source == "'self'" and origin(target) == origin(page_url))
                       for source in sources)
    return True


def submitted(client, form_page, path, **fields):
    """Post the form on `form_page` and follow its redirects as a browser does, each one
    checked against the form page's form-action: the answer the submission ends at."""
    csp = form_page.headers["content-security-policy"]
    response = post(client, path, form_page.text, **fields)
    while response.is_redirect:
        target = urljoin(str(response.url), response.headers["location"])
        assert form_action_allows(csp, str(form_page.url), target), \
            "form-action blocks the redirect to " + target.split("?")[0]
        response = client.get(target)
    return response


def log_in_through_forms(client, people, name="alice"):
    """The portal's two login forms, the second one's submission followed: its answer."""
    first = client.get("/login")
    submitted(client, first, "/login", username=name, password=PASSWORD)
    second = client.get("/login")
    return submitted(client, second, "/login/response", response=answer_for(name, people)(second.text))


def test_the_login_form_leads_back_to_a_first_party_app_by_a_page_of_the_portal(provider, people):
    with provider(people) as client:
        rp = register(client, first_party=True)
        assert client.get("/oidc/authorize", params=authorize_params(rp, pkce()[1])).headers["location"] == "/login"
        back = log_in_through_forms(client, people)
        assert continued(back).startswith(APP + "?code="), back.text[:300]


def test_the_consent_form_leads_back_to_the_app_by_a_page_of_the_portal_when_allowed_or_denied(provider, people):
    with provider(people) as client:
        rp = register(client)
        client.get("/oidc/authorize", params=authorize_params(rp, pkce()[1]))
        consent = log_in_through_forms(client, people)
        assert 'action="/oidc/consent"' in consent.text
        assert continued(submitted(client, consent, "/oidc/consent", decision="allow")).startswith(APP + "?code=")
        consent = client.get("/oidc/authorize", params=authorize_params(rp, pkce()[1]))  # logged in: consent at once
        denied = continued(submitted(client, consent, "/oidc/consent", decision="deny"))
        assert denied.startswith(APP + "?error=access_denied")


def test_the_logout_confirmation_leads_back_to_the_app_by_the_logged_out_page(provider, people):
    with provider(people) as client:
        rp = register(client, first_party=True, post_logout_redirect_uris=[AFTER])
        log_in_through_forms(client, people)
        confirm = client.get("/oidc/logout", params={"client_id": rp["client_id"], "post_logout_redirect_uri": AFTER,
                                                    "state": "bye"})
        done = submitted(client, confirm, "/oidc/logout", client_id=rp["client_id"], post_logout_redirect_uri=AFTER,
                         state="bye")
        assert continued(done) == AFTER + "?state=bye" and "You are logged out of OpenDSC." in done.text
