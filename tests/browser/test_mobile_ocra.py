"""OpenDSC Mobile's own crypto in the browser (host/mobile/static/ocra.js and
protocol.js), module by module: RFC 6287's vectors as named cases, the app's
responses against the independent reference for the suite the phone uses, and
its canonical messages against the server's bytes. The modules come from
dsc serve's own file list, loaded in a page on a made-up secure origin."""

import json
import random
import re

import pytest

from host.mobile import web
from host.verifier import mobile
from tests.ocra_reference import ocra
from tests.server.conftest import ROOT

ORIGIN = "https://app.test"
VECTORS = json.loads((ROOT / "tests" / "vectors" / "rfc6287.json").read_text())["vectors"]
# The app computes suites with a question and an optional PIN: no counter, session or time.
APP_VECTORS = [v for v in VECTORS if v["counter"] is None and v["session"] is None and v["timestamp"] is None
               and v["mode"] == "one-way"]


@pytest.fixture(scope="module")
def app_page(browser):
    files = web._load()
    context = browser.new_context()

    def serve(route):
        name = route.request.url[len(ORIGIN) + len("/mobile/"):]
        found = files.get(name)
        if found is None:
            return route.fulfill(status=404, body="")
        body, media = found
        return route.fulfill(status=200, body=body, content_type=media,
                             headers={"Content-Security-Policy": web.csp("https")})

    context.route(ORIGIN + "/**", serve)
    page = context.new_page()
    page.goto(ORIGIN + "/mobile/")
    yield page
    context.close()


def responses(page, cases):
    """ocra.js's response for each case (suite, key hex, question, PIN), with the key held as
    a non-extractable HMAC CryptoKey, as the app holds it."""
    return page.evaluate("""async (cases) => {
      const ocra = await import("/mobile/ocra.js");
      const out = [];
      for (const [text, keyHex, question, pin] of cases) {
        const suite = ocra.parseSuite(text);
        const raw = new Uint8Array(keyHex.match(/../g).map((h) => parseInt(h, 16)));
        const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: suite.hash }, false, ["sign"]);
        out.push(await ocra.response(key, suite, question, pin));
      }
      return out;
    }""", cases)


@pytest.mark.parametrize("vector", APP_VECTORS, ids=lambda v: "%s-%s-%s" % (v["section"][:4].strip(), v["suite"],
                                                                             v["question"][:8]))
def test_rfc6287_vectors(app_page, vector):
    got = responses(app_page, [[vector["suite"], vector["key_hex"], vector["question"], vector["pin"]]])
    assert got == [vector["expected"]]


def test_the_phone_suite_agrees_with_the_reference_for_any_question_and_pin(app_page):
    rng = random.Random(6287)  # fixed: the same cases on every run and every xdist worker
    suite = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
    cases = []
    for _ in range(60):
        key = bytes(rng.randrange(256) for _ in range(32))
        question = "%06d" % rng.randrange(10 ** 6) if rng.random() < 0.8 else str(rng.randrange(10 ** 4, 10 ** 6))
        digits = rng.randint(4, 8)  # the token's PIN lengths
        cases.append([suite, key.hex(), question, "%0*d" % (digits, rng.randrange(10 ** digits))])
    expected = [ocra(suite, bytes.fromhex(k), q, pin=p) for _, k, q, p in cases]
    assert responses(app_page, cases) == expected


def test_a_suite_the_app_cannot_compute_is_refused_not_guessed(app_page):
    refused = app_page.evaluate("""async (suites) => {
      const ocra = await import("/mobile/ocra.js");
      return suites.map((s) => { try { ocra.parseSuite(s); return "parsed"; } catch (e) { return "refused"; } });
    }""", ["OCRA-1:HOTP-SHA1-6:C-QN08", "OCRA-1:HOTP-SHA512-8:QN08-T1M", "OCRA-1:HOTP-SHA256-8:QN06-PSHA1-S064",
           "OCRA-2:HOTP-SHA256-8:QN06", "OCRA-1:HOTP-MD5-8:QN06"])
    assert refused == ["refused"] * 5


