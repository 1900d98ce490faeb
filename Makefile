# Everything installs into .venv on first use, so a fresh clone needs only `make demo` / `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

# Runtime dependencies at the versions of docker/requirements.lock (what the image runs), so a
# fresh clone tests exactly those and not whatever PyPI released since.
$(STAMP): setup.cfg pyproject.toml docker/requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -c docker/requirements.lock
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/socflow ingest --state-dir $(VENV)/demo-state examples/logs
	$(BIN)/socflow alerts list --state-dir $(VENV)/demo-state

test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/evaluate.py
	$(BIN)/python bench/extract.py --setup-peers

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
