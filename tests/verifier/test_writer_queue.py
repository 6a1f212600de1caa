"""SQLite's writers queue for each other across processes (store.WriterQueue): a writer
that finds another process's write transaction open waits on the lock file beside the
database, where the kernel hands it the lock as soon as the other ends, not in SQLite's
busy handler, which sleeps up to 100 ms between tries. Seen here in /proc/locks, where a
process waiting for a flock is listed with `->`."""

import os
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import text

from host.verifier import store

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="needs Linux's /proc/locks")

HOLDER = """
import sys
from sqlalchemy import text
from host.verifier import store
engine = store.engine_for(sys.argv[1])
with engine.begin() as conn:
    conn.execute(text("INSERT INTO t VALUES (1)"))
    print("holding", flush=True)
    sys.stdin.readline()  # until the test lets go (or kills this process)
print("committed", flush=True)
"""


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "v.db")
    engine = store.engine_for(path, create=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    return path


def holder(db):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert proc.stdout.readline() == "holding\n"
    return proc


def waiting_in_the_queue(db):
    """Processes listed in /proc/locks as waiting for the queue's flock."""
    inode = os.stat(db + "-writer").st_ino
    return [line for line in open("/proc/locks") if "->" in line and "FLOCK" in line
            and line.split()[-3].endswith(":%d" % inode)]


def write_in_thread(db):
    engine = store.engine_for(db)
    done = threading.Event()

    def write():
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
        done.set()

    threading.Thread(target=write, daemon=True).start()
    return engine, done


def wait_until(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def rows(db):
    engine = store.engine_for(db)
    try:
        with engine.connect() as conn:
            return sorted(x for (x,) in conn.execute(text("SELECT x FROM t")))
    finally:
        engine.dispose()


def test_a_writer_waits_in_the_queue_while_another_process_writes_and_goes_on_when_it_commits(db):
    proc = holder(db)
    engine, done = write_in_thread(db)
    try:
        assert wait_until(lambda: waiting_in_the_queue(db)), "the second writer is not waiting on the queue"
        assert not done.is_set()
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "committed\n"
        assert done.wait(10)
    finally:
        proc.kill()
        proc.wait()
        engine.dispose()
    assert rows(db) == [1, 2]
    assert not waiting_in_the_queue(db)


def test_a_writer_killed_in_its_transaction_lets_the_next_one_in_and_its_write_is_gone(db):
    proc = holder(db)
    engine, done = write_in_thread(db)
    try:
        assert wait_until(lambda: waiting_in_the_queue(db))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert done.wait(10)
    finally:
        engine.dispose()
    assert rows(db) == [2]


def test_the_queue_file_is_the_owners_alone(db):
    assert rows(db) == []
    assert stat.S_IMODE(os.stat(db + "-writer").st_mode) == 0o600
