"""The differential test: each plugin's exact request sequence, sent to a real
privacyIDEA 3.14 and to `dsc serve` (tests/compat/conftest.py), and every field the
plugin reads compared, with the status code and the content type.

The requests, as each plugin's source builds them (method, content type, parameter
names, the encoding applied before the HTTP encoding, User-Agent):

| plugin | sends |
| --- | --- |
| privacyidea-pam 1.1 (src/privacyidea.cpp) | POST form, keys in std::map order, values percent-encoded once (alphanumerics and `-_.~` kept); GET for polltransaction; `PAM/1.1.0` |
| FreeRADIUS (privacyidea_radius.pm) | LWP POST form; `user` and `pass` URI::Encode'd first (reserved characters kept); `client`, `realm`, and `state` for the transaction; `FreeRADIUS` |
| java-client (Endpoint.java), as Keycloak runs it | POST form and GET query, every value URLEncoder-encoded before okhttp encodes it; the /auth JWT bare in `Authorization`; `privacyIDEA-Keycloak/...` |
| php-client (PrivacyIDEA.php), as Nextcloud runs it | curl with an array: POST multipart/form-data with the raw values; GET with the raw values pasted into the query; `authorization:TOKEN`; `privacyidea-nextcloud/...` |
| simpleSAMLphp module (src/Auth/PrivacyIDEA.php) | the php-client's requests; `simpleSAMLphp`, whose values privacyIDEA does not decode again |
| credential provider (CppClient/Endpoint.cpp) | WinHTTP POST form and GET query, values escaped by AtlEscapeUrl (ATL_URL_ENCODE_PERCENT: `+&=/?:@` kept); `privacyidea-cp/... Windows/HOST`, not decoded again |

What each reads is READS below: a plugin's fields and how it reads each one. A value
that legitimately differs between the servers (a transaction id, a message, a token
type) is compared by its JSON type, with null and absent told apart, unless the plugin
reads it the PHP way (isset: null and absent alike). Serials are the same on both
servers, so they are compared by value. Fields a plugin stores but that neither it nor
its host acts on are left out: the java-client's `id`, `signature`, `detail.type` and
`detail.serial` (Keycloak reads the last only to register a passkey).

Each test asserts that the plugin cannot tell the servers apart, or, for a deliberate
difference (docs/api.md, "Differences from privacyIDEA 3.14"), exactly how they differ.
A difference that is neither is marked xfail(strict=True) with what it is, so that the
test fails as soon as it is fixed and the mark must go."""

import base64
import json
import os
from urllib.parse import quote, quote_plus, urlencode

import pytest

from tests.compat.conftest import NO_TOKEN, REALM, SERVICE_ACCOUNT, TOKENS, wrong
from tests.server.conftest import PASSWORD

# The tests that start the two servers; the comparison itself is checked in every run.
needs_servers = pytest.mark.skipif(not os.environ.get("DSC_COMPAT"),
                                   reason="the differential test against privacyIDEA 3.14 runs in `make compat`")

VALUE, KIND, ISSET = "value", "kind", "isset"
ABSENT = object()


# ---- how each plugin sends -------------------------------------------------------------

def pam_encode(params):
    # urlEncode in src/privacyidea.cpp; the parameters in std::map order
    return "&".join("%s=%s" % (k, quote(params[k], safe="-_.~")) for k in sorted(params))


def radius_encode(params):
    # URI::Encode->new({encode_reserved => 0}) on user and pass, then LWP's form encoding
    pre = {k: quote(v, safe="-_.~!*'();:@&=+$,/?#[]") if k in ("user", "pass") else v for k, v in params.items()}
    return urlencode(pre)


def java_encode(params):
    # URLEncoder.encode(value, UTF_8) for each value, then okhttp's form (or query) encoding
    return urlencode({k: quote_plus(v) for k, v in params.items()})


ATL_KEPT = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!$&'()*+,-./:;=?@_")


