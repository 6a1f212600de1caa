"""`dsc db|user|token|auth|audit`: the verifier's command line.

JSON on stdout where a program reads it (auth, token list, audit); every
refusal is one line (JSON for auth, stderr otherwise) and a nonzero exit.
"""

import json
import os
import sys

DEFAULT_DB = "dsc.db"
DEFAULT_MASTER_KEY = "dsc-master.key"


class Refused(Exception):
    """Exit 1 after printing this JSON error (for commands that answer in JSON)."""

    def __init__(self, payload):
        super().__init__(payload.get("message", ""))
        self.payload = payload


def add_parsers(sub):
    def verifier_command(parser):
        parser.add_argument("--db", default=os.environ.get("DSC_DB", DEFAULT_DB),
                            help="database path or SQLAlchemy URL (env DSC_DB, default %(default)s)")
        return parser

    def actions(name, help_text, dest):
        """A command with actions under it (dsc NAME ACTION ...)."""
        group = sub.add_parser(name, help=help_text)
        inner = group.add_subparsers(dest=dest, metavar="ACTION", parser_class=type(group))
        inner.required = True
        return inner

    dbs = actions("db", "the verifier's database", "db_command")
    verifier_command(dbs.add_parser("init", help="create the database and the master key file"))
    verifier_command(dbs.add_parser("rotate-master-key", help="re-encrypt every secret under a new master key"))

    us = actions("user", "verifier users", "user_command")
    c = verifier_command(us.add_parser("add", help="add a user; the password is read from stdin"))
    c.add_argument("name")
    c.add_argument("--password-stdin", action="store_true", required=True)
    for field in ("birth-date", "citizenship", "residence", "id-type", "id-number"):
        c.add_argument("--" + field, default="")

    ts = actions("token", "tokens enrolled at the verifier", "token_command")
    c = verifier_command(ts.add_parser("enroll", help="enroll a provisioned token for a user; the PIN from stdin"))
    c.add_argument("name")
    c.add_argument("--serial", required=True)
    c.add_argument("--key-file", required=True, help="the key file dsc provision --key-out wrote")
    c.add_argument("--suite", default=None)
    c.add_argument("--pin-stdin", action="store_true", help="read the PIN the user chose from stdin")
    c.add_argument("--active", action="store_true", help="active at once (default: on its first challenge, "
                                                        "or 14 days after shipping)")
    c = verifier_command(ts.add_parser("import", help="enroll a token from a PSKC seed file (RFC 6030, MAC checked); "
                                                      "the PIN from stdin"))
    c.add_argument("file", metavar="FILE.pskc")
    c.add_argument("--user", required=True, help="the user the token is for")
    c.add_argument("--pskc-password-file", required=True, metavar="FILE", help="the seed file's passphrase")
    c.add_argument("--serial", help="which token, when the file holds several")
    c.add_argument("--pin-stdin", action="store_true", help="read the PIN the user chose from stdin")
    c.add_argument("--active", action="store_true")
    c = verifier_command(ts.add_parser("list", help="a user's devices, as JSON"))
    c.add_argument("name")
    for action, text in (("activate", "turn a user's token on again (ends temporary devices)"),
                         ("deactivate", "turn a user's token off (e.g. misplaced)"),
                         ("replace", "a lost token: deactivate it and issue a temporary passcode")):
        c = verifier_command(ts.add_parser(action, help=text))
        c.add_argument("name")
        c.add_argument("--serial", required=True)
    c = verifier_command(ts.add_parser("share", help="let NAME use OWNER's token: OWNER's password and a challenge"))
    c.add_argument("name")
    c.add_argument("--owner", required=True)
    c.add_argument("--device", help="the owner's token serial (default: the owner's highest-level device)")

    c = verifier_command(actions("temp-passcode", "temporary passcodes for a misplaced token", "temp_command")
                         .add_parser("issue", help="issue one; it is shown only now"))
    c.add_argument("name")

    cs = actions("card", "security code cards", "card_command")
    c = verifier_command(cs.add_parser("issue", help="an online card (the user signs in for it) or, with "
                                                     "--printed, a permanent printed card"))
    c.add_argument("name")
    c.add_argument("--printed", action="store_true", help="a permanent printed card, to be mailed")
    c.add_argument("--out", help="write the card here: .txt, .png or .pdf (default: the text on stdout)")

    c = verifier_command(sub.add_parser("withdraw", help="confirm a withdrawal with a device whose limits allow it"))
    c.add_argument("name")
    c.add_argument("--amount", type=int, required=True)

    aus = actions("auth", "second-factor authentication, for scripts", "auth_command")
    c = verifier_command(aus.add_parser("start", help="check the password (stdin), print a challenge as JSON"))
    c.add_argument("name")
    c.add_argument("--password-stdin", action="store_true", required=True)
    c.add_argument("--device", help="the device's serial (default: the highest-level active one)")
    c.add_argument("--purpose", default="login")
    c.add_argument("--amount", type=int, help="the amount, for --purpose withdrawal")
    c = verifier_command(aus.add_parser("finish", help="judge a response; JSON, exit 0 when it is right"))
    c.add_argument("challenge_id")
    c.add_argument("--response", required=True)

    c = verifier_command(sub.add_parser("audit", help="a user's authentication events, as JSON lines"))
    c.add_argument("name")

    c = verifier_command(sub.add_parser("login", help="the whole login in the terminal, as the login screen runs it"))
    c.add_argument("name")
    c.add_argument("--device", help="the device's serial (default: the highest-level active one)")

    ps = actions("pin", "PIN changes, done by the verifier alone", "pin_command")
    c = verifier_command(ps.add_parser("change", help="new PIN twice, then a challenge answered with the new PIN"))
    c.add_argument("name")
    c.add_argument("--device", help="the token's serial (default: the highest-level active one)")


