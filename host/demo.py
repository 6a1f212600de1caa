"""`dsc demo` (make run): the whole system on one machine for a newcomer. The
login service and portal (`dsc serve`) run as a child process; the simulated token
runs in this process, its terminal UI in the foreground. Everything lives in one
state folder and is made on the first run only: the database and key ring, a
user `demo` with the token enrolled, a help-desk user `helpdesk` with a printed
code card, and the passwords and PIN in demo-credentials.txt. Once the demo
user changes the PIN (the portal's "Change your PIN"), the banner and that file
say when, instead of the first PIN, which the token no longer answers with.
Beside the portal, an example app (host/oidc_example.py) on its own port logs in
through OpenDSC by OpenID Connect: single sign-on, seen within a minute."""

import os
import signal
import sys
import threading

# Light at import (the parser is built for every dsc command): subprocess, secrets
# and the rest are imported where they are used.

DEFAULT_STATE = ".state"
DEFAULT_LISTEN = "127.0.0.1:8000"
DEFAULT_LINK = "socket://127.0.0.1:7000"
DEMO_USER = "demo"
HELPDESK_USER = "helpdesk"
SERVER_START_SECONDS = 60
SERVER_STOP_SECONDS = 35  # dsc serve lets requests in flight finish for up to 30 s
# Easy to read aloud and type: no 0/o, 1/l/i.
PASSWORD_CHARS = "abcdefghjkmnpqrstuvwxyz23456789"
CREDENTIAL_FIELDS = ("demo password", "demo PIN", "helpdesk password")


class DemoError(Exception):
    """A refusal: one line on stderr, exit 1."""


class Stop(BaseException):
    """SIGTERM, SIGINT or SIGHUP: unwind and stop the server."""


def add_parser(sub):
    text = ("run the whole system to try it: the portal and API, a user demo with an enrolled simulated "
            "token (in the foreground) and a help-desk user; made on the first run, reused after")
    c = sub.add_parser("demo", help=text, description=text)
    c.add_argument("--state", default=DEFAULT_STATE, metavar="DIR",
                   help="keep the database, keys, token and credentials here, owner-only (default %(default)s)")
    c.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                   help="the portal's address (default %(default)s; port 0 picks a free one)")
    c.add_argument("--link", default=DEFAULT_LINK, metavar="URL",
                   help="the token's serial link, socket://HOST:PORT or pty (default %(default)s)")
    c.add_argument("--public-url", metavar="URL",
                   help="where people reach the portal, for the phone app's activation QR code (default: the "
                        "--listen address; give it with --listen 0.0.0.0:PORT, e.g. http://192.168.1.20:8000)")
    c.add_argument("--no-ui", action="store_true",
                   help="no terminal UI: serve until SIGTERM or Ctrl-C (for scripts, tests and headless use)")
    return c


class Paths:
    def __init__(self, state):
        def at(name):
            return os.path.join(state, name)

        self.state = state
        self.db = at("dsc.db")
        self.keyring = at("dsc-master.key")
        self.token = at("token")
        self.demo_key = at("demo.key")
        self.credentials = at("demo-credentials.txt")
        self.card = at("helpdesk-card.txt")
        self.server_log = at("server.log")
        self.example_client = at("example-client.json")


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def handle_stop_signals(handler):
    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)


def unwind(signum, frame):
    handle_stop_signals(signal.SIG_IGN)  # the first stops us; later ones must not cut the clean-up short
    raise Stop()


