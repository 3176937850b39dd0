# The two commands a newcomer needs: `make run` and `make test`.
# The newest supported Python on PATH (3.13, 3.12, 3.11), else python3; `make test PYTHON=python3.12`
# picks one. Each interpreter gets its own virtualenv, so two versions can be tested side by side.
SUPPORTED := python3.13 python3.12 python3.11
# (Runs each candidate: a pyenv shim is on PATH for every version but answers only for some.)
PYTHON ?= $(or $(shell for p in $(SUPPORTED); do $$p -c '' 2>/dev/null && { echo $$p; break; }; done),python3)
PY_TAG := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
VENV ?= $(if $(filter 3.11,$(PY_TAG)),.venv,.venv-$(PY_TAG))
HOST ?= 127.0.0.1
PORT ?= 8000
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint worker conformance bench clean python-version

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' || \
		{ echo "$(PYTHON) is Python $(PY_TAG): the gateway needs 3.11, 3.12 or 3.13"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'  # test includes postgres
	@touch $(STAMP)

install: $(STAMP)

# The demo requests are dated from today (var/samples/), so the walk-through answers on any day.
# `make run PORT=8080` (and HOST=...) serves elsewhere.
run: $(STAMP)
	$(BIN)/gateway samples --out var/samples
	$(BIN)/gateway serve --host $(HOST) --port $(PORT)

worker: $(STAMP)
	$(BIN)/gateway worker

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# Bytecode is written even where the environment says PYTHONDONTWRITEBYTECODE: the suite starts
# many `gateway` processes, and each would compile the whole package from source again.
test: lint
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest

conformance: $(STAMP)
	$(BIN)/gateway conformance run --junit build/conformance.xml

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# The Python version `make test` would use (.ci/run asks it before testing another one).
python-version:
	@echo $(PY_TAG)

clean:
	rm -rf .venv .venv-3.* build .pytest_cache
