"""PSKC seed files (host.pskc_io): round trips, no plaintext secrets, MAC checks,
refusal of tampered, foreign and malformed files, and the file's own safety."""

import base64
import atexit
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET

import pskc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host import pskc_io
from host.pskc_io import PskcError, read_pskc, write_pskc

FUZZ = os.environ.get("DSC_FUZZ") == "1"
SCALE = 20 if FUZZ else 1
NS = {"pskc": "urn:ietf:params:xml:ns:keyprov:pskc", "xenc": "http://www.w3.org/2001/04/xmlenc#",
      "xenc11": "http://www.w3.org/2009/xmlenc11#"}
PASSWORD = "correct horse battery"
PSK16 = bytes(range(100, 116))
PSK32 = bytes(range(200, 232))
OCRA_URI = "urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1"
HOTP_URI = "urn:ietf:params:xml:ns:keyprov:pskc:hotp"


def fuzz_settings(n):
    return settings(max_examples=n * SCALE, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def make_tokens():
    return [
        {"serial": "DSC-0001", "key": os.urandom(32), "suite": "OCRA-1:HOTP-SHA256-8:QN06-PSHA1",
         "label": "Alice's token", "counter": None},
        {"serial": "DSC-0002", "key": os.urandom(16), "suite": "OCRA-1:HOTP-SHA1-6:C-QN08",
         "label": None, "counter": 42},
        {"serial": "DSC-0003", "key": os.urandom(64), "suite": "OCRA-1:HOTP-SHA512-8:QA10-T1M",
         "label": "bench 3", "counter": 0},
        {"serial": "x", "key": os.urandom(20), "suite": "OCRA-1:HOTP-SHA256-6:QH08-S064",
         "label": None, "counter": (1 << 64) - 1},
    ]


def full(tokens):
    """Token dicts as read_pskc returns them (label and counter always present)."""
    return [dict({"label": None, "counter": None}, **t) for t in tokens]


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch):
    """Cheap PBKDF2 for the tests; test_default_iterations keeps the real count."""
    monkeypatch.setattr(pskc_io, "PBKDF2_ITERATIONS", 1000)


def edit(src, dst, change):
    """Copy the PSKC file src to dst through change(root) on its element tree."""
    tree = ET.parse(src)
    change(tree.getroot())
    tree.write(dst, xml_declaration=True, encoding="UTF-8")
    return dst


def secrets_of(root, tag="Secret"):
    return root.findall(".//pskc:Data/pskc:%s" % tag, NS)


def flip_b64(elem, at=5):
    raw = bytearray(base64.b64decode(elem.text))
    raw[at % len(raw)] ^= 0x01
    elem.text = base64.b64encode(bytes(raw)).decode()


def refused(path, **secret):
    with pytest.raises(PskcError) as e:
        read_pskc(str(path), **secret)
    message = str(e.value)
    assert message and "\n" not in message
    return message


# --- round trips ---------------------------------------------------------------

def test_round_trip_password(tmp_path):
    tokens = make_tokens()
    path = str(tmp_path / "batch.pskcxml")
    write_pskc(path, tokens, password=PASSWORD)
    assert read_pskc(path, password=PASSWORD) == full(tokens)


@pytest.mark.parametrize("psk", [PSK16, PSK32], ids=["aes128", "aes256"])
def test_round_trip_preshared_key(tmp_path, psk):
    tokens = make_tokens()
    path = str(tmp_path / "batch.pskcxml")
    write_pskc(path, tokens, key=psk)
    assert read_pskc(path, key=psk) == full(tokens)
    cipher = ET.parse(path).getroot().find(".//pskc:Secret//xenc:EncryptionMethod", NS).get("Algorithm")
    assert cipher.endswith("#aes%d-cbc" % (len(psk) * 8))