def run(args):
    from host.transport import HostError

    paths = Paths(args.state)
    stopped = threading.Event()
    token = link = server = pin = example = None

    handle_stop_signals(unwind)
    try:
        check_ports(args)
        listen = chosen_port(args.listen)
        public_url = portal_url(listen, args.public_url)
        prepare_state(paths.state)
        credentials = read_credentials(paths.credentials)
        token, link = start_token(paths, args.link)
        token.on_exit.append(stopped.set)
        info, key = read_token(paths, link.url)
        setup_accounts(paths, info, key, credentials)
        pin = PinWatch(paths, credentials, info["serial"])
        server = Server(paths, listen, public_url, on_exit=stopped.set)
        example = ExampleApp(paths, listen, public_url or server.url)

        def block():
            return instructions((public_url or server.url) + "/login", link.url, credentials, paths, args.no_ui,
                                pin.changed_on, example.url)

        print("\n".join(block()), flush=True)
        if not args.no_ui and sys.stdin.isatty() and sys.stdout.isatty():
            show_token(token, lambda: block()[:HEADER_LINES], stopped, pin.check)
        else:
            while not stopped.wait(0.5):
                if pin.check():
                    print(pin_changed_line(pin.changed_on), flush=True)
        if token.exit_reason:
            raise DemoError("the token stopped: %s" % token.exit_reason)
        if server.proc.poll() is not None and not server.stopping:
            raise DemoError("the portal stopped (see %s)" % paths.server_log)
        return 0
    except Stop:
        return 0
    except (DemoError, HostError) as e:
        sys.stderr.write("dsc demo: %s\n" % e)
        return 1
    except SystemExit as e:  # the simulator's own one-line refusals
        if isinstance(e.code, str):
            sys.stderr.write(e.code.replace("dsc sim:", "dsc demo:", 1) + "\n")
            return 1
        raise
    finally:
        if pin is not None:
            pin.close()
        if example is not None:
            example.stop()
        if server is not None:
            server.stop()
        if token is not None:
            token.stop()
        if link is not None:
            link.close()


PORT_TRIES = 100  # how far above a taken port to look for a free one to suggest


def check_ports(args):
    """Fail at once, in one line, before anything is made, when the portal's port or
    the token's is taken (a second make run): the line names both and gives a whole
    DEMO_ARGS that works, with free ports found above the taken ones."""
    from host.server.cli import _listen

    try:
        listen = _listen(args.listen)
    except ValueError as e:
        raise DemoError(str(e))
    link = link_address(args.link)
    taken = []
    error = bind_error(*listen)
    if error:
        taken.append("--listen %s (%s)" % (args.listen, error))
        listen = (listen[0], free_port_above(listen, avoid=link))
    error = link and bind_error(*link)
    if error:
        taken.append("--link %s (%s)" % (args.link, error))
        link = (link[0], free_port_above(link, avoid=listen))
    if not taken:
        return
    host = "[%s]" % listen[0] if ":" in listen[0] else listen[0]
    demo_args = ["--listen %s:%d" % (host, listen[1]),
                 "--link %s" % ("pty" if link is None else "socket://%s:%d" % link)]
    if args.state != DEFAULT_STATE:
        demo_args.append("--state %s" % args.state)
    if args.public_url:
        demo_args.append("--public-url %s" % args.public_url)
    if args.no_ui:
        demo_args.append("--no-ui")
    raise DemoError("cannot listen on %s: pass free ports, e.g. make run DEMO_ARGS=\"%s\""
                    % (" or ".join(taken), " ".join(demo_args)))


def chosen_port(listen):
    """--listen with port 0 made a free port now, so that the portal's public URL (the
    OpenID Connect issuer, which must not follow each request's Host) is known before
    dsc serve starts; any other --listen as given."""
    import socket

    from host.server.cli import _listen

    host, port = _listen(listen)
    if port != 0:
        return listen
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    return "%s:%d" % ("[%s]" % host if ":" in host else host, port)


def portal_url(listen, given):
    """The portal's public address for dsc serve --public-url: the one given, else the
    --listen address when it names one host (chosen_port has made port 0 a port). None
    for every address (0.0.0.0: which one reaches this machine is the user's to say)."""
    from host.server.cli import _listen
    from host.server.settings import public_url

    if given is not None:
        try:
            return public_url(given)
        except ValueError as e:
            raise DemoError(str(e).replace("(DSC_PUBLIC_URL) ", ""))
    host, port = _listen(listen)
    if host in ("0.0.0.0", "::"):
        return None
    return "http://%s:%d" % ("[%s]" % host if ":" in host else host, port)


def link_address(spec):
    """The (host, port) a socket://HOST:PORT link listens on; None for pty."""
    if spec == "pty":
        return None
    host, sep, port = spec[len("socket://"):].rpartition(":")
    if not spec.startswith("socket://") or not sep or not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise DemoError("--link must be socket://HOST:PORT or pty")
    return host or "127.0.0.1", int(port)


