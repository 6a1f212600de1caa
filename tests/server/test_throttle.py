"""Throttling per client address and per user name (host/verifier/throttle.py,
host/server/throttle.py): 429 with Retry-After, the refusal never reaches the
verifier, the window frees up, the limits hold across worker processes, and
the policy fields are checked."""

import concurrent.futures
import json
import math
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from host.server.app import create_app  # noqa: E402
from host.server.settings import Settings  # noqa: E402
from host.verifier import service, store, throttle  # noqa: E402
from host.verifier.errors import VerifierError  # noqa: E402
from host.verifier.policy import Policy, load_policy  # noqa: E402
from tests.server.conftest import PASSWORD, Server, make_db  # noqa: E402

WRONG = "wrong-Password-spray"


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def app_client(tmp_path):
    db, keyring = make_db(tmp_path, users=("alice",))
    clock = Clock()
    v = service.Verifier(db, keyring, clock=clock,
                         policy=Policy(throttle_per_address=5, throttle_per_user=3, throttle_window=60))
    with TestClient(create_app(Settings(db=db, master_key_file=keyring), verifier=v)) as client:
        yield client, v, clock
    v.close()


def _rows(v):
    with v.engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(store.audit)).scalar(),
                conn.execute(select(func.count()).select_from(store.failures)).scalar())


def test_one_address_spraying_many_names_is_refused(app_client):
    client, v, clock = app_client
    statuses = []
    for i in range(5):
        r = client.post("/api/v1/login/start", json={"username": "user%d" % i, "password": WRONG})
        statuses.append(r.status_code)
    assert statuses == [401] * 5
    before = _rows(v)
    r = client.post("/api/v1/login/start", json={"username": "user99", "password": WRONG})
    assert r.status_code == 429 and r.json()["error"] == "throttled"
    assert 1 <= int(r.headers["retry-after"]) <= 66  # a window and one bucket (throttle.BUCKETS)
    assert WRONG not in r.text
    # the other endpoints of the same address are refused too, in their own shapes
    r = client.post("/validate/check", data={"user": "user98", "pass": WRONG})
    assert r.status_code == 429 and r.json()["result"]["status"] is False
    assert r.json()["result"]["error"]["message"].startswith("too many attempts") and "retry-after" in r.headers
    r = client.post("/validate/radiuscheck", data={"user": "user97", "pass": WRONG})
    assert r.status_code == 429 and "retry-after" in r.headers
    r = client.post("/auth", data={"username": "user96", "password": WRONG})
    assert r.status_code == 429
    r = client.post("/api/v1/login/finish", json={"challenge_id": "x" * 32, "response": "12345678"})
    assert r.status_code == 429 and r.json()["error"] == "throttled"
    assert _rows(v) == before, "a throttled attempt never reaches the verifier (no audit event, no failure)"
    assert "dsc_throttled_total 5.0" in client.get("/metrics").text
    # the window frees up after its time
    clock.now += 66
    r = client.post("/api/v1/login/start", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text


def test_one_name_is_limited_per_name(app_client):
    client, v, clock = app_client
    got = [client.post("/api/v1/login/start", json={"username": "Alice", "password": WRONG}).status_code
           for _ in range(4)]
    assert got == [401, 401, 401, 429]
    # from other addresses (the library function; the peer cannot vary in-process), any spelling of the name
    assert throttle.attempt(v, "10.0.0.1", " ALICE ") is not None
    assert throttle.attempt(v, "10.0.0.2", "alice") is not None
    assert throttle.attempt(v, "10.0.0.3", "bob") is None
    clock.now += 66
    assert throttle.attempt(v, "10.0.0.4", "alice") is None


def test_retry_after_is_exact_and_refusals_do_not_extend_it(tmp_path):
    db, keyring = make_db(tmp_path, users=("alice",))
    v = service.Verifier(db, keyring, policy=Policy(throttle_per_address=1, throttle_per_user=0, throttle_window=10))
    try:
        assert throttle.attempt(v, "10.0.0.1", "x", now=1000.0) is None
        # the attempt at 1000.0 is in the bucket [1000, 1001), which leaves the window at 1011
        assert throttle.attempt(v, "10.0.0.1", "y", now=1003.5) == 8
        assert throttle.attempt(v, "10.0.0.1", "z", now=1010.9) == 1
        assert throttle.attempt(v, "10.0.0.1", "z", now=1011.0) is None, "the refusals did not push the wait on"
        with v.engine.connect() as conn:  # past buckets' rows are gone: one bucket remains (SQLite: no lock row)
            assert conn.execute(select(func.count()).select_from(store.throttle)).scalar() == 1
    finally:
        v.close()


@pytest.mark.parametrize("fields, words", [
    ({"throttle_per_address": -1}, "throttle_per_address must be a whole number from 0"),
    ({"throttle_per_user": 1.5}, "throttle_per_user must be a whole number"),
    ({"throttle_per_user": True}, "throttle_per_user must be a whole number"),
    ({"throttle_window": 0}, "throttle_window must be a number of seconds from 1"),
    ({"throttle_window": 10 ** 9}, "throttle_window must be a number of seconds"),
])
def test_policy_fields_are_checked(tmp_path, fields, words):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(fields))
    with pytest.raises(VerifierError) as e:
        load_policy(str(path))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_limit_holds_across_two_workers(tmp_path):
    import httpx

    db, keyring = make_db(tmp_path, users=("alice",))
    policy = tmp_path / "policy.json"
    policy.write_text('{"throttle_per_address": 7, "throttle_per_user": 0}')
    server = Server(tmp_path, db, keyring, extra_env={"DSC_POLICY_FILE": str(policy)}, args=("--workers", "2"))
    try:
        for _ in range(100):
            try:
                if httpx.get(server.url + "/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)

        def finish(_):  # a fresh connection each: the kernel spreads them over both workers
            return httpx.post(server.url + "/api/v1/login/finish", timeout=30,
                              json={"challenge_id": "x" * 32, "response": "00000000"}).status_code

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(finish, range(24)))
        assert statuses.count(429) == 24 - 7, statuses
        assert set(statuses) == {404, 429}
    finally:
        assert server.stop() == 0


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("throttle")
    db = str(tmp / "t.db")
    service.init_db(db, str(tmp / "master.key"))
    e = store.engine_for(db)
    yield e
    e.dispose()


