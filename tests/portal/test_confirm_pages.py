"""What a logged-in user confirms with a device in the portal: activating a
shipped token, a PIN change, a withdrawal (and the limits table when no device
may confirm it), an online security code card while on a temporary passcode."""

import html as html_module
import json
import re

import httpx
import pytest

from host.verifier import passwords, service
from tests.ocra_reference import ocra
from tests.portal.test_login_pages import alert, post
from tests.server.conftest import KEY, PASSWORD, PIN, SUITE, Server, make_db

NEW_PIN = "8642"
OWNER_PASSWORD = "Owners-own-pw-5"


pytestmark = pytest.mark.xdist_group("confirm-pages")  # one server for the module, on one worker


@pytest.fixture(scope="module")
def portal(tmp_path_factory, secrets_sent):
    tmp = tmp_path_factory.mktemp("confirm")
    cheap, passwords.N = passwords.N, 2 ** 4
    try:
        db, keyring = make_db(tmp, users=("alice", "gus", "hana", "ivan", "jun"))
        v = service.Verifier(db, keyring)
        v.enroll_token("gus", "DSC00007", KEY, PIN, suite=SUITE, active=False)  # shipped, not yet active
        gus_card = v.issue_printed_card("gus")  # what gus logs in with meanwhile
        v.enroll_token("hana", "DSC00008", KEY, PIN, suite=SUITE, active=True)
        ivan_card = v.issue_printed_card("ivan")  # a code card only: low withdrawal limits
        jun_temp = v.issue_temp_passcode("jun")
        v.enroll_token("jun", "DSC00009", KEY, PIN, suite=SUITE, active=False)
        v.set_token_status("jun", "DSC00009", False)  # turned off as misplaced: jun is on the passcode
        same = dict(birth_date="1980-02-03", citizenship="JP", residence="JP", id_type="passport", id_number="TK1")
        v.add_user("kai", PASSWORD, **same)
        v.add_user("lee", OWNER_PASSWORD, **same)
        v.add_user("mia", PASSWORD, **dict(same, id_number="TK2"))
        kai_card = v.issue_printed_card("kai")
        v.enroll_token("lee", "DSC00011", KEY, PIN, suite=SUITE, active=True)
        v.enroll_token("mia", "DSC00012", KEY, PIN, suite=SUITE, active=True)
        v.close()
    finally:
        passwords.N = cheap
    secrets_sent.update({NEW_PIN, jun_temp["passcode"], OWNER_PASSWORD})
    policy = tmp / "policy.json"
    policy.write_text(json.dumps({"throttle_per_address": 0, "throttle_per_user": 0,
                                  "withdrawal_limits": {"code-card": [1000, 2000]},
                                  "unsigned_withdrawal_limit": 1000}))  # a card cannot sign: up to 1,000
    s = Server(tmp, db, keyring, extra_env={"DSC_POLICY_FILE": str(policy)})
    s.ivan_card, s.jun_temp, s.gus_card, s.kai_card = ivan_card, jun_temp, gus_card, kai_card
    s.db, s.keyring = db, keyring
    yield s
    s.stop()


def card_answer(card, challenge_text):
    from host.verifier import cards

    i, j = cards.parse_challenge(challenge_text)
    return cards.expected(card["grid"], i, j)


def login(url, name, answer, client=None):
    """A logged-in client (`client`, else a new one for `url`): `answer(page_html)`
    gives the second step's response."""
    c = client or httpx.Client(base_url=url, timeout=30)
    r = post(c, "/login", c.get("/login").text, username=name, password=PASSWORD)
    assert r.status_code == 303, alert(r.text)
    page = c.get("/login").text
    r = post(c, "/login/response", page, response=answer(page))
    assert r.status_code == 303, alert(r.text)
    return c


def token_answer(pin):
    return lambda html: ocra(SUITE, KEY, re.search(r'id="challenge-code">([0-9]{6})<', html).group(1), pin=pin)


def confirm(c, start_fields, answer):
    home = c.get("/").text
    r = post(c, "/confirm/start", home, **start_fields)
    if r.status_code != 303:
        return r
    page = c.get("/confirm").text
    return post(c, "/confirm/response", page, response=answer(page))


def positions(html):
    return " ".join(re.findall(r'<strong class="code">([0-9]+)</strong>', html))


def test_activating_a_shipped_token_by_answering_a_challenge(portal):
    c = login(portal.url, "gus", lambda html: card_answer(portal.gus_card, positions(html)))
    home = c.get("/").text
    assert "Activate token DSC00007" in home and re.search(r"<td>DSC00007</td><td>shipped</td>", home)
    r = confirm(c, {"purpose": "activation", "device": "DSC00007"}, token_answer(PIN))
    assert r.status_code == 200 and "Your token is active." in r.text
    home = c.get("/").text
    assert "Activate token" not in home and re.search(r"<td>DSC00007</td><td>active</td>", home)