def bind_error(host, port):
    """Why a server could not listen on host:port now (e.g. "Address already in use"),
    or None when it could (port 0 always can)."""
    import socket

    if port == 0:
        return None
    try:
        probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    except OSError as e:
        return e.strerror or str(e)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as dsc serve and the link bind
        probe.bind((host, port))
    except OSError as e:
        return e.strerror or str(e)
    finally:
        probe.close()
    return None


def free_port_above(address, avoid):
    host, port = address
    for candidate in range(port + 1, min(port + 1 + PORT_TRIES, 65536)):
        if (avoid is None or candidate != avoid[1]) and bind_error(host, candidate) is None:
            return candidate
    return 0  # none near: port 0 lets the system pick one


def prepare_state(path):
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)  # it holds the master key and the demo passwords
    except OSError as e:
        raise DemoError("cannot keep the demo's state in %s: %s" % (path, e.strerror or e))


# ---- credentials ---------------------------------------------------------------

def new_password():
    import secrets

    return "-".join("".join(secrets.choice(PASSWORD_CHARS) for _ in range(4)) for _ in range(3))


def new_pin():
    import secrets

    return "%04d" % secrets.randbelow(10000)


def read_credentials(path):
    """The demo's passwords and PIN: from the file, or new ones (the file is written
    once the database is known not to hold other passwords for these users). Once
    the PIN was changed, the file says when in its place."""
    if not os.path.exists(path):
        return {"demo password": new_password(), "demo PIN": new_pin(),
                "helpdesk password": new_password(), "new": True}
    fields = {}
    try:
        with open(path) as f:
            for line in f:
                name, sep, value = line.strip().partition(": ")
                if sep and not name.startswith("#"):
                    fields[name] = value
    except OSError as e:
        raise DemoError("cannot read %s: %s" % (path, e.strerror or e))
    missing = [name for name in CREDENTIAL_FIELDS if not fields.get(name)]
    if missing:
        raise DemoError("%s has no %s: remove the folder %s to start over"
                        % (path, ", ".join(missing), os.path.dirname(path) or "."))
    return fields


def write_credentials(path, credentials):
    text = "# dsc demo (make run): the demo accounts; remove this folder to start over\n"
    text += "".join("%s: %s\n" % (name, credentials[name]) for name in CREDENTIAL_FIELDS)
    write_private(path, text.encode())


def write_private(path, data):
    """Write a file readable by its owner only, replacing an older one whole."""
    from host.files import create_private

    temporary = path + ".tmp"
    if os.path.exists(temporary):
        os.remove(temporary)
    with create_private(temporary, binary=True) as f:
        f.write(data)
    os.replace(temporary, path)


# ---- the token -----------------------------------------------------------------

def start_token(paths, link_spec):
    """The simulated token on its flash folder, provisioned with the demo key when
    blank, and its serial link."""
    from simulator import cli as sim
    from simulator import link as links
    from simulator import runtime as runtimes

    sim.prepare_state_dir(paths.token)
    token = runtimes.make_runtime("cpython", paths.token)
    try:
        token.start()
    except RuntimeError as e:
        raise DemoError(str(e))
    try:
        sim.provision_demo(token, paths.demo_key)
        try:
            return token, links.open_link(link_spec, token)
        except OSError as e:
            raise DemoError("cannot open the token's link %s (%s): pass another, e.g. --link socket://127.0.0.1:0"
                            % (link_spec, e.strerror or e))
        except ValueError as e:
            raise DemoError(str(e))
    except BaseException:
        token.stop()
        raise


def read_token(paths, url):
    """The token's serial and suite, read over its link as from a real one, and its
    key from the key file, checked against the key check value the token shows."""
    import hashlib
    import hmac

    from host.client import TokenClient
    from host.files import read_key_file

    with TokenClient(url) as client:
        info = client.info()
    start_over = "remove the folder %s to start over" % paths.state
    try:
        key = read_key_file(paths.demo_key)
    except ValueError as e:
        raise DemoError("%s: %s" % (e, start_over))
    kcv = hmac.new(key, b"OpenDSC KCV", hashlib.sha256).digest()[:3].hex().upper()  # as dsc/token.py
    if info.get("kcv") != kcv:
        raise DemoError("the token in %s does not hold the key in %s: %s" % (paths.token, paths.demo_key, start_over))
    return info, key


# ---- the accounts --------------------------------------------------------------

