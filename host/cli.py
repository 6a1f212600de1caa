"""`dsc`: the OpenDSC command line (simulator, provisioning, debug link, OCRA)."""

import argparse
import os
import sys

from host.transport import HostError

ASCII_DIGITS = "0123456789"


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exits 2."""

    def error(self, message):
        sys.stderr.write("%s: error: %s\n" % (self.prog, message))
        raise SystemExit(2)


class _Version(argparse.Action):
    """--version, looked up only when asked for (start-up stays fast)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from dsc import version

        try:
            from importlib.metadata import version as installed

            package = installed("opendsc")
        except Exception:  # not installed (run from a checkout)
            package = version.FIRMWARE
        print("dsc (OpenDSC) %s, firmware %s, serial protocol %d" % (package, version.FIRMWARE, version.PROTOCOL))
        parser.exit()


def _rule(check):
    """An argparse type from one of the token's own rules (dsc.config): its
    ValueError becomes a usage error. The rules never echo the value."""

    def convert(text):
        try:
            return check(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e))

    return convert


def _hex_key(text):
    from host.files import parse_hex_key

    return parse_hex_key(text)


def _digits(text):
    """ASCII digits only: int() and str.isdigit() would take "١٢٣" or "²"."""
    if not text or any(c not in ASCII_DIGITS for c in text):
        raise ValueError("must be digits 0-9 only")  # never echo a PIN or challenge
    return text


def _pin(text):
    from dsc import config as token_rules

    return token_rules.check_pin(text)


def _amount(text):
    from dsc import signing

    signing.amount_digits(_digits(text))
    return text  # keyed as given


def _destination(text):
    from dsc import signing

    return signing.destination_digits(_digits(text))


def _number(low=0, high=None, what="a number"):
    def convert(text):
        _digits(text)
        if len(text) > 20:
            raise ValueError("%s is too large" % what)
        n = int(text)
        if n < low or (high is not None and n > high):
            raise ValueError("%s must be from %d to %s" % (what, low, "any" if high is None else high))
        return n

    return convert


def _seconds(text):
    """A positive number of seconds: ASCII digits with an optional fraction."""
    whole, dot, frac = text.partition(".")
    if not (whole or frac) or any(c not in ASCII_DIGITS for c in whole + frac) or len(text) > 12:
        raise ValueError("must be a number of seconds, as 5 or 0.5")
    value = float(text)
    if value <= 0:
        raise ValueError("must be more than 0 seconds")
    return value


TOKEN_COMMANDS = ("sim", "info", "provision", "respond", "lock", "wipe", "clock", "ocra")


