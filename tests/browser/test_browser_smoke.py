"""The browser-test machinery works before the portal exists: Chromium reads pages that
`dsc serve` serves, the phone and desktop pages have their sizes, axe-core finds a
planted accessibility fault (and none on a clean page, also under a strict CSP), and
screenshots are real PNGs of the viewport's width."""

import json
import struct

from tests.browser.conftest import Violation

CLEAN = ("<!doctype html><html lang='en'><head><title>Sign in</title>"
         "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
         "<body><main><h1>Sign in</h1><img src='data:,' alt='OpenDSC token'></main></body></html>")
IMAGE_WITHOUT_ALT = CLEAN.replace(" alt='OpenDSC token'", "")
# What the portal will send: no inline script may run.
STRICT_CSP = "default-src 'self'; script-src 'self'; style-src 'self'"


def shown_json(page):
    """The JSON text Chromium displays for a JSON document."""
    return json.loads(page.locator("pre").first.inner_text())


def test_chromium_shows_the_services_healthz_json(page, portal):
    response = page.goto(portal + "/healthz")
    assert response.status == 200
    assert shown_json(page) == {"status": "ok"}


def test_chromium_reads_the_services_openapi_schema(page, portal):
    page.goto(portal + "/openapi.json")
    schema = shown_json(page)
    assert schema["info"]["title"] == "OpenDSC login service"
    assert "/healthz" in schema["paths"]


def test_phone_and_desktop_pages_have_their_sizes(phone, desktop, new_page):
    phone.set_content(CLEAN)
    desktop.set_content(CLEAN)
    assert phone.evaluate("[window.innerWidth, window.innerHeight, navigator.maxTouchPoints > 0]") == [390, 844, True]
    assert desktop.evaluate("[window.innerWidth, window.innerHeight, navigator.maxTouchPoints > 0]") == [1280, 800, False]
    # A real phone's browser: a page without a viewport meta tag is laid out 980 px wide and shrunk.
    unscaled = new_page("phone")
    unscaled.set_content(CLEAN.replace("<meta name='viewport'", "<meta name='unused'"))
    assert unscaled.evaluate("window.innerWidth") == 980


def test_axe_finds_an_image_without_alt_text(page, axe):
    page.set_content(IMAGE_WITHOUT_ALT)
    violations = axe(page)
    assert [(v.id, v.impact, v.targets) for v in violations] == [("image-alt", "critical", ["img"])]
    assert isinstance(violations[0], Violation) and "alternative text" in violations[0].help


def test_axe_finds_nothing_on_a_clean_page(page, axe):
    page.set_content(CLEAN)
    assert axe(page) == []


def test_axe_runs_on_a_page_whose_csp_forbids_inline_script(page, axe):
    """The page keeps its CSP (its inline script does not run) and axe still checks it."""
    url = "http://portal.test/login"
    page.route(url, lambda route: route.fulfill(
        status=200, content_type="text/html", headers={"Content-Security-Policy": STRICT_CSP},
        body=IMAGE_WITHOUT_ALT.replace("</main>", "</main><script>document.title = 'inline ran'</script>")))
    page.goto(url)
    assert page.title() == "Sign in"
    assert [v.id for v in axe(page)] == ["image-alt"]


def test_screenshots_go_to_the_tests_tmp_dir_named_by_viewport(phone, screenshot, tmp_path, monkeypatch):
    monkeypatch.delenv("DSC_SCREENSHOTS", raising=False)
    phone.set_content(CLEAN)
    path = screenshot(phone, "smoke")
    assert path == tmp_path / "smoke-phone.png"
    png = path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">I", png[16:20])[0] == 390  # IHDR width
