"""The throttle's counters on both backends (host/verifier/throttle.py): racing
attempts from several threads, each with its own connection, never get more than
the limit allowed, and the window frees up on the verifier's clock."""

import concurrent.futures

from host.verifier import throttle
from host.verifier.policy import Policy


def test_racing_attempts_get_exactly_the_limit(world):
    v, clock, _, _ = world
    v.policy = Policy(throttle_per_address=7, throttle_per_user=9, throttle_window=60)

    def attempts(i):
        return sum(throttle.attempt(v, "198.51.100.7", "Mallory") is None for _ in range(5))

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        assert sum(pool.map(attempts, range(6))) == 7
    # the name was counted for those 7 too: from other addresses it has 2 of its 9 left
    assert [throttle.attempt(v, "198.51.100.%d" % i, "mallory") is None for i in (8, 9, 10)] == [True, True, False]
    wait = throttle.attempt(v, "198.51.100.11", "MALLORY")
    assert wait is not None and 1 <= wait <= 66, "the name is over its limit from any address"
    clock.now += 66  # a window and one bucket (throttle.BUCKETS)
    assert throttle.attempt(v, "198.51.100.7", "mallory") is None
