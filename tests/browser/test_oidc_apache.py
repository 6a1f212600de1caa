"""Single sign-on with a real relying party (issue 20): Apache's mod_auth_openidc, set up
by deploy/apache-oidc/, protects a page of another site (localhost, where the portal is
127.0.0.1) and takes its logins from OpenDSC. In Chromium the protected page sends the
browser to OpenDSC's login, the user logs in with the simulated token of `dsc demo`
(the challenge keyed through its debug link) or approves on OpenDSC Mobile (in a phone
page of its own), and the page shows the user name Apache was given; the logout link
ends Apache's session and OpenDSC's.

Apache runs as this module's own process (tests/browser/conftest.py's Chromium, one
apache2 -DFOREGROUND on a free port, its pid, logs and cache in a temporary folder);
scripts/bootstrap.sh installs apache2 and libapache2-mod-auth-openidc."""

import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import types

import pytest

from host.client import TokenClient
from tests import log_scan
from tests.browser.conftest import VIEWPORTS
from tests.browser.test_mobile_app import PINS, Site, activate_by_link, pick_and_approve, waiting_request
from tests.oidc.peers import register_client
from tests.server.conftest import ROOT
from tests.test_demo import BLOCK_END, DSC, demo_env, parse_block, read_until

expect = pytest.importorskip("playwright.sync_api", reason="playwright is missing").expect
pytestmark = pytest.mark.xdist_group("oidc-apache")  # one dsc demo and one Apache for the module

APACHE = "/usr/sbin/apache2"
MOD_AUTH_OPENIDC = pathlib.Path("/usr/lib/apache2/modules/mod_auth_openidc.so")
CONF = ROOT / "deploy" / "apache-oidc"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "%s ended at start" % what
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("%s never listened" % what)