def test_optional_fields_may_be_left_out(tmp_path):
    token = {"serial": "DSC-9", "key": os.urandom(32), "suite": "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"}
    path = str(tmp_path / "one.pskcxml")
    write_pskc(path, [token], key=PSK16)
    assert read_pskc(path, key=PSK16) == full([token])


def test_default_iterations(tmp_path, monkeypatch):
    monkeypatch.undo()
    assert pskc_io.PBKDF2_ITERATIONS >= 600000
    tokens = make_tokens()[:1]
    path = str(tmp_path / "batch.pskcxml")
    write_pskc(path, tokens, password=PASSWORD)
    root = ET.parse(path).getroot()
    count = root.find(".//xenc11:PBKDF2-params/IterationCount", NS)
    assert int(count.text) == pskc_io.PBKDF2_ITERATIONS
    assert read_pskc(path, password=PASSWORD) == full(tokens)


def test_file_layout(tmp_path):
    """The OCRA representation the module docstring describes."""
    path = str(tmp_path / "batch.pskcxml")
    write_pskc(path, make_tokens()[:1], key=PSK16)
    root = ET.parse(path).getroot()
    key = root.find("pskc:KeyPackage/pskc:Key", NS)
    assert key.get("Algorithm") == OCRA_URI and key.get("Id") == "DSC-0001"
    assert key.find("pskc:AlgorithmParameters/pskc:Suite", NS).text == "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
    response = key.find("pskc:AlgorithmParameters/pskc:ResponseFormat", NS)
    assert (response.get("Encoding"), response.get("Length")) == ("DECIMAL", "8")
    challenge = key.find("pskc:AlgorithmParameters/pskc:ChallengeFormat", NS)
    assert (challenge.get("Encoding"), challenge.get("Min"), challenge.get("Max")) == ("DECIMAL", "4", "6")
    assert key.find("pskc:Policy/pskc:KeyUsage", NS).text == "CR"
    assert root.find("pskc:KeyPackage/pskc:DeviceInfo/pskc:SerialNo", NS).text == "DSC-0001"
    assert root.find("pskc:MACMethod", NS).get("Algorithm").endswith("#hmac-sha256")


def test_cross_check_with_python_pskc(tmp_path):
    """Read a written file with python-pskc alone, not through read_pskc."""
    tokens = make_tokens()
    path = str(tmp_path / "batch.pskcxml")
    write_pskc(path, tokens, password=PASSWORD)
    container = pskc.PSKC(path)
    container.encryption.derive_key(PASSWORD)
    assert len(container.keys) == len(tokens)
    for key, token in zip(container.keys, tokens):
        assert key.secret == token["key"]
        assert key.serial == token["serial"]
        assert key.algorithm == OCRA_URI
        assert key.algorithm_suite == token["suite"]
        assert key.counter == token["counter"]
        assert key.friendly_name == token["label"]
        assert key.policy.key_usage == ["CR"]


# --- what the file holds and how it is created ----------------------------------

def encodings(secret):
    return [secret, secret.hex().encode(), secret.hex().upper().encode(), base64.b64encode(secret),
            base64.urlsafe_b64encode(secret), base64.b64encode(secret).rstrip(b"="), base64.b32encode(secret)]


@pytest.mark.parametrize("mode", ["password", "key"])
def test_no_plaintext_key_in_file(tmp_path, mode):
    tokens = make_tokens()
    path = str(tmp_path / "batch.pskcxml")
    secret = {"password": PASSWORD} if mode == "password" else {"key": PSK32}
    write_pskc(path, tokens, **secret)
    data = open(path, "rb").read()
    for t in tokens:
        for form in encodings(t["key"]):
            assert form not in data
    assert b"PlainValue" not in data
    assert PASSWORD.encode() not in data
    for form in encodings(PSK32):
        assert form not in data
    root = ET.parse(path).getroot()
    for s in secrets_of(root):
        assert s.find("pskc:EncryptedValue", NS) is not None and s.find("pskc:ValueMAC", NS) is not None


