"""The provider's tests run in process (the portal's `people` and `in_process`
fixtures): `provider(people, **policy)` gives a TestClient whose app's public URL,
the issuer, is ISSUER; `register(client, **options)` adds a relying party."""

import base64
import hashlib
import html
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.portal.conftest import in_process, people  # noqa: F401 - fixtures used here
from tests import log_scan
from tests.portal.test_confirm_pages import card_answer, login, positions, token_answer
from tests.server.conftest import PIN

ISSUER = "http://localhost"
APP = "https://app.example/callback"


@pytest.fixture
def provider(in_process):  # noqa: F811
    def start(people, **policy):  # noqa: F811
        return in_process(people, public_url=ISSUER, **policy)

    return start


def register(client, name="Wiki", redirect_uris=(APP,), **options):
    from host.oidc import clients

    added = clients.add(client.verifier, name, list(redirect_uris), **options)
    if "client_secret" in added:
        log_scan.SECRETS.add(added["client_secret"])  # no log may hold it (tests/log_scan.py)
    return added


def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(rp, challenge, **extra):
    params = {"response_type": "code", "client_id": rp["client_id"], "redirect_uri": APP, "scope": "openid profile",
              "state": "st-" + secrets.token_urlsafe(8), "nonce": "n-" + secrets.token_urlsafe(8),
              "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def answer_for(name, people):  # noqa: F811 - the fixture's value
    """The second step's response: the token's (OCRA with the PIN) or kai's card's."""
    if name == "kai":
        return lambda html: card_answer(people["kai_card"], positions(html))
    return token_answer(PIN)


def log_in(client, name, answer):
    """The portal's two steps (the login only: where it goes on to is the caller's)."""
    return login(None, name, answer, client=client)


REFRESH = re.compile(r'<meta http-equiv="refresh" content="0;url=([^"]+)">')


def continued(response):
    """Where a page that goes on by itself (a meta refresh: the cross-site reload, or the
    way back to the app at the end of a form's submission) sends the browser, or None."""
    found = response.status_code == 200 and REFRESH.search(response.text)
    return html.unescape(found.group(1)) if found else None


def returned(response):
    """The query the provider sent the browser back to the app with: by a redirect, or
    (after a form's submission, which the portal's form-action 'self' governs) by a page
    of the portal's that goes on by itself."""
    location = response.headers["location"] if response.status_code == 302 else continued(response)
    assert location, (response.status_code, response.text[:300])
    assert location.startswith(APP + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def consent_form_action(html):
    return re.search(r'<form method="post" action="(/oidc/consent)">', html)
