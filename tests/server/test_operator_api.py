"""The operator API (/api/v1 users, devices, cards, withdrawals, audit) over HTTP, black-box
from its specification: API keys and roles, the user and device lifecycle, logins with what
an operator enrolled or issued, audit paging, bad input, and no secret in any response or log.

One `dsc serve` on a database of its own for the whole module (xdist_group keeps the module
on one worker, so one server); each test makes the users it changes."""

import io
import json
import os
import re
import secrets
from contextlib import redirect_stderr, redirect_stdout
from unittest import mock

import httpx
import pytest

from host import cli, pskc_io
from host.verifier import passwords
from tests.ocra_reference import ocra
from tests.server.conftest import KEY, PASSWORD, SERIAL, SUITE, Server, make_db
from tests.server.test_signing_api import SIGNING_SUITE

pytestmark = pytest.mark.xdist_group("operator_api")

API = "/api/v1"
START, FINISH = API + "/login/start", API + "/login/finish"
ROLES = ("admin", "helpdesk", "auditor")
LOCKOUT_FAILURES = 3
POLICY = {"throttle_per_address": 0, "throttle_per_user": 0, "lockout_failures": LOCKOUT_FAILURES}

# Strings no response or header may hold, checked on every response of the module's clients.
# A passcode joins once the response that issues it has been read. (Short digit strings, PINs
# and responses, are left to the log scan: a card's image could hold eight digits by chance.)
never_shown = {PASSWORD, KEY.hex()}


class Secret(str):
    """A secret whose repr, in a failing test's report, never shows it."""

    def __repr__(self):
        return "<secret>"


class SecretKey(bytes):
    def __repr__(self):
        return "<secret key>"


class Sent:
    """Registers what the tests send in conftest's secrets_sent (the log scans) and, when
    `shown` is false, in never_shown (the response check); reports show none of it."""

    def __init__(self, log):
        self.log = log

    def __repr__(self):
        return "<%d secrets sent>" % len(self.log)

    def __call__(self, value, shown=False):
        value = Secret(value)
        self.log.add(value)
        if not shown:
            never_shown.add(value)
        return value


class Service:
    """The module's server, its clients per role and the API keys made for it."""

    def __init__(self, server, clients, keys, key_list):
        self.server, self.clients, self.keys, self.key_list = server, clients, keys, key_list

    def __repr__(self):
        return "<operator API at %s>" % self.server.url


def new_password(sent):
    return sent("Op-" + secrets.token_urlsafe(12))


def new_pin(sent):
    return sent("".join(secrets.choice("0123456789") for _ in range(8)), shown=True)


def new_key(sent):
    key = SecretKey(os.urandom(32))
    sent(key.hex())
    return key


def occurrences(text, values):
    """How many of `values` are in `text`; tests assert on the count alone."""
    return sum(1 for v in values if v in text)