def test_existing_path_not_overwritten(tmp_path):
    path = tmp_path / "batch.pskcxml"
    path.write_bytes(b"precious")
    with pytest.raises(PskcError, match="exists"):
        write_pskc(str(path), make_tokens(), key=PSK16)
    assert path.read_bytes() == b"precious"


def test_symlink_not_followed(tmp_path):
    target = tmp_path / "elsewhere"
    link = tmp_path / "batch.pskcxml"
    link.symlink_to(target)
    with pytest.raises(PskcError):
        write_pskc(str(link), make_tokens(), key=PSK16)
    assert not target.exists()


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277])
def test_file_mode_0600(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = str(tmp_path / "batch.pskcxml")
        write_pskc(path, make_tokens(), key=PSK16)
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o7777 == 0o600


@pytest.mark.parametrize("tokens, secret, words", [
    ([{"serial": "bad serial", "key": bytes(32), "suite": "OCRA-1:HOTP-SHA1-6:QN08"}], {"key": PSK16}, "serial"),
    ([{"serial": "", "key": bytes(32), "suite": "OCRA-1:HOTP-SHA1-6:QN08"}], {"key": PSK16}, "serial"),
    ([{"key": bytes(32), "suite": "OCRA-1:HOTP-SHA1-6:QN08"}], {"key": PSK16}, "serial"),
    # a trailing newline once passed a ^...$ pattern here while the verifier refused it
    ([{"serial": "DSC1\n", "key": bytes(32), "suite": "OCRA-1:HOTP-SHA1-6:QN08"}], {"key": PSK16}, "serial"),
    ([{"serial": "A", "key": bytes(15), "suite": "OCRA-1:HOTP-SHA1-6:QN08"}], {"key": PSK16}, "15 bytes"),
    ([{"serial": "A", "key": bytes(65), "suite": "OCRA-1:HOTP-SHA1-6:QN08"}], {"key": PSK16}, "65 bytes"),
    ([{"serial": "A", "key": "00" * 32, "suite": "OCRA-1:HOTP-SHA1-6:QN08"}], {"key": PSK16}, "bytes"),
    ([{"serial": "A", "key": bytes(32), "suite": "HOTP-SHA1-6"}], {"key": PSK16}, "not OCRA-1"),
    ([{"serial": "A", "key": bytes(32), "suite": "OCRA-1:HOTP-MD5-6:QN08"}], {"key": PSK16}, "unsupported"),
    ([{"serial": "A", "key": bytes(32)}], {"key": PSK16}, "suite"),
    ([{"serial": "A", "key": bytes(32), "suite": "OCRA-1:HOTP-SHA1-6:QN08", "counter": -1}], {"key": PSK16},
     "counter"),
    ([{"serial": "A", "key": bytes(32), "suite": "OCRA-1:HOTP-SHA1-6:QN08", "label": "a\nb"}], {"key": PSK16},
     "label"),
    ([{"serial": "A", "key": bytes(32), "suite": "OCRA-1:HOTP-SHA1-6:QN08", "secret": b""}], {"key": PSK16},
     "unknown"),
    ([{"serial": "A", "key": bytes(32), "suite": "OCRA-1:HOTP-SHA1-6:QN08"}] * 2, {"key": PSK16}, "twice"),
    ([], {"key": PSK16}, "no tokens"),
    ([{"serial": "A", "key": bytes(32), "suite": "OCRA-1:HOTP-SHA1-6:QN08"}], {"key": bytes(24)}, "16 or 32"),
    ([{"serial": "A", "key": bytes(32), "suite": "OCRA-1:HOTP-SHA1-6:QN08"}], {}, "either"),
    ([{"serial": "A", "key": bytes(32), "suite": "OCRA-1:HOTP-SHA1-6:QN08"}], {"key": PSK16, "password": "x"},
     "either"),
    ([{"serial": "A", "key": bytes(32), "suite": "OCRA-1:HOTP-SHA1-6:QN08"}], {"password": ""}, "password"),
])
def test_write_refuses_bad_input(tmp_path, tokens, secret, words):
    path = tmp_path / "batch.pskcxml"
    with pytest.raises(PskcError, match=words):
        write_pskc(str(path), tokens, **secret)
    assert not path.exists()


# --- wrong secrets ----------------------------------------------------------------

@pytest.fixture
def pw_file(tmp_path):
    tokens = make_tokens()
    path = str(tmp_path / "pw.pskcxml")
    write_pskc(path, tokens, password=PASSWORD)
    return path, tokens


@pytest.fixture
def psk_file(tmp_path):
    tokens = make_tokens()
    path = str(tmp_path / "psk.pskcxml")
    write_pskc(path, tokens, key=PSK32)
    return path, tokens


def test_wrong_password(pw_file):
    path, _ = pw_file
    assert "wrong password" in refused(path, password="correct horse battery!")


def test_wrong_key(psk_file):
    path, _ = psk_file
    assert "wrong password or key" in refused(path, key=bytes(32))
    assert "needs 32" in refused(path, key=PSK16)


def test_password_for_key_file_and_back(pw_file, psk_file):
    assert "pre-shared key, not a password" in refused(psk_file[0], password=PASSWORD)
    assert "password, not a pre-shared key" in refused(pw_file[0], key=PSK32)


# --- tampering ------------------------------------------------------------------------

def _flip_secret(root):
    flip_b64(secrets_of(root)[1].find("pskc:EncryptedValue/xenc:CipherData/xenc:CipherValue", NS))


def _flip_secret_last_block(root):
    flip_b64(secrets_of(root)[0].find("pskc:EncryptedValue/xenc:CipherData/xenc:CipherValue", NS), at=-1)


def _flip_mac(root):
    flip_b64(secrets_of(root)[2].find("pskc:ValueMAC", NS))


def _drop_mac(root):
    s = secrets_of(root)[0]
    s.remove(s.find("pskc:ValueMAC", NS))


def _plaintext_secret(root):
    s = secrets_of(root)[0]
    for child in list(s):
        s.remove(child)
    ET.SubElement(s, "{%s}PlainValue" % NS["pskc"]).text = base64.b64encode(bytes(32)).decode()


def _flip_mac_key(root):
    flip_b64(root.find("pskc:MACMethod/pskc:MACKey/xenc:CipherData/xenc:CipherValue", NS))


def _drop_mac_method(root):
    root.remove(root.find("pskc:MACMethod", NS))


def _flip_counter(root):
    flip_b64(secrets_of(root, "Counter")[0].find("pskc:EncryptedValue/xenc:CipherData/xenc:CipherValue", NS))


def _other_cipher(root):
    method = secrets_of(root)[0].find("pskc:EncryptedValue/xenc:EncryptionMethod", NS)
    method.set("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#camellia256-cbc")


def _swap_ciphertexts_with_macs(root):
    """Swapping whole <Secret>s between two tokens: PSKC's MAC does not see it (documented limit)."""
    a, b = secrets_of(root)[0], secrets_of(root)[1]
    ca, cb = list(a), list(b)
    for c in ca:
        a.remove(c)
    for c in cb:
        b.remove(c)
    a.extend(cb)
    b.extend(ca)


def _mac_from_other_token(root):
    a, b = secrets_of(root)[0], secrets_of(root)[1]
    a.find("pskc:ValueMAC", NS).text = b.find("pskc:ValueMAC", NS).text


TAMPERS = [_flip_secret, _flip_secret_last_block, _flip_mac, _drop_mac, _plaintext_secret, _flip_mac_key,
           _drop_mac_method, _flip_counter, _other_cipher, _mac_from_other_token]


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.__name__.strip("_") for t in TAMPERS])
def test_tampered_file_refused(psk_file, tmp_path, tamper):
    path, _ = psk_file
    bad = edit(path, str(tmp_path / "bad.pskcxml"), tamper)
    refused(bad, key=PSK32)


