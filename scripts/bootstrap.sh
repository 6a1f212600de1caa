#!/usr/bin/env bash
# Create the project's virtualenv and install everything it needs: the Python packages
# with pip, and with apt-get (sudo -n unless root) the system programs the tests drive
# that this machine lacks: python3-venv, PostgreSQL, FreeRADIUS, wrk, pamtester,
# pam_radius, libzbar0, Chromium with a Japanese font, Apache with mod_auth_openidc, npm (README.md, "The two commands").
# Each but python3-venv is optional: without it, the tests that need it are skipped.
set -euo pipefail
venv=${1:-.venv}
python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1 || ! "$python" -m venv --help >/dev/null 2>&1; then
    echo "bootstrap: installing python3 and python3-venv with apt-get" >&2
    apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
    python=python3
fi
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv" || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && "$python" -m venv "$venv"; }
fi
# PostgreSQL's server programs: the verifier's tests run on SQLite and on a throwaway
# PostgreSQL server (tests/verifier/pg.py runs initdb and pg_ctl as an unprivileged user).
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "bootstrap: installing postgresql with apt-get" >&2
    sudo=; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
fi
# FreeRADIUS with its Python module and radclient: tests/server/test_freeradius.py runs
# deploy/freeradius/ in front of dsc serve.
if { ! command -v freeradius >/dev/null 2>&1 && [ ! -x /usr/sbin/freeradius ]; } \
        || ! command -v radclient >/dev/null 2>&1 || [ ! -e /usr/lib/freeradius/rlm_python3.so ]; then
    echo "bootstrap: installing freeradius, freeradius-python3 and freeradius-utils with apt-get" >&2
    sudo=; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        freeradius freeradius-python3 freeradius-utils >/dev/null \
        || echo "bootstrap: could not install freeradius; tests/server/test_freeradius.py will be skipped" >&2
fi
# wrk drives make bench's HTTP figures (bench/bench_http.py); pamtester and pam_radius_auth
# run the SSH-style PAM login through FreeRADIUS (tests/server/test_pam_radius.py); libzbar0
# lets pyzbar decode the portal's QR code (tests/browser/test_mobile_app.py).
missing=
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v pamtester >/dev/null 2>&1 || missing="$missing pamtester"
ls /lib/*/security/pam_radius_auth.so /usr/lib/*/security/pam_radius_auth.so >/dev/null 2>&1 \
    || missing="$missing libpam-radius-auth"
ls /lib/*/libzbar.so.0 /usr/lib/*/libzbar.so.0 >/dev/null 2>&1 || missing="$missing libzbar0"
if [ -n "$missing" ]; then
    echo "bootstrap: installing$missing with apt-get" >&2
    sudo=; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null \
        || echo "bootstrap: could not install$missing; the tests and benchmarks that need them are skipped" >&2
fi
# Debian's Chromium and axe-core (npm) for tests/browser: the tests launch /usr/bin/chromium
# through Playwright's executable_path (Playwright's own browser download cannot be used here)
# and inject axe.min.js from $venv/axe; without them those tests are skipped.
# A Japanese font too, or the Japanese pages render as empty boxes in screenshots.
if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/opentype/ipafont-gothic ]; then
    echo "bootstrap: installing chromium and fonts-ipafont-gothic with apt-get" >&2
    sudo=; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium \
        fonts-ipafont-gothic >/dev/null \
        || echo "bootstrap: could not install chromium; tests/browser will be skipped" >&2
fi
# Apache with mod_auth_openidc: tests/browser/test_oidc_apache.py puts deploy/apache-oidc/ in front
# of a page and logs in through dsc serve's OpenID Connect provider (docs/oidc.md). The test runs
# its own apache2 (ServerRoot in a temporary folder, free ports) and needs no system service.
if [ ! -x /usr/sbin/apache2 ] || [ ! -e /usr/lib/apache2/modules/mod_auth_openidc.so ]; then
    echo "bootstrap: installing apache2 and libapache2-mod-auth-openidc with apt-get" >&2
    sudo=; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq apache2 \
        libapache2-mod-auth-openidc >/dev/null \
        || echo "bootstrap: could not install apache2 and mod_auth_openidc; tests/browser/test_oidc_apache.py will be skipped" >&2
fi
if [ ! -f "$venv/axe/node_modules/axe-core/axe.min.js" ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "bootstrap: installing npm with apt-get" >&2
        sudo=; [ "$(id -u)" = 0 ] || sudo="sudo -n"
        $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq npm >/dev/null \
            || echo "bootstrap: could not install npm" >&2
    fi
    npm install --silent --prefix "$venv/axe" axe-core@4 >/dev/null 2>&1 \
        || echo "bootstrap: could not install axe-core with npm; tests/browser's accessibility checks will be skipped" >&2
fi
# jsQR (npm), the QR decoder OpenDSC Mobile's camera uses, pinned by host/mobile/package-lock.json.
# Without it the app still activates by the typed code.
mobile_app="$(dirname "$0")/../host/mobile"
if [ ! -f "$mobile_app/node_modules/jsqr/dist/jsQR.js" ] && command -v npm >/dev/null 2>&1; then
    npm ci --silent --no-audit --no-fund --prefix "$mobile_app" >/dev/null 2>&1 \
        || echo "bootstrap: could not install jsQR with npm; the mobile app's camera scan is left out" >&2
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[dev]"
# The Pico's MicroPython stubs, laid out for mypy (see scripts/typecheck.py).
[ -f "$venv/typings/machine.pyi" ] || "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    --target "$venv/typings" micropython-rp2-rpi-pico-stubs
"$venv/bin/micropython" -c "import sys; print('micropython', sys.implementation.version)"
