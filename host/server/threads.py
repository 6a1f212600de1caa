"""Where a route's short verifier transactions run (a login's answer, the throttle's
count): never on the event loop, since a commit may wait for a lock, and not in
the general thread pool either, where on SQLite several threads took turns at
the process's write lock (store.engine_for) and handed it, and the GIL, to each
other on every request.

- SQLite: one thread per process. Its writes are one at a time anyway (one file
  lock); one thread runs them back to back, with the requests waiting in a queue.
- PostgreSQL: a few threads, since its commits from several connections overlap
  (and PostgreSQL writes them to disk together).
Work that takes long (a password's KDF) stays in the general pool (Starlette's
run_in_threadpool), so it never holds up an answer behind it."""

import asyncio
import concurrent.futures
import contextvars
import functools

POSTGRESQL_THREADS = 8  # about the connections one worker keeps busy; SQLAlchemy's pool holds 5 + 10


def executor_for(verifier):
    dialect = getattr(getattr(getattr(verifier, "engine", None), "dialect", None), "name", None)
    threads = 1 if dialect == "sqlite" else POSTGRESQL_THREADS
    return concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="dsc-transactions")


async def transaction(request, fn, *args):
    """fn(*args) on the app's transaction threads, with the request's context (the audit actor)."""
    state = request.app.state
    executor = getattr(state, "transactions", None)
    if executor is None:  # an app that includes the routers without create_app (tests)
        executor = state.transactions = executor_for(state.verifier)
    call = functools.partial(contextvars.copy_context().run, fn, *args)
    return await asyncio.get_running_loop().run_in_executor(executor, call)
