"""A typo must not restart the login (issue 17, item 2b), in the portal (in
process): a wrong response shows the same challenge again, with the usual
refusal and how many tries are left, and the right one after it logs in or
confirms; the last try goes back to the password (or home, for a
confirmation) as before; each wrong try is a failed login toward the lockout."""

import re

from tests.ocra_reference import ocra
from tests.portal.test_confirm_pages import login, token_answer
from tests.portal.test_login_pages import alert, password_step, post
from tests.server.conftest import KEY, PASSWORD, PIN, SUITE

CONFIRMATION_FAILED = "The confirmation failed; nothing was changed."
NEW_PIN = "8642"


def refusal(c, secrets_sent):
    """What every refusal of a login reads (here: an unknown name's; it drops an open challenge)."""
    secrets_sent.add("Not-a-password-3")
    return alert(password_step(c, "no-such-user", "Not-a-password-3")[0].text)


def shown_challenge(html):
    """(the challenge, its expiry) a challenge page shows."""
    return (re.search(r'id="challenge-code">([0-9]{6})<', html).group(1),
            re.search(r'data-expires="([0-9]+)"', html).group(1))


def tries_left(html):
    found = re.search(r'<p class="tries-left">([^<]*)</p>', html)
    return found.group(1) if found else None


def responses(html, secrets_sent, pin=PIN):
    """(right, wrong) responses to the token challenge on a page."""
    right = ocra(SUITE, KEY, shown_challenge(html)[0], pin=pin)
    wrong = right[:-1] + str((int(right[-1]) + 1) % 10)
    secrets_sent.update({right, wrong})
    return right, wrong


def test_a_typo_shows_the_same_challenge_with_the_tries_left_and_the_right_response_logs_in(
        people, in_process, secrets_sent):
    with in_process(people) as c:
        refused = refusal(c, secrets_sent)
        _, page = password_step(c, "alice")
        right, wrong = responses(page.text, secrets_sent)
        r = post(c, "/login/response", page.text, response=wrong)
        assert r.status_code == 401 and alert(r.text) == refused, "the usual refusal"
        assert tries_left(r.text) == "Tries left for this challenge: 2"
        assert shown_challenge(r.text) == shown_challenge(page.text), "the same challenge, the same expiry"
        assert shown_challenge(c.get("/login").text) == shown_challenge(page.text), "a reload shows it too"
        r = post(c, "/login/response", r.text, response=right)
        assert (r.status_code, r.headers["location"]) == (303, "/")
        assert "Logged in as alice." in c.get("/").text


def test_the_tries_left_in_japanese(people, in_process, secrets_sent):
    with in_process(people) as c:
        c.get("/login?lang=ja")
        _, page = password_step(c, "alice")
        _, wrong = responses(page.text, secrets_sent)
        r = post(c, "/login/response", page.text, response=wrong)
        assert tries_left(r.text) == "このチャレンジの残り入力回数: 2回"


def test_three_typos_go_back_to_the_password(people, in_process, secrets_sent):
    with in_process(people) as c:
        refused = refusal(c, secrets_sent)
        _, page = password_step(c, "alice")
        _, wrong = responses(page.text, secrets_sent)
        shown = page.text
        for left in (2, 1):
            r = post(c, "/login/response", shown, response=wrong)
            assert tries_left(r.text) == "Tries left for this challenge: %d" % left
            shown = r.text
        r = post(c, "/login/response", shown, response=wrong)
        assert r.status_code == 401 and alert(r.text) == refused and tries_left(r.text) is None
        assert 'id="username"' in r.text and "challenge-code" not in c.get("/login").text, "back to the first step"
        assert [e["reason"] for e in c.verifier.audit_log("alice", outcome="fail")] == ["wrong response"] * 3
        assert login(None, "alice", token_answer(PIN), client=c), "three failures lock no one by default"


