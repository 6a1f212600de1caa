#!/usr/bin/env bash
# privacyIDEA 3.14 from PyPI in its own virtualenv (default .venv-privacyidea, git-ignored):
# tests/compat runs it as the reference that OpenDSC's privacyIDEA-compatible routes are
# compared with, and bench/bench_goals.py serves it with gunicorn on SQLite and PostgreSQL
# (psycopg2, privacyIDEA's PostgreSQL driver) beside `dsc serve`. Its dependencies (Flask,
# SQLAlchemy 2, ...) stay out of the project's .venv.
# Idempotent: the stamp names the version installed, so a second run does nothing.
set -euo pipefail
venv=${1:-.venv-privacyidea}
python=${PYTHON:-python3}
requirement='privacyidea==3.14.* gunicorn psycopg2-binary'
stamp="$venv/.installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$requirement" ] && [ -x "$venv/bin/python" ]; then
    exit 0
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check $requirement  # split into its three requirements
"$venv/bin/python" -c "import importlib.metadata as m; print('privacyidea', m.version('privacyidea'))"
echo "$requirement" > "$stamp"
