"""`dsc db|user|token|device|auth|audit|...`: the verifier's command line.

JSON on stdout where a program reads it (auth, lists, audit); every refusal is
one line (JSON for auth, stderr otherwise) and a nonzero exit. The commands only
parse and print: every rule is in the library (host.verifier).
"""

import json
import os
import sys

# Light modules only: the parser is built for every dsc command, server extra or not.
from host.verifier import inputs
from host.verifier.inputs import MAX_AMOUNT
from host.verifier.kinds.base import PURPOSES as ALL_PURPOSES, SHARE

DEFAULT_DB = "dsc.db"
DEFAULT_MASTER_KEY = "dsc-master.key"
PURPOSES = tuple(p for p in ALL_PURPOSES if p != SHARE)  # a share starts with `dsc token share`
CARD_FORMATS = (".txt", ".png", ".pdf")
RESPONSE_TRIES = 3  # a typo at the Response: prompt may be typed again, twice


class Refused(Exception):
    """Exit 1 after printing this JSON error (for commands that answer in JSON)."""

    def __init__(self, payload):
        super().__init__(payload.get("message", ""))
        self.payload = payload


def add_parsers(sub):
    def verifier_command(parser):
        parser.add_argument("--db", default=os.environ.get("DSC_DB", DEFAULT_DB),
                            help="database path or URL, e.g. postgresql://user@host/db (env DSC_DB, default %(default)s)")
        return parser

    def actions(name, help_text, dest):
        """A command with actions under it (dsc NAME ACTION ...)."""
        group = sub.add_parser(name, help=help_text, description=help_text)
        inner = group.add_subparsers(dest=dest, metavar="ACTION", parser_class=type(group))
        inner.required = True
        return inner

    def named(parser, what="the user's name"):
        parser.add_argument("name", help=what)
        return parser

    def serial(parser, what="the device's serial (see dsc device list)", required=True):
        parser.add_argument("--serial", required=required, help=what)
        return parser

    def destination_options(parser):  # required for a withdrawal: the library says so in one line
        parser.add_argument("--destination",
                            help="the withdrawal's destination account as the bank shows it, e.g. 'Mizuho Bank 1234567'")
        parser.add_argument("--destination-digits", help="the digits keyed on a signing device (1-8; default: the "
                                                         "destination's last 8 digits)")

    dbs = actions("db", "the verifier's database", "db_command")
    verifier_command(dbs.add_parser("init", help="create or migrate the database (mode 0600) and, for a new one, "
                                                 "the master key file named by DSC_MASTER_KEY_FILE"))
    verifier_command(dbs.add_parser("rotate-master-key", help="make a new master key current and re-encrypt every "
                                                              "secret under it (safe while other verifiers run)"))
    c = verifier_command(dbs.add_parser("grant", help="PostgreSQL: give the login service's role what it needs, "
                                                      "and on the audit log only SELECT and INSERT (run as the owner)"))
    c.add_argument("role", help="the service's PostgreSQL role, e.g. dsc_service")
    verifier_command(dbs.add_parser("sweep", help="delete failed-login records too old for any lock, challenges "
                                                  "expired over a day ago and throttle counters out of their window "
                                                  "(run it daily, e.g. from cron)"))

    us = actions("user", "verifier users", "user_command")
    c = named(verifier_command(us.add_parser("add", help="add a user; the password is read from stdin")))
    c.add_argument("--password-stdin", action="store_true", required=True, help="read the password from stdin")
    c.add_argument("--role", default="user", choices=("user", "helpdesk"),
                   help="helpdesk: staff of the portal's help-desk console (default user)")
    for field, text in (("birth-date", "YYYY-MM-DD"), ("citizenship", "country of citizenship"),
                        ("residence", "country of residence"), ("id-type", "kind of identity document"),
                        ("id-number", "identity document number")):
        c.add_argument("--" + field, default="", help=text + " (identity data; sharing needs it equal)")
    verifier_command(us.add_parser("list", help="every user, as JSON"))
    named(verifier_command(us.add_parser("show", help="a user's identity data, lock state and devices, as JSON")))
    named(verifier_command(us.add_parser("unlock", help="end a user's lockout (after checking who is calling)")))
    named(verifier_command(us.add_parser("remove", help="remove a user and their devices (the audit log stays)")))
    named(verifier_command(us.add_parser("withdrawals", help="a user's recent withdrawals and what each kind of "
                                                           "device may still confirm, as JSON")))

    ts = actions("token", "hardware tokens: enroll, activate, replace, share", "token_command")
    c = named(verifier_command(ts.add_parser("enroll", help="enroll a provisioned token for a user; the PIN from stdin")))
    serial(c, "the token's serial, as dsc info shows it")
    c.add_argument("--key-file", required=True, help="the key file dsc provision --key-out wrote")
    c.add_argument("--suite", default=None, help="the token's OCRA suite (default: the token's default suite)")
    c.add_argument("--pin-stdin", action="store_true", help="read the PIN the user chose from stdin")
    c.add_argument("--active", action="store_true", help="active at once (default: on its first challenge, "
                                                        "or 14 days after shipping)")
    c = verifier_command(ts.add_parser("import", help="enroll a token from a PSKC seed file (RFC 6030, MAC checked); "
                                                      "the PIN from stdin"))
    c.add_argument("file", metavar="FILE.pskc", help="the seed file dsc provision --pskc-out wrote")
    c.add_argument("--user", required=True, help="the user the token is for")
    c.add_argument("--pskc-password-file", required=True, metavar="FILE", help="the seed file's passphrase")
    c.add_argument("--serial", help="which token, when the file holds several")
    c.add_argument("--pin-stdin", action="store_true", help="read the PIN the user chose from stdin")
    c.add_argument("--active", action="store_true", help="active at once")
    for action, text in (("activate", "turn a user's token on again (ends temporary devices)"),
                         ("deactivate", "turn a user's token off (e.g. misplaced)"),
                         ("replace", "a lost token: deactivate it and issue a temporary passcode")):
        serial(named(verifier_command(ts.add_parser(action, help=text))), "the token's serial")
    c = named(verifier_command(ts.add_parser("share", help="let NAME use OWNER's token: OWNER's password and a challenge")),
              "the user who will use the token")
    c.add_argument("--owner", required=True, help="the token's owner, who confirms with password and token")
    c.add_argument("--device", help="the owner's token serial (default: the owner's highest-level device)")

    ds = actions("device", "every kind of device: list, revoke, remove", "device_command")
    named(verifier_command(ds.add_parser("list", help="the devices a user may use (own and shared), as JSON")))
    serial(named(verifier_command(ds.add_parser("revoke", help="end a device, e.g. a lost card; its record stays"))))
    serial(named(verifier_command(ds.add_parser("remove", help="delete a device and its shares"))))

    c = verifier_command(actions("temp-passcode", "temporary passcodes for a misplaced token", "temp_command")
                         .add_parser("issue", help="issue one; it is shown only now"))
    named(c)

    cs = actions("card", "security code cards", "card_command")
    c = named(verifier_command(cs.add_parser("issue", help="an online card (the user signs in for it) or, with "
                                                           "--printed, a permanent printed card")))
    c.add_argument("--printed", action="store_true", help="a permanent printed card, to be mailed")
    c.add_argument("--out", help="write the card to this new file: .txt, .png or .pdf (default: the text on stdout)")
    c = serial(named(verifier_command(cs.add_parser("reprint", help="print an active card again (audited)"))),
               "the card's serial")
    c.add_argument("--out", help="write the card to this new file: .txt, .png or .pdf (default: the text on stdout)")

    c = named(verifier_command(sub.add_parser("withdraw", help="confirm a withdrawal with a device whose limits allow it")))
    c.add_argument("--amount", required=True, help="whole currency units, 1 to %d" % MAX_AMOUNT)
    destination_options(c)

    aus = actions("auth", "second-factor authentication, for scripts", "auth_command")
    c = named(verifier_command(aus.add_parser("start", help="check the password (stdin), print a challenge as JSON")))
    c.add_argument("--password-stdin", action="store_true", required=True, help="read the password from stdin")
    c.add_argument("--device", help="the device's serial (default: the highest-level active one)")
    c.add_argument("--purpose", default="login", choices=PURPOSES, help="what the challenge confirms (default login)")
    c.add_argument("--amount", help="the amount, for --purpose withdrawal")
    destination_options(c)
    c.add_argument("--new-pin-stdin", action="store_true",
                   help="for --purpose pin-change: read the new PIN from stdin, on the line after the password")
    c = verifier_command(aus.add_parser("finish", help="judge a response; JSON, exit 0 when it is right"))
    c.add_argument("challenge_id", help="the challenge_id auth start printed")
    c.add_argument("--response", required=True, help="what the user typed")

    c = verifier_command(sub.add_parser("audit", help="authentication events, oldest first, as JSON lines"))
    c.add_argument("name", nargs="?", help="only this user's events")
    c.add_argument("--outcome", choices=("ok", "fail"), help="only successes or only failures")
    c.add_argument("--after", type=int, default=0, metavar="ID", help="events after this id (to page)")
    c.add_argument("--limit", type=int, default=1000, help="at most this many events (1-1000, default 1000)")

    c = named(verifier_command(sub.add_parser("login", help="the whole login in the terminal, as the login screen runs it")))
    c.add_argument("--device", help="the device's serial (default: the highest-level active one)")

    ks = actions("apikey", "operator API keys for dsc serve's /api/v1 (docs/api.md)", "apikey_command")
    c = verifier_command(ks.add_parser("create", help="a new key, printed only now"))
    c.add_argument("--role", required=True, choices=("admin", "helpdesk", "auditor"),
                   help="auditor reads; helpdesk also unlocks and issues passcodes and cards; admin does all")
    c.add_argument("--name", default="", help="what the key is for, e.g. the calling application")
    verifier_command(ks.add_parser("list", help="every key's id, name, role and dates, as JSON (never the key)"))
    c = verifier_command(ks.add_parser("revoke", help="revoke a key at once"))
    c.add_argument("id", type=_key_id, help="the key's id (dsc apikey list)")

    from host.oidc import cli as oidc_cli

    oidc_cli.add_parsers(actions, verifier_command)

    ps = actions("pin", "PIN changes, done by the verifier alone", "pin_command")
    c = named(verifier_command(ps.add_parser("change", help="new PIN twice, then a challenge answered with the new PIN")))
    c.add_argument("--device", help="the token's serial (default: the highest-level active one)")