def test_a_wrong_challenge_or_pin_is_refused_in_the_app(app_page):
    outcome = app_page.evaluate("""async (cases) => {
      const ocra = await import("/mobile/ocra.js");
      const suite = ocra.parseSuite("OCRA-1:HOTP-SHA256-8:QN06-PSHA1");
      const key = await crypto.subtle.importKey("raw", new Uint8Array(32), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const out = [];
      for (const [question, pin] of cases) {
        try { await ocra.response(key, suite, question, pin); out.push("computed"); } catch (e) { out.push("refused"); }
      }
      return out;
    }""", [["12a456", "1234"], ["1234567", "1234"], ["123", "1234"], ["123456", "123"], ["123456", "123456789"],
           ["123456", ""], ["123456", "１２３４"], ["123456", "12a4"],
           ["123456", "1234"], ["123456", "12345"], ["123456", "12345678"]])
    assert outcome == ["refused"] * 8 + ["computed"] * 3, "a PIN is 4 to 8 digits 0-9, as on the token"


def test_signed_messages_are_the_bytes_the_server_checks(app_page):
    messages = [{"decision": "approve", "number": 42, "response": "48391045", "transaction": "ab" * 16},
                {"device": "MA-00A1B2C3", "poll": 1764531000},
                {"activation": "x" * 32, "pin": "y" * 64},
                # a withdrawal's answer names its destination as the bank shows it: any script (ensure_ascii)
                {"amount": "150000", "decision": "approve", "destination": "みずほ銀行 Café ~\"\\ 💴 1234567",
                 "destination_digits": "1234567", "number": 42, "response": "48391045", "transaction": "ab" * 16}]
    got = app_page.evaluate("""async (messages) => {
      const protocol = await import("/mobile/protocol.js");
      return messages.map((m) => protocol.canonical(m));
    }""", messages)
    assert [g.encode() for g in got] == [mobile.canonical(m) for m in messages]


def test_any_destination_text_gives_the_servers_canonical_bytes(app_page):
    rng = random.Random(1919)  # fixed: the same cases on every run and every xdist worker
    planes = [(0x20, 0x7f), (0, 0x20), (0x80, 0x800), (0x3000, 0xa000), (0xe000, 0x10000), (0x10000, 0x110000)]
    texts = []
    for _ in range(200):
        chars = []
        for _ in range(rng.randint(1, 64)):
            low, high = rng.choice(planes)
            c = rng.randrange(low, high)
            chars.append(chr(c if not 0xd800 <= c < 0xe000 else 0x41))  # no lone surrogates: not text
        texts.append("".join(chars))
    messages = [{"amount": "1", "destination": text, "destination_digits": "1"} for text in texts]
    got = app_page.evaluate("""async (messages) => {
      const protocol = await import("/mobile/protocol.js");
      return messages.map((m) => protocol.canonical(m));
    }""", messages)
    assert [g.encode() for g in got] == [mobile.canonical(m) for m in messages]


# docs/protocol.md, "Signing": its test vectors, read from the document itself.
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"  # the phone's login suite
SIGNING_KEY = "3132333435363738393031323334353637383930313233343536373839303132"
SIGNING_VECTORS = [
    (challenge, amount, destination.split(" ")[0], (re.search(r"PIN `(\d+)`", destination) or [None, "1234"])[1],
     question, expected)
    for challenge, amount, destination, question, expected in re.findall(
        r"^\| (\d{6}) \| (\d+) \| (\d+(?: \(PIN `\d+`\))?) \| `(\d{26})` \| `(\d{8})` \|$",
        (ROOT / "docs" / "protocol.md").read_text(), re.M)]


def signatures(page, cases):
    """signing.js's question and ocra.js's response over it, with the signing suite
    that signing.js makes of the phone's login suite, for each case
    (login suite, key hex, challenge, amount, destination digits, PIN)."""
    return page.evaluate("""async (cases) => {
      const ocra = await import("/mobile/ocra.js");
      const signing = await import("/mobile/signing.js");
      const out = [];
      for (const [login, keyHex, challenge, amount, destination, pin] of cases) {
        const suite = ocra.parseSuite(signing.suiteFor(login));
        const raw = new Uint8Array(keyHex.match(/../g).map((h) => parseInt(h, 16)));
        const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: suite.hash }, false, ["sign"]);
        const question = signing.question(challenge, amount, destination);
        out.push([suite.text, question, await ocra.response(key, suite, question, pin)]);
      }
      return out;
    }""", cases)


