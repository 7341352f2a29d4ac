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

demo: deps venv  # with a real RFC 3161 TSA (OpenSSL's) on loopback for the run
	@url=$$(scripts/tsa.sh start "$(JUANZONG_HOME)/tsa") && \
	  JUANZONG_TSA_URL=$$url JUANZONG_TSA_ROOT_CERT="$(JUANZONG_HOME)/tsa/tsa-root.pem" $(BIN)/juanzong demo; \
	  rc=$$?; scripts/tsa.sh stop "$(JUANZONG_HOME)/tsa"; exit $$rc

test: deps venv
	$(BIN)/pytest

clean:
	rm -rf var .es .tools .verapdf
