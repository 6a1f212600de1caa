"""`dsc`: the OpenDSC command line (simulator, provisioning, debug link, OCRA)."""

import argparse
import os
import sys

from host.transport import HostError

DEFAULT_SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exits 2."""

    def error(self, message):
        sys.stderr.write("%s: error: %s\n" % (self.prog, message))
        raise SystemExit(2)


def _hex_key(text):
    from host.files import parse_hex_key

    try:
        return parse_hex_key(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def _digits(text):
    if not text.isdigit() or not text.isascii():
        raise argparse.ArgumentTypeError("must be digits only")  # never echo a PIN
    return text


def build_parser():
    p = Parser(prog="dsc", description="OpenDSC challenge-response token tools")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    s = sub.add_parser("sim", help="run the simulated token")
    from simulator.cli import add_arguments

    add_arguments(s)

    def port_command(name, help_text):
        c = sub.add_parser(name, help=help_text)
        c.add_argument("port", metavar="PORT", help="device path or pyserial URL, e.g. socket://127.0.0.1:7000")
        c.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply (default 5)")
        return c

    port_command("info", "show the token's serial, state, suite and key check value")
    c = port_command("provision", "load a key into the token")
    key = c.add_mutually_exclusive_group(required=True)
    key.add_argument("--key", type=_hex_key, metavar="HEX", help="the key as hex (visible to other users: prefer --key-file)")
    key.add_argument("--key-file", metavar="FILE", help="read the key (hex) from FILE")
    key.add_argument("--generate", action="store_true", help="make a random key; written only to --key-out")
    c.add_argument("--key-out", metavar="FILE", help="with --generate: write the key here (mode 0600, must not exist)")
    c.add_argument("--suite", default=DEFAULT_SUITE, help="OCRA suite (default %(default)s)")
    c.add_argument("--serial", help="serial number, 1-8 of A-Z 0-9 -")
    c.add_argument("--label", help="a label, up to 16 printable characters")
    c.add_argument("--pinlen", type=int, help="PIN length, 4-8 (default 4)")
    c.add_argument("--idle-timeout", type=int, dest="idle", help="seconds before the token turns off (default 60)")
    c.add_argument("--counter", type=int, help="starting counter for C suites")
    c.add_argument("--pskc-out", metavar="FILE", help="also write the key to a PSKC seed file (RFC 6030) for "
                                                      "enrolment elsewhere; encrypted with --pskc-password-file")
    c.add_argument("--pskc-password-file", metavar="FILE", help="the PSKC file's passphrase")
    c = port_command("respond", "key a PIN and challenge through the debug link; print the response")
    c.add_argument("--pin", type=_digits, default="", help="the PIN to key")
    c.add_argument("--challenge", type=_digits, required=True, help="the challenge to key")
    port_command("lock", "lock the token: no further provisioning (press OK on it)")
    port_command("wipe", "erase the token's key (press OK on it)")

    from host.verifier import cli as verifier_cli

    verifier_cli.add_parsers(sub)

    c = sub.add_parser("ocra", help="compute an OCRA response on this computer")
    c.add_argument("--suite", default=DEFAULT_SUITE)
    c.add_argument("--key", type=_hex_key, required=True, metavar="HEX")
    c.add_argument("--question", required=True, metavar="Q")
    c.add_argument("--pin")
    c.add_argument("--counter", type=int)
    c.add_argument("--session", metavar="HEX")
    c.add_argument("--timestamp", type=int, metavar="STEPS", help="time steps since the epoch")
    return p


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
    fields = {"suite": args.suite}
    for name, value in (("serial", args.serial), ("label", args.label), ("pinlen", args.pinlen),
                        ("timeout", args.idle), ("counter", args.counter)):
        if value is not None:
            fields[name] = value
    pskc_password = None
    if args.pskc_out:
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

        token = {"serial": reply.get("serial"), "key": key, "suite": args.suite, "label": args.label,
                 "counter": args.counter}
        try:
            pskc_io.write_pskc(args.pskc_out, [token], password=pskc_password)
        except pskc_io.PskcError as e:
            raise HostError("the token is provisioned but the seed file was not written: %s" % e)
        sys.stderr.write("seed file %s written\n" % args.pskc_out)
    print(reply["kcv"])
    sys.stderr.write("provisioned token %s\n" % reply.get("serial", "?"))


def cmd_respond(args, client):
    print(client.respond(args.pin, args.challenge))


def cmd_lock(args, client):
    client.lock(on_wait=_ask_for_ok)
    print("locked")


def cmd_wipe(args, client):
    client.wipe(on_wait=_ask_for_ok)
    print("wiped")


def cmd_ocra(args):
    from host import ocra

    try:
        suite = ocra.Suite(args.suite)
        print(suite.response(args.key, args.question, counter=args.counter, pin=args.pin,
                             session=args.session, timestamp=args.timestamp))
    except ValueError as e:
        raise HostError(str(e))


def verifier_commands():
    from host.verifier import cli as verifier_cli

    return verifier_cli.COMMANDS


PORT_COMMANDS = {"info": cmd_info, "provision": cmd_provision, "respond": cmd_respond,
                 "lock": cmd_lock, "wipe": cmd_wipe}


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sim":
            from simulator.cli import run

            return run(args)
        if args.command == "ocra":
            cmd_ocra(args)
            return 0
        if args.command in verifier_commands():
            from host.verifier import cli as verifier_cli

            return verifier_cli.run(args)
        from host.client import TokenClient

        with TokenClient(args.port, timeout=args.timeout) as client:
            PORT_COMMANDS[args.command](args, client)
        return 0
    except HostError as e:
        sys.stderr.write("dsc %s: %s\n" % (args.command, e))
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