def dsc(db, keyring, *args):
    """`dsc ARGS --db DB` through the CLI's entry point in this process (a subprocess per key
    would cost a second each): (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, {"DSC_MASTER_KEY_FILE": keyring}), redirect_stdout(out), redirect_stderr(err):
        os.environ.pop("DSC_POLICY_FILE", None)
        code = cli.main([*args, "--db", db])
    return code, out.getvalue(), err.getvalue()


def create_key(db, keyring, role, name=""):
    code, out, err = dsc(db, keyring, "apikey", "create", "--role", role, *(["--name", name] if name else []))
    assert code == 0, "apikey create failed (%s): %s" % (code, err)
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dsc_"), "apikey create printed %d line(s)" % len(lines)
    on_stderr = occurrences(err, lines)
    assert on_stderr == 0, "the key is on stderr too"
    return Secret(lines[0])


def no_secret_shown(response):
    response.read()
    shown = response.content + "".join("%s: %s\n" % kv for kv in response.headers.items()).encode()
    leaked = [x for x in never_shown if x.encode() in shown]
    assert not leaked, "%d secret(s) in the response to %s %s" % (len(leaked), response.request.method,
                                                                 response.request.url.path)


@pytest.fixture(scope="module")
def sent(secrets_sent):
    return Sent(secrets_sent)


@pytest.fixture(scope="module")
def api(tmp_path_factory, sent):
    tmp = tmp_path_factory.mktemp("operator-api")
    cheap = passwords.N
    passwords.N = 2 ** 4  # the users made here are hashed cheaply; the server hashes its own as usual
    try:
        db, keyring = make_db(tmp)
    finally:
        passwords.N = cheap
    keys = {role: create_key(db, keyring, role, name="tests " + role) for role in ROLES}
    revoked = create_key(db, keyring, "admin", name="revoked one")
    code, listed, err = dsc(db, keyring, "apikey", "list")
    assert code == 0, err
    revoked_id = [r["id"] for r in json.loads(listed) if r["name"] == "revoked one"][0]
    assert dsc(db, keyring, "apikey", "revoke", str(revoked_id))[0] == 0
    code, listed_after, err = dsc(db, keyring, "apikey", "list")
    assert code == 0, err
    for key in [*keys.values(), revoked]:
        sent(key)
    policy = tmp / "policy.json"
    policy.write_text(json.dumps(POLICY))
    server = Server(tmp, db, keyring, extra_env={"DSC_POLICY_FILE": str(policy)})
    hooks = {"response": [no_secret_shown]}
    clients = {role: httpx.Client(base_url=server.url, timeout=30, event_hooks=hooks,
                                  headers={"Authorization": "Bearer " + key}) for role, key in keys.items()}
    clients["anonymous"] = httpx.Client(base_url=server.url, timeout=30, event_hooks=hooks)
    clients["revoked"] = httpx.Client(base_url=server.url, timeout=30, event_hooks=hooks,
                                      headers={"Authorization": "Bearer " + revoked})
    try:
        yield Service(server, clients, dict(keys, revoked=revoked), [listed, listed_after])
    finally:
        for c in clients.values():
            c.close()
        server.stop()
    leaked = occurrences(server.log_text(), sent.log | never_shown)
    assert leaked == 0, "%d secret(s) reached the server's log" % leaked
    assert "Traceback" not in server.log_text()


def client_of(role):
    """A fixture named after the role: the module's HTTP client with that role's key."""
    @pytest.fixture(scope="module", name=role)
    def client(api):
        return api.clients[role]
    return client


admin, helpdesk, auditor, anonymous = (client_of(role) for role in (*ROLES, "anonymous"))


def error_shape(r, status, code=None):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "message"} and isinstance(body["message"], str), body
    if code is not None:
        assert body["error"] == code, body
    return body


def refused_as_client_error(r):
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str), body
    return body


def add_user(admin, sent, name, **identity):
    password = new_password(sent)
    r = admin.post(API + "/users", json=dict(identity, username=name, password=password))
    assert r.status_code == 201, r.text
    assert r.json() == {"user": name}
    return password


def enroll(admin, sent, name, serial):
    """An active token from the text of its key file, as `dsc provision --key-out` writes it."""
    key, pin = new_key(sent), new_pin(sent)
    r = admin.post(API + "/users/%s/devices" % name,
                   json={"serial": serial, "key_file": key.hex() + "\n", "pin": pin, "suite": SUITE, "active": True})
    assert r.status_code == 201, r.text
    assert r.json() == {"user": name, "serial": serial, "status": "active"}
    return key, pin


def start(client, name, password, **extra):
    return client.post(START, json=dict(extra, username=name, password=password))


def finish(client, challenge_id, response, sent):
    response = sent(response, shown=True)
    return client.post(FINISH, json={"challenge_id": challenge_id, "response": response})


def token_login(client, sent, name, password, key, pin, **extra):
    r = start(client, name, password, **extra)
    assert r.status_code == 200, r.text
    ch = r.json()
    return finish(client, ch["challenge_id"], ocra(SUITE, key, ch["challenge"], pin=pin), sent)


def audit_events(client, **query):
    r = client.get(API + "/audit", params=dict(query, limit=1000))
    assert r.status_code == 200, r.text
    return r.json()["events"]


# ---- API keys and roles --------------------------------------------------------------------

def test_apikey_list_shows_roles_and_revocation_never_the_key(api):
    before, after = api.key_list
    for text in (before, after):
        shown = occurrences(text, [k.split("_", 2)[2] for k in api.keys.values()])
        assert shown == 0, "apikey list shows %d key(s)" % shown
        assert not re.search(r"[0-9a-fA-F]{32}", text), "apikey list shows something like a hash"
    rows, rows_after = json.loads(before), json.loads(after)
    assert {r["role"] for r in rows} == set(ROLES)
    ids = {r["name"]: r["id"] for r in rows}
    for role, key in api.keys.items():  # dsc_<id>_<random>, the id the list shows
        name = "revoked one" if role == "revoked" else "tests " + role
        matched = re.fullmatch(r"dsc_([0-9]+)_\S+", key)
        looks_right = bool(matched) and int(matched.group(1)) == ids[name]
        assert looks_right, "the %s key does not look like dsc_<id>_<random>" % role
    for r in rows:
        assert {"id", "name", "role", "created_at", "revoked_at"} <= set(r)
        assert r["revoked_at"] is None and r["created_at"]
    revoked = {r["name"] for r in rows_after if r["revoked_at"] is not None}
    assert revoked == {"revoked one"}


def unauthorized(r):
    error_shape(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_no_key_is_unauthorized_on_every_group_of_routes(anonymous):
    for method, path in (("GET", "/users"), ("GET", "/users/nobody-at-all"), ("POST", "/users/alice/unlock"),
                         ("POST", "/users/alice/withdrawals"), ("GET", "/audit")):
        unauthorized(anonymous.request(method, API + path))


@pytest.mark.parametrize("authorization", [
    "", "Bearer", "Basic YWxpY2U6cGFzc3dvcmQ=", "Bearer not-a-key", "Bearer dsc_1_" + "A" * 40,
    "Bearer dsc_999999_" + "A" * 40, "Bearer dsc__", "Bearer \u00e9t\u00e9",
])
def test_malformed_or_unknown_key_is_unauthorized(anonymous, authorization):
    unauthorized(anonymous.get(API + "/users", headers={"Authorization": authorization.encode("utf-8")}))


def test_a_revoked_key_is_unauthorized(api):
    unauthorized(api.clients["revoked"].get(API + "/users"))


def test_a_key_with_its_secret_part_changed_is_unauthorized(api, anonymous):
    admin_key = api.keys["admin"]
    changed = admin_key[:-1] + ("B" if admin_key[-1] != "B" else "C")
    unauthorized(anonymous.get(API + "/users", headers={"Authorization": "Bearer " + changed}))


# (method, path, body) per group of routes, and the roles that may use it.
READ = [("GET", "/users", None), ("GET", "/users/alice", None), ("GET", "/users/alice/devices", None),
        ("GET", "/users/alice/withdrawals", None), ("GET", "/audit", None)]
ADMIN = [("POST", "/users", {"username": "x-never-made", "password": "Never-made-pw-1"}),
         ("DELETE", "/users/dave", None),
         ("POST", "/users/alice/devices", {"serial": "NEVER-1", "key_file": "00" * 32 + "\n", "pin": "13572468"}),
         ("POST", "/users/alice/devices/%s/activate" % SERIAL, None),
         ("POST", "/users/alice/devices/%s/replace" % SERIAL, None),
         ("DELETE", "/users/alice/devices/%s" % SERIAL, None),
         ("POST", "/users/alice/withdrawals", {"amount": 100})]
# Allowed to the help desk but not to auditors; these change state, so only the refusals run here.
HELPDESK_CHANGES = [("POST", "/users/alice/temp-passcode", None),
                    ("POST", "/users/alice/cards", None),
                    ("POST", "/users/alice/devices/%s/deactivate" % SERIAL, None),
                    ("POST", "/users/alice/devices/%s/revoke" % SERIAL, None)]


def call(client, method, path, body):
    return client.request(method, API + path, json=body)


def test_auditor_reads_everything(auditor):
    for method, path, body in READ:
        r = call(auditor, method, path, body)
        assert r.status_code == 200, (path, r.text)


@pytest.mark.parametrize("role", ["helpdesk", "admin"])
def test_helpdesk_and_admin_read_too(api, role):
    for method, path, body in READ[:1] + READ[-1:]:
        assert call(api.clients[role], method, path, body).status_code == 200


def test_helpdesk_and_admin_unlock_auditor_may_not(api):
    error_shape(api.clients["auditor"].post(API + "/users/carol/unlock"), 403, "forbidden")
    for role in ("helpdesk", "admin"):
        r = api.clients[role].post(API + "/users/carol/unlock")
        assert r.status_code == 200 and r.json() == {"user": "carol", "unlocked": True}, r.text


@pytest.mark.parametrize("method, path, body", HELPDESK_CHANGES)
def test_auditor_may_not_do_helpdesk_actions(api, method, path, body):
    error_shape(call(api.clients["auditor"], method, path, body), 403, "forbidden")


@pytest.mark.parametrize("method, path, body", ADMIN)
def test_only_admin_does_admin_actions(api, method, path, body):
    for role in ("auditor", "helpdesk"):
        error_shape(call(api.clients[role], method, path, body), 403, "forbidden")


def test_the_refused_actions_changed_nothing(api, admin):
    names = {u["user"] for u in admin.get(API + "/users").json()}
    assert {"alice", "carol", "dave"} <= names and "x-never-made" not in names
    devices = {d["serial"]: d for d in admin.get(API + "/users/alice/devices").json()}
    assert set(devices) == {SERIAL} and devices[SERIAL]["status"] == "active"


def test_admin_may_do_a_helpdesk_action_and_an_admin_one(admin, sent):
    add_user(admin, sent, "op-roles")
    r = admin.post(API + "/users/op-roles/temp-passcode")
    assert r.status_code == 200, r.text
    sent(r.json()["passcode"])
    r = admin.delete(API + "/users/op-roles")
    assert r.status_code == 200 and r.json() == {"user": "op-roles", "removed": True}


# ---- users ---------------------------------------------------------------------------------

def test_user_lifecycle(admin, helpdesk, auditor, anonymous, sent):
    password = add_user(admin, sent, "op-life", birth_date="1990-01-02", citizenship="NL",
                        residence="Utrecht", id_type="passport", id_number="X1234567")
    error_shape(admin.post(API + "/users", json={"username": "op-life", "password": new_password(sent)}), 409,
                "user-exists")
    listed = auditor.get(API + "/users")
    assert listed.status_code == 200
    rows = [u for u in listed.json() if u["user"] == "op-life"]
    assert len(rows) == 1 and set(rows[0]) >= {"user", "created_at"}
    key, pin = enroll(admin, sent, "op-life", "LIFE-1")

    shown = auditor.get(API + "/users/op-life")
    assert shown.status_code == 200, shown.text
    user = shown.json()
    assert user["user"] == "op-life" and user["locked_until"] is None and user["created_at"]
    assert user["birth_date"] == "1990-01-02" and user["citizenship"] == "NL" and user["residence"] == "Utrecht"
    assert user["id_type"] == "passport" and user["id_number"] == "X1234567"
    assert [d["serial"] for d in user["devices"]] == ["LIFE-1"]
    hidden = occurrences(shown.text, ["scrypt", key.hex(), pin])
    assert hidden == 0, "the user's record shows %d of its hash, key and PIN" % hidden

    for i in range(LOCKOUT_FAILURES):
        wrong = sent("Wrong-%d-%s" % (i, secrets.token_hex(4)))
        assert start(anonymous, "op-life", wrong).status_code == 401
    error_shape(start(anonymous, "op-life", password), 423, "locked")
    assert auditor.get(API + "/users/op-life").json()["locked_until"] is not None

    r = helpdesk.post(API + "/users/op-life/unlock")
    assert r.status_code == 200 and r.json() == {"user": "op-life", "unlocked": True}
    assert auditor.get(API + "/users/op-life").json()["locked_until"] is None
    done = token_login(anonymous, sent, "op-life", password, key, pin)
    assert done.status_code == 200 and done.json()["ok"] is True and done.json()["user"] == "op-life"

    r = admin.delete(API + "/users/op-life")
    assert r.status_code == 200 and r.json() == {"user": "op-life", "removed": True}
    error_shape(auditor.get(API + "/users/op-life"), 404, "no-user")
    assert "op-life" not in {u["user"] for u in auditor.get(API + "/users").json()}
    assert start(anonymous, "op-life", password).status_code == 401


@pytest.mark.parametrize("method, path", [
    ("GET", "/users/nobody-here"), ("GET", "/users/nobody-here/devices"), ("DELETE", "/users/nobody-here"),
    ("POST", "/users/nobody-here/unlock"), ("GET", "/users/nobody-here/withdrawals"),
])
def test_unknown_user_is_404(admin, method, path):
    error_shape(admin.request(method, API + path), 404, "no-user")


# ---- devices -------------------------------------------------------------------------------

def test_enroll_from_key_file_text_then_log_in(admin, auditor, anonymous, sent):
    password = add_user(admin, sent, "op-enroll")
    key, pin = enroll(admin, sent, "op-enroll", "ENR-1")
    devices = auditor.get(API + "/users/op-enroll/devices")
    assert devices.status_code == 200
    [device] = devices.json()
    assert device["serial"] == "ENR-1" and device["kind"] == "token" and device["status"] == "active"
    hidden = occurrences(devices.text, [key.hex()])
    assert hidden == 0, "the device list shows the key"
    done = token_login(anonymous, sent, "op-enroll", password, key, pin)
    assert done.status_code == 200, done.text
    assert done.json()["ok"] is True and done.json()["device"] == "ENR-1"


@pytest.mark.parametrize("key_file", ["", "zz" * 32, "abc", "00" * 8, "not a key at all\n"])
def test_bad_key_file_text_is_a_client_error(admin, key_file):
    r = admin.post(API + "/users/carol/devices", json={"serial": "BADKEY-1", "key_file": key_file, "pin": "24681357"})
    assert r.status_code in (400, 422), r.text
    refused_as_client_error(r)
    if len(key_file) > 4:
        assert key_file.strip() not in r.text


def test_pskc_import_then_log_in(admin, anonymous, sent, tmp_path, monkeypatch):
    monkeypatch.setattr(pskc_io, "PBKDF2_ITERATIONS", 1000)  # cheap for the test; the file names its count
    password = add_user(admin, sent, "op-pskc")
    key, pin, pskc_password = new_key(sent), new_pin(sent), sent("Pskc-" + secrets.token_hex(8))
    path = tmp_path / "seed.pskc"
    pskc_io.write_pskc(str(path), [{"serial": "PSKC-1", "key": key, "suite": SUITE}], password=pskc_password)
    body = {"pskc": path.read_text(), "password": pskc_password, "pin": pin, "active": True}
    r = admin.post(API + "/users/op-pskc/devices/pskc", json=dict(body, password=sent("Wrong-" + pskc_password)))
    refused_as_client_error(r)
    r = admin.post(API + "/users/op-pskc/devices/pskc", json=body)
    assert r.status_code == 201, r.text
    assert [d["serial"] for d in admin.get(API + "/users/op-pskc/devices").json()] == ["PSKC-1"]
    done = token_login(anonymous, sent, "op-pskc", password, key, pin)
    assert done.status_code == 200 and done.json()["device"] == "PSKC-1"


def test_deactivate_refuses_login_activate_restores_it(admin, helpdesk, anonymous, sent):
    password = add_user(admin, sent, "op-toggle")
    key, pin = enroll(admin, sent, "op-toggle", "TOG-1")
    r = helpdesk.post(API + "/users/op-toggle/devices/TOG-1/deactivate")
    assert r.status_code == 200 and r.json() == {"serial": "TOG-1", "status": "inactive"}
    assert start(anonymous, "op-toggle", password).status_code in (403, 409)
    error_shape(helpdesk.post(API + "/users/op-toggle/devices/TOG-1/activate"), 403, "forbidden")
    r = admin.post(API + "/users/op-toggle/devices/TOG-1/activate")
    assert r.status_code == 200 and r.json() == {"serial": "TOG-1", "status": "active"}
    assert token_login(anonymous, sent, "op-toggle", password, key, pin).status_code == 200


def test_revoke_and_remove_a_device(admin, helpdesk, anonymous, sent):
    password = add_user(admin, sent, "op-revoke")
    enroll(admin, sent, "op-revoke", "REV-1")
    enroll(admin, sent, "op-revoke", "REV-2")
    r = helpdesk.post(API + "/users/op-revoke/devices/REV-1/revoke")
    assert r.status_code == 200 and r.json() == {"serial": "REV-1", "status": "revoked"}
    statuses = {d["serial"]: d["status"] for d in admin.get(API + "/users/op-revoke/devices").json()}
    assert statuses == {"REV-1": "revoked", "REV-2": "active"}
    assert start(anonymous, "op-revoke", password, device="REV-1").status_code in (403, 409)
    error_shape(helpdesk.delete(API + "/users/op-revoke/devices/REV-2"), 403, "forbidden")
    r = admin.delete(API + "/users/op-revoke/devices/REV-2")
    assert r.status_code == 200 and r.json() == {"serial": "REV-2", "removed": True}
    assert [d["serial"] for d in admin.get(API + "/users/op-revoke/devices").json()] == ["REV-1"]
    refused_as_client_error(admin.post(API + "/users/op-revoke/devices/NO-SUCH/deactivate"))


def test_temp_passcode_then_log_in_with_it(admin, helpdesk, anonymous, sent):
    password = add_user(admin, sent, "op-temp")
    r = helpdesk.post(API + "/users/op-temp/temp-passcode")
    assert r.status_code == 200, r.text
    issued = r.json()
    assert {"serial", "passcode", "full_access_until", "expires_at"} <= set(issued)
    passcode = sent(issued["passcode"])  # from now on, no response shows it again
    devices = {d["serial"]: d for d in admin.get(API + "/users/op-temp/devices").json()}
    assert devices[issued["serial"]]["kind"] == "temp-passcode"
    r = start(anonymous, "op-temp", password, device=issued["serial"])
    assert r.status_code == 200, r.text
    done = finish(anonymous, r.json()["challenge_id"], passcode, sent)
    assert done.status_code == 200 and done.json()["ok"] is True and done.json()["device"] == issued["serial"]


def test_replace_a_lost_token(admin, anonymous, sent):
    password = add_user(admin, sent, "op-replace")
    enroll(admin, sent, "op-replace", "LOST-1")
    r = admin.post(API + "/users/op-replace/devices/LOST-1/replace")
    assert r.status_code == 200, r.text
    issued = r.json()
    assert {"serial", "passcode", "full_access_until", "expires_at"} <= set(issued)
    passcode = sent(issued["passcode"])
    statuses = {d["serial"]: d["status"] for d in admin.get(API + "/users/op-replace/devices").json()}
    assert statuses["LOST-1"] != "active" and statuses[issued["serial"]] == "active"
    r = start(anonymous, "op-replace", password)
    assert r.status_code == 200 and r.json()["serial"] == issued["serial"]
    assert finish(anonymous, r.json()["challenge_id"], passcode, sent).status_code == 200


# ---- cards ---------------------------------------------------------------------------------

def card_file(r, status, suffix, magic):
    assert r.status_code == status, r.text
    serial = r.headers["x-card-serial"]
    assert serial
    assert r.headers["content-type"].startswith({".png": "image/png", ".pdf": "application/pdf"}[suffix])
    assert r.headers["content-disposition"] == 'attachment; filename="%s%s"' % (serial, suffix)
    assert r.content.startswith(magic)
    return serial


def test_cards_as_png_and_pdf(admin, helpdesk, auditor, sent):
    add_user(admin, sent, "op-card")
    add_user(admin, sent, "op-card-pdf")
    serial = card_file(helpdesk.post(API + "/users/op-card/cards"), 201, ".png", b"\x89PNG")
    assert serial in {d["serial"] for d in auditor.get(API + "/users/op-card/devices").json()}
    again = card_file(helpdesk.post(API + "/users/op-card/cards/%s/reprint" % serial, params={"format": "pdf"}),
                      200, ".pdf", b"%PDF")
    assert again == serial
    card_file(helpdesk.post(API + "/users/op-card/cards/%s/reprint" % serial, params={"format": "png"}),
              200, ".png", b"\x89PNG")
    card_file(helpdesk.post(API + "/users/op-card-pdf/cards", params={"format": "pdf"}), 201, ".pdf", b"%PDF")
    r = helpdesk.post(API + "/users/op-card/cards/%s/reprint" % serial, params={"format": "gif"})
    assert r.status_code in (400, 422)
    refused_as_client_error(r)
    error_shape(auditor.post(API + "/users/op-card/cards/%s/reprint" % serial), 403, "forbidden")


def test_a_bad_card_format_issues_no_card(admin, helpdesk, sent):
    add_user(admin, sent, "op-card-bad")
    r = helpdesk.post(API + "/users/op-card-bad/cards", params={"format": "svg"})
    assert r.status_code in (400, 422)
    refused_as_client_error(r)
    assert admin.get(API + "/users/op-card-bad/devices").json() == []


# ---- withdrawals ---------------------------------------------------------------------------

def test_withdrawal_issued_by_the_app_confirmed_by_the_user(admin, auditor, anonymous, sent):
    add_user(admin, sent, "op-withdraw")
    key, pin = enroll(admin, sent, "op-withdraw", "WD-1")
    r = admin.post(API + "/users/op-withdraw/withdrawals", json={"amount": 4321, "destination": "Bank 98765"})
    assert r.status_code == 200, r.text
    ch = r.json()
    assert {"challenge_id", "challenge", "purpose", "amount", "serial", "expires_at"} <= set(ch)
    assert ch["purpose"] == "withdrawal" and ch["amount"] == 4321 and ch["serial"] == "WD-1"
    assert ch["sign"] == {"challenge": ch["challenge"], "amount": "4321", "destination": "98765", "entry": "keypad"}
    wrong = ocra(SIGNING_SUITE, key, "%s%012d%08d" % (ch["challenge"], 4321, 98765), pin="00000000")
    r2 = admin.post(API + "/users/op-withdraw/withdrawals", json={"amount": 4321, "device": "WD-1",
                                                                  "destination": "Bank 98765"})
    assert r2.status_code == 200, r2.text
    assert finish(anonymous, r2.json()["challenge_id"], wrong, sent).status_code == 401
    done = finish(anonymous, ch["challenge_id"], ocra(SIGNING_SUITE, key, "%s%012d%08d" % (ch["challenge"], 4321, 98765),
                                                      pin=pin), sent)
    assert done.status_code == 200, done.text
    assert done.json()["ok"] is True and done.json()["purpose"] == "withdrawal" and done.json()["amount"] == 4321
    r = auditor.get(API + "/users/op-withdraw/withdrawals")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(w["amount"], w["device"], w["kind"], w["destination"]) for w in body["withdrawals"]] == [
        (4321, "WD-1", "token", "Bank 98765")]
    assert body["withdrawals"][0]["at"]
    assert "token" in body["room"] and body["room"]["token"] is None  # a token has no limit
    assert all(v is None or (isinstance(v, int) and v >= 0) for v in body["room"].values())


@pytest.mark.parametrize("body", [{}, {"amount": 0}, {"amount": "100"}, {"amount": True}, {"amount": 10 ** 30},
                                  {"amount": 100, "password": "Not-the-password-1"}, {"amount": 100, "device": "NO-SUCH-DEVICE"},
                                  {"amount": 100}, {"amount": 100, "destination": "Bank"},
                                  {"amount": 100, "destination": "Bank 1", "destination_digits": "123456789"},
                                  {"amount": 100, "destination": 12345}])
def test_bad_withdrawal_requests(admin, body):
    refused_as_client_error(admin.post(API + "/users/alice/withdrawals", json=body))


def test_withdrawal_for_a_user_without_device(admin):
    refused_as_client_error(admin.post(API + "/users/dave/withdrawals", json={"amount": 100}))


# ---- audit ---------------------------------------------------------------------------------

def test_operator_actions_are_audited(admin, helpdesk, auditor, sent):
    add_user(admin, sent, "op-audited")
    after_add = audit_events(auditor, user="op-audited")
    assert after_add and all(e["user"] == "op-audited" for e in after_add)
    enroll(admin, sent, "op-audited", "AUD-1")
    after_enroll = audit_events(auditor, user="op-audited")
    assert len(after_enroll) > len(after_add)
    assert helpdesk.post(API + "/users/op-audited/unlock").status_code == 200
    after_unlock = audit_events(auditor, user="op-audited")
    assert len(after_unlock) > len(after_enroll)
    assert helpdesk.post(API + "/users/op-audited/devices/AUD-1/deactivate").status_code == 200
    assert len(audit_events(auditor, user="op-audited")) > len(after_unlock)


def test_each_operator_event_names_the_key_that_acted_a_login_names_none(api, admin, helpdesk, auditor,
                                                                            anonymous, sent):
    key_id = {role: "apikey:%s" % api.keys[role].split("_")[1] for role in ("admin", "helpdesk")}
    password = add_user(admin, sent, "op-actor")
    key, pin = enroll(admin, sent, "op-actor", "ACT-1")
    assert helpdesk.post(API + "/users/op-actor/unlock").status_code == 200
    assert token_login(anonymous, sent, "op-actor", password, key, pin).json()["ok"] is True
    events = audit_events(auditor, user="op-actor")
    by_reason = {(e["purpose"], e["reason"]): e["actor"] for e in events}
    assert by_reason[("user", "added")] == key_id["admin"]
    assert by_reason[("enroll", "active")] == key_id["admin"]
    assert by_reason[("user", "unlocked")] == key_id["helpdesk"]
    assert by_reason[("login", "")] == ""  # the user's own login


def test_audit_pages_follow_next_until_null(admin, helpdesk, auditor, anonymous, sent):
    password = add_user(admin, sent, "op-pages")
    for i in range(LOCKOUT_FAILURES + 1):  # wrong passwords, then one refused as locked: events too
        wrong = sent("Page-wrong-%d-%s" % (i, secrets.token_hex(4)))
        start(anonymous, "op-pages", wrong)
    assert helpdesk.post(API + "/users/op-pages/unlock").status_code == 200
    everything = audit_events(auditor, user="op-pages")
    assert len(everything) >= 5
    for e in everything:
        assert {"id", "at", "user", "device", "purpose", "outcome", "reason"} <= set(e)
        hidden = occurrences(json.dumps(e), [password])
        assert hidden == 0, "an audit event shows the password"
    paged, after, pages = [], None, 0
    while True:
        params = {"user": "op-pages", "limit": 2}
        if after is not None:
            params["after"] = after
        r = auditor.get(API + "/audit", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["events"]) <= 2
        paged += page["events"]
        pages += 1
        assert pages <= len(everything) + 1, "`next` never became null"
        if page["next"] is None:
            break
        after = page["next"]
    ids = [e["id"] for e in paged]
    assert ids == sorted(set(ids)) and len(ids) == len(set(ids))
    assert paged == everything
    failed = audit_events(auditor, user="op-pages", outcome="fail")
    assert len(failed) >= LOCKOUT_FAILURES and all(e["outcome"] == "fail" for e in failed)


def test_audit_of_everyone_pages_too(auditor):
    first = auditor.get(API + "/audit", params={"limit": 1})
    assert first.status_code == 200 and len(first.json()["events"]) == 1 and first.json()["next"] is not None
    second = auditor.get(API + "/audit", params={"limit": 1, "after": first.json()["next"]})
    assert second.json()["events"][0]["id"] > first.json()["events"][0]["id"]


# ---- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, body", [
    ("POST", "/users", {"username": "op-x", "password": "Pw-long-enough-1", "surprise": 1}),
    ("POST", "/users", {"username": "op-x", "password": 12345678}),
    ("POST", "/users", {"username": ["op-x"], "password": "Pw-long-enough-1"}),
    ("POST", "/users", {"username": "op-x"}),
    ("POST", "/users", {"username": "a" * 65, "password": "Pw-long-enough-1"}),
    ("POST", "/users", {"username": "x" * 10000, "password": "Pw-long-enough-1"}),
    ("POST", "/users", {"username": "Bad Name!", "password": "Pw-long-enough-1"}),
    ("POST", "/users", {"username": "a\u0000b", "password": "Pw-long-enough-1"}),
    ("POST", "/users", {"username": "op-x", "password": "Pw-long-enough-1", "birth_date": "tomorrow"}),
    ("POST", "/users", {"username": "op-x", "password": "Pw-long-enough-1", "citizenship": 5}),
    ("POST", "/users", {"username": "op-x", "password": "Pw-long-enough-1", "id_number": "<script>"}),
    ("POST", "/users/carol/devices", {"serial": "OK-1", "key_file": "00" * 32, "pin": "12345678", "extra": 1}),
    ("POST", "/users/carol/devices", {"serial": "bad serial!", "key_file": "00" * 32, "pin": "12345678"}),
    ("POST", "/users/carol/devices", {"serial": "OK-3", "key_file": "00" * 32, "pin": 1234}),
    ("POST", "/users/carol/devices", {"serial": "OK-4", "key_file": "00" * 32, "suite": "OCRA-9:nonsense"}),
    ("POST", "/users/carol/devices", {"serial": "OK-5", "key_file": "00" * 32, "active": "yes"}),
    ("POST", "/users/carol/devices/pskc", {"pskc": "<not-pskc/>", "password": "Whatever-123"}),
    ("POST", "/users/carol/devices/pskc", {"pskc": 5}),
    ("POST", "/users/carol/devices/pskc", {"pskc": "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e 'e'>]><x>&e;</x>"}),
    ("GET", "/users/" + "a" * 300, None),
    ("GET", "/users/a%00b", None),
    ("GET", "/users/%C3%A9l%C3%A8ve", None),
    ("GET", "/audit?limit=abc", None),
    ("GET", "/audit?after=abc", None),
    ("POST", "/users/alice/cards/NOT-A-CARD/reprint", None),
])
def test_bad_input_is_a_json_client_error(admin, method, path, body):
    refused_as_client_error(admin.request(method, API + path, json=body))


@pytest.mark.parametrize("path", ["/users", "/users/carol/devices", "/users/alice/withdrawals"])
@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b"[]"])
def test_bodies_that_are_not_a_json_object(admin, path, content):
    refused_as_client_error(admin.post(API + path, content=content, headers={"content-type": "application/json"}))


def test_none_of_the_bad_input_made_anything(admin):
    names = {u["user"] for u in admin.get(API + "/users").json()}
    assert not {"op-x", "a" * 65, "bad name!"} & names
    assert admin.get(API + "/users/carol/devices").json() == []


# ---- the log -------------------------------------------------------------------------------

def test_the_log_holds_no_secret_and_no_api_key(api, sent):
    text = api.server.log_text()
    assert API + "/users" in text  # the access log is there to be scanned
    leaked = occurrences(text, sent.log | never_shown)
    assert leaked == 0, "%d secret(s) reached the server's log" % leaked
    assert "Traceback" not in text and '" 500 ' not in text
