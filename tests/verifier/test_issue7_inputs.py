"""Issue 7, section 1 item 9 (the verifier's part): input checks.

- Non-ASCII digits are not numbers: `--amount ١٢٣` and the PIN "١٢٣٤" are refused
  (today both are accepted, as int() and str.isdigit() take them).
- A temporary passcode typed in lower case is accepted (upper-cased), not refused.
- A printed card is never issued that nobody sees: `card issue --printed --out`
  naming an existing file, or a file with an unknown extension (card.docx, today
  silently written as text), is refused in one line before anything is issued.
"""

import os

import pytest

from tests.verifier.issue7_dsc import Dsc, assert_one_line_refusal, parallel

ARABIC_AMOUNT = "\u0661\u0662\u0663"  # ١٢٣
ARABIC_PIN = "\u0661\u0662\u0663\u0664"  # ١٢٣٤


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """One world: each test compares what it may not change before and after."""
    w = Dsc(tmp_path_factory.mktemp("inputs"))
    w.init()
    w.add_user("alice")
    w.enroll("alice", "A1")
    return w


def test_non_ascii_digits_are_not_an_amount(cli):
    w = cli
    before = w.audit_lines("alice")
    runs = {}
    parallel([
        lambda: runs.__setitem__("start", w.start("alice", w.passwords["alice"], "--purpose", "withdrawal",
                                                   "--amount", ARABIC_AMOUNT)),
        lambda: runs.__setitem__("withdraw", w.run("withdraw", "alice", "--amount", ARABIC_AMOUNT,
                                                    input=w.passwords["alice"] + "\n")),
    ])
    assert_one_line_refusal(runs["start"], "amount")
    assert "challenge_id" not in runs["start"].out
    assert_one_line_refusal(runs["withdraw"], "amount")
    assert w.audit_lines("alice") == before, "a refused amount wrote to the audit log"


def test_non_ascii_digits_are_not_a_pin(cli):
    w = cli
    before = w.audit_lines("alice"), w.serials("alice")
    key = b"\x42" * 32
    runs = {}
    parallel([
        lambda: runs.__setitem__("enroll", w.run(*w.enroll_args("alice", "A2", key), input=ARABIC_PIN + "\n")),
        lambda: runs.__setitem__("pin-change", w.start("alice", w.passwords["alice"], "--device", "A1",
                                                        "--purpose", "pin-change", "--new-pin-stdin",
                                                        input_extra=ARABIC_PIN + "\n")),
    ])
    assert_one_line_refusal(runs["enroll"], "pin")
    assert_one_line_refusal(runs["pin-change"], "pin")
    assert "challenge_id" not in runs["pin-change"].out
    assert (w.audit_lines("alice"), w.serials("alice")) == before, "a refused PIN enrolled a token or was audited"


def test_a_temporary_passcode_typed_in_lower_case_is_accepted(cli):
    w = cli
    serial, passcode = w.issue_temp_passcode("alice")
    assert passcode.lower() != passcode, "the passcode has letters"
    s = w.start("alice", w.passwords["alice"], "--device", serial)
    assert s.rc == 0, s.describe()
    f = w.finish(s.json()["challenge_id"], passcode.lower())
    assert f.rc == 0 and f.json().get("ok") is True, "the lower-case temporary passcode was refused: " + f.describe()


def test_printed_card_to_an_existing_file_is_refused_and_not_issued(cli, tmp_path):
    w = cli
    existing = tmp_path / "card.txt"
    existing.write_text("the user's own notes\n")
    before = w.audit_lines("alice"), w.serials("alice")
    r = w.run("card", "issue", "alice", "--printed", "--out", str(existing))
    assert_one_line_refusal(r)
    assert existing.read_text() == "the user's own notes\n", "card issue overwrote an existing file"
    assert (w.audit_lines("alice"), w.serials("alice")) == before, \
        "a card was issued that nobody will ever see (the audit log or the device list grew)"


def test_printed_card_with_an_unknown_extension_is_refused_and_not_issued(cli, tmp_path):
    name = "card.docx"
    w = cli
    out = tmp_path / "out" / name
    out.parent.mkdir()
    before = w.audit_lines("alice"), w.serials("alice")
    r = w.run("card", "issue", "alice", "--printed", "--out", str(out))
    assert_one_line_refusal(r)
    assert not out.exists() and not os.listdir(out.parent), "a card file was written despite the refusal"
    assert (w.audit_lines("alice"), w.serials("alice")) == before, "a card was issued that nobody will ever see"
