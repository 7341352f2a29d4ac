# Two commands for a fresh Debian machine: `make demo` and `make test`. Both are idempotent.
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export JUANZONG_HOME ?= $(CURDIR)/var

.PHONY: demo test deps venv clean

deps:
	@scripts/install-debian-packages.sh
	@scripts/siegfried/install.sh
	@scripts/verapdf/install.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "Python 3.11 is required (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

demo: deps venv
	$(BIN)/juanzong demo

test: deps venv
	$(BIN)/pytest

clean:
	rm -rf var .es .tools .verapdf
