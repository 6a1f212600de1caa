"""The help-desk console in Chromium: staff log in with their own printed card,
find a user and their identity data, unlock them, issue a temporary passcode
(shown once) that the user then logs in with, enroll a token from an uploaded
key file, revoke a device, search the audit log and export it as CSV; axe-core
on each page."""

import json
import re

import pytest

from host.verifier import cards, passwords, service
from tests.server.conftest import KEY, PASSWORD, Server, make_db

expect = pytest.importorskip("playwright.sync_api", reason="playwright is missing").expect  # waits, unlike is_visible()
pytestmark = pytest.mark.xdist_group("helpdesk-console")
STAFF_PASSWORD = "Staff-pw-for-console-8"


@pytest.fixture(scope="module")


def desk(tmp_path_factory, secrets_sent):
    tmp = tmp_path_factory.mktemp("helpdesk-console")
    cheap, passwords.N = passwords.N, 2 ** 4
    try:
        db, keyring = make_db(tmp, users=("alice", "nora"))
        v = service.Verifier(db, keyring)
        v.add_user("staff", STAFF_PASSWORD, role="helpdesk")
        staff_card = v.issue_printed_card("staff")
        v.issue_printed_card("nora")
        v.close()
    finally:
        passwords.N = cheap
    secrets_sent.update({STAFF_PASSWORD, KEY.hex()})
    policy = tmp / "policy.json"
    policy.write_text(json.dumps({"throttle_per_address": 0, "throttle_per_user": 0, "lockout_failures": 3}))
    s = Server(tmp, db, keyring, extra_env={"DSC_POLICY_FILE": str(policy)})
    s.staff_card, s.tmp = staff_card, tmp
    yield s
    s.stop()


def staff_login(page, desk):
    page.goto(desk.url + "/login")
    page.get_by_label("User name").fill("staff")
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Next").click()
    expect(page.locator("strong.code")).to_have_count(2)  # the card's step has come
    i, j = (int(x) for x in page.locator("strong.code").all_inner_texts())
    page.get_by_label("Codes").fill(cards.expected(desk.staff_card["grid"], i, j))
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(desk.url + "/helpdesk")


def user_attempt(page, desk, name, password):
    page.goto(desk.url + "/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Next").click()


def test_the_help_desk_day(desk, new_page, axe, screenshot, secrets_sent):
    user = new_page("desktop")
    for i in range(3):  # nora locks herself out
        secrets_sent.add("Noras-wrong-pw-%d" % i)
        user_attempt(user, desk, "nora", "Noras-wrong-pw-%d" % i)
    user_attempt(user, desk, "nora", PASSWORD)
    assert user.get_by_role("alert").inner_text().startswith("Your account is locked")

    staff = new_page("desktop")
    staff_login(staff, desk)
    assert axe(staff) == []
    staff.get_by_label("User name").fill("nora")
    staff.get_by_role("button", name="Find").click()
    expect(staff.get_by_role("heading", name="User nora")).to_be_visible()
    assert axe(staff) == []
    screenshot(staff, "helpdesk-user")
    staff.get_by_role("button", name="Unlock and forget failed logins").click()

    staff.get_by_role("button", name="Issue a temporary passcode").click()
    passcode = staff.locator("#passcode").inner_text().strip()
    secrets_sent.add(passcode)
    assert axe(staff) == []
    staff.goto(desk.url + "/helpdesk?user=nora")
    assert passcode not in staff.content()  # shown that once only

    # nora logs in with it (the help desk unlocked her)
    user_attempt(user, desk, "nora", PASSWORD)
    if "passcode" not in user.locator("#instructions").inner_text():  # the card came up: use the passcode
        serial = next(o for o in user.locator("#device option").all_inner_texts() if "temp-passcode" in o).split()[-1]
        user.get_by_label("Use another device").select_option(serial)
        user.get_by_role("button", name="Use this device").click()
    user.get_by_label("Temporary passcode").fill(passcode)
    user.get_by_role("button", name="Log in").click()
    user.wait_for_url(desk.url + "/")

    # enroll a token for nora from its key file, then revoke her printed card
    key_file = desk.tmp / "nora.key"
    key_file.write_text(KEY.hex() + "\n")
    staff.goto(desk.url + "/helpdesk?user=nora")
    staff.get_by_label("Serial", exact=True).fill("DSC00042")
    staff.get_by_label(re.compile("^Key file")).set_input_files(str(key_file))
    staff.get_by_label("PIN (if the suite uses one)").first.fill("1234")
    staff.get_by_role("button", name="Enroll token").first.click()  # the key file's form, not the PSKC one
    expect(staff.locator("tr", has_text="DSC00042").first).to_be_visible()
    card_row = staff.locator("tr", has_text="code-card").first
    card_row.get_by_role("button", name=re.compile("Revoke")).click()
    assert "revoked" in staff.locator("tr", has_text="code-card").first.inner_text()

    # the audit log, filtered, and its CSV
    staff.goto(desk.url + "/helpdesk/audit?user=nora")
    expect(staff.get_by_role("heading", name="Audit log")).to_be_visible()
    assert axe(staff) == []
    with staff.expect_download() as download:
        staff.get_by_role("link", name="Export all matching events as CSV").click()
    text = open(download.value.path(), encoding="utf-8").read()
    assert text.splitlines()[0].lower().startswith("id,") and "unlocked" in text and "nora" in text