def atl_encode(params):
    # AtlEscapeUrl with ATL_URL_ENCODE_PERCENT: only the "unsafe" characters (space, "<>#%{}|\^~[]`,
    # controls, non-ASCII) are escaped; the parameters in std::map order
    def escape(value):
        return "".join(chr(b) if b in ATL_KEPT else "%%%02X" % b for b in value.encode("utf-8"))
    return "&".join("%s=%s" % (k, escape(params[k])) for k in sorted(params))


def php_query(params):
    # PrivacyIDEA.php's GET: "?" then key=value& for each, the values as they are
    return "".join("%s=%s&" % item for item in params.items())


FORM = "application/x-www-form-urlencoded"


class Plugin:
    """How one plugin sends: its User-Agent, and its form encoding or curl's multipart."""

    def __init__(self, name, agent, encode=None, multipart=False):
        self.name, self.agent, self.encode, self.multipart = name, agent, encode, multipart

    def post(self, http, path, params, token=None):
        headers = {"User-Agent": self.agent}
        if token is not None:
            headers["Authorization"] = token
        if self.multipart:  # curl with CURLOPT_POSTFIELDS set to an array
            return http.post(path, files={k: (None, v) for k, v in params.items()}, headers=headers)
        return http.post(path, content=self.encode(params), headers={**headers, "Content-Type": FORM})

    def get(self, http, path, params):
        query = php_query(params) if self.multipart else self.encode(params)
        return http.get(path + "?" + query, headers={"User-Agent": self.agent})

    def __repr__(self):
        return self.name


PAM = Plugin("pam", "PAM/1.1.0", pam_encode)
FREERADIUS = Plugin("freeradius", "FreeRADIUS", radius_encode)
JAVA = Plugin("java-client", "privacyIDEA-Keycloak/1.5.0", java_encode)
PHP = Plugin("php-client", "privacyidea-nextcloud/1.0.0", multipart=True)
SIMPLESAMLPHP = Plugin("simplesamlphp", "simpleSAMLphp", multipart=True)
CREDENTIAL_PROVIDER = Plugin("credential-provider", "privacyidea-cp/3.8.0 Windows/DESKTOP-7Q2", atl_encode)
PLUGINS = [PAM, FREERADIUS, JAVA, PHP, SIMPLESAMLPHP, CREDENTIAL_PROVIDER]


# ---- what each plugin reads ------------------------------------------------------------
# For each kind of answer, (path, how): "a.b" is a field, "a[].b" that field of every
# element of the list a, "_jwt" the claims of result.value.token (java-client decodes it).

