"""Issue 10, 1.3 on the token's side of the link, in CPython: a token says whether
it has a clock, is set only with the physical OK press, refuses time-based (T)
suites it could not answer correctly, and shows NO CLOCK rather than a wrong
response when its clock lost the time."""

import calendar

import pytest

from boards.sim import SimBoard
from dsc.token import Token
from tests.ocra_reference import ocra

KEY = bytes(range(32))
TIME_SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1-T1M"
FIRST = calendar.timegm((2000, 1, 1, 0, 0, 0))  # the first second `clock set=` takes
LAST = calendar.timegm((2099, 12, 31, 23, 59, 59))  # and the last
SOME_TIME = calendar.timegm((2031, 7, 4, 18, 30, 0))


def rig(tmp_path, clock=True):
    board = SimBoard(str(tmp_path), manual_clock=True, clock=clock)
    return board, Token(board)


def send(board, token, line):
    board.take_sent()
    token.receive(line.encode() + b"\n")
    return board.take_sent().decode().splitlines()


def fields(reply):
    """`OK info a=1 b=2` -> {"a": "1", "b": "2"}."""
    return dict(word.split("=", 1) for word in reply.split()[2:] if "=" in word)


def info(board, token):
    replies = send(board, token, "info")
    assert len(replies) == 1 and replies[0].startswith("OK info"), replies
    return fields(replies[0])


def press(board, token, key):
    board.take_sent()
    token.key(key)
    return board.take_sent().decode().splitlines()


def provision(board, token, suite=None):
    return send(board, token, "provision key=" + KEY.hex() + (" suite=" + suite if suite else ""))


def lose_the_time(board):
    """The board's RTC lost the time (a Pico whose DS3231 coin cell died)."""
    board.clock = lambda: "unset"
    board.epoch = lambda: None


def login(token, pin="1234", challenge="123456"):
    for k in ["PWR"] + list(pin) + ["OK"] + list(challenge) + ["OK"]:
        token.key(k)
    return token.ui.lines


# -- info and reading the clock --------------------------------------------------------


def test_info_says_whether_the_token_has_a_clock_blank_or_provisioned(tmp_path):
    for clock, status in ((True, "host"), (False, "none")):
        board, token = rig(tmp_path / status, clock=clock)
        assert info(board, token)["clock"] == status
        assert provision(board, token)[0].startswith("OK provision")
        assert info(board, token)["clock"] == status


def test_reading_the_clock_gives_its_time_without_asking_on_the_token(tmp_path):
    board, token = rig(tmp_path)
    replies = send(board, token, "clock")
    assert replies == ["OK clock clock=host time=" + str(board.epoch())]
    assert token.ui.state == "off" and token.ui.lines == ("", "")


def test_reading_the_clock_of_a_token_without_one_gives_no_time(tmp_path):
    board, token = rig(tmp_path, clock=False)
    assert send(board, token, "clock") == ["OK clock clock=none"]


def test_reading_a_clock_that_lost_the_time_says_so_and_gives_no_time(tmp_path):
    board, token = rig(tmp_path)
    lose_the_time(board)
    assert send(board, token, "clock") == ["OK clock clock=unset"]
    assert info(board, token)["clock"] == "unset"


# -- setting it: only with the OK press ----------------------------------------------------


def test_setting_the_clock_waits_for_ok_on_the_token_then_sets_it(tmp_path):
    board, token = rig(tmp_path)
    before = board.epoch()
    assert send(board, token, "clock set=" + str(SOME_TIME)) == ["WAIT clock confirm"]
    assert token.ui.lines[0] == "SET CLK?"
    board.advance(2000)
    assert board.epoch() == before + 2, "nothing is set before the press"
    replies = press(board, token, "OK")
    assert len(replies) == 1 and replies[0].startswith("OK clock "), replies
    answer = fields(replies[0])
    assert answer["clock"] == "host"
    assert SOME_TIME <= int(answer["time"]) <= SOME_TIME + 2 and int(answer["time"]) == board.epoch()
    board.advance(60_000)
    assert SOME_TIME + 60 <= board.epoch() <= SOME_TIME + 62, "the clock runs on from the time set"


def test_pressing_c_refuses_to_set_the_clock(tmp_path):
    board, token = rig(tmp_path)
    before = board.epoch()
    assert send(board, token, "clock set=" + str(SOME_TIME)) == ["WAIT clock confirm"]
    replies = press(board, token, "C")
    assert len(replies) == 1 and replies[0].startswith("ERR clock denied"), replies
    assert board.epoch() == before


