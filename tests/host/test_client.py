"""The host client's respond() against screens a real token can show: a battery
warning before the response, and an error instead of one."""

import os
import threading

import pytest

from boards.sim import SimBoard
from dsc.token import Token
from host.client import TokenClient
from host.transport import HostError
from tests.ocra_reference import ocra

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"


class Wire:
    """A pyserial-like port straight into a Token (no threads, no sockets)."""

    def __init__(self, token, board):
        self.token, self.board = token, board
        self.buffer = b""
        self.timeout = 1
        self.lock = threading.Lock()

    def write(self, data):
        self.token.receive(data)
        self.buffer += self.board.take_sent()

    def read_until(self, end=b"\n"):
        i = self.buffer.find(end)
        if i < 0:
            return b""
        line, self.buffer = self.buffer[:i + 1], self.buffer[i + 1:]
        return line

    def close(self):
        pass


@pytest.fixture
def wired(tmp_path, monkeypatch):
    board = SimBoard(str(tmp_path), manual_clock=True)
    token = Token(board)
    monkeypatch.setattr("host.client.open_port", lambda port, timeout: Wire(token, board))
    return board, token


def test_respond_reads_the_response_behind_a_battery_warning(wired):
    board, token = wired
    key = os.urandom(32)
    with TokenClient("wire") as client:
        client.provision(key)
        board.battery_low = lambda: True
        assert client.respond("1234", "123456") == ocra(SUITE, key, "123456", pin="1234")


def test_respond_refuses_an_error_screen_as_a_response(wired):
    board, token = wired
    with TokenClient("wire") as client:
        client.provision(os.urandom(32), suite="OCRA-1:HOTP-SHA1-6:C-QN06", counter=2 ** 64 - 1)
        with pytest.raises(HostError) as e:
            client.respond("", "123456")
        assert "ERROR" in str(e.value) and "instead of a response" in str(e.value)
