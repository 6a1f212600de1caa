"""The suite-wide log scan (tests/log_scan.py) finds what it must, and only that."""

import shutil

import pytest

from tests import log_scan


@pytest.fixture
def tmp_path(tmp_path):
    """The logs planted here hold secrets on purpose: gone before the suite-wide scan runs."""
    yield tmp_path
    shutil.rmtree(tmp_path)


def test_a_secret_in_any_log_file_is_found_and_only_log_files_count(tmp_path):
    (tmp_path / "gw0" / "server").mkdir(parents=True)
    (tmp_path / "gw0" / "server" / "server.log").write_text('127.0.0.1 "POST /x" 401 pw=Horse-battery-9\n')
    (tmp_path / "clean.log").write_text("nothing here\n")
    (tmp_path / "notes.txt").write_text("Horse-battery-9 in a file that is no log\n")
    found = log_scan.scan(tmp_path, {"Horse-battery-9", "never-used-1"})
    assert found == [(tmp_path / "gw0" / "server" / "server.log", 1)]


def test_a_short_secret_counts_only_standing_alone(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("pid [412345] at 20:12:34,123\n")
    assert log_scan.scan(tmp_path, {"1234"}) == []
    log.write_text('127.0.0.1:41234 "GET /login" 200 1234.5ms, then 0.1234 s\n')
    assert log_scan.scan(tmp_path, {"1234"}) == [], "a port and durations that hold the digits"
    log.write_text("pin=1234 typed\n")
    assert log_scan.scan(tmp_path, {"1234"}) == [(log, 1)]
    log.write_text("the PIN was 1234.\n")
    assert log_scan.scan(tmp_path, {"1234"}) == [(log, 1)]
    assert log_scan.leaked("127.0.0.1 200 1234.0ms\npin=1234\n", {"1234", "5678"}) == ["1234"]
    assert log_scan.leaked("127.0.0.1 200 1234.0ms\n", {"1234"}) == [], "a fixture's own scan reads the same way"


def test_a_process_id_equal_to_a_pin_is_no_leak_but_the_pin_elsewhere_is(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("uvicorn.error INFO Started server process [9369]\nFinished server process [9369]\n")
    assert log_scan.scan(tmp_path, {"9369"}) == []
    log.write_text("uvicorn.error INFO Started server process [9369]\nPOST /login pin=9369\n")
    assert log_scan.scan(tmp_path, {"9369"}) == [(log, 1)]
