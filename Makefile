# Everything installs into .venv on first use, so a fresh clone needs only `make demo` / `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The report-template render test (tests/browser): Debian's Chromium and the npm packages of
# tests/browser/package-lock.json (AngularJS, Bootstrap, … and puppeteer-core, which downloads no browser).
CHROMIUM ?= /usr/bin/chromium
BROWSER := tests/browser
NODE_STAMP := $(BROWSER)/node_modules/.installed
# Servers the tests run for real (Redis, dovecot, rsyslog, …): Debian packages, one per line in
# tests/system-packages.txt; installed when missing, and only as root (CI).
SYSTEM_PACKAGES_LIST := tests/system-packages.txt
# Debian's syslog-ng-core conflicts with rsyslog (both are the system-log-daemon), so for the
# syslog-ng forwarding tests its .deb is unpacked here, not installed; its libraries are in
# tests/system-packages.txt. The tests run it from there (LD_LIBRARY_PATH, --module-path).
SYSLOG_NG := $(VENV)/syslog-ng
SYSLOG_NG_STAMP := $(SYSLOG_NG)/.unpacked

.PHONY: demo test browser-deps system-deps syslog-ng-deps lint bench clean

# Runtime dependencies at the versions of docker/requirements.lock (what the image runs), so a
# fresh clone tests exactly those and not whatever PyPI released since.
$(STAMP): setup.cfg setup.py pyproject.toml docker/requirements.lock src/socflow/_native.c
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -c docker/requirements.lock
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/socflow ingest --state-dir $(VENV)/demo-state examples/logs
	$(BIN)/socflow alerts list --state-dir $(VENV)/demo-state

$(NODE_STAMP): $(BROWSER)/package.json $(BROWSER)/package-lock.json
	cd $(BROWSER) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Only when missing, and only as root (CI); elsewhere say what to install.
$(CHROMIUM):
	@if [ "$$(id -u)" != 0 ]; then echo "make: $(CHROMIUM) is missing: install Debian's chromium package (apt-get install chromium) or pass CHROMIUM=/path/to/chromium" >&2; exit 1; fi
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

browser-deps: $(CHROMIUM) $(NODE_STAMP)

system-deps: $(SYSTEM_PACKAGES_LIST)
	@missing=$$(for p in $$(grep -v '^#' $(SYSTEM_PACKAGES_LIST)); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make: Debian packages missing for the tests: $$missing (apt-get install $$missing)" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Only when missing. apt-get download needs no root, but refreshing apt's package lists does:
# only as root (CI); elsewhere say what to run.
$(SYSLOG_NG_STAMP):
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	if ! (cd "$$tmp" && apt-get download -qq syslog-ng-core 2>/dev/null); then \
	  if [ "$$(id -u)" != 0 ]; then echo "make: could not download Debian's syslog-ng-core (run as root, or: apt-get download syslog-ng-core && dpkg -x syslog-ng-core_*.deb $(SYSLOG_NG))" >&2; exit 1; fi; \
	  apt-get update -qq; (cd "$$tmp" && apt-get download -qq syslog-ng-core); \
	fi; \
	rm -rf "$(SYSLOG_NG)"; dpkg -x "$$tmp"/syslog-ng-core_*.deb "$$tmp/root"; \
	mkdir -p "$(VENV)"; mv "$$tmp/root" "$(SYSLOG_NG)"; \
	echo "syslog-ng-core unpacked into $(SYSLOG_NG)"; touch "$@"

syslog-ng-deps: system-deps $(SYSLOG_NG_STAMP)

test: $(STAMP) browser-deps system-deps syslog-ng-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" SOCFLOW_CHROMIUM="$(CHROMIUM)" SOCFLOW_SYSLOG_NG="$(CURDIR)/$(SYSLOG_NG)" $(BIN)/python -m pytest -q
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/evaluate.py
	$(BIN)/python bench/extract.py --setup-peers

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info $(BROWSER)/node_modules $(BROWSER)/screenshots