PHP_READS = {  # PIResponse::fromJSON (php-client) and the simpleSAMLphp module's copy of it
    "check": [("result.value", VALUE), ("result.status", VALUE), ("result.authentication", VALUE),
              ("result.error.code", VALUE), ("result.error.message", KIND),
              ("detail.messages", ISSET), ("detail.message", ISSET), ("detail.transaction_id", ISSET),
              ("detail.preferred_client_mode", VALUE), ("detail.user", ISSET),
              ("detail.multi_challenge[].transaction_id", KIND), ("detail.multi_challenge[].message", KIND),
              ("detail.multi_challenge[].serial", VALUE), ("detail.multi_challenge[].type", KIND),
              ("detail.multi_challenge[].image", ISSET), ("detail.multi_challenge[].attributes", ISSET),
              ("detail.multi_challenge[].client_mode", VALUE)],
    "poll": [("result.value", VALUE)],  # pollTransaction returns it
    # getAuthToken: the token, and the first "role" anywhere must be "admin"
    "auth": [("result.value.token", KIND), ("result.value.role", VALUE)],
}
READS = {
    PAM: {  # parseResponse and pollTransaction, src/privacyidea.cpp
        "check": [("result.value", VALUE), ("result.error.code", KIND), ("result.error.message", KIND),
                  ("detail.message", KIND), ("detail.transaction_id", KIND),
                  ("detail.multi_challenge[].type", KIND), ("detail.multi_challenge[].client_mode", KIND)],
        "poll": [("result.value", VALUE)],
    },
    FREERADIUS: {  # authenticate, privacyidea_radius.pm (and is_success: the status code)
        "check": [("result.value", VALUE), ("result.status", VALUE), ("detail.message", KIND),
                  ("detail.transaction_id", KIND), ("result.error.message", KIND), ("result.error.code", VALUE)],
    },
    JAVA: {  # JSONParser.parsePIResponse and extractAuthToken
        "check": [("result.authentication", VALUE), ("result.status", VALUE), ("result.value", VALUE),
                  ("result.error.code", VALUE), ("result.error.message", KIND),
                  ("detail.preferred_client_mode", VALUE), ("detail.message", KIND), ("detail.messages", KIND),
                  ("detail.username", KIND), ("detail.image", KIND), ("detail.transaction_id", KIND),
                  ("detail.otplen", KIND),
                  ("detail.passkey", KIND), ("detail.enroll_via_multichallenge", KIND),
                  ("detail.multi_challenge[].serial", VALUE), ("detail.multi_challenge[].message", KIND),
                  ("detail.multi_challenge[].client_mode", VALUE), ("detail.multi_challenge[].image", KIND),
                  ("detail.multi_challenge[].transaction_id", KIND), ("detail.multi_challenge[].type", KIND),
                  ("detail.multi_challenge[].link", KIND)],
        "poll": [("detail.challenge_status", VALUE)],  # pollTransaction returns the ChallengeStatus
        "auth": [("result.value.token", KIND), ("_jwt.exp", KIND)],
    },
    PHP: PHP_READS,
    SIMPLESAMLPHP: PHP_READS,
    CREDENTIAL_PROVIDER: {  # JsonParser::ParseResponse and ParsePollTransaction, CppClient
        "check": [("result.value", VALUE), ("result.status", VALUE), ("result.authentication", VALUE),
                  ("result.error.code", KIND), ("result.error.message", KIND), ("versionnumber", KIND),
                  ("detail.message", KIND), ("detail.username", KIND), ("detail.transaction_id", KIND),
                  ("detail.preferred_client_mode", VALUE), ("detail.passkey", KIND),
                  ("detail.enroll_via_multichallenge", KIND), ("detail.enroll_via_multichallenge_optional", KIND),
                  ("detail.multi_challenge[].type", KIND), ("detail.multi_challenge[].message", KIND),
                  ("detail.multi_challenge[].serial", VALUE), ("detail.multi_challenge[].transaction_id", KIND),
                  ("detail.multi_challenge[].image", KIND)],
        "poll": [("result.value", VALUE)],
    },
}


# ---- reading and comparing -------------------------------------------------------------

def kind_of(value):
    if value is ABSENT:
        return "absent"
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "float", str: "string", dict: "object", list: "array"}[type(value)]


def values_at(body, path):
    """The values at `path`, one per list element for each "[]" (ABSENT where missing)."""
    found = [body]
    for part in path.split("."):
        each = part.endswith("[]")
        name = part[:-2] if each else part
        step = []
        for value in found:
            value = value.get(name, ABSENT) if isinstance(value, dict) else ABSENT
            if each:
                step.extend(value if isinstance(value, list) else [ABSENT])
            else:
                step.append(value)
        found = step
    return found


def reading(value, how):
    """What a plugin gets from one value, read `how`."""
    if how == VALUE:
        return "absent" if value is ABSENT else "%s %s" % (kind_of(value), json.dumps(value))
    if how == ISSET and value in (None, ABSENT):
        return "unset"
    return kind_of(value)