def stop(proc, timeout=30):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def system(tmp_path_factory, secrets_sent):
    """`dsc demo --no-ui` on a free port; its public URL, the issuer, is the portal's address it prints."""
    state = tmp_path_factory.mktemp("oidc-system") / "state"
    proc = subprocess.Popen(DSC + ["demo", "--state", str(state), "--listen", "127.0.0.1:0", "--link",
                                   "socket://127.0.0.1:0", "--no-ui"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=demo_env())
    try:
        block = parse_block(read_until(proc.stdout.fileno(), BLOCK_END, timeout=60))
        secrets_sent.update({block["password"], block["pin"], block["helpdesk_password"]})
        block.update(state=state, issuer=block["portal"])
        yield block
    finally:
        stop(proc)
        proc.stdout.close()
        proc.stderr.close()
    log = (state / "server.log").read_text()
    assert not log_scan.leaked(log, secrets_sent), "a secret reached the portal's log"
    assert "Traceback" not in log


@pytest.fixture(scope="module")
def apache(system, secrets_sent):
    """deploy/apache-oidc/test-server.conf on a free port, registered with OpenDSC as the
    `dsc oidc client add` of docs/oidc.md says; the app's address (another site)."""
    if not os.access(APACHE, os.X_OK) or not MOD_AUTH_OPENIDC.exists():
        pytest.skip("apache2 or mod_auth_openidc is missing (scripts/bootstrap.sh installs them)")
    port = free_port()
    app = "http://localhost:%d" % port
    state = system["state"]
    client = register_client(str(state / "dsc.db"), str(state / "dsc-master.key"), "Intranet",
                             "--redirect-uri", app + "/protected/redirect_uri",
                             "--post-logout-redirect-uri", app + "/loggedout.html")
    passphrase = secrets.token_urlsafe(32)
    secrets_sent.update({client["client_secret"], passphrase})
    # Not under pytest's owner-only folders: Apache's children run as nobody when the tests run as root.
    run = tempfile.mkdtemp(prefix="dsc-apache-")
    os.chmod(run, 0o755)
    root = os.geteuid() == 0
    env = dict(os.environ, DSC_APACHE_PORT=str(port), DSC_APACHE_RUN=run, DSC_APACHE_CONF=str(CONF),
               DSC_APACHE_HTDOCS=str(CONF / "htdocs"),
               DSC_APACHE_USER="nobody" if root else "#%d" % os.getuid(),
               DSC_APACHE_GROUP="nogroup" if root else "#%d" % os.getgid(),
               DSC_OIDC_ISSUER=system["issuer"], DSC_OIDC_CLIENT_ID=client["client_id"],
               DSC_OIDC_CLIENT_SECRET=client["client_secret"], DSC_OIDC_PASSPHRASE=passphrase,
               DSC_OIDC_APP_URL=app)
    proc = subprocess.Popen([APACHE, "-DFOREGROUND", "-f", str(CONF / "test-server.conf")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_listening(port, proc, "apache2")
        yield app
    finally:
        stop(proc)
        stderr = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        logs = stderr + "".join(pathlib.Path(run, name).read_text(errors="replace")
                                for name in ("error.log", "access.log") if pathlib.Path(run, name).exists())
        shutil.rmtree(run, ignore_errors=True)
    assert not log_scan.leaked(logs, secrets_sent), "a secret reached Apache's logs"


def log_in_with_the_token(page, system, secrets_sent):
    """On OpenDSC's login page: demo's password, then the challenge keyed into the token."""
    expect(page.get_by_label("User name")).to_be_visible()
    page.get_by_label("User name").fill("demo")
    page.get_by_label("Password").fill(system["password"])
    page.get_by_role("button", name="Next").click()
    challenge = page.locator("#challenge-code").inner_text()
    with TokenClient(system["link"]) as token:
        response = token.respond(system["pin"], challenge)
    secrets_sent.add(response)
    page.get_by_label("Response").fill(response)
    page.get_by_role("button", name="Log in").click()


def portal_session_ended(page, system):
    page.goto(system["issuer"] + "/")
    return page.url.startswith(system["issuer"] + "/login")


def into_the_protected_page(page, apache, system, log_in):
    """Open Apache's protected page, log in on OpenDSC's login with `log_in(page)`, allow
    on the consent page (the client is not first-party): the protected page's URL."""
    page.goto(apache + "/protected/")
    page.wait_for_url(system["issuer"] + "/login*")  # OpenDSC's login, on the portal's site
    log_in(page)
    expect(page.get_by_role("heading", name="Sign in to Intranet")).to_be_visible()
    page.get_by_role("button", name="Allow").click()  # its form leads to Apache: form-action must not stop it
    page.wait_for_url(apache + "/protected/")


@pytest.fixture(scope="module")
def phone_user(system, browser, secrets_sent):
    """pia, whose one device is OpenDSC Mobile in a phone page of its own, activated by
    the QR code's address: (site, phone page, serial). Her password is the demo user's."""
    state = system["state"]
    site = Site(types.SimpleNamespace(url=system["issuer"]), str(state / "dsc.db"), str(state / "dsc-master.key"),
                {})
    context = browser.new_context(**VIEWPORTS["phone"])
    try:
        site.v.add_user("pia", system["password"])
        secrets_sent.add(PINS["una"])
        phone = context.new_page()
        yield site, phone, activate_by_link(phone, site, "pia", pin_of="una")
    finally:
        context.close()
        site.v.close()
        secrets_sent.update(site.codes)


def test_apache_lets_in_the_user_who_logged_in_with_the_token(apache, system, page, secrets_sent):
    into_the_protected_page(page, apache, system, lambda page: log_in_with_the_token(page, system, secrets_sent))
    expect(page.locator("#user")).to_have_text("demo")  # REMOTE_USER: preferred_username
    expect(page.locator("#acr")).to_have_text("urn:opendsc:acr:token")
    # Apache forgets the user; OpenDSC's session answers at once: its SameSite=Strict cookie is not sent on the
    # cross-site arrival, and the provider's page that reloads the request from its own site brings it.
    # A link on the app's site (a typed address would make no cross-site arrival).
    page.context.clear_cookies(domain="localhost")
    page.goto(apache + "/loggedout.html")
    page.get_by_role("link", name="Log in again").click()
    expect(page.get_by_role("heading", name="Sign in to Intranet")).to_be_visible()  # the consent, not the login
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(apache + "/protected/")
    expect(page.locator("#user")).to_have_text("demo")
    assert not portal_session_ended(page, system)  # logged in at OpenDSC too: its home page


def test_apache_lets_in_the_user_who_approved_on_the_phone(apache, system, page, phone_user):
    site, phone, serial = phone_user

    def approve_on_the_phone(page):
        page.get_by_label("User name").fill("pia")
        page.get_by_label("Password").fill(system["password"])
        page.get_by_role("button", name="Next").click()
        expect(page.get_by_role("heading", name="Approve on your phone")).to_be_visible()
        number = page.locator("strong#approve-number").inner_text().strip()
        phone.goto(system["issuer"] + "/mobile/")
        pick_and_approve(waiting_request(phone, site, serial), number, "una")  # the login page moves on by itself

    into_the_protected_page(page, apache, system, approve_on_the_phone)
    expect(page.locator("#user")).to_have_text("pia")
    expect(page.locator("#acr")).to_have_text("urn:opendsc:acr:phone")


def test_logout_through_apache_ends_both_sessions(apache, system, page, secrets_sent):
    into_the_protected_page(page, apache, system, lambda page: log_in_with_the_token(page, system, secrets_sent))
    page.get_by_role("link", name="Log out").click()
    page.wait_for_url(apache + "/loggedout.html")
    assert portal_session_ended(page, system)
    page.goto(apache + "/protected/")  # Apache's session is gone: it asks OpenDSC, which asks to log in
    page.wait_for_url(system["issuer"] + "/login*")
    expect(page.get_by_label("User name")).to_be_visible()
