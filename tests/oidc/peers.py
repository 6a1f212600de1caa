"""Helpers that drive OpenDSC's OpenID Connect provider from outside, as the apps that
use it do (issue 20): Authlib's own client as the relying party, a user agent that logs
in on the portal's forms, and `dsc oidc client add` to register clients."""

import os
import subprocess
import sys
from urllib.parse import urljoin

from tests.oidc.conftest import continued
from tests.portal.test_login_pages import alert, post

DSC = [sys.executable, "-m", "host.cli"]


def register_client(db, keyring, name, *options):
    """`dsc oidc client add NAME OPTIONS --db DB`: {"client_id": ..., "client_secret": ...}
    as it printed them (no secret for a public client)."""
    done = subprocess.run(DSC + ["oidc", "client", "add", name, *options, "--db", db], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, DSC_MASTER_KEY_FILE=keyring))
    assert done.returncode == 0, done.stderr
    return dict(line.split(" ", 1) for line in done.stdout.splitlines())


def relying_party(transport, issuer, client, scope="openid profile"):
    """Authlib's relying party (the code its Flask, Django and Starlette clients share:
    discovery, PKCE S256, state and nonce, the token request, the ID token's checks) on
    httpx, reaching the provider through `transport`."""
    from authlib.integrations.base_client.sync_app import BaseApp, OAuth2Mixin
    from authlib.integrations.base_client.sync_openid import OpenIDMixin
    from authlib.integrations.httpx_client import OAuth2Client

    class RelyingParty(OAuth2Mixin, OpenIDMixin, BaseApp):
        client_cls = OAuth2Client

    return RelyingParty(None, "opendsc", client_id=client["client_id"], client_secret=client.get("client_secret"),
                        server_metadata_url=issuer + "/.well-known/openid-configuration",
                        client_kwargs={"scope": scope, "code_challenge_method": "S256", "transport": transport,
                                       "token_endpoint_auth_method": "client_secret_basic"})


def sign_in(browser, url, username, password, answer, returns_to, decision="allow", limit=12):
    """The user agent `browser` (an httpx client keeping cookies, redirects not followed)
    opens `url` and does what the pages ask: logs in on the portal (the password, then
    `answer(page_html)` for the device's response), follows the continue page, answers
    a consent page with `decision`, until it is sent to an address starting with
    `returns_to`: that address, or the last response when it never is."""
    response = browser.get(url)
    for _ in range(limit):
        if response.status_code in (302, 303, 307):
            target = urljoin(str(response.url), response.headers["location"])
            if target.startswith(returns_to):
                return target
            response = browser.get(target)
        elif response.status_code == 200 and 'name="password"' in response.text:
            response = post(browser, "/login", response.text, username=username, password=password)
            assert response.status_code == 303, alert(response.text)
            page = browser.get("/login").text
            response = post(browser, "/login/response", page, response=answer(page))
            assert response.status_code == 303, alert(response.text)
        elif response.status_code == 200 and 'action="/oidc/consent"' in response.text:
            response = post(browser, "/oidc/consent", response.text, decision=decision)
        elif continued(response):
            target = urljoin(str(response.url), continued(response))
            if target.startswith(returns_to):
                return target
            response = browser.get(target)
        else:
            return response
    raise AssertionError("the sign-in went round more than %d times" % limit)
