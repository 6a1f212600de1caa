"""`dsc serve`: the login service on uvicorn (httptools and uvloop: protocol.py). Light at import: the parser is built
for every dsc command, whether the server extra is installed or not."""

import os
import sys

DEFAULT_LISTEN = "127.0.0.1:8080"


def add_parser(sub):
    text = "run the login service over HTTP (docs/api.md)"
    c = sub.add_parser("serve", help=text, description=text)
    c.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                   help="address to listen on (default %(default)s; port 0 picks a free port)")
    c.add_argument("--workers", type=_workers, default=1, metavar="N", help="worker processes, 1-64 (default 1)")
    c.add_argument("--db", default=os.environ.get("DSC_DB", "dsc.db"),
                   help="database path or URL (env DSC_DB, default %(default)s)")
    c.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate chain (PEM)")
    c.add_argument("--tls-key", metavar="FILE", help="the certificate's private key (PEM)")
    c.add_argument("--trusted-proxy", action="append", default=None, metavar="ADDRESS",
                   help="a reverse proxy (address or network) whose X-Forwarded-For names the client; repeat for "
                        "several (env DSC_TRUSTED_PROXIES, comma-separated)")
    c.add_argument("--public-url", default=None, metavar="URL",
                   help="where people reach this server, e.g. https://login.example.com, for the links the portal "
                        "hands out (the phone app's activation QR code); without it only requests to localhost get "
                        "them (env DSC_PUBLIC_URL)")
    c.add_argument("--trusted-plugin", action="append", default=None, metavar="ADDRESS",
                   help="a privacyIDEA plugin host (address or network: FreeRADIUS, PAM, Keycloak, simpleSAMLphp) "
                        "whose `client` parameter names the end user's address; repeat for several "
                        "(env DSC_TRUSTED_PLUGINS, comma-separated)")
    return c


def _workers(text):
    import argparse

    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError("must be a number from 1 to 64")
    return int(text)


def _listen(text):
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise ValueError("--listen must be HOST:PORT, e.g. 127.0.0.1:8080")
    return host, int(port)


def run(args):
    """Check everything, bind, print the URL, serve until SIGTERM or SIGINT."""
    import socket

    from sqlalchemy.exc import SQLAlchemyError

    from host.server.settings import Settings, public_url
    from host.verifier.errors import VerifierError
    from host.verifier.keystore import VaultError
    from host.verifier.store import StoreError

    import dataclasses

    from host.server import proxies

    try:
        host, port = _listen(args.listen)
        settings = Settings.from_env()
        trusted = tuple(args.trusted_proxy) if args.trusted_proxy is not None else settings.trusted_proxies
        proxies.parse(trusted)
        plugins = tuple(args.trusted_plugin) if args.trusted_plugin is not None else settings.trusted_plugins
        proxies.parse(plugins, "--trusted-plugin")
        settings = dataclasses.replace(settings, db=args.db, trusted_proxies=trusted, trusted_plugins=plugins)
        if args.public_url is not None:
            settings = dataclasses.replace(settings, public_url=public_url(args.public_url))
        tls = _tls(args.tls_cert, args.tls_key)
        settings.open_verifier().close()  # a bad database, key ring or policy file: one line, now
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that
        # say they are TCP; without it each kept-alive request waited ~40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # connections wait in the backlog until the app is loaded
    except (VerifierError, VaultError, StoreError, ValueError) as e:
        sys.stderr.write("dsc serve: %s\n" % e)
        return 1
    except SQLAlchemyError as e:
        sys.stderr.write("dsc serve: database error: %s\n" % str(getattr(e, "orig", e)).splitlines()[0])
        return 1
    except OSError as e:
        sys.stderr.write("dsc serve: cannot listen on %s: %s\n" % (args.listen, e.strerror or e))
        return 1
    os.environ.update(settings.env())  # what each worker's create_app reads
    bound = sock.getsockname()
    shown = "[%s]" % bound[0] if family == socket.AF_INET6 else bound[0]
    url = "%s://%s:%d" % ("https" if tls else "http", shown, bound[1])
    return _serve(sock, args.workers, url, tls)


def _tls(cert, key):
    """uvicorn's TLS options, after loading the pair once (a wrong file, a key that
    does not match, a passphrase-protected key: one line now, not at the first request)."""
    import ssl

    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        raise ValueError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key, password=lambda: b"")  # no prompt for a protected key
    except FileNotFoundError as e:
        raise ValueError("no such file: %s" % e.filename)
    except (ssl.SSLError, OSError) as e:
        raise ValueError("cannot use --tls-cert/--tls-key: %s" % (getattr(e, "reason", None) or e.strerror or e))
    return {"ssl_certfile": cert, "ssl_keyfile": key}


LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stderr"},
                 # one write per turn of the event loop, not per request (host/server/logs.py)
                 "access": {"class": "host.server.logs.LoopBatchedStreamHandler", "formatter": "line",
                            "stream": "ext://sys.stderr"}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},  # ours is dsc.access
        "dsc": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "dsc.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}


def _serve(sock, workers, url, tls):
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from host.server import protocol

    # proxy_headers off: X-Forwarded-For is read by app.Edge, from trusted proxies only.
    config = uvicorn.Config("host.server.app:from_env", factory=True, workers=workers, access_log=False,
                            log_config=LOG_CONFIG, server_header=False, proxy_headers=False,
                            http=protocol.Protocol, loop="uvloop", timeout_keep_alive=5, timeout_graceful_shutdown=30,
                            **tls)
    if workers == 1:
        config.load_app()  # before the URL is printed: a client that reads it finds the app loaded
    print("dsc serve: listening on %s (%d worker%s)" % (url, workers, "" if workers == 1 else "s"), flush=True)
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
        return 0
    import signal

    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again for the
    # handler it found: with this one, a graceful stop ends in exit status 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0 if server.started else 1