def setup_accounts(paths, info, key, credentials):
    """Make what is missing: the database, the two users, the enrolled token, the
    help-desk card and its file. What exists is left as it is."""
    from host.verifier import cards, service
    from host.verifier.errors import VerifierError

    start_over = "remove the folder %s to start over" % paths.state
    try:
        service.init_db(paths.db, paths.keyring)
        v = service.Verifier(paths.db, paths.keyring)
    except (VerifierError, service.VaultError) as e:
        raise DemoError("%s: %s" % (e, start_over))
    try:
        roles = {u["user"]: u["role"] for u in v.users()}
        if credentials.pop("new", False):
            if DEMO_USER in roles or HELPDESK_USER in roles:
                raise DemoError("%s has users %s and %s but %s is missing: %s"
                                % (paths.db, DEMO_USER, HELPDESK_USER, paths.credentials, start_over))
            write_credentials(paths.credentials, credentials)
        if DEMO_USER not in roles:
            v.add_user(DEMO_USER, credentials["demo password"])
        if not any(d["kind"] == "token" and d["serial"] == info["serial"] for d in v.devices(DEMO_USER)):
            if not credentials["demo PIN"].isdigit():  # the first PIN was changed, then the token removed
                credentials["demo PIN"] = new_pin()
                write_credentials(paths.credentials, credentials)
            v.enroll_token(DEMO_USER, info["serial"], key, credentials["demo PIN"], suite=info["suite"], active=True)
        if HELPDESK_USER not in roles:
            v.add_user(HELPDESK_USER, credentials["helpdesk password"], role="helpdesk")
        elif roles[HELPDESK_USER] != "helpdesk":
            raise DemoError("user %s in %s is not a help-desk user: %s" % (HELPDESK_USER, paths.db, start_over))
        card = next((d for d in v.devices(HELPDESK_USER)
                     if d["kind"] == cards.CODE_CARD and d["status"] == "active" and not d["shared"]), None)
        if card is None:
            write_private(paths.card, cards.render(v.issue_printed_card(HELPDESK_USER), "txt"))
        elif not os.path.exists(paths.card):
            write_private(paths.card, cards.render(v.card(HELPDESK_USER, card["serial"]), "txt"))
    except VerifierError as e:
        raise DemoError("%s: %s" % (e, start_over))
    finally:
        v.close()


# ---- the demo PIN --------------------------------------------------------------

class PinWatch:
    """Whether the PIN the demo made still opens the token, kept true in the
    credentials (and so in the file and the banner) while the demo runs.

    The verifier keeps only a digest of the PIN, so the audit log tells: a PIN change
    accepted for the token after its enrollment means the first PIN is gone (the
    token then takes the PIN its user chose, which the demo never learns)."""

    CHECK_SECONDS = 1.0  # how often check() reads the audit log

    def __init__(self, paths, credentials, serial):
        from host.verifier import service
        from host.verifier.kinds import PIN_CHANGE, TOKEN

        self.paths = paths
        self.credentials = credentials
        self.device = "%s:%s" % (TOKEN, serial)  # the audit's name for the token
        self.pin_change = PIN_CHANGE
        self.changed_on = None  # when the PIN was changed (timefmt.readable), None while the first holds
        self._after_id = 0
        self._checked = None
        self._told = None  # the change the file and the banner last said
        self.verifier = service.Verifier(paths.db, paths.keyring)
        try:
            self.check()
        except BaseException:
            self.close()
            raise

    def check(self):
        """Read the audit events since the last call (at most once a CHECK_SECONDS);
        True when the PIN was changed since, the file rewritten to say so."""
        import time

        from sqlalchemy.exc import SQLAlchemyError

        from host.verifier.audit import MAX_PAGE

        now = time.monotonic()
        if self._checked is not None and now - self._checked < self.CHECK_SECONDS:
            return False
        self._checked = now
        while True:
            try:
                events = self.verifier.audit_log(DEMO_USER, outcome="ok", after_id=self._after_id)
            except SQLAlchemyError:
                return False  # the database busy for a moment: the next check reads on from here
            for event in events:
                if event["device"] == self.device and event["purpose"] in ("enroll", self.pin_change):
                    self.changed_on = readable_iso(event["at"]) if event["purpose"] == self.pin_change else None
            if events:
                self._after_id = events[-1]["id"]
            if len(events) < MAX_PAGE:
                break
        if self.changed_on is None or self.changed_on == self._told:
            return False
        self._told = self.changed_on
        self.credentials["demo PIN"] = "changed on %s: the token takes the new PIN, not the first" % self.changed_on
        write_credentials(self.paths.credentials, self.credentials)
        return True

    def close(self):
        self.verifier.close()


