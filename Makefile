# Two commands set everything up on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv native demo test lint typecheck unit bench clean interop-deps pg-server pg-stop browser-deps

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $@

venv: $(STAMP)

# The native hot loops (cdlog/_native/_speedups.c), built in place; without a C compiler (or
# with CC=false) cdlog runs on its pure-Python code, and this says so once.
native: venv
	@scripts/build-native $(PY)

demo: venv native
	$(VENV)/bin/cdlog demo --fresh

lint: venv
	$(VENV)/bin/ruff check .

typecheck: venv
	$(VENV)/bin/mypy

# Go + golang.org/x/mod (Debian packages) for the independent proof cross-check in the tests.
interop-deps:
	@if ! command -v go >/dev/null 2>&1 || \
	   [ ! -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ]; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y golang-go \
	    golang-golang-x-mod-dev; \
	fi

# The suite runs on SQLite and on PostgreSQL. Without CDLOG_TEST_PG_URL, a throwaway server is
# started (scripts/pg-test-server: an unprivileged user, 127.0.0.1, Debian's postgresql when
# the machine has none) and stopped when the run ends, pass or fail; a server that was already
# running is left running.
PG_SERVER := scripts/pg-test-server

pg-server:
	@$(PG_SERVER) start

pg-stop:
	@$(PG_SERVER) stop

# Headless Chromium (Debian package) renders the HTML report in the tests.
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	fi

# The whole suite runs twice when the native hot loops are built: with them, then on the
# pure-Python code (CDLOG_PURE=1); once, pure, when they could not be built.
unit: venv native interop-deps browser-deps
	@set -e; own=0; url="$${CDLOG_TEST_PG_URL:-}"; \
	if [ -z "$$url" ]; then \
	  $(PG_SERVER) status >/dev/null 2>&1 || own=1; \
	  if [ "$$own" = 1 ]; then trap '$(PG_SERVER) stop' EXIT; fi; \
	  url="$$($(PG_SERVER) start)"; \
	fi; \
	echo "PostgreSQL test server: $${url%%\?*}"; \
	if $(PY) -c 'import sys, cdlog._native as n; sys.exit(0 if n.active() else 1)'; then \
	  echo "pass 1 of 2: native hot loops ($$($(PY) -c 'import cdlog; print(cdlog.native_status())'))"; \
	  CDLOG_EXPECT_NATIVE=1 CDLOG_TEST_PG_URL="$$url" $(VENV)/bin/pytest -q; \
	  echo "pass 2 of 2: pure Python (CDLOG_PURE=1)"; \
	fi; \
	CDLOG_PURE=1 CDLOG_TEST_PG_URL="$$url" $(VENV)/bin/pytest -q

test: lint typecheck unit

bench: venv native
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .cdlog build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
	rm -f cdlog/_native/_speedups.*.so