_examples = iter(range(10 ** 9))


def test_a_burst_across_a_minute_boundary_gets_only_the_limit(engine):
    """A fixed window would let 10 through before the minute turns and 10 more after it."""
    key = "b:%d" % next(_examples)
    times = [59.0 + 0.2 * i for i in range(20)]  # 4 seconds, the minute turns at 60.0
    allowed = [throttle.count(engine, [(key, 10)], 60.0, t) is None for t in times]
    assert allowed == [True] * 10 + [False] * 10


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(1, 5), window=st.sampled_from([1.0, 7.0, 60.0]),
       attempts=st.lists(st.tuples(st.integers(0, 2), st.floats(0, 3, allow_nan=False)), max_size=30),
       retry_last=st.booleans())
def test_never_more_than_the_limit_in_any_window(engine, limit, window, attempts, retry_last):
    """Whatever the keys and times of the attempts: no key gets more than `limit`
    attempts allowed in any `window` seconds; an attempt is refused only when
    the limit was used within the last window and one bucket; and a client that
    waits the Retry-After it was given gets in."""
    run = next(_examples)
    size = window / throttle.BUCKETS
    allowed, refused = {}, {}
    for k, t in sorted(((k, t * window) for k, t in attempts), key=lambda a: a[1]):
        wait = throttle.count(engine, [("p:%d:%d" % (run, k), limit)], window, t)
        if wait is None:
            allowed.setdefault(k, []).append(t)
        else:
            assert 1 <= wait <= math.ceil(window + size)
            refused.setdefault(k, []).append((t, wait))
    for k, times in allowed.items():
        assert all(times[i + limit] - times[i] >= window for i in range(len(times) - limit)), (k, times)
    for k, tries in refused.items():
        for t, _ in tries:
            assert sum(t - window - size <= a <= t for a in allowed.get(k, [])) >= limit, (k, t)
    for k, tries in refused.items():
        t, wait = tries[-1]
        if retry_last and t >= max(allowed.get(k, [t])):  # the key's last attempt was this refusal
            assert throttle.count(engine, [("p:%d:%d" % (run, k), limit)], window, t + wait) is None


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(1, 6), threads=st.integers(2, 6), per_thread=st.integers(1, 4))
def test_concurrent_attempts_never_exceed_the_limit(engine, limit, threads, per_thread):
    key = "c:%d" % next(_examples)

    def hits(_):
        return sum(throttle.count(engine, [(key, limit)], 60.0, 30.0) is None for _ in range(per_thread))

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(hits, range(threads)))
    assert total == min(limit, threads * per_thread)