def test_a_typo_that_is_the_last_failure_before_the_lock_goes_back_to_the_password(people, in_process, secrets_sent):
    with in_process(people, lockout_failures=2) as c:
        refused = refusal(c, secrets_sent)
        _, page = password_step(c, "alice")
        _, wrong = responses(page.text, secrets_sent)
        r = post(c, "/login/response", page.text, response=wrong)
        assert tries_left(r.text) == "Tries left for this challenge: 2"
        r = post(c, "/login/response", r.text, response=wrong)  # the second failure locks alice
        assert r.status_code == 401 and alert(r.text) == refused and 'id="username"' in r.text
        r, _ = password_step(c, "alice", PASSWORD)
        assert r.status_code == 423 and "Your account is locked" in alert(r.text)


def start_pin_change(c):
    post(c, "/confirm/start", c.get("/").text, purpose="pin-change", new_pin=NEW_PIN, new_pin_again=NEW_PIN)
    return c.get("/confirm")


def test_a_typo_in_a_confirmation_shows_it_again_and_the_right_response_confirms(people, in_process, secrets_sent):
    with in_process(people) as c:
        login(None, "alice", token_answer(PIN), client=c)
        page = start_pin_change(c)
        right, _ = responses(page.text, secrets_sent, pin=NEW_PIN)
        old_pin, _ = responses(page.text, secrets_sent, pin=PIN)
        r = post(c, "/confirm/response", page.text, response=old_pin)
        assert r.status_code == 401 and alert(r.text) == CONFIRMATION_FAILED
        assert tries_left(r.text) == "Tries left for this challenge: 2"
        assert shown_challenge(r.text) == shown_challenge(page.text)
        assert "Key your NEW PIN into the token, not the old one." in r.text
        r = post(c, "/confirm/response", r.text, response=right)
        assert r.status_code == 200 and "Your PIN is changed." in r.text
        ch = c.verifier.issue("alice")
        assert c.verifier.finish(ch["challenge_id"], ocra(SUITE, KEY, ch["challenge"], pin=NEW_PIN))["ok"]


def test_three_typos_in_a_confirmation_change_nothing(people, in_process, secrets_sent):
    with in_process(people) as c:
        login(None, "alice", token_answer(PIN), client=c)
        page = start_pin_change(c)
        old_pin, _ = responses(page.text, secrets_sent, pin=PIN)
        shown = page.text
        for _ in range(2):
            shown = post(c, "/confirm/response", shown, response=old_pin).text
        r = post(c, "/confirm/response", shown, response=old_pin)
        assert r.status_code == 401 and alert(r.text) == CONFIRMATION_FAILED and tries_left(r.text) is None
        assert c.get("/confirm").headers["location"] == "/", "the confirmation is over"
        ch = c.verifier.issue("alice")
        assert c.verifier.finish(ch["challenge_id"], ocra(SUITE, KEY, ch["challenge"], pin=PIN))["ok"], \
            "the PIN is unchanged"


def test_confirmation_responses_are_throttled_per_address_and_a_refusal_keeps_the_confirmation(
        people, in_process, secrets_sent):
    """With several tries per challenge, a guesser at /confirm/response meets the
    address's throttle as at /login/response; the throttled attempt takes no try."""
    with in_process(people, throttle_per_address=4, throttle_per_user=1000, throttle_window=60) as c:
        login(None, "alice", token_answer(PIN), client=c)  # two attempts: the password and the response
        page = start_pin_change(c)
        right, _ = responses(page.text, secrets_sent, pin=NEW_PIN)
        old_pin, _ = responses(page.text, secrets_sent, pin=PIN)
        first = post(c, "/confirm/response", page.text, response=old_pin)
        assert first.status_code == 401 and tries_left(first.text) == "Tries left for this challenge: 2"
        r = post(c, "/confirm/response", first.text, response=old_pin)
        assert r.status_code == 401 and tries_left(r.text) == "Tries left for this challenge: 1"
        r = post(c, "/confirm/response", r.text, response=right)
        assert r.status_code == 429 and alert(r.text).startswith("Too many attempts.")
        assert shown_challenge(r.text) == shown_challenge(page.text), "the confirmation stays open"
        assert shown_challenge(c.get("/confirm").text) == shown_challenge(page.text)
