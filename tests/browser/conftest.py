"""Browser tests: Debian's Chromium (/usr/bin/chromium) driven by Playwright's sync API,
axe-core for accessibility, screenshots, and a real `dsc serve` to point them at.

scripts/bootstrap.sh installs all three (apt-get chromium, pip playwright, npm axe-core into
<venv>/axe); Playwright's own browser download is never used (`playwright install` cannot
work here). Without Chromium or Playwright every browser test is skipped; without axe-core
only the tests that use the `axe` fixture are.

Fixtures:
  browser        (session) the launched Chromium, one per pytest process (xdist worker).
  new_page       factory: new_page("desktop" | "phone", **context_options) -> Page, each
                 in a context of its own, closed after the test.
  desktop, page  a page in a 1280x800 window (`page` is the same page as `desktop`).
  phone          a page in a 390x844 touch screen (is_mobile, has_touch).
  camera_browser factory: camera_browser(video) -> a Chromium of its own whose camera plays
                 the Y4M file `video` (Chromium's fake capture device), closed after the test.
  axe            axe(page, context=None, options=None) -> [Violation(id, impact, help,
                 targets)]: assert axe(page) == [] shows each one readably.
  screenshot     screenshot(page, name) -> path of the PNG: docs/screenshots/<name>-<viewport>.png
                 when DSC_SCREENSHOTS=1, else the test's tmp dir (make test rewrites nothing).
  portal         (module) the URL of a real `dsc serve` on a fresh database (make_db's users).
"""

import os
import pathlib
import sys
from typing import List, NamedTuple

import pytest

from tests import log_scan
from tests.server.conftest import ROOT, Server, make_db, request_secrets

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# bootstrap.sh puts axe-core beside the virtualenv's packages (sys.prefix is the venv).
AXE_JS = pathlib.Path(sys.prefix) / "axe" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
SCREENSHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    """Chromium, headless. Playwright's launch() gives it a fresh user-data directory of its
    own (a temporary playwright_chromiumdev_profile-* removed on close): no profile, cookie or
    cache survives between runs. (launch() refuses a --user-data-dir argument, and a persistent
    context would be a single context: no phone and desktop pages side by side.)"""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("%s is missing (scripts/bootstrap.sh installs Debian's chromium)" % CHROMIUM)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing (pip install -e '.[dev]')")
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def new_page(browser):
    contexts = []

    def open_page(viewport="desktop", **context_options):
        context = browser.new_context(**{**VIEWPORTS[viewport], **context_options})
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def desktop(new_page):
    return new_page("desktop")


@pytest.fixture
def page(desktop):
    return desktop


@pytest.fixture
def phone(new_page):
    return new_page("phone")


@pytest.fixture
def camera_browser(browser):
    """Chromium's fake camera is chosen by command-line flags, which only a launch takes: each
    call launches a second Chromium (the same binary and flags as `browser`) whose camera plays
    `video`, a Y4M file that must exist by then; getUserMedia is granted without a prompt.
    Give its contexts grant_permissions(["camera"], origin=...) too."""
    launched = []

    def launch(video):
        camera = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                  "--use-file-for-fake-video-capture=%s" % video]
        chromium = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + camera)
        launched.append(chromium)
        return chromium

    yield launch
    for chromium in launched:
        chromium.close()


class Violation(NamedTuple):
    id: str
    impact: str
    help: str
    targets: List[str]  # CSS selectors of the offending elements


@pytest.fixture(scope="session")
def axe_source():
    if not AXE_JS.is_file():
        pytest.skip("%s is missing (scripts/bootstrap.sh installs axe-core with npm)" % AXE_JS)
    return AXE_JS.read_text()


@pytest.fixture
def axe(axe_source):
    """axe(page) runs axe-core on the page as it is now and returns its violations.

    axe-core goes in through page.evaluate (the DevTools protocol), which the page's
    Content-Security-Policy does not govern, so the page keeps its real CSP: the portal
    forbids inline script, and add_script_tag (an inline <script>) would need a
    bypass_csp=True context, where inline styles and scripts the CSP blocks for a user
    would apply and axe would judge a page no user sees."""

    def run(page, context=None, options=None):
        if not page.evaluate("typeof window.axe === 'object'"):
            page.evaluate(axe_source + "\n;undefined")  # a script, not a function for Playwright to call
        found = page.evaluate("([context, options]) => axe.run(context || document, options || {})", [context, options])
        return [Violation(v["id"], v["impact"], v["help"], [" ".join(map(str, node["target"])) for node in v["nodes"]])
                for v in found["violations"]]

    return run


def viewport_name(page):
    size = page.viewport_size
    for name, options in VIEWPORTS.items():
        if options["viewport"] == size:
            return name
    return "%dx%d" % (size["width"], size["height"])


@pytest.fixture
def screenshot(tmp_path):
    """screenshot(page, "login") saves the whole page as login-desktop.png or login-phone.png."""

    def take(page, name):
        folder = SCREENSHOTS if os.environ.get("DSC_SCREENSHOTS") == "1" else tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / ("%s-%s.png" % (name, viewport_name(page)))
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    """A `dsc serve` of its own for each test module; its log is scanned for secrets and
    tracebacks when it stops, as tests/server's `server` fixture does."""
    tmp = tmp_path_factory.mktemp("portal")
    db, keyring = make_db(tmp)
    server = Server(tmp, db, keyring)
    try:
        yield server.url
    finally:
        server.stop()
    log = server.log_text()
    leaked = log_scan.leaked(log, request_secrets)
    assert not leaked, "%d secret(s) reached the portal server's log" % len(leaked)
    assert "Traceback" not in log