@pytest.mark.parametrize("tamper", [_flip_secret, _flip_mac, _drop_mac, _flip_mac_key],
                         ids=lambda f: f.__name__.strip("_"))
def test_tampered_password_file_refused(pw_file, tmp_path, tamper):
    path, _ = pw_file
    refused(edit(path, str(tmp_path / "bad.pskcxml"), tamper), password=PASSWORD)


def test_changed_salt_refused(pw_file, tmp_path):
    def change(root):
        flip_b64(root.find(".//xenc11:PBKDF2-params/Salt/Specified", NS))
    refused(edit(pw_file[0], str(tmp_path / "bad.pskcxml"), change), password=PASSWORD)


def test_huge_iteration_count_refused_before_deriving(pw_file, tmp_path):
    def change(root):
        root.find(".//xenc11:PBKDF2-params/IterationCount", NS).text = str(10 ** 12)
    assert "iteration" in refused(edit(pw_file[0], str(tmp_path / "bad.pskcxml"), change), password=PASSWORD)


def test_known_limit_secret_swap_is_not_detected(psk_file, tmp_path):
    """Documented, not wanted: PSKC's MAC covers each value alone, so swapping two
    tokens' <Secret> elements goes unseen. Here to keep the docstring honest."""
    path, tokens = psk_file
    swapped = read_pskc(edit(path, str(tmp_path / "swap.pskcxml"), _swap_ciphertexts_with_macs), key=PSK32)
    assert swapped[0]["key"] == tokens[1]["key"] and swapped[1]["key"] == tokens[0]["key"]