COMMANDS = ("db", "user", "token", "auth", "audit", "login", "pin", "temp-passcode", "card", "withdraw")


def _stdin_line(what):
    line = sys.stdin.readline()
    if not line:
        raise ValueError("expected the %s on stdin" % what)
    return line.rstrip("\r\n")


def _master_key_file():
    return os.environ.get("DSC_MASTER_KEY_FILE", DEFAULT_MASTER_KEY)


def run(args):
    """Run a verifier command; returns the exit code."""
    from host.verifier import service
    from host.verifier.store import StoreError
    from host.verifier.vault import VaultError
    from sqlalchemy.exc import SQLAlchemyError

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


def _run(args, service):
    if args.command == "db":
        if args.db_command == "init":
            found = service.init_db(args.db, _master_key_file())
            print("database %s ready (schema %d%s); master key in %s" % (
                args.db, service.store.SCHEMA_VERSION, "" if found == 0 else ", was %d" % found, _master_key_file()))
        else:
            v = _open(args, service)
            v.rotate_master_key()
            print("master key rotated; new key in %s" % _master_key_file())
        return 0
    if args.command == "user":
        password = _stdin_line("password")
        v = _open(args, service)
        name = v.add_user(args.name, password, birth_date=args.birth_date, citizenship=args.citizenship,
                          residence=args.residence, id_type=args.id_type, id_number=args.id_number)
        print("user %s added" % name)
        return 0
    if args.command == "token":
        v = _open(args, service)
        if args.token_command == "list":
            print(json.dumps(v.devices(args.name)))
            return 0
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
        from host.files import read_key_file

        key = read_key_file(args.key_file)
        pin = _stdin_line("PIN") if args.pin_stdin else None
        from host import ocra

        v.enroll_token(args.name, args.serial, key, pin, suite=args.suite or ocra.DEFAULT_SUITE, active=args.active)
        print("token %s enrolled for %s" % (args.serial, service.normal_username(args.name)))
        return 0
    if args.command == "auth":
        v = _open(args, service)
        if args.auth_command == "start":
            password = _stdin_line("password")
            try:
                print(json.dumps(dict(v.start(args.name, password, device=args.device, purpose=args.purpose,
                                              amount=args.amount), ok=True)))
            except service.VerifierError as e:
                raise Refused({"ok": False, "error": e.code, "message": str(e)})
            return 0
        result = v.finish(args.challenge_id, args.response)
        print(json.dumps(result))
        return 0 if result["ok"] else 1
    if args.command in ("login", "pin"):
        return _interactive(args, service)
    if args.command == "temp-passcode":
        _show_passcode(_open(args, service).issue_temp_passcode(args.name))
        return 0
    if args.command == "card":
        v = _open(args, service)
        if args.printed:
            card = v.issue_printed_card(args.name)
        else:
            ch = v.start(args.name, _ask("Password: ", secret=True), purpose="card")
            result = _answer(v, ch, None, keep=True)
            if not result.get("ok"):
                return 1
            card = result["card"]
        _write_card(card, args.out)
        return 0
    if args.command == "withdraw":
        v = _open(args, service)
        ch = v.start(args.name, _ask("Password: ", secret=True), purpose="withdrawal", amount=args.amount)
        return _answer(v, ch, "withdrawal of %d confirmed" % args.amount)
    v = _open(args, service)
    for event in v.audit_log(args.name):
        print(json.dumps(event))
    return 0


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
    chosen = [t for t in tokens if args.serial is None or t["serial"] == args.serial]
    if len(chosen) != 1:
        raise ValueError("the file holds %d tokens%s: name one with --serial" % (
            len(tokens), "" if args.serial is None else " and none is %s" % args.serial))
    token = chosen[0]
    pin = _stdin_line("PIN") if args.pin_stdin else None
    v.enroll_token(args.user, token["serial"], token["key"], pin, suite=token["suite"], active=args.active,
                   counter=token["counter"] or 0)
    print("token %s enrolled for %s from %s" % (token["serial"], service.normal_username(args.user), args.file))
    return 0


