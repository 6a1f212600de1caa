"""How `dsc serve` serves OpenDSC Mobile (host/mobile/web.py): the app's files
with a CSP that allows no inline script, a service worker whose cache version
follows the files, an installable manifest, nothing outside the list, and the
API open to the app on other servers (accounts across servers)."""

import json
import re

import pytest
from fastapi.testclient import TestClient

from host.mobile import web
from host.server.app import create_app
from host.server.settings import Settings
from host.verifier.errors import VerifierError


class _PhonelessVerifier:
    """Enough of a verifier for these routes: every signature is wrong."""

    def mobile_waiting(self, message, signature):
        raise VerifierError("bad-signature", "the signature is not the device's")


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(), verifier=_PhonelessVerifier()), raise_server_exceptions=False) as c:
        yield c


def test_the_app_page_loads_only_its_own_scripts_under_a_strict_csp(client):
    r = client.get("/mobile/")
    assert r.status_code == 200 and "<h1>OpenDSC Mobile</h1>" in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "worker-src 'self'" in csp and "manifest-src 'self'" in csp
    assert not re.search(r"<script(?![^>]*\bsrc=)", r.text) and "style=" not in r.text
    for src in re.findall(r'(?:src|href)="([^"]+)"', r.text):
        assert client.get("/mobile/" + src).status_code == 200 or src == "vendor/jsQR.js", src
    assert client.get("/mobile", follow_redirects=False).headers["location"] == "/mobile/"


def test_the_manifest_makes_the_app_installable(client):
    r = client.get("/mobile/manifest.webmanifest")
    manifest = json.loads(r.text)
    assert r.headers["content-type"].startswith("application/manifest+json")
    assert manifest["display"] == "standalone" and manifest["start_url"] == "./" and manifest["scope"] == "./"
    sizes = {icon["sizes"] for icon in manifest["icons"] if icon["type"] == "image/png"}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        got = client.get("/mobile/" + icon["src"])
        assert got.status_code == 200 and got.headers["content-type"] == icon["type"]
        if icon["type"] == "image/png":
            width, height = int.from_bytes(got.content[16:20], "big"), int.from_bytes(got.content[20:24], "big")
            assert "%dx%d" % (width, height) == icon["sizes"]


def test_the_service_worker_caches_every_file_the_app_needs_offline(client):
    sw = client.get("/mobile/sw.js").text
    assert "__VERSION__" not in sw and re.search(r'const VERSION = "[0-9a-f]{16}";', sw)
    cached = json.loads(re.search(r"const FILES = (\[.*?\]);", sw, re.S).group(1))
    cached += json.loads(re.search(r"const OPTIONAL = (\[.*?\]);", sw, re.S).group(1))
    page = client.get("/mobile/").text
    # "?lang=..." (the language switch) is the app itself: "./", which the worker matches ignoring the query
    needed = {link for link in re.findall(r'(?:src|href)="([^"]+)"', page) if not link.startswith("?")} | {"./"}
    needed |= {f + ".js" for f in re.findall(r'from "\./(\w+)\.js"', client.get("/mobile/app.js").text)}
    assert needed <= set(cached), needed - set(cached)


def test_only_the_listed_files_are_served(client):
    for path in ("/mobile/../pyproject.toml", "/mobile/web.py", "/mobile/static/app.js", "/mobile/%2e%2e/web.py",
                 "/mobile/node_modules/jsqr/package.json", "/mobile/index.html"):
        r = client.get(path)
        assert r.status_code == 404 and r.headers["content-type"] == "application/json", path


def test_the_api_answers_the_app_from_another_server_but_the_portal_does_not(client):
    pre = client.options("/mobile/api/waiting", headers={"Origin": "https://other.example",
                                                         "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == "*"
    assert "content-type" in pre.headers["access-control-allow-headers"]
    r = client.post("/mobile/api/waiting", json={"message": "{}", "signature": "x"},
                    headers={"Origin": "https://other.example"})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers, "no cookie ever goes with it"
    portal = client.get("/login", headers={"Origin": "https://other.example"})
    assert "access-control-allow-origin" not in portal.headers


def test_every_word_of_the_app_has_a_japanese_translation():
    static = web.STATIC
    app = (static / "app.js").read_text()
    page = (static / "index.html").read_text()
    translated = set(re.findall(r'^  "((?:[^"\\]|\\.)*)":', (static / "i18n.js").read_text(), re.M))
    used = set(re.findall(r'\bt\("((?:[^"\\]|\\.)*)"', app))
    used |= set(re.findall(r'"((?:Login|Withdrawal|Online card)? ?[Rr]equest for \{user\})"', app))
    used |= {text.strip() for text in re.findall(r"<[^>]*\bdata-i18n\b[^>]*>([^<]+)<", page)}
    used |= set(re.findall(r'aria-label="([^"]+)"', page))
    assert len(used) > 40, "the scan finds the app's words"
    assert used <= translated, sorted(used - translated)


# Words the Japanese app keeps: the product, PIN, QR, and the language switch's own name.
KEPT = {"OpenDSC", "Mobile", "PIN", "QR", "English"}


def english_words(text):
    text = re.sub(r"\{\w+\}|https?://\S+", " ", text)  # placeholders and example addresses
    return sorted({w for w in re.findall(r"[A-Za-z]+", text) if w not in KEPT})


def test_no_english_word_is_left_in_the_apps_japanese():
    static = web.STATIC
    pairs = re.findall(r'^  "((?:[^"\\]|\\.)*)":\s*"((?:[^"\\]|\\.)*)",$', (static / "i18n.js").read_text(),
                       re.M | re.S)
    assert len(pairs) > 40, "the scan finds the translations"
    left = {english: english_words(japanese) for english, japanese in pairs if english_words(japanese)}
    assert not left, left
    worker = (static / "sw.js").read_text()
    notification = json.loads(re.search(r"const WAITING = (\{.*?\});", worker).group(1).replace(" en:", ' "en":')
                              .replace(" ja:", ' "ja":'))
    assert set(notification) == {"en", "ja"} and not english_words(notification["ja"]), notification
    page = (static / "index.html").read_text()
    assert 'href="?lang=en"' in page and 'href="?lang=ja"' in page, "the app's language switch"