def test_duplicate_serial_in_file_refused(psk_file, tmp_path):
    def change(root):
        serials = root.findall(".//pskc:DeviceInfo/pskc:SerialNo", NS)
        serials[1].text = serials[0].text
    assert "twice" in refused(edit(psk_file[0], str(tmp_path / "bad.pskcxml"), change), key=PSK32)


def test_missing_serial_refused(psk_file, tmp_path):
    def change(root):
        info = root.find(".//pskc:DeviceInfo", NS)
        info.remove(info.find("pskc:SerialNo", NS))
    assert "serial" in refused(edit(psk_file[0], str(tmp_path / "bad.pskcxml"), change), key=PSK32)


def test_missing_secret_refused(psk_file, tmp_path):
    def change(root):
        data = root.find(".//pskc:Data", NS)
        data.remove(data.find("pskc:Secret", NS))
    assert "no secret" in refused(edit(psk_file[0], str(tmp_path / "bad.pskcxml"), change), key=PSK32)


def test_missing_suite_refused(psk_file, tmp_path):
    def change(root):
        params = root.find(".//pskc:AlgorithmParameters", NS)
        params.remove(params.find("pskc:Suite", NS))
    assert "suite" in refused(edit(psk_file[0], str(tmp_path / "bad.pskcxml"), change), key=PSK32)


# --- foreign files --------------------------------------------------------------------------

def test_python_pskc_documented_hotp_example_refused(tmp_path):
    """A file in the style of python-pskc's README example: an HOTP key, PBKDF2."""
    container = pskc.PSKC()
    container.add_key(id="456", serial="987654321", secret="98765432109876543210",
                      manufacturer="Manufacturer", algorithm=HOTP_URI)
    container.encryption.setup_pbkdf2("passphrase", iterations=1000)
    path = str(tmp_path / "hotp.pskcxml")
    container.write(path)
    message = refused(path, password="passphrase")
    assert "unsupported algorithm" in message and "hotp" in message and "OCRA" in message