COMMANDS = ("db", "user", "token", "device", "auth", "audit", "login", "pin", "temp-passcode", "card", "withdraw",
            "apikey", "oidc")


def _key_id(text):
    import argparse

    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise argparse.ArgumentTypeError("must be a key id (a number; see dsc apikey list)")
    return int(text)


def _stdin_line(what):
    line = sys.stdin.readline()
    if not line:
        raise ValueError("expected the %s on stdin" % what)
    return line.rstrip("\r\n")


def _master_key_file():
    return os.environ.get("DSC_MASTER_KEY_FILE", DEFAULT_MASTER_KEY)


def run(args):
    """Run a verifier command; returns the exit code."""
    from sqlalchemy.exc import SQLAlchemyError

    from host.verifier import service
    from host.verifier.keystore import VaultError
    from host.verifier.store import StoreError

    json_out = args.command == "auth"
    try:
        return _run(args, service)
    except Refused as r:
        print(json.dumps(r.payload))
        return 1
    except service.VerifierError as e:
        return _error(args, json_out, e.code, str(e))
    except (VaultError, StoreError, ValueError) as e:
        return _error(args, json_out, "error", str(e))
    except SQLAlchemyError as e:
        return _error(args, json_out, "database", "database error: %s" % str(e.orig if hasattr(e, "orig") else e).splitlines()[0])