def with_token_claims(body):
    """The body with `_jwt`: the claims of result.value.token, decoded as the java-client does."""
    token = values_at(body, "result.value.token")[0]
    if not isinstance(token, str) or token.count(".") != 2:
        return body
    payload = token.split(".")[1]
    return dict(body, _jwt=json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def answer(response):
    """(status, content type, body or None) of one HTTP answer."""
    try:
        body = with_token_claims(response.json())
    except ValueError:
        body = None
    return response.status_code, response.headers.get("content-type"), body


def differences(plugin, kind, a, b, names=("privacyIDEA", "OpenDSC")):
    """Where the plugin, reading answers a and b of `kind`, would see them apart."""
    (status_a, type_a, body_a), (status_b, type_b, body_b) = answer(a), answer(b)
    found = []
    if status_a != status_b:
        found.append("status: %s %s, %s %s" % (names[0], status_a, names[1], status_b))
    if type_a != type_b:
        found.append("content-type: %s %s, %s %s" % (names[0], type_a, names[1], type_b))
    for path, how in READS[plugin][kind]:
        read_a = " / ".join(reading(v, how) for v in values_at(body_a, path))
        read_b = " / ".join(reading(v, how) for v in values_at(body_b, path))
        if read_a != read_b:
            found.append("%s: %s %s, %s %s" % (path, names[0], read_a, names[1], read_b))
    return found


def test_each_plugin_sees_the_differences_it_reads_and_only_those():
    """The comparison on its own: null and absent apart, except where PHP's isset() reads them;
    a bool and a number apart where the value counts; unread fields and values ignored."""
    import httpx

    def challenge(status=200, value=False, **entry):
        one = {"transaction_id": "1", "message": "m", "serial": "DSC00001", "type": "hotp", **entry}
        return httpx.Response(status, json={"result": {"status": True, "value": value, "authentication": "CHALLENGE"},
                                            "detail": {"transaction_id": "1", "multi_challenge": [one]}})

    assert differences(PHP, "check", challenge(), challenge(attributes=None)) == []
    assert differences(PHP, "check", challenge(), challenge(attributes={"challenge": "1"})) == [
        "detail.multi_challenge[].attributes: privacyIDEA unset, OpenDSC object"]
    assert differences(JAVA, "check", challenge(), challenge(image=None)) == [
        "detail.multi_challenge[].image: privacyIDEA absent, OpenDSC null"]
    assert differences(JAVA, "check", challenge(value=True), challenge(value=1)) == [
        "result.value: privacyIDEA bool true, OpenDSC int 1"]
    assert differences(PAM, "check", challenge(), challenge(400, serial="other", type="token", threadid=1)) == [
        "status: privacyIDEA 200, OpenDSC 400"]
    assert differences(JAVA, "check", challenge(), challenge(serial="other")) == [
        'detail.multi_challenge[].serial: privacyIDEA string "DSC00001", OpenDSC string "other"']


# ---- the sequences ---------------------------------------------------------------------

class Session:
    """One plugin talking to one server; `steps` collects (kind, answer) in order."""

    def __init__(self, server, plugin):
        self.server, self.plugin, self.steps = server, plugin, []
        self.http = server.http

    def check(self, params):
        if self.plugin is FREERADIUS:  # every Access-Request names the NAS and the realm
            params = {"client": "10.0.0.7", "realm": REALM, **params}
            if "transaction_id" in params:  # the RADIUS State, under its old name
                params["state"] = params.pop("transaction_id")
        return self._record("check", self.plugin.post(self.http, "/validate/check", params))

    def poll(self, params):
        return self._record("poll", self.plugin.get(self.http, "/validate/polltransaction", params))

    def auth(self, params):
        return self._record("auth", self.plugin.post(self.http, "/auth", params))

    def trigger(self, user, token):
        return self._record("check", self.plugin.post(self.http, "/validate/triggerchallenge", {"user": user},
                                                      token=token))

    def respond(self, user, challenge):
        """The right response to the challenge `challenge` answered, for this server."""
        return self.server.respond(user, challenge.json())

    def _record(self, kind, response):
        self.steps.append((kind, response))
        return response


def run_both(both, plugin, sequence):
    """Run `sequence(session)` against privacyIDEA, then OpenDSC: ["step N: difference", ...]."""
    sessions = [Session(server, plugin) for server in both]
    for session in sessions:
        sequence(session)
    reference, ours = sessions
    assert [kind for kind, _ in reference.steps] == [kind for kind, _ in ours.steps]
    return ["step %d: %s" % (i + 1, found) for i, ((kind, a), (_, b)) in enumerate(zip(reference.steps, ours.steps))
            for found in differences(plugin, kind, a, b)]


def transaction(response):
    return response.json()["detail"]["transaction_id"]


def first_step(s, user="alice"):
    return s.check({"user": user, "pass": TOKENS[user][1]})


def answer_with(s, first, response, **who):
    """The second step: `response` to the challenge `first` started, naming the user (or `who`)."""
    return s.check({**(who or {"user": "alice"}), "pass": response, "transaction_id": transaction(first)})


# Each sequence is what one plugin does for one login (or one refusal), step by step.

def password_then_response(s):
    first = first_step(s)
    answer_with(s, first, s.respond("alice", first))


def wrong_password(s):
    s.check({"user": "alice", "pass": PASSWORD + "x"})


def password_of_a_user_without_a_token(s):
    s.check({"user": NO_TOKEN, "pass": PASSWORD})


def typo_then_response(s):
    """privacyIDEA keeps a challenge open after a wrong response: the retry logs in."""
    first = first_step(s)
    right = s.respond("alice", first)
    answer_with(s, first, wrong(right))
    answer_with(s, first, right)


def poll_before_and_after(s):
    first = first_step(s)
    s.poll({"transaction_id": transaction(first)})
    answer_with(s, first, s.respond("alice", first))
    s.poll({"transaction_id": transaction(first)})
    s.poll({"transaction_id": "0" * 20})  # one that never was


def serial_without_user(s):
    """The java-client's validateCheckSerial: the serial names the token, pass is its owner's password."""
    serial = TOKENS["alice"][0]
    first = s.check({"serial": serial, "pass": PASSWORD})
    answer_with(s, first, s.respond("alice", first), serial=serial)


def service_account_token(s):
    return s.auth({"username": SERVICE_ACCOUNT, "password": PASSWORD}).json()["result"]["value"]["token"]


def service_account_trigger(s):
    first = s.trigger("alice", service_account_token(s))
    answer_with(s, first, s.respond("alice", first))


def trigger_for_a_user_without_a_token(s):
    s.trigger(NO_TOKEN, service_account_token(s))


def encoded_password(s):
    """erin's password holds a space, a plus and "%41": each plugin's encoding, and privacyIDEA's
    second decoding, make of it what they make; both servers must make the same."""
    first_step(s, "erin")


def missing_user(s):
    s.check({"pass": PASSWORD})


def missing_transaction_id(s):
    s.poll({})


def missing_service_password(s):
    s.auth({"username": SERVICE_ACCOUNT})


POLLING = [PAM, JAVA, PHP, SIMPLESAMLPHP, CREDENTIAL_PROVIDER]  # FreeRADIUS never polls
SERVICE_ACCOUNTS = [JAVA, PHP, SIMPLESAMLPHP]  # the clients with a service account setting
SAME = [
    (password_then_response, PLUGINS),
    (wrong_password, PLUGINS),
    (password_of_a_user_without_a_token, PLUGINS),
    (typo_then_response, PLUGINS),
    (poll_before_and_after, POLLING),
    (serial_without_user, [JAVA]),
    (service_account_trigger, SERVICE_ACCOUNTS),
    (trigger_for_a_user_without_a_token, SERVICE_ACCOUNTS),
    (encoded_password, PLUGINS),
    (missing_user, PLUGINS),
    (missing_transaction_id, POLLING),
    (missing_service_password, SERVICE_ACCOUNTS),
]
# Differences neither deliberate (docs/api.md) nor fixed yet: what each is, so that the test
# fails once it is fixed and this entry must go.
NOT_YET = {
    # None today. The first runs found three beyond issue 17's list, fixed in 265f294: a trigger that
    # triggers nothing had detail.message; error answers had versionnumber; /auth without a password
    # answered 400 (905) where privacyIDEA answers 401 (4031).
}


def cases(table):
    for sequence, plugins in table:
        for plugin in plugins:
            reason = NOT_YET.get((sequence, plugin))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(sequence, plugin, marks=marks, id="%s-%s" % (sequence.__name__, plugin.name))


@needs_servers
@pytest.mark.parametrize("sequence, plugin", list(cases(SAME)))
def test_the_plugin_cannot_tell_the_servers_apart(both, sequence, plugin):
    found = run_both(both, plugin, sequence)
    assert found == [], "\n".join(found)


def one_answer(server, plugin, send):
    """The last answer of what `send(session)` sends."""
    session = Session(server, plugin)
    send(session)
    return session.steps[-1][1]


def unknown_user(s):
    s.check({"user": "nobody", "pass": PASSWORD})


def unknown_serial(s):
    s.check({"serial": "NOSUCH01", "pass": PASSWORD})


def missing_pass(s):
    s.check({"user": "alice"})


def trigger_for_an_unknown_user(s):
    s.trigger("nobody", service_account_token(s))


def another_realm(s):
    s.check({"user": "alice", "pass": PASSWORD, "realm": "elsewhere"})


# The deliberate differences of docs/api.md: (what is sent, by which plugins, privacyIDEA's
# status and error code, and what OpenDSC answers it exactly as).
DELIBERATE = [
    (unknown_user, PLUGINS, (400, 904), wrong_password),  # no answer tells which names exist
    (unknown_serial, [JAVA], (404, 601), wrong_password),  # nor which serials
    (trigger_for_an_unknown_user, SERVICE_ACCOUNTS, (400, 904), trigger_for_a_user_without_a_token),
    (another_realm, [FREERADIUS, JAVA], (400, 904), first_step),  # one realm, not checked
    (missing_pass, PLUGINS, (500, -500), missing_user),  # a 4xx as for any missing parameter
]


@needs_servers
@pytest.mark.parametrize("sequence, plugin, refused, same_as", [
    pytest.param(sequence, plugin, refused, same_as, id="%s-%s" % (sequence.__name__, plugin.name))
    for sequence, plugins, refused, same_as in DELIBERATE for plugin in plugins])
def test_a_deliberate_difference_is_the_documented_one(both, sequence, plugin, refused, same_as):
    """privacyIDEA refuses it with its error; OpenDSC answers it exactly as it answers `same_as`."""
    reference, ours = both
    status, _, body = answer(one_answer(reference, plugin, sequence))
    assert (status, body["result"]["error"]["code"]) == refused
    assert differences(plugin, "check", one_answer(ours, plugin, same_as), one_answer(ours, plugin, sequence),
                       (same_as.__name__, sequence.__name__)) == []


@needs_servers
def test_a_body_that_is_not_json_gets_the_error_envelope_not_an_html_page(both):
    reference, ours = both
    sent = {"content": b"{", "headers": {"Content-Type": "application/json"}}
    page = reference.http.post("/validate/check", **sent)
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    envelope = ours.http.post("/validate/check", **sent)
    assert envelope.status_code == 400 and envelope.headers["content-type"] == "application/json"
    result = envelope.json()["result"]
    assert result["status"] is False and result["error"]["code"] == 905 and isinstance(result["error"]["message"], str)


@needs_servers
def test_privacyidea_signs_its_answers_and_opendsc_does_not(both):
    signed, unsigned = (server.http.post("/validate/check", data={"user": "alice", "pass": PASSWORD + "x"}).json()
                        for server in both)
    assert signed["signature"].startswith("rsa_sha256_pss:") and "signature" not in unsigned
