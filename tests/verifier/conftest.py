"""Fixtures shared by the verifier's library tests: an injected clock and a
`world` with one user, alice, holding one active token (DSC00001, PIN 1234).

A test module sets its own start time by overriding the `start_time` fixture."""

import os

import pytest

from host.verifier import service

SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
DAY = 86400.0
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
PASSWORD = "correct horse"
IDENTITY = dict(birth_date="1980-01-01", citizenship="FI", residence="FI", id_type="passport", id_number="X1")


class Clock:
    """The verifier's clock: tests move time by setting `now`."""

    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def start_time():
    return T0


@pytest.fixture
def world(tmp_path, start_time):
    """(verifier, clock, alice's token key, the test's directory)"""
    db, master = str(tmp_path / "v.db"), str(tmp_path / "master.key")
    service.init_db(db, master)
    clock = Clock(start_time)
    v = service.Verifier(db, master, clock=clock)
    v.add_user("alice", PASSWORD, **IDENTITY)
    key = os.urandom(32)
    v.enroll_token("alice", "DSC00001", key, "1234", active=True)
    yield v, clock, key, tmp_path
    v.close()