def _error(args, json_out, code, message):
    if json_out:
        print(json.dumps({"ok": False, "error": code, "message": message}))
    else:
        sys.stderr.write("dsc %s: %s\n" % (args.command, message))
    return 1


def _open(args, service):
    """The verifier, with the policy file in DSC_POLICY_FILE if there is one."""
    path = os.environ.get("DSC_POLICY_FILE")
    policy = service.load_policy(path) if path else None
    return service.Verifier(args.db, _master_key_file(), policy=policy)


def _print_json(value):
    print(json.dumps(value))
    return 0


def _run(args, service):
    if args.command == "db":
        if args.db_command == "init":
            path = os.environ.get("DSC_POLICY_FILE")
            if path:
                service.load_policy(path)  # a wrong policy file is found now, not at the first login
            found = service.init_db(args.db, _master_key_file())
            print("database %s ready (schema %d%s); master key in %s" % (
                service.store.display(args.db), service.store.SCHEMA_VERSION, "" if found == 0 else ", was %d" % found,
                _master_key_file()))
        elif args.db_command == "grant":
            from host.verifier import grants

            print(grants.summary(args.role, grants.grant_service_role(args.db, args.role)))
        elif args.db_command == "sweep":
            gone = _open(args, service).sweep()
            print("swept: %s" % ", ".join("%d %s" % (n, what) for what, n in sorted(gone.items())))
        else:
            key_id = _open(args, service).rotate_master_key()
            print("master key rotated: key %d is current, in %s" % (key_id, _master_key_file()))
        return 0
    if args.command == "user":
        return _user(args, service)
    if args.command == "token":
        return _token(args, service)
    if args.command == "device":
        v = _open(args, service)
        if args.device_command == "list":
            return _print_json(v.devices(args.name))
        if args.device_command == "revoke":
            print("device %s revoked" % v.revoke_device(args.name, args.serial))
        else:
            print("device %s removed" % v.remove_device(args.name, args.serial))
        return 0
    if args.command == "auth":
        return _auth(args, service)
    if args.command in ("login", "pin"):
        return _interactive(args, service)
    if args.command == "temp-passcode":
        _show_passcode(_open(args, service).issue_temp_passcode(args.name))
        return 0
    if args.command == "card":
        return _card(args, service)
    if args.command == "apikey":
        return _apikey(args, service)
    if args.command == "oidc":
        from host.oidc import cli as oidc_cli

        return oidc_cli.run(args, _open(args, service))
    if args.command == "withdraw":
        amount = inputs.amount_text(args.amount)
        v = _open(args, service)
        ch = v.start(args.name, _ask("Password: ", secret=True), purpose="withdrawal", amount=amount,
                     destination=args.destination, destination_digits=args.destination_digits)
        return _answer(v, ch, "withdrawal of %s confirmed" % _money(amount))
    v = _open(args, service)
    for event in v.audit_log(args.name, outcome=args.outcome, after_id=args.after, limit=args.limit):
        print(json.dumps(event))
    return 0


