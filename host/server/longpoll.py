"""Long polls: an answer that waits, up to a few seconds, for something to
change, so a waiting page or phone hears of it at once instead of at its next
poll. The state lives in the database, so any server process sees the change;
each check is one read in a worker thread, and none holds a thread while it
waits. A wait ends early when the client goes away.

MAX_WAIT bounds how long a graceful stop of `dsc serve` can wait for a poll."""

import asyncio
import time

from starlette.concurrency import run_in_threadpool

MAX_WAIT = 10  # seconds
STEP = 0.2  # seconds between checks: the delay a waiting client can see


def seconds(wait):
    """A client's ?wait= as the seconds to hold the answer, 0 to MAX_WAIT."""
    return min(max(int(wait), 0), MAX_WAIT)


async def until(request, read, done, wait):
    """`read()` (in a worker thread) until `done(result)`, `wait` seconds pass or the client
    leaves; returns the last result. What read() raises goes to the caller."""
    deadline = time.monotonic() + seconds(wait)
    while True:
        result = await run_in_threadpool(read)
        if done(result) or time.monotonic() >= deadline or await request.is_disconnected():
            return result
        await asyncio.sleep(STEP)