def test_the_signing_vectors_of_the_protocol_document():
    assert len(SIGNING_VECTORS) == 7, "the scan finds docs/protocol.md's table"


@pytest.mark.parametrize("vector", SIGNING_VECTORS, ids=lambda v: "-".join(v[:3]) + "-pin" + v[3])
def test_signing_js_gives_the_protocol_documents_vectors(app_page, vector):
    challenge, amount, destination, pin, question, expected = vector
    got = signatures(app_page, [[SUITE, SIGNING_KEY, challenge, int(amount), destination, pin]])
    assert got == [["OCRA-1:HOTP-SHA256-8:QA26-PSHA1", question, expected]]
    # and the independent reference agrees with the document
    assert ocra("OCRA-1:HOTP-SHA256-8:QA26-PSHA1", bytes.fromhex(SIGNING_KEY), question, pin=pin) == expected


def test_signing_js_agrees_with_the_reference_for_any_amount_and_destination(app_page):
    rng = random.Random(19)  # fixed: the same cases on every run and every xdist worker
    cases = []
    for _ in range(40):
        amount = rng.choice([1, 10 ** 12 - 1, rng.randrange(1, 10 ** rng.randint(1, 12))])
        destination = "%0*d" % ((n := rng.randint(1, 8)), rng.randrange(10 ** n))
        cases.append([SUITE, bytes(rng.randrange(256) for _ in range(32)).hex(), "%06d" % rng.randrange(10 ** 6),
                      amount if rng.random() < 0.5 else str(amount), destination, "%04d" % rng.randrange(10 ** 4)])
    signing_suite = "OCRA-1:HOTP-SHA256-8:QA26-PSHA1"
    expected = [[signing_suite, q, ocra(signing_suite, bytes.fromhex(k), q, pin=p)]
                for _, k, c, a, d, p in cases
                for q in [c + str(a).rjust(12, "0") + d.rjust(8, "0")]]
    assert signatures(app_page, cases) == expected
    # a signature is never the login response to the same challenge
    login = [ocra(SUITE, bytes.fromhex(k), c, pin=p) for _, k, c, a, d, p in cases]
    assert all(got[2] != mine for got, mine in zip(expected, login))


def test_signing_js_refuses_what_the_token_refuses(app_page):
    outcome = app_page.evaluate("""async (cases) => {
      const signing = await import("/mobile/signing.js");
      return cases.map(([c, a, d]) => { try { return signing.question(c, a, d); } catch (e) { return "refused"; } });
    }""", [["12345", 1, "1"], ["1234567", 1, "1"], ["12345a", 1, "1"], ["123456", 0, "1"], ["123456", -5, "1"],
           ["123456", 1.5, "1"], ["123456", 10 ** 12, "1"], ["123456", "", "1"], ["123456", "1000000000000", "1"],
           ["123456", "1e3", "1"], ["123456", 1, ""], ["123456", 1, "123456789"], ["123456", 1, "12-4"],
           ["123456", "0", "1"], ["123456", "000000000001", "0"]])
    assert outcome == ["refused"] * 14 + ["12345600000000000100000000"]
    suites = app_page.evaluate("""async (suites) => {
      const signing = await import("/mobile/signing.js");
      return suites.map((s) => { try { return signing.suiteFor(s); } catch (e) { return "refused"; } });
    }""", ["OCRA-1:HOTP-SHA256-8:QN06-PSHA1", "OCRA-1:HOTP-SHA1-6:QN08", "OCRA-1:HOTP-SHA1-6", "OCRA-1:HOTP-SHA1-6:C"])
    assert suites == ["OCRA-1:HOTP-SHA256-8:QA26-PSHA1", "OCRA-1:HOTP-SHA1-6:QA26", "refused", "refused"]
