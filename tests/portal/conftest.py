"""In-process portal tests (FastAPI's TestClient, no server process): `people`, a
database of users for the sharing form, the login page and the phone's page, and
`in_process(people, **policy)`, a client on an app over it."""

import contextlib

import pytest

from host.verifier import passwords, service
from tests.server.conftest import KEY, PASSWORD, PIN, SUITE, make_db

OWNER_PASSWORD = "Owners-own-pw-7"
IDENTITY = dict(birth_date="1980-02-03", citizenship="JP", residence="JP", id_type="passport", id_number="TK1")


@pytest.fixture
def people(tmp_path, secrets_sent):
    """kai (a code card only) and lee (a token) have the same identity data, mia
    other data, staff is the help desk; dave has a password and no device."""
    cheap, passwords.N = passwords.N, 2 ** 4
    try:
        db, keyring = make_db(tmp_path, users=("alice", "dave"))
        v = service.Verifier(db, keyring)
        v.add_user("kai", PASSWORD, **IDENTITY)
        v.add_user("lee", OWNER_PASSWORD, **IDENTITY)
        v.add_user("mia", OWNER_PASSWORD, **dict(IDENTITY, id_number="TK2"))
        v.add_user("staff", OWNER_PASSWORD, role="helpdesk")
        v.enroll_token("lee", "DSC00011", KEY, PIN, suite=SUITE, active=True)
        v.enroll_token("mia", "DSC00012", KEY, PIN, suite=SUITE, active=True)
        kai_card = v.issue_printed_card("kai")
        v.close()
    finally:
        passwords.N = cheap
    secrets_sent.add(OWNER_PASSWORD)
    return {"db": db, "keyring": keyring, "kai_card": kai_card}


@pytest.fixture
def in_process():
    """in_process(people, public_url="", **policy): a context manager giving a
    TestClient (redirects not followed; .verifier is the app's library)."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from host.server.app import create_app
    from host.server.settings import Settings
    from host.verifier.policy import Policy

    @contextlib.contextmanager
    def start(people, public_url="", **policy):
        v = service.Verifier(people["db"], people["keyring"], policy=Policy(**policy))
        settings = Settings(db=people["db"], master_key_file=people["keyring"], public_url=public_url)
        try:
            with TestClient(create_app(settings, verifier=v), follow_redirects=False) as client:
                client.verifier = v
                yield client
        finally:
            v.close()

    return start


def kai_logged_in(client, people):
    from tests.portal.test_confirm_pages import card_answer, login, positions

    return login(None, "kai", lambda html: card_answer(people["kai_card"], positions(html)), client=client)
