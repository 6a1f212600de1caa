"""What the portal's forms tell a stranger (in process, FastAPI's TestClient): the
sharing form and the login page answer every wrong name or password alike, say
more only after the owner's password was right, and are throttled."""

import re

from tests.portal.conftest import OWNER_PASSWORD, kai_logged_in
from tests.portal.test_login_pages import alert, password_step, post
from tests.server.conftest import PASSWORD

UNTHROTTLED = dict(throttle_per_address=0, throttle_per_user=0)


def share(c, owner, password):
    return post(c, "/confirm/start", c.get("/").text, purpose="share", owner=owner, owner_password=password)


def test_the_sharing_form_answers_every_wrong_owner_or_password_alike(people, in_process):
    with in_process(people, **UNTHROTTLED) as c:
        kai_logged_in(c, people)
        answers = [share(c, owner, password) for owner, password in
                   (("lee", "Not-lees-pw-1"), ("nosuch", "Not-lees-pw-1"), ("nosuch", OWNER_PASSWORD),
                    ("staff", "Not-lees-pw-1"), ("mia", "Not-lees-pw-1"))]
        assert {(r.status_code, r.text) for r in answers} == {(answers[0].status_code, answers[0].text)}
        assert answers[0].status_code == 401
        assert alert(answers[0].text) == "The owner's user name or password is wrong."


def test_different_identification_is_said_only_after_the_owners_password_was_right(people, in_process):
    with in_process(people, **UNTHROTTLED) as c:
        kai_logged_in(c, people)
        assert share(c, "mia", "Not-mias-pw-1").status_code == 401
        r = share(c, "mia", OWNER_PASSWORD)
        assert r.status_code == 409 and alert(r.text) == "Different identification information."
        r = share(c, "lee", OWNER_PASSWORD)  # the same identity: the owner's challenge
        assert r.status_code == 303 and r.headers["location"] == "/confirm"


def test_the_sharing_form_is_throttled_per_owner_name(people, in_process):
    with in_process(people, throttle_per_address=1000, throttle_per_user=3, throttle_window=60) as c:
        kai_logged_in(c, people)
        statuses = [share(c, "lee", "Not-lees-pw-%d" % i).status_code for i in range(5)]
        assert statuses == [401, 401, 401, 429, 429]
        r = share(c, "lee", OWNER_PASSWORD)  # even the right password waits
        assert r.status_code == 429 and alert(r.text).startswith("Too many attempts.")


def test_the_sharing_form_is_throttled_per_address(people, in_process):
    limit = 8
    with in_process(people, throttle_per_address=limit, throttle_per_user=1000, throttle_window=60) as c:
        kai_logged_in(c, people)  # its two steps count too
        statuses = [share(c, "name%d" % i, "Not-a-pw-%d" % i).status_code for i in range(limit)]
        allowed = statuses.count(401)
        assert 0 < allowed < limit and statuses == [401] * allowed + [429] * (limit - allowed)


def without_csrf(html):
    return re.sub(r'name="csrf" value="[^"]+"', "", html)


def test_the_login_refuses_a_user_without_a_device_like_a_wrong_password(people, in_process):
    with in_process(people, **UNTHROTTLED) as c:
        answers = [password_step(c, name, password)[0] for name, password in
                   (("dave", PASSWORD), ("nosuch", PASSWORD), ("alice", "Not-alices-pw-1"))]
        assert {r.status_code for r in answers} == {401}
        assert len({without_csrf(r.text) for r in answers}) == 1
        text = alert(answers[0].text)
        assert "contact the help desk" in text and "no device" in text  # the way forward, told to everyone
        events = [(e["outcome"], e["reason"]) for e in c.verifier.audit_log("dave")]
        assert events[-1] == ("fail", "no usable device")  # the real reason, kept for the help desk