def readable_iso(text):
    """An audit time (ISO 8601 UTC) as the portal shows times: 2026-11-30 17:40 UTC."""
    import datetime

    from host.verifier.timefmt import readable

    return readable(datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
                    .replace(tzinfo=datetime.timezone.utc).timestamp())


def pin_changed_line(changed_on):
    return "The %s PIN was changed on %s: the token takes the new PIN, not the first one." % (DEMO_USER, changed_on)


# ---- the login service ---------------------------------------------------------

class Server:
    """`dsc serve` as a child process in a session of its own (Ctrl-C at the token
    reaches this process only, which stops it); its log goes to server.log."""

    def __init__(self, paths, listen, public_url, on_exit):
        import subprocess

        env = dict(os.environ, DSC_MASTER_KEY_FILE=os.path.abspath(paths.keyring), PYTHONUNBUFFERED="1")
        self.stopping = False
        self.url = None
        self._listening = threading.Event()
        log = os.open(paths.server_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "host.cli", "serve", "--listen", listen,
                                          "--db", os.path.abspath(paths.db)]
                                         + (["--public-url", public_url] if public_url else []),
                                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                         start_new_session=True)
        finally:
            os.close(log)
        threading.Thread(target=self._read, args=(on_exit,), name="server-output", daemon=True).start()
        if not self._listening.wait(SERVER_START_SECONDS) or self.url is None:
            self.stop()
            raise DemoError("the portal did not start: %s" % last_line(paths.server_log))

    def _read(self, on_exit):
        for line in self.proc.stdout:
            text = line.decode(errors="replace")
            if self.url is None and "listening on " in text:
                self.url = text.split("listening on ", 1)[1].split()[0]
                self._listening.set()
        self._listening.set()  # ended before it listened: __init__ says why
        self.proc.wait()
        on_exit()

    def stop(self):
        import subprocess

        self.stopping = True
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(SERVER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def last_line(path):
    try:
        with open(path, errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        lines = []
    return lines[-1] if lines else "no output (see %s)" % path


# ---- the example app -----------------------------------------------------------

EXAMPLE_CLIENT_NAME = "OpenDSC example app"


class ExampleApp:
    """host/oidc_example.py served in a thread of this process on the portal's host, the
    port after the portal's when free (else any), registered as a first-party OIDC client
    whose redirect URI is its /callback; its client id and secret are kept in the state
    folder and registered anew when the address changes."""

    def __init__(self, paths, listen, issuer):
        import secrets
        import socket

        import uvicorn

        from host.oidc_example import create_app
        from host.server.cli import _listen

        host, port = _listen(listen)
        if host in ("0.0.0.0", "::"):  # the browser reaches it where it reaches the portal
            host = issuer.split("//", 1)[1].rsplit(":", 1)[0].strip("[]")
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port + 1 if port and bind_error(host, port + 1) is None else 0))
        except OSError as e:
            sock.close()
            raise DemoError("cannot serve the example app on %s: %s" % (host, e.strerror or e))
        self.url = "http://%s:%d" % ("[%s]" % host if ":" in host else host, sock.getsockname()[1])
        try:
            client_id, client_secret = example_client(paths, self.url + "/callback")
            app = create_app(issuer, client_id, client_secret, session_secret=secrets.token_urlsafe(32))
        except BaseException:
            sock.close()
            raise
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, name="example-app",
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.should_exit = True
        self.thread.join(SERVER_STOP_SECONDS)


