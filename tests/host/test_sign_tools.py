"""`dsc ocra` and `dsc respond` sign a withdrawal (issue 19): --amount and --destination
with the challenge give docs/protocol.md's "Signing" vectors (read from the doc); bad
input is one line and a nonzero exit, never echoing what was given. `dsc respond`
against a running token is in tests/hil (test_token_over_serial.py)."""

import pytest

from host import cli
from tests.firmware.test_signing_vectors import VECTORS, doc_facts, vector_id

KEY = doc_facts()["key"].hex()
LOGIN_SUITE = doc_facts()["login_suite"]


def run(capsys, *argv):
    """`dsc ARGV` in this process: (exit status, stdout, stderr)."""
    try:
        status = cli.main(list(argv))
    except SystemExit as e:  # argparse's usage errors
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("row", VECTORS, ids=vector_id)
def test_dsc_ocra_signs_the_docs_vectors(capsys, row):
    status, out, err = run(capsys, "ocra", "--key", KEY, "--suite", LOGIN_SUITE, "--pin", row["pin"],
                           "--question", row["challenge"], "--amount", str(row["amount"]),
                           "--destination", row["destination"])
    assert (status, out, err) == (0, row["response"] + "\n", "")


def test_without_amount_and_destination_dsc_ocra_still_answers_a_login(capsys):
    facts = doc_facts()
    status, out, _ = run(capsys, "ocra", "--key", KEY, "--pin", facts["pin"], "--question", facts["login_challenge"])
    assert (status, out) == (0, facts["login_response"] + "\n")


@pytest.mark.parametrize("args,says", [
    (["--amount", "150000"], "--amount and --destination go together"),
    (["--destination", "4321"], "--amount and --destination go together"),
    (["--amount", "0", "--destination", "4321"], "amount must be 1 to 999999999999"),
    (["--amount", "1234567890123", "--destination", "4321"], "amount must be 1 to 12 digits"),
    (["--amount", "１５０", "--destination", "4321"], "must be digits 0-9 only"),
    (["--amount", "150000", "--destination", ""], "must be digits 0-9 only"),
    (["--amount", "150000", "--destination", "123456789"], "destination must be 1 to 8 digits"),
    (["--amount", "15.5", "--destination", "4321"], "must be digits 0-9 only"),
])
@pytest.mark.parametrize("command", ["ocra", "respond"])
def test_bad_signing_input_is_one_line_and_a_nonzero_exit(capsys, command, args, says):
    head = (["ocra", "--key", KEY, "--pin", "1234", "--question", "123456"] if command == "ocra"
            else ["respond", "socket://127.0.0.1:9", "--pin", "1234", "--challenge", "123456"])
    status, out, err = run(capsys, *head, *args)
    assert status != 0 and out == ""
    assert err.count("\n") == 1 and says in err, err
    for value in args[1::2]:
        assert len(value) < 4 or value not in err, "the value given is never echoed"


@pytest.mark.parametrize("challenge", ["12345", "1234567"])
def test_a_signatures_challenge_is_six_digits(capsys, challenge):
    status, out, err = run(capsys, "ocra", "--key", KEY, "--pin", "1234", "--question", challenge,
                           "--amount", "150000", "--destination", "4321")
    assert (status, out) == (1, "") and err == "dsc ocra: a signature's challenge must be 6 digits\n"