def _python_pskc_file(path, algorithm, suite=None, fields=("secret",), counter=None, encrypt=True):
    container = pskc.PSKC()
    key = container.add_key(id="1", serial="DSC-77", secret=bytes(range(20)), algorithm=algorithm)
    if suite:
        key.algorithm_suite = suite
    if counter is not None:
        key.counter = counter
    if encrypt:
        container.encryption.setup_preshared_key(key=PSK16, fields=list(fields))
    container.write(path)
    return path


def test_draft_uri_form_read(tmp_path):
    """draft-hoyer-keyprov-pskc-algorithm-profiles-01 section 3 puts the suite in the URI."""
    path = _python_pskc_file(str(tmp_path / "draft.pskcxml"), OCRA_URI + ":HOTP-SHA512-8:C-QN08", counter=7)
    assert read_pskc(path, key=PSK16) == [{"serial": "DSC-77", "key": bytes(range(20)),
                                           "suite": "OCRA-1:HOTP-SHA512-8:C-QN08", "label": None, "counter": 7}]


def test_uri_and_suite_element_must_agree(tmp_path):
    path = _python_pskc_file(str(tmp_path / "draft.pskcxml"), OCRA_URI + ":HOTP-SHA512-8:C-QN08",
                             suite="OCRA-1:HOTP-SHA1-6:QN08")
    assert "differ" in refused(path, key=PSK16)


def test_unsupported_ocra_suite_refused(tmp_path):
    path = _python_pskc_file(str(tmp_path / "s.pskcxml"), OCRA_URI, suite="OCRA-1:HOTP-SHA3-6:QN08")
    assert "unsupported OCRA suite" in refused(path, key=PSK16)


def test_unencrypted_file_refused(tmp_path):
    path = _python_pskc_file(str(tmp_path / "plain.pskcxml"), OCRA_URI, suite="OCRA-1:HOTP-SHA1-6:QN08",
                             encrypt=False)
    assert "not encrypted" in refused(path, key=PSK16)


@pytest.mark.parametrize("content, words", [
    (b"", "not well-formed"),
    (b"hello", "not well-formed"),
    (b"<a><b></a>", "not well-formed"),
    (b"<?xml version='1.0'?><KeyContainer xmlns='urn:ietf:params:xml:ns:keyprov:pskc' Version='1.0'/>",
     "not encrypted"),
    (b"<foo/>", "not a PSKC file"),
    (b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;'>]>"
     b"<KeyContainer>&lol2;</KeyContainer>", "DTD"),
    (b"<!DOCTYPE x SYSTEM 'file:///etc/passwd'><x/>", "DTD"),
])
def test_not_a_pskc_file(tmp_path, content, words):
    path = tmp_path / "junk"
    path.write_bytes(content)
    assert words in refused(path, key=PSK16)


def test_missing_and_oversized_files(tmp_path, monkeypatch, psk_file):
    assert "cannot read" in refused(tmp_path / "nothing-here", key=PSK16)
    monkeypatch.setattr(pskc_io, "MAX_FILE_BYTES", 100)
    assert "larger" in refused(psk_file[0], key=PSK32)


def test_error_messages_hold_no_key_material(psk_file, pw_file, tmp_path):
    messages = [refused(pw_file[0], password="wrong"), refused(psk_file[0], key=bytes(32)),
                refused(psk_file[0], key=PSK16)]
    for tamper in TAMPERS:
        messages.append(refused(edit(psk_file[0], str(tmp_path / "t.pskcxml"), tamper), key=PSK32))
        os.unlink(str(tmp_path / "t.pskcxml"))
    forms = [f.decode() for t in psk_file[1] + pw_file[1] for f in encodings(t["key"])[1:]]
    forms += [f.decode() for f in encodings(PSK32)[1:] + encodings(PSK16)[1:]] + [PASSWORD]
    for m in messages:
        assert not any(f in m for f in forms), m


# --- fuzzing: PskcError and nothing else -------------------------------------------------------