def example_client(paths, redirect_uri):
    """(client_id, client_secret) of the example app's client for redirect_uri: the kept
    one while it is still registered with that URI, else a new one (the old removed).
    The provider's library, as `dsc oidc client` uses it (a process each would cost ~1 s)."""
    import json

    from host.oidc import clients
    from host.verifier import service
    from host.verifier.errors import VerifierError

    kept = None
    if os.path.exists(paths.example_client):
        with open(paths.example_client) as f:
            kept = json.load(f)
    v = service.Verifier(paths.db, paths.keyring)
    try:
        registered = {c["client_id"]: c for c in clients.list_all(v)}
        if kept and kept["client_id"] in registered:
            if registered[kept["client_id"]]["redirect_uris"] == [redirect_uri]:
                return kept["client_id"], kept["client_secret"]
            clients.remove(v, kept["client_id"])
        made = clients.add(v, EXAMPLE_CLIENT_NAME, [redirect_uri], first_party=True)
    except VerifierError as e:
        raise DemoError("cannot register the example app: %s" % e)
    finally:
        v.close()
    write_private(paths.example_client, json.dumps({"client_id": made["client_id"],
                                                    "client_secret": made["client_secret"]}).encode())
    return made["client_id"], made["client_secret"]


# ---- what the newcomer sees ----------------------------------------------------

def instructions(portal, link_url, credentials, paths, no_ui, pin_changed_on=None, example_url=None):
    """The block printed at every start; its first HEADER_LINES head the token's screen.
    Once the PIN was changed it says when (the date: the line fits 80 columns)."""
    if no_ui:
        how = ["Log in as %s in the portal: it shows a challenge. Key the PIN and the" % DEMO_USER,
               "challenge into the token over its link and type its response into the portal:",
               "dsc respond %s --pin PIN --challenge CHALLENGE" % link_url]
    else:
        how = ["Log in as %s in the portal: it shows a challenge. In the token window below," % DEMO_USER,
               "press the power key (p), key the PIN and OK (Enter), then the challenge and OK,",
               "and type the response the token shows into the portal."]
    return [
        "OpenDSC demo",
        "  portal     %s" % portal,
        "  user       %-9s password %s   PIN %s" % (DEMO_USER, credentials["demo password"],
                                                      "changed on " + pin_changed_on[:10] if pin_changed_on
                                                      else credentials["demo PIN"]),
        "  help desk  %-9s password %s   card %s" % (HELPDESK_USER, credentials["helpdesk password"], paths.card),
        "  token      %s" % link_url,
        *how,
        "Phone app: log in as %s, choose Add mobile authenticator, open %s" % (DEMO_USER,
                                                                            portal.replace("/login", "/mobile/")),
        "in a phone-sized window and type the code; then log in with it under Use another device.",
        *(["Single sign-on: open the example app %s/ and log in with OpenDSC." % example_url] if example_url else []),
        "Saved in %s (remove %s to start over);" % (paths.credentials, paths.state),
        "the portal's log is %s. Stop with %s: the portal stops too." % (paths.server_log,
                                                                          "Ctrl-C" if no_ui else "q"),
    ]


HEADER_LINES = 8  # what fits above the token in 24 rows


def show_token(token, header, stopped, changed):
    """The simulator's token drawn under `header()` until q, Ctrl-C or `stopped`;
    drawn again when the display changes or `changed()` says the header did."""
    import select
    import termios
    import tty

    from simulator import tui

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    wake_read, wake_write = os.pipe()  # a display change redraws at once
    token.on_display.append(lambda a, b: os.write(wake_write, b"."))
    sys.stdout.write("\x1b[?1049h\x1b[?25l")  # alternate screen: the block stays on the main one
    try:
        tty.setcbreak(fd, termios.TCSANOW)  # typed-ahead keys kept; Ctrl-C still signals: unwind() runs the clean-up
        drawn = None
        while not stopped.is_set():
            if changed() or token.lines != drawn:
                drawn = token.lines
                screen = header() + [""] + tui.render_token(drawn) + tui.hints(drawn)
                sys.stdout.write("\x1b[H\x1b[2J" + "\r\n".join(screen) + "\r\n")
                sys.stdout.flush()
            ready, _, _ = select.select([fd, wake_read], [], [], 0.5)  # and `stopped` is seen within 0.5 s
            if wake_read in ready:
                os.read(wake_read, 4096)
            typed = tui.keys_for(os.read(fd, 64) or b"q") if fd in ready else []  # b"": the terminal went away
            for key in typed:
                if key == tui.QUIT:
                    return
                token.press(key)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        sys.stdout.write("\x1b[?25h\x1b[?1049l")
        sys.stdout.flush()