@pytest.mark.parametrize("when", [FIRST, LAST], ids=["2000-01-01", "2099-12-31"])
def test_the_first_and_last_second_of_the_range_are_taken(tmp_path, when):
    board, token = rig(tmp_path)
    assert send(board, token, "clock set=" + str(when)) == ["WAIT clock confirm"]
    replies = press(board, token, "OK")
    assert replies == ["OK clock clock=host time=" + str(when)]
    assert board.epoch() == when


@pytest.mark.parametrize("arg", [
    "set=" + str(FIRST - 1),  # 1999-12-31 23:59:59
    "set=" + str(LAST + 1),  # 2100-01-01 00:00:00
    "set=abc",
    "set=",
    "set=-5",
    "set=%2B1900000000",  # +1900000000
    "set=1.9e9",
    "set=1900000000.5",
    "set=%EF%BC%91900000000",  # a full-width digit one
    "set=99999999999999999999999999999999",
], ids=["1999", "2100", "letters", "empty", "negative", "plus", "exponent", "fraction", "fullwidth", "huge"])
def test_a_time_that_is_not_unix_seconds_from_2000_to_2099_is_refused_and_nothing_changes(tmp_path, arg):
    board, token = rig(tmp_path)
    before = board.epoch()
    replies = send(board, token, "clock " + arg)
    assert len(replies) == 1 and replies[0].startswith("ERR clock bad-argument"), replies
    assert token.ui.state == "off", "nothing to confirm"
    assert press(board, token, "OK") == [] and board.epoch() == before


def test_a_token_without_a_clock_refuses_to_set_one_without_asking(tmp_path):
    board, token = rig(tmp_path, clock=False)
    replies = send(board, token, "clock set=" + str(SOME_TIME))
    assert len(replies) == 1 and replies[0].startswith("ERR clock no-clock"), replies
    assert token.ui.state == "off" and token.ui.lines == ("", "")


# -- T suites need a clock ----------------------------------------------------------------


@pytest.mark.parametrize("suite", [TIME_SUITE, "OCRA-1:HOTP-SHA1-6:QN08-T30S", "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1-T1H"])
def test_a_blank_token_without_a_clock_refuses_a_time_suite_and_stays_blank(tmp_path, suite):
    board, token = rig(tmp_path, clock=False)
    replies = provision(board, token, suite)
    assert len(replies) == 1 and replies[0].startswith("ERR provision no-clock"), replies
    assert info(board, token)["state"] == "blank"
    assert provision(board, token)[0].startswith("OK provision"), "the default suite needs no clock"


def test_a_token_whose_clock_lost_the_time_refuses_a_time_suite(tmp_path):
    board, token = rig(tmp_path)
    lose_the_time(board)
    replies = provision(board, token, TIME_SUITE)
    assert len(replies) == 1 and replies[0].startswith("ERR provision no-clock"), replies
    assert info(board, token)["state"] == "blank"


def test_a_provisioned_token_without_a_clock_keeps_its_key_when_a_time_suite_is_refused(tmp_path):
    board, token = rig(tmp_path, clock=False)
    provision(board, token)
    was = info(board, token)
    replies = provision(board, token, TIME_SUITE)
    assert len(replies) == 1 and replies[0].startswith("ERR provision no-clock"), replies
    assert token.ui.state != "confirm", "refused before NEW KEY? is asked"
    assert info(board, token) == was


def test_a_time_suite_is_taken_with_a_clock_and_answers_for_the_time_set(tmp_path):
    board, token = rig(tmp_path)
    assert provision(board, token, TIME_SUITE)[0].startswith("OK provision")
    assert info(board, token)["suite"] == TIME_SUITE
    send(board, token, "clock set=" + str(SOME_TIME))
    press(board, token, "OK")
    lines = login(token)
    step = board.epoch() // 60
    assert step == SOME_TIME // 60
    assert lines == (ocra(TIME_SUITE, KEY, "123456", pin="1234", timestamp=step), "")
    token.key("PWR")
    board.advance(60_000)
    assert login(token)[0] == ocra(TIME_SUITE, KEY, "123456", pin="1234", timestamp=step + 1)


def test_a_time_suite_token_whose_clock_lost_the_time_shows_no_clock_instead_of_a_response(tmp_path):
    board, token = rig(tmp_path)
    provision(board, token, TIME_SUITE)
    assert login(token)[0] == ocra(TIME_SUITE, KEY, "123456", pin="1234", timestamp=board.epoch() // 60)
    token.key("PWR")
    lose_the_time(board)
    assert login(token)[0] == "NO CLOCK"