def _user(args, service):
    v = _open(args, service)
    if args.user_command == "add":
        password = _stdin_line("password")
        name = v.add_user(args.name, password, role=args.role, birth_date=args.birth_date, citizenship=args.citizenship,
                          residence=args.residence, id_type=args.id_type, id_number=args.id_number)
        print("user %s added" % name)
    elif args.user_command == "list":
        return _print_json(v.users())
    elif args.user_command == "show":
        return _print_json(v.user_info(args.name))
    elif args.user_command == "withdrawals":
        return _print_json(v.withdrawals(args.name))
    elif args.user_command == "unlock":
        print("user %s unlocked" % v.unlock(args.name))
    else:
        print("user %s removed" % v.remove_user(args.name))
    return 0


def _apikey(args, service):
    v = _open(args, service)
    if args.apikey_command == "create":
        key, key_id = v.create_api_key(args.role, args.name)
        print(key)  # the only line on stdout: scripts read it; it is not kept anywhere
        sys.stderr.write("API key %d (%s) created; it is shown only now\n" % (key_id, args.role))
    elif args.apikey_command == "list":
        return _print_json(v.api_keys())
    else:
        print("API key %d revoked" % v.revoke_api_key(args.id))
    return 0


def _token(args, service):
    v = _open(args, service)
    if args.token_command == "import":
        return _import(args, v, service)
    if args.token_command in ("activate", "deactivate"):
        print("token %s is %s" % (args.serial, v.set_token_status(args.name, args.serial,
                                                                  args.token_command == "activate")))
        return 0
    if args.token_command == "replace":
        _show_passcode(v.replace_token(args.name, args.serial))
        return 0
    if args.token_command == "share":
        password = _ask("%s's password: " % args.owner, secret=True)
        ch = v.start_share(args.name, args.owner, password, device=args.device)
        return _answer(v, ch, "%s may now use token %s" % (args.name, ch["device"]))
    from host import ocra
    from host.files import read_key_file

    key = read_key_file(args.key_file)
    pin = _stdin_line("PIN") if args.pin_stdin else None
    v.enroll_token(args.name, args.serial, key, pin, suite=args.suite or ocra.DEFAULT_SUITE, active=args.active)
    print("token %s enrolled for %s" % (args.serial, service.normal_username(args.name)))
    return 0


