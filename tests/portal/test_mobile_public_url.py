"""The address in the phone's activation QR code (in process): the server's public
address (`dsc serve --public-url`), never the request's Host header, which the
sender chooses; without one only a request to this machine gets a code."""

import re
from urllib.parse import urlsplit

import pytest
from hypothesis import given, strategies as st

from host.server.settings import public_url
from tests.portal.conftest import kai_logged_in
from tests.portal.test_login_pages import alert, csrf_of

pyzbar = pytest.importorskip("pyzbar.pyzbar")

UNTHROTTLED = dict(throttle_per_address=0, throttle_per_user=0)
ZOOM = 4  # pixels a module, for zbar


def qr_text(html):
    """What the page's QR code says: segno's SVG path drawn as pixels, read by zbar."""
    size = int(re.search(r'<path fill="#fff" d="M0 0h([0-9]+)v', html).group(1))
    dark = [[False] * size for _ in range(size)]
    x = y = 0.0
    for command, a, b in re.findall(r"([Mmh])(-?[0-9.]+)(?: (-?[0-9.]+))?", re.search(r'class="qrline"[^>]* d="([^"]+)"',
                                                                                     html).group(1)):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            for i in range(int(float(a))):
                dark[int(y)][int(x) + i] = True
            x += float(a)
    pixels = bytes(0 if dark[r // ZOOM][c // ZOOM] else 255 for r in range(size * ZOOM) for c in range(size * ZOOM))
    found = pyzbar.decode((pixels, size * ZOOM, size * ZOOM), symbols=[pyzbar.ZBarSymbol.QRCODE])
    return [f.data.decode() for f in found]


def add_phone(c, host):
    return c.post("/mobile/add", data={"csrf": csrf_of(c.get("/").text)}, headers={"Host": host})


def codes_issued(c):
    return [e for e in c.verifier.audit_log("kai") if e["reason"] == "code issued"]


def test_a_forged_host_never_reaches_the_link_and_the_public_url_does(people, in_process):
    with in_process(people, public_url="https://login.example.com", **UNTHROTTLED) as c:
        kai_logged_in(c, people)
        r = add_phone(c, "evil.example")
        assert r.status_code == 200, alert(r.text)
        assert "evil.example" not in r.text
        code = re.search(r'id="activation-code">([A-Z0-9]{4}) ([A-Z0-9]{4})<', r.text).groups()
        [link] = qr_text(r.text)
        assert re.fullmatch(r"https://login\.example\.com/mobile/[^#]*#activate=%s%s" % code, link), link
        assert re.search(r'id="server-address">https://login\.example\.com<', r.text)


def test_without_a_public_url_a_foreign_host_gets_no_code(people, in_process):
    with in_process(people, **UNTHROTTLED) as c:
        kai_logged_in(c, people)
        r = add_phone(c, "evil.example")
        assert r.status_code == 503 and "evil.example" not in r.text
        assert "public address is not set" in alert(r.text) and "--public-url" in alert(r.text)
        assert not codes_issued(c), "nothing is issued that cannot be shown"


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000"])
def test_without_a_public_url_a_request_to_this_machine_gets_its_own_address(people, in_process, host):
    with in_process(people, **UNTHROTTLED) as c:
        kai_logged_in(c, people)
        r = add_phone(c, host)
        assert r.status_code == 200, alert(r.text)
        [link] = qr_text(r.text)
        assert link.startswith("http://%s/mobile/" % host) and "#activate=" in link


@given(st.from_regex(r"\s?(https?|ftp|)(://)?[a-zA-Z0-9.:\[\]@?#%/ <\\-]{0,30}\s?", fullmatch=True) | st.text(max_size=40))
def test_a_public_url_is_an_http_address_with_nothing_a_browser_would_not_send_or_a_clear_refusal(text):
    try:
        url = public_url(text)
    except ValueError as e:
        assert str(e).startswith("--public-url (DSC_PUBLIC_URL) must be") and "\n" not in str(e)
        return
    if not text.strip():
        assert url == ""  # unset
        return
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https") and parts.hostname and "@" not in parts.netloc
    assert not parts.query and not parts.fragment and not url.endswith("/") and url == url.strip()
    assert not any(c <= " " or c in '<>"\\' for c in url)
