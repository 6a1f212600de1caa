# OpenDSC: `make run` starts the simulated token, `make test` runs every test.
# Both set up .venv first (python3 -m venv + pip), so a fresh clone needs nothing by hand.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup run test bench fuzz clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/bootstrap.sh
	PYTHON=$(PYTHON) bash scripts/bootstrap.sh $(VENV)
	touch $(STAMP)

run: setup
	$(VENV)/bin/dsc sim $(SIM_ARGS)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) bench/run.py

fuzz: setup
	DSC_FUZZ=1 $(PY) -m pytest -q tests -k "fuzz or property" -p no:cacheprovider

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
