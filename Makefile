# Two commands set everything up on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv demo test lint typecheck unit bench clean interop-deps

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $@

venv: $(STAMP)

demo: venv
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

unit: venv interop-deps
	$(VENV)/bin/pytest -q

test: lint typecheck unit

bench: venv
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .cdlog build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