def build_parser(only=None):
    """The whole command line; with `only` (one of TOKEN_COMMANDS) just that
    command, so a token tool starts without building the rest (dsc info answers
    in well under 0.1 s)."""
    p = Parser(prog="dsc", description="OpenDSC challenge-response token tools")
    p.add_argument("--version", action=_Version, help="print the versions of dsc, its firmware and protocol, and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    def want(name):
        return only is None or only == name

    if want("sim"):
        s = sub.add_parser("sim", help="run the simulated token", description="run the simulated token")
        from simulator.cli import add_arguments

        add_arguments(s)
    if want("info"):
        port_command(sub, "info", "show the token's serial, state, suite and key check value")
    if want("provision"):
        add_provision(port_command(sub, "provision",
                                   "load a key into the token (a provisioned one asks for OK on its keypad)"))
    if want("respond"):
        add_respond(port_command(sub, "respond", "key a PIN and challenge through the debug link; print the response"))
    if want("lock"):
        port_command(sub, "lock", "lock the token: no further provisioning (press OK on it)")
    if want("wipe"):
        port_command(sub, "wipe", "erase the token's key (press OK on it)")
    if want("clock"):
        add_clock(sub)
    if only is None:
        from host.verifier import cli as verifier_cli

        verifier_cli.add_parsers(sub)
        from host.server import cli as server_cli

        server_cli.add_parser(sub)
        from host import demo

        demo.add_parser(sub)
    if want("ocra"):
        add_ocra(sub.add_parser("ocra", help="compute an OCRA response on this computer",
                                description="compute an OCRA response on this computer (RFC 6287), as the token would"))
    return p


def port_command(sub, name, help_text):
    c = sub.add_parser(name, help=help_text, description=help_text)
    c.add_argument("port", metavar="PORT", help="device path or pyserial URL, e.g. socket://127.0.0.1:7000")
    c.add_argument("--timeout", type=_rule(_seconds), default=5.0, metavar="SECONDS",
                   help="seconds to wait for a reply (default 5)")
    return c


def add_clock(sub):
    text = "show or set the token's real-time clock (time-based suites need one)"
    c = sub.add_parser("clock", help=text, description=text)
    actions = c.add_subparsers(dest="clock_action", metavar="ACTION", parser_class=Parser,
                               help="show: print it; set: set it to this computer's time")
    actions.required = True
    port_command(actions, "show", "print the token's clock state and time")
    port_command(actions, "set", "set the token's clock to this computer's time, in UTC (press OK on it)")


# The token's rules (dsc.config) are imported by the commands that need them, so
# `dsc info` starts without them.

def add_respond(c):
    from dsc import config as token_rules

    c.add_argument("--pin", type=_rule(_pin),
                   help="the PIN to key, %d-%d digits (leave out for a suite without a PIN)"
                        % (token_rules.PINLEN_MIN, token_rules.PINLEN_MAX))
    c.add_argument("--challenge", type=_rule(_digits), required=True, help="the challenge to key (digits)")
    add_signing(c, "key A first and sign: ")


def add_signing(c, how):
    """--amount and --destination: a withdrawal's signature (docs/protocol.md "Signing")."""
    c.add_argument("--amount", type=_rule(_amount), metavar="N",
                   help=how + "the withdrawal's amount in whole units, 1-999999999999 (with --destination)")
    c.add_argument("--destination", type=_rule(_destination), metavar="DIGITS",
                   help=how + "the destination's digits as keyed, 1-8 (its last 8; with --amount)")


def _signed(args, challenge):
    """(amount, destination) when signing, else None; HostError (one line) unless both
    are given and the challenge is a signature's."""
    if args.amount is None and args.destination is None:
        return None
    if args.amount is None or args.destination is None:
        raise HostError("--amount and --destination go together")
    from dsc import signing

    if len(challenge) != signing.CHALLENGE_DIGITS:
        raise HostError("a signature's challenge must be %d digits" % signing.CHALLENGE_DIGITS)
    return args.amount, args.destination


def add_provision(c):
    from dsc import config as token_rules
    from dsc.ocra import DEFAULT_SUITE

    key = c.add_mutually_exclusive_group(required=True)
    key.add_argument("--key", type=_rule(_hex_key), metavar="HEX",
                     help="the key as hex, %d-%d bytes (visible to other users: prefer --key-file)"
                          % (token_rules.KEY_MIN, token_rules.KEY_MAX))
    key.add_argument("--key-file", metavar="FILE", help="read the key (hex) from FILE")
    key.add_argument("--generate", action="store_true", help="make a random key; written only to --key-out")
    c.add_argument("--key-out", metavar="FILE", help="with --generate: write the key here (mode 0600, must not exist)")
    c.add_argument("--suite", type=_rule(token_rules.check_token_suite), default=DEFAULT_SUITE,
                   help="OCRA suite with a numeric question and no session input (default %(default)s)")
    c.add_argument("--serial", type=_rule(token_rules.check_serial),
                   help="serial number, 1-8 of A-Z 0-9 - (default: keep the token's)")
    c.add_argument("--label", type=_rule(token_rules.check_label),
                   help="a label, up to %d printable ASCII characters" % token_rules.LABEL_MAX)
    c.add_argument("--pinlen", type=_rule(_number(token_rules.PINLEN_MIN, token_rules.PINLEN_MAX, "the PIN length")),
                   metavar="N", help="PIN length, %d-%d (default 4)" % (token_rules.PINLEN_MIN, token_rules.PINLEN_MAX))
    c.add_argument("--idle-timeout", dest="idle", metavar="SECONDS",
                   type=_rule(_number(token_rules.TIMEOUT_MIN, token_rules.TIMEOUT_MAX, "the idle timeout")),
                   help="seconds without a key before the token turns off, %d-%d (default 60)"
                        % (token_rules.TIMEOUT_MIN, token_rules.TIMEOUT_MAX))
    c.add_argument("--counter", type=_rule(_number(0, token_rules.COUNTER_MAX - 1, "the counter")), metavar="N",
                   help="starting counter for C suites (default 0)")
    c.add_argument("--pskc-out", metavar="FILE", help="also write the key to a PSKC seed file (RFC 6030) for "
                                                      "enrolment elsewhere; encrypted with --pskc-password-file")
    c.add_argument("--pskc-password-file", metavar="FILE", help="the PSKC file's passphrase")


def add_ocra(c):
    from dsc import config as token_rules
    from dsc.ocra import DEFAULT_SUITE

    c.add_argument("--suite", default=DEFAULT_SUITE, help="the OCRA suite (default %(default)s)")
    c.add_argument("--key", type=_rule(_hex_key), required=True, metavar="HEX", help="the key as hex")
    c.add_argument("--question", required=True, metavar="Q", help="the challenge (digits for a QN suite)")
    add_signing(c, "sign with the suite's signing suite: ")
    c.add_argument("--pin", type=_rule(_pin), help="the PIN, %d-%d digits, for a suite with P"
                                                   % (token_rules.PINLEN_MIN, token_rules.PINLEN_MAX))
    c.add_argument("--counter", type=_rule(_number(0, token_rules.COUNTER_MAX, "the counter")), metavar="N",
                   help="the counter, for a suite with C")
    c.add_argument("--session", metavar="HEX", help="session information as hex, for a suite with S")
    c.add_argument("--timestamp", type=_rule(_number(0, (1 << 64) - 1, "the timestamp")), metavar="STEPS",
                   help="time steps since the epoch, for a suite with T")


def _read_key_file(path):
    from host.files import read_key_file

    try:
        return read_key_file(path)
    except ValueError as e:
        raise HostError(str(e))


def _read_passphrase(path):
    from host.files import read_passphrase

    if not path:
        raise HostError("--pskc-out needs --pskc-password-file FILE")
    try:
        return read_passphrase(path)
    except ValueError as e:
        raise HostError(str(e))


def _create_secret_file(path):
    """Open a new file readable by its owner only; refuse to overwrite one."""
    from host.files import create_private

    try:
        return create_private(path)
    except FileExistsError:
        raise HostError("%s already exists; not overwriting a key file" % path)
    except OSError as e:
        raise HostError("cannot create %s: %s" % (path, e.strerror))


def _ask_for_ok():
    sys.stderr.write("press OK on the token to confirm (30 s)\n")
    sys.stderr.flush()


def cmd_info(args, client):
    for name, value in client.info().items():
        print("%s: %s" % (name, value))


def cmd_provision(args, client):
    fields = {"suite": args.suite.text}
    for name, value in (("serial", args.serial), ("label", args.label), ("pinlen", args.pinlen),
                        ("timeout", args.idle), ("counter", args.counter)):
        if value is not None:
            fields[name] = value
    pskc_password = None
    if args.pskc_out:
        from host import pskc_io  # noqa: F401  (needs opendsc[server]: checked before the token is touched)

        pskc_password = _read_passphrase(args.pskc_password_file)
        if os.path.exists(args.pskc_out):
            raise HostError("%s already exists; not overwriting a seed file" % args.pskc_out)
    out = None
    if args.generate:
        if not args.key_out:
            raise HostError("--generate needs --key-out FILE: the key is never printed")
        import secrets

        key = secrets.token_bytes(32)
        out = _create_secret_file(args.key_out)
    else:
        if args.key_out:
            raise HostError("--key-out goes with --generate")
        key = args.key if args.key is not None else _read_key_file(args.key_file)
    try:
        if out is not None:
            out.write(key.hex() + "\n")
            out.flush()
        reply = client.provision(key, on_wait=_ask_for_ok, **fields)
    except BaseException:
        if out is not None:
            out.close()
            os.unlink(args.key_out)  # the token did not take the key: leave no orphan key file
        raise
    if out is not None:
        out.close()
    if args.pskc_out:
        from host import pskc_io

        token = {"serial": reply.get("serial"), "key": key, "suite": args.suite.text, "label": args.label,
                 "counter": args.counter}
        try:
            pskc_io.write_pskc(args.pskc_out, [token], password=pskc_password)
        except pskc_io.PskcError as e:
            raise HostError("the token is provisioned but the seed file was not written: %s" % e)
        sys.stderr.write("seed file %s written\n" % args.pskc_out)
    print("kcv: %s" % reply["kcv"])
    sys.stderr.write("provisioned token %s\n" % reply.get("serial", "?"))


def cmd_respond(args, client):
    print(client.respond(args.pin or "", args.challenge, args.signed))


def cmd_lock(args, client):
    client.lock(on_wait=_ask_for_ok)
    print("locked")


def cmd_wipe(args, client):
    client.wipe(on_wait=_ask_for_ok)
    print("wiped")


def cmd_clock(args, client):
    import time

    if args.clock_action == "set":
        reply = client.clock(set=int(time.time()), on_wait=_ask_for_ok)
    else:
        reply = client.clock()
    print("clock: %s" % reply["clock"])
    if "time" in reply:
        print("time: %s UTC" % time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(reply["time"]))))