def test_a_pin_change_then_the_new_pin_logs_in(portal):
    c = login(portal.url, "hana", token_answer(PIN))
    r = post(c, "/confirm/start", c.get("/").text, purpose="pin-change", new_pin=NEW_PIN, new_pin_again="8643")
    assert r.status_code == 400 and alert(r.text) == "The two new PINs differ; nothing changed."
    r = confirm(c, {"purpose": "pin-change", "new_pin": NEW_PIN, "new_pin_again": NEW_PIN}, token_answer(NEW_PIN))
    assert r.status_code == 200 and "Your PIN is changed." in r.text
    assert login(portal.url, "hana", token_answer(NEW_PIN))
    with pytest.raises(AssertionError):
        login(portal.url, "hana", token_answer(PIN))  # the old PIN's response is refused


def test_a_withdrawal_confirmed_and_one_over_every_limit_shows_the_table(portal):
    c = login(portal.url, "ivan", lambda html: card_answer(portal.ivan_card, positions(html)))
    r = confirm(c, {"purpose": "withdrawal", "amount": "500", "destination": "Bank 42"},
                lambda html: card_answer(portal.ivan_card, positions(html)))
    assert r.status_code == 200 and "The withdrawal of 500 to Bank 42 is confirmed." in r.text
    r = post(c, "/confirm/start", c.get("/").text, purpose="withdrawal", amount="1,000,000", destination="Bank 42")
    assert (r.status_code, r.headers["location"]) == (303, "/#amount")  # a reload posts nothing again
    page = c.get("/").text
    assert amount_error(page) == ("1,000,000", "The amount is over the withdrawal limits of your devices.")
    assert "Withdrawal limits by device" in page and "<td>code-card</td><td>1,000</td><td>2,000</td>" in page
    unsigned = re.search(r'<p class="unsigned-limit">([^<]*)</p>', page).group(1)
    assert html_module.unescape(unsigned) == ("Code cards and temporary passcodes cannot sign a withdrawal's amount "
                                              "and destination: each withdrawal they confirm is at most 1,000.")
    assert amount_error(c.get("/").text) is None, "said once"


def amount_error(page):
    """(the amount field's value, the error said at it) or None: the error must be the
    field's description, and come right after it."""
    field = re.search(r'<input id="amount"[^>]*>\s*(<p class="error" id="amount-error"[^>]*>([^<]*)</p>)?', page)
    if not field.group(1):
        return None
    assert 'aria-describedby="amount-error"' in field.group(0) and 'aria-invalid="true"' in field.group(0)
    value = re.search(r' value="([^"]*)"', field.group(0))
    return html_module.unescape(value.group(1)) if value else None, html_module.unescape(field.group(2))


def test_a_refused_withdrawal_is_said_at_the_field_with_the_typed_amount(portal):
    c = login(portal.url, "ivan", lambda html: card_answer(portal.ivan_card, positions(html)))
    r = post(c, "/confirm/start", c.get("/").text, purpose="withdrawal", amount="12 <b>thousand</b>",
             destination="Bank 42")
    assert (r.status_code, r.headers["location"]) == (303, "/#amount")
    page = c.get("/").text
    assert amount_error(page) == ("12 <b>thousand</b>", "Type the amount in whole units, from 1 to 999,999,999,999.")
    assert "<b>thousand" not in page  # kept as text, not markup


def test_an_online_card_while_on_a_temporary_passcode(portal):
    from host.verifier.timefmt import readable

    c = login(portal.url, "jun", lambda html: portal.jun_temp["passcode"])
    home = c.get("/").text
    assert "Get an online security code card" in home
    full_until, end = readable(portal.jun_temp["full_access_until"]), readable(portal.jun_temp["expires_at"])
    assert re.search(r'id="passcode-periods">[^<]*until %s; from then until %s it only gets you an online security '
                     r'code card' % (full_until, end), home), "the passcode's card-only period"
    r = confirm(c, {"purpose": "card"}, lambda html: portal.jun_temp["passcode"])
    assert r.status_code == 200 and "Your online security code card is ready." in r.text
    until = re.search(r"Valid until: ([0-9-]+ [0-9:]+ UTC)", r.text).group(1)  # the card's own, 21 days
    assert re.search(r'id="card-period">This card is valid until %s, also after your temporary passcode ends on %s\.'
                     % (until, end), r.text)
    assert r.headers["cache-control"] == "no-store"
    serial = re.search(r'href="/cards/([A-Z0-9-]+)\.pdf"', r.text).group(1)
    pdf = c.get("/cards/%s.pdf" % serial)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and pdf.headers["cache-control"] == "no-store"
    assert c.get("/cards/%s.png" % serial).content.startswith(b"\x89PNG")
    with httpx.Client(base_url=portal.url) as stranger:  # not logged in: no card
        assert stranger.get("/cards/%s.pdf" % serial).status_code == 303


