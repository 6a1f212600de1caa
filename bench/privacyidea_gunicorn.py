"""privacyIDEA 3.14 served by gunicorn (sync workers, as its documentation deploys it), for
bench/bench_goals.py: run by the Python of privacyIDEA's own virtualenv (scripts/privacyidea_venv.sh).

    .venv-privacyidea/bin/python bench/privacyidea_gunicorn.py STATE_DIR WORKERS

The first start in STATE_DIR reads the set-up JSON line on stdin and makes everything as
tests/compat/privacyidea_server.py does (plus "database_uri" and "password_rounds"); a later
start serves what is there, since its pi.cfg holds the pepper of the administrators' hashes.
Unlike the compat server, commits are durable (privacyIDEA's defaults). Prints
`privacyidea: listening on http://127.0.0.1:PORT` once gunicorn is ready; SIGTERM stops it."""

import json
import os
import pathlib
import socket
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "compat"))

import privacyidea_server  # noqa: E402


def main():
    state, workers = pathlib.Path(sys.argv[1]).resolve(), int(sys.argv[2])
    config = state / "pi.cfg"
    if config.exists():
        os.environ["PRIVACYIDEA_CONFIGFILE"] = str(config)
        from privacyidea.app import create_app

        app = create_app("production", config_file=str(config), silent=True)
    else:
        app = privacyidea_server.prepare(state, json.loads(sys.stdin.readline()))
    from privacyidea.models import db

    with app.app_context():
        db.engine.dispose()  # each worker opens its own connections after the fork

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    sock.set_inheritable(True)
    url = "http://127.0.0.1:%d" % sock.getsockname()[1]

    from gunicorn.app.base import BaseApplication

    class Gunicorn(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", ["fd://%d" % sock.fileno()])
            self.cfg.set("workers", workers)
            self.cfg.set("loglevel", "warning")
            self.cfg.set("when_ready", lambda server: print("privacyidea: listening on %s" % url, flush=True))

        def load(self):
            return app

    Gunicorn().run()


if __name__ == "__main__":
    main()
