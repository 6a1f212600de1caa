# OpenDSC: `make run` starts the whole system (portal and simulated token), `make test` runs every test.
# Both set up .venv first (python3 -m venv + pip), so a fresh clone needs nothing by hand.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# make test and make fuzz run the suite on pytest-xdist workers, one per CPU (on the 2-core
# machine it was timed on, 3 or 4 workers were no faster than 2; PYTEST_WORKERS=0 runs it in
# one process). --dist loadgroup keeps an xdist_group on one worker (tests/test_wheel.py
# shares one wheel build; a module that starts its own server is one group); under pytest 9,
# tests/conftest.py makes the grouping hold.
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadgroup

.PHONY: setup run test bench fuzz clean firmware check-release flash hil typecheck compat

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/bootstrap.sh
	PYTHON=$(PYTHON) bash scripts/bootstrap.sh $(VENV)
	touch $(STAMP)

# The whole system (dsc demo): the portal and API on http://127.0.0.1:8000 and the simulated
# token's terminal UI in the foreground. Everything stays in .state/ (git-ignored, 0700) between
# runs; the first run makes the database, a user demo with the token enrolled and a help-desk
# user, and every run prints their passwords (README). DEMO_ARGS="--listen 127.0.0.1:8001" etc.
run: setup
	$(VENV)/bin/dsc demo --state .state $(DEMO_ARGS)

test: setup
	$(PY) -m ruff check firmware host simulator scripts bench tests hardware
	$(PY) -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The differential test (tests/compat): each plugin's request sequence sent to a real
# privacyIDEA 3.14 (installed from PyPI into .venv-privacyidea/) and to `dsc serve`, every
# field the plugin reads compared. Not part of make test: privacyIDEA's start costs seconds.
compat: setup
	PYTHON=$(PYTHON) bash scripts/privacyidea_venv.sh .venv-privacyidea
	DSC_COMPAT=1 $(PY) -m pytest -p no:cacheprovider -n 0 tests/compat $(PYTEST_ARGS)

# bench/bench_goals.py (printed last) serves privacyIDEA 3.14 beside dsc serve: its virtualenv first.
bench: setup
	PYTHON=$(PYTHON) bash scripts/privacyidea_venv.sh .venv-privacyidea
	$(PY) bench/run.py

# Every test, with the soak-length counts (DSC_FUZZ=1): many more examples, racing
# processes, kill rounds and rotations than make test runs.
fuzz: setup
	DSC_FUZZ=1 $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# Firmware bundles for the Pico: build/debug and build/release (see scripts/build_firmware.py).
firmware: setup
	$(PY) scripts/build_firmware.py build

# The release bundle has no debug code and, run on the unix port, refuses the debug link.
check-release: setup
	$(PY) scripts/build_firmware.py check-release

# make flash PORT=/dev/ttyACM0 [DEBUG=1]
flash: firmware
	@test -n "$(PORT)" || { echo "make flash: give the board's port, e.g. make flash PORT=/dev/ttyACM0" >&2; exit 2; }
	$(PY) scripts/flash.py $(PORT) build/$(if $(DEBUG),debug,release)

# make hil PORT=/dev/ttyACM0: the hardware-in-the-loop tests against a board running a debug build
hil: setup
	@test -n "$(PORT)" || { echo "make hil: give the board's port, e.g. make hil PORT=/dev/ttyACM0" >&2; exit 2; }
	$(PY) -m pytest tests/hil --port $(PORT)

typecheck: setup
	$(PY) scripts/typecheck.py

clean:
	rm -rf $(VENV) .venv-privacyidea build .pytest_cache .hypothesis