def _show_passcode(temp):
    import time

    print("temporary passcode %s (device %s), shown only now" % (temp["passcode"], temp["serial"]))
    print("full access until %s UTC; online card only until %s UTC" % (
        time.strftime("%Y-%m-%d %H:%M", time.gmtime(temp["full_access_until"])),
        time.strftime("%Y-%m-%d %H:%M", time.gmtime(temp["expires_at"]))))


def _answer(v, ch, success, keep=False):
    """Show a challenge, read the response, judge it; 0/1, or the result with keep=True."""
    shown = (": " + ch["challenge"]) if ch["challenge"] else ""
    print("On %s %s: %s%s" % (ch["kind"], ch["device"], ch["prompt"], shown))
    sys.stdout.flush()
    result = v.finish(ch["challenge_id"], _ask("Response: ").strip())
    if keep:
        if not result["ok"]:
            print("refused: %s" % result.get("message", result["reason"]))
        return result
    if result["ok"]:
        print(success)
        return 0
    print("refused: %s" % result.get("message", result["reason"]))
    return 1


def _write_card(card, out):
    from host.verifier import cards

    title = "OPENDSC ONLINE CARD" if card["kind"] == "online-card" else "OPENDSC SECURITY CARD"
    args = (card["grid"], card["serial"], title, card["expires_at"])
    if not out:
        print(cards.render_text(*args))
        return
    if out.endswith(".png"):
        data = cards.render_png(*args)
    elif out.endswith(".pdf"):
        data = cards.render_pdf(*args)
    else:
        data = cards.render_text(*args).encode()
    from host.files import create_private

    try:
        f = create_private(out, binary=True)
    except OSError as e:
        raise ValueError("cannot create %s: %s (the card is issued: print it with a new --out)" % (
            out, e.strerror or e))
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
        if result["ok"]:
            print("PIN changed")
            return 0
        print("PIN not changed")
        return 1
    ch = v.start(args.name, password, device=args.device)
    result = _answer(v, ch, None, keep=True)
    if result["ok"]:
        print("Logged in as %s" % result["user"])
        return 0
    return 1

