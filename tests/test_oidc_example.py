"""`make run`'s example app (host/oidc_example.py, issue 20): `dsc demo` serves it on its
own port and names it in the banner; its login sends the browser to OpenDSC's
authorization endpoint (PKCE S256, state, nonce), and after demo's login on the portal
with the simulated token it shows the ID token's claims."""

import json
import re
import subprocess

import httpx

from host.client import TokenClient
from tests.oidc.peers import sign_in
from tests.test_demo import BLOCK_END, DSC, demo_env, parse_block, read_until, stop


def test_the_demo_serves_an_app_that_logs_demo_in_through_opendsc(tmp_path, secrets_sent):
    state = tmp_path / "state"
    # Port 0: the demo picks the port before dsc serve starts, so it knows its public URL, the provider's issuer.
    proc = subprocess.Popen(DSC + ["demo", "--state", str(state), "--listen", "127.0.0.1:0", "--link",
                                   "socket://127.0.0.1:0", "--no-ui"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=demo_env())
    try:
        printed = read_until(proc.stdout.fileno(), BLOCK_END, timeout=60)
        block = parse_block(printed)
        secrets_sent.update({block["password"], block["pin"], block["helpdesk_password"]})
        example = re.search(r"open the example app (http://\S+)/ and log in with OpenDSC", printed).group(1)
        kept = json.loads((state / "example-client.json").read_text())
        secrets_sent.add(kept["client_secret"])
        assert oct((state / "example-client.json").stat().st_mode & 0o777) == "0o600"
        for name in ("127.0.0.1", "localhost"):  # one issuer, whatever name the request used for this machine
            discovery = httpx.get(block["portal"].replace("127.0.0.1", name) + "/.well-known/openid-configuration")
            assert discovery.status_code == 200 and discovery.json()["issuer"] == block["portal"], discovery.text
        with httpx.Client(base_url=block["portal"], timeout=30) as browser:
            assert "Log in with OpenDSC" in browser.get(example + "/").text
            login = browser.get(example + "/login")
            assert login.status_code in (302, 303, 307)
            authorize = login.headers["location"]
            assert authorize.startswith(block["portal"] + "/oidc/authorize?")
            for field in ("response_type=code", "client_id=" + kept["client_id"], "code_challenge_method=S256",
                          "state=", "nonce=", "scope=openid+profile"):
                assert field in authorize.replace("%20", "+"), field

            def keyed(page):
                challenge = re.search(r'id="challenge-code">([0-9]{6})<', page).group(1)
                with TokenClient(block["link"]) as token:
                    response = token.respond(block["pin"], challenge)
                secrets_sent.add(response)
                return response

            back = sign_in(browser, authorize, "demo", block["password"], keyed, example + "/callback")
            assert isinstance(back, str), "the login never returned to the example app"
            assert browser.get(back).status_code == 303
            shown = browser.get(example + "/").text
        assert 'Logged in as <strong id="user">demo</strong>' in shown
        assert "urn:opendsc:acr:token" in shown and "&quot;hwk&quot;" in shown  # the claims it shows
    finally:
        stopped, stderr = stop(proc)
    assert stopped == 0 and "Traceback" not in stderr