def cmd_ocra(args):
    from host import ocra

    signed = _signed(args, args.question)
    question = args.question
    try:
        suite = ocra.Suite(args.suite)
        if signed:
            from dsc import signing

            suite = ocra.Suite(signing.suite_for(args.suite))
            question = signing.question(args.question, *signed)
        if suite.pin_hash and args.pin is None:
            raise ValueError("suite %s needs --pin" % suite.text)
        if args.pin is not None and not suite.pin_hash:
            raise ValueError("suite %s takes no PIN" % suite.text)
        print(suite.response(args.key, question, counter=args.counter, pin=args.pin,
                             session=args.session, timestamp=args.timestamp))
    except ValueError as e:
        raise HostError(str(e))


# The login service's dependencies, installed by the extra opendsc[server] (pyproject.toml).
SERVER_MODULES = ("sqlalchemy", "cryptography", "pskc", "fastapi", "starlette", "pydantic", "uvicorn", "prometheus_client",
                  "segno", "pywebpush", "py_vapid", "http_ece", "requests", "authlib", "joserfc")

PORT_COMMANDS = {"info": cmd_info, "provision": cmd_provision, "respond": cmd_respond,
                 "lock": cmd_lock, "wipe": cmd_wipe, "clock": cmd_clock}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    first = argv[0] if argv else None
    args = build_parser(first if first in TOKEN_COMMANDS else None).parse_args(argv)
    try:
        if args.command == "sim":
            from simulator.cli import run

            return run(args)
        if args.command == "ocra":
            cmd_ocra(args)
            return 0
        if args.command == "respond":
            args.signed = _signed(args, args.challenge)  # checked before the port is opened
        if args.command in PORT_COMMANDS:
            from host.client import TokenClient

            with TokenClient(args.port, timeout=args.timeout) as client:
                PORT_COMMANDS[args.command](args, client)
            return 0
        if args.command == "serve":
            from host.server import cli as server_cli

            return server_cli.run(args)
        if args.command == "demo":
            from host import demo

            return demo.run(args)
        from host.verifier import cli as verifier_cli

        return verifier_cli.run(args)
    except HostError as e:
        sys.stderr.write("dsc %s: %s\n" % (args.command, e))
        return 1
    except ModuleNotFoundError as e:
        if (e.name or "").partition(".")[0] not in SERVER_MODULES:
            raise
        if args.command in TOKEN_COMMANDS:
            sys.stderr.write("dsc %s: PSKC seed files need `pip install opendsc[server]`\n" % args.command)
        else:
            sys.stderr.write("dsc: the login service needs `pip install opendsc[server]`\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("dsc %s: interrupted\n" % args.command)
        return 130
    except BrokenPipeError:
        # the reader went away (dsc ... | head): stop quietly, as other tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