_FUZZ_DIR = tempfile.mkdtemp(prefix="pskc-fuzz-")
atexit.register(shutil.rmtree, _FUZZ_DIR, True)
_TOKENS = make_tokens()[:2]
_VALID = os.path.join(_FUZZ_DIR, "valid.pskcxml")
write_pskc(_VALID, _TOKENS, key=PSK16)
_VALID_BYTES = open(_VALID, "rb").read()


def _read_bytes(data):
    path = os.path.join(_FUZZ_DIR, "case.pskcxml")
    with open(path, "wb") as f:
        f.write(data)
    return read_pskc(path, key=PSK16)


def _pskc_error_or_same_secrets(data):
    """A mutated file is refused with PskcError, or yields only secrets that were
    written, in their order (dropping a whole KeyPackage is the documented limit)."""
    try:
        got = _read_bytes(data)
    except PskcError as e:
        assert str(e) and "\n" not in str(e)
        return
    written = iter([t["key"] for t in _TOKENS])
    assert got and all(t["key"] in written for t in got)  # a subsequence of what was written


@fuzz_settings(100)
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(data):
    with pytest.raises(PskcError):
        _read_bytes(data)


@fuzz_settings(100)
@given(st.integers(0, len(_VALID_BYTES.rstrip()) - 1))
def test_fuzz_truncated(n):
    """Cut anywhere before the closing tag's end (a trailing newline is no loss)."""
    with pytest.raises(PskcError):
        _read_bytes(_VALID_BYTES[:n])


@fuzz_settings(300)
@given(st.lists(st.tuples(st.integers(0, len(_VALID_BYTES) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.sampled_from(["replace", "insert", "delete"]))
def test_fuzz_byte_mutations(edits, how):
    data = bytearray(_VALID_BYTES)
    for at, byte in edits:
        at %= max(len(data), 1)
        if how == "replace":
            data[at] = byte
        elif how == "insert":
            data.insert(at, byte)
        elif data:
            del data[at]
    _pskc_error_or_same_secrets(bytes(data))


_ELEMENT_COUNT = sum(1 for _ in ET.fromstring(_VALID_BYTES).iter())
_TEXTS = st.one_of(st.text(max_size=40), st.sampled_from(
    ["", "0", "-1", "99999999999999999999999999", "AAAA", "====", "not base64!", "OCRA-1:HOTP-SHA1-6:QN08",
     OCRA_URI, HOTP_URI, base64.b64encode(bytes(32)).decode(), "http://www.w3.org/2001/04/xmlenc#kw-aes128",
     "http://www.w3.org/2001/04/xmlenc#tripledes-cbc", "2024-13-45T99:99:99Z"]))


def _xml_safe(text):
    return "".join(c for c in text if c in "\t\n\r" or (" " <= c <= "\ud7ff") or ("\ue000" <= c <= "\ufffd"))


@fuzz_settings(300)
@given(st.integers(0, _ELEMENT_COUNT - 1), st.sampled_from(["text", "attribute", "drop", "duplicate", "tag"]),
       _TEXTS)
def test_fuzz_element_mutations(index, how, text):
    root = ET.fromstring(_VALID_BYTES)
    elems = list(root.iter())
    target = elems[index]
    text = _xml_safe(text)
    if how == "text":
        target.text = text
    elif how == "attribute":
        name = sorted(target.attrib)[0] if target.attrib else "Algorithm"
        target.set(name, text)
    elif how == "tag":
        target.tag = "{%s}%s" % (NS["pskc"], "".join(c for c in text if c.isalnum()) or "X")
    else:
        parents = {c: p for p in elems for c in p}
        if target in parents:
            parent = parents[target]
            if how == "drop":
                parent.remove(target)
            else:
                parent.insert(list(parent).index(target), ET.fromstring(ET.tostring(target)))
    _pskc_error_or_same_secrets(ET.tostring(root))