def _auth(args, service):
    v = _open(args, service)
    if args.auth_command == "start":
        password = _stdin_line("password")
        new_pin = _stdin_line("new PIN") if args.new_pin_stdin else None
        try:
            amount = None if args.amount is None else inputs.amount_text(args.amount)
            ch = v.start(args.name, password, device=args.device, purpose=args.purpose, amount=amount,
                         new_pin=new_pin, destination=args.destination, destination_digits=args.destination_digits)
        except service.VerifierError as e:
            raise Refused({"ok": False, "error": e.code, "message": str(e)})
        return _print_json(dict(ch, ok=True))
    result = v.finish(args.challenge_id, args.response)
    if "card" in result:
        result["card"] = dict(result["card"], expires_at=_iso(result["card"]["expires_at"]))
    print(json.dumps(result))
    return 0 if result["ok"] else 1


def _iso(t):
    from host.verifier.timefmt import iso

    return iso(t)


def _money(amount):
    return "{:,}".format(amount)


def _ask(prompt, secret=False):
    """Prompt on the terminal (hidden for secrets), or read a line from a pipe."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt) if secret else input(prompt)
    sys.stderr.write(prompt + "\n")
    return _stdin_line(prompt.strip(": ").lower())


def _import(args, v, service):
    from host import pskc_io
    from host.files import read_passphrase

    password = read_passphrase(args.pskc_password_file)
    try:
        tokens = pskc_io.read_pskc(args.file, password=password)
    except pskc_io.PskcError as e:
        raise ValueError(str(e))
    pin = _stdin_line("PIN") if args.pin_stdin else None
    serial = v.import_token(args.user, tokens, pin, serial=args.serial, active=args.active)
    print("token %s enrolled for %s from %s" % (serial, service.normal_username(args.user), args.file))
    return 0


def _show_passcode(temp):
    from host.verifier.timefmt import readable

    print("temporary passcode %s (device %s), shown only now" % (temp["passcode"], temp["serial"]))
    print("full access until %s; online card only until %s" % (
        readable(temp["full_access_until"]), readable(temp["expires_at"])))


def _answer(v, ch, success, keep=False):
    """Show a challenge, read the response, judge it; 0/1, or the result with keep=True.
    A response typed wrongly (spaces, letters) changes nothing and is asked again;
    so is a wrong response while the challenge has tries left."""
    from host.verifier.errors import VerifierError

    shown = (": " + ch["challenge"]) if ch["challenge"] else ""
    what = " a withdrawal of %s to %s" % (_money(ch["amount"]), ch["destination"]) if ch.get("amount") else ""
    print("To confirm%s, on %s %s: %s%s" % (what, ch["kind"], ch["device"], ch["prompt"], shown))
    if ch.get("sign", {}).get("entry") == "keypad":
        print("Sign it: press A, key your PIN, then challenge %(challenge)s, amount %(amount)s, destination "
              "%(destination)s, each followed by OK" % ch["sign"])
    sys.stdout.flush()
    typos = 0
    while True:
        try:
            result = v.finish(ch["challenge_id"], _ask("Response: ").strip())
        except VerifierError as e:
            typos += 1
            if e.code != "bad-response" or typos == RESPONSE_TRIES:
                raise
            print("%s; try again" % e)
            continue
        if not result.get("tries_left"):
            break
        print("refused: wrong response; tries left for this challenge: %d" % result["tries_left"])
    if not result["ok"]:
        print("refused: %s" % result.get("message", result["reason"]))
    if keep:
        return result
    if result["ok"]:
        print(success)
        return 0
    return 1


def _card_out(out):
    """Refuse a card file before the card is issued: a card nobody sees must not exist."""
    if out is None:
        return None
    ext = os.path.splitext(out)[1].lower()
    if ext not in CARD_FORMATS:
        raise ValueError("--out must end in %s, not %r" % (", ".join(CARD_FORMATS), ext or out))
    if os.path.lexists(out):
        raise ValueError("%s exists already; a card is written only to a new file" % out)
    if not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        raise ValueError("no folder for %s" % out)
    return out


def _card(args, service):
    out = _card_out(args.out)
    v = _open(args, service)
    if args.card_command == "reprint":
        card = v.card(args.name, args.serial)
    elif args.printed:
        card = v.issue_printed_card(args.name)
    else:
        ch = v.start(args.name, _ask("Password: ", secret=True), purpose="card")
        result = _answer(v, ch, None, keep=True)
        if not result.get("ok"):
            return 1
        card = result["card"]
    _write_card(card, out)
    return 0


def _write_card(card, out):
    from host.files import create_private
    from host.verifier import cards

    if not out:
        print(cards.render(card, "txt").decode())
        return
    data = cards.render(card, os.path.splitext(out)[1].lower().lstrip("."))
    try:
        f = create_private(out, binary=True)
    except OSError as e:
        raise ValueError("cannot create %s: %s (the card is issued: print it with dsc card reprint --serial %s)" % (
            out, e.strerror or e, card["serial"]))
    with f:
        f.write(data)
    print("card %s written to %s" % (card["serial"], out))


def _interactive(args, service):
    v = _open(args, service)
    password = _ask("Password: ", secret=True)
    if args.command == "pin":
        new_pin = _ask("New PIN: ", secret=True)
        if _ask("New PIN again: ", secret=True) != new_pin:
            raise ValueError("the two new PINs differ; nothing changed")
        ch = v.start(args.name, password, device=args.device, purpose="pin-change", new_pin=new_pin)
        ch["prompt"] = "key your NEW PIN and this challenge into your token"
        result = _answer(v, ch, None, keep=True)
        print("PIN changed" if result["ok"] else "PIN not changed")
        return 0 if result["ok"] else 1
    ch = v.start(args.name, password, device=args.device)
    result = _answer(v, ch, None, keep=True)
    if result["ok"]:
        print("Logged in as %s" % result["user"])
        return 0
    return 1
