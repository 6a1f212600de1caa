"""Shared test setup. The repository and its firmware/ directory are on sys.path
through pytest's `pythonpath` setting (pyproject.toml), so tests import the firmware
core (`dsc`, `boards`), the host tools (`host`, `simulator`) and the shared helpers
(`tests.ocra_reference`, `tests.png`) from the checkout.

tests/ mirrors the code: tests/firmware/, tests/simulator/, tests/host/,
tests/verifier/, tests/hardware/, and tests/hil/ (against a real board).

The tests are the top of the firmware here, so they attach the debug link as
app.py and the simulator do (the core never imports it)."""

import os

import pytest

import dsc.debuglink  # noqa: F401
from tests import log_scan


@pytest.fixture(scope="session")
def secrets_sent():
    """Add every password, PIN, key, response, passcode or API key a test sends: at
    the end of the run no log file may hold any of them (tests/log_scan.py)."""
    return log_scan.SECRETS


@pytest.fixture(autouse=True)
def cheap_password_hashes(request):
    """Users a test makes in this process are hashed with scrypt's lowest cost (N=16,
    ~0.3 ms instead of ~50 ms per hash or check: a verifier test makes and checks
    several). Checks read the cost from the stored hash, so servers and processes the
    test starts check them alike. A test about the real cost is marked
    `@pytest.mark.real_password_cost`. The unknown-user dummy hash is made per test,
    at the test's cost, so unknown and known names still cost the same."""
    from host.verifier import passwords

    saved_n, saved_dummy = passwords.N, passwords._dummy[:]
    if not request.node.get_closest_marker("real_password_cost"):
        passwords.N = 2 ** 4
    passwords._dummy.clear()
    try:
        yield
    finally:
        passwords.N = saved_n
        passwords._dummy[:] = saved_dummy


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server for this pytest process (tests/verifier/pg.py), shared by
    every package's tests, stopped and removed at the end."""
    from tests.verifier import pg

    server = pg.Server()
    try:
        yield server
    finally:
        server.stop()


def pytest_sessionfinish(session):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        log_scan.save(session.config)
    elif not hasattr(session.config, "workerinput"):
        log_scan.check(session)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """`--dist loadgroup` (make test) keeps an xdist_group on one worker by suffixing its
    tests' node ids with "@group". pytest-xdist 3.8 still writes that suffix to
    item._nodeid, which pytest 9 no longer reads (a node's id is item._id), so every
    group was split across the workers: each module-scoped server, the four servers of
    test_multiprocess and the wheel build were made once per worker. Add the suffix
    where xdist's did not take."""
    if not getattr(config.option, "loadgroup", False):  # set on xdist workers under --dist loadgroup
        return
    for item in items:
        groups = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
        suffix = "@" + "_".join(sorted(groups))
        if groups and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
            from _pytest.nodeid import NodeId

            item._id = NodeId.parse(item.nodeid + suffix)


def pytest_addoption(parser):
    parser.addoption("--port", metavar="URL", default=None,
                     help="run tests/hil against a real token on this serial port or pyserial URL "
                          "(a debug build: the tests press keys through the debug link)")