def test_re_activating_a_found_token_ends_the_temporary_devices(portal):
    c = login(portal.url, "jun", lambda html: portal.jun_temp["passcode"])
    home = c.get("/").text
    assert "Re-activate token DSC00009" in home
    r = confirm(c, {"purpose": "activation", "device": "DSC00009"}, token_answer(PIN))
    assert r.status_code == 200 and "Your token is active." in r.text
    home = c.get("/").text
    assert re.search(r"<td>DSC00009</td><td>active</td>", home)
    assert re.search(r"<td>temp-passcode</td><td>TP-[0-9A-F]+</td><td>(revoked|expired)</td>", home)
    with pytest.raises(AssertionError):
        login(portal.url, "jun", lambda html: portal.jun_temp["passcode"])  # the passcode is over
    assert login(portal.url, "jun", token_answer(PIN))


def test_sharing_a_token_with_the_seeds_messages(portal):
    c = login(portal.url, "kai", lambda html: card_answer(portal.kai_card, positions(html)))
    r = post(c, "/confirm/start", c.get("/").text, purpose="share", owner="mia", owner_password=PASSWORD)
    assert r.status_code == 409 and alert(r.text) == "Different identification information."
    r = post(c, "/confirm/start", c.get("/").text, purpose="share", owner="lee", owner_password="Not-lees-pw-1")
    assert r.status_code == 401 and alert(r.text) == "The owner's user name or password is wrong."
    r = confirm(c, {"purpose": "share", "owner": "lee", "owner_password": OWNER_PASSWORD}, token_answer(PIN))
    assert r.status_code == 200 and "You may now use token DSC00011." in r.text
    assert re.search(r"<td>token</td><td>DSC00011</td><td>active</td>", c.get("/").text)


# -- transaction signing (issue 19) -------------------------------------------------------

SIGNING_SUITE = "OCRA-1:HOTP-SHA256-8:QA26-PSHA1"  # SUITE with its question QA26 (docs/protocol.md)


def signature(html, amount, digits, pin=PIN):
    """The token's signature over the page's challenge and the amount and destination the user keys."""
    challenge = re.search(r'id="challenge-code">([0-9]{6})<', html).group(1)
    return ocra(SIGNING_SUITE, KEY, challenge + "%012d%08d" % (amount, int(digits)), pin=pin)


def withdrawal_events(portal):
    v = service.Verifier(portal.db, portal.keyring)
    try:
        return [(e["outcome"], e["reason"], e["amount"], e["destination"], e["destination_digits"])
                for e in v.audit_log("alice") if e["purpose"] == "withdrawal"]
    finally:
        v.close()


def test_the_withdrawal_page_shows_what_to_key_and_refuses_a_signature_for_other_values(portal, secrets_sent):
    c = login(portal.url, "alice", token_answer(PIN))
    r = post(c, "/confirm/start", c.get("/").text, purpose="withdrawal", amount="150,000",
             destination="Mizuho Bank 1234567")
    assert (r.status_code, r.headers["location"]) == (303, "/confirm")
    page = c.get("/confirm").text
    assert "Withdrawal of 150,000 to Mizuho Bank 1234567." in page
    keyed = re.findall(r'<li>(\w+) <strong class="code" id="[\w-]+">([0-9,]+)</strong></li>', page)
    assert [name for name, _ in keyed] == ["Challenge", "Amount", "Destination"], "what to key, in order"
    assert keyed[1:] == [("Amount", "150,000"), ("Destination", "1234567")]
    assert "then A to sign" in page and "8-digit signature" in page
    for other in ((150001, "1234567"), (150000, "1234568")):  # e.g. what malware in the browser would show
        wrong = signature(page, *other)
        secrets_sent.add(wrong)
        r = post(c, "/confirm/response", page, response=wrong)
        assert r.status_code == 401 and alert(r.text) == "The confirmation failed; nothing was changed."
        assert wrong not in r.text
    assert withdrawal_events(portal) == [("fail", "wrong response", 150000, "Mizuho Bank 1234567", "1234567")] * 2
    right = signature(page, 150000, "1234567")
    secrets_sent.add(right)
    r = post(c, "/confirm/response", page, response=right)
    assert r.status_code == 200 and "The withdrawal of 150,000 to Mizuho Bank 1234567 is confirmed." in r.text
    assert withdrawal_events(portal)[-1] == ("ok", "", 150000, "Mizuho Bank 1234567", "1234567")


def test_a_destination_without_digits_is_said_at_its_field_with_what_was_typed(portal):
    c = login(portal.url, "alice", token_answer(PIN))
    r = post(c, "/confirm/start", c.get("/").text, purpose="withdrawal", amount="2,500", destination="My <b>bank</b>")
    assert (r.status_code, r.headers["location"]) == (303, "/#destination")
    page = c.get("/").text
    field = re.search(r'<input id="destination"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in field and 'value="My &lt;b&gt;bank&lt;/b&gt;"' in field
    assert re.search(r'<input id="amount"[^>]*value="2,500"', page), "the amount typed is kept too"
    assert "with its account number), or the 1 to 8 digits to key." in page
    r = post(c, "/confirm/start", c.get("/").text, purpose="withdrawal", amount="2,500", destination="My bank",
             destination_digits="4321")
    assert r.status_code == 303 and "Destination" in c.get("/confirm").text
    assert '<strong class="code" id="sign-destination">4321</strong>' in c.get("/confirm").text
