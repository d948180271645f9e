# Dialtone developer commands. `make test` and `make run` do all set-up themselves on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SRC_DIRS := libs services clients tests bench tools
LIB_PACKAGES := dialtone.crypto dialtone.wire dialtone.keystore dialtone.ptt
APP_PACKAGES := dialtone.server dialtone.client dialtone.voiced

.PHONY: help venv lint fmt typecheck test pytest run package release bench clean

help:
	@echo "make run      local server on an embedded PostgreSQL + the TUI connected to it"
	@echo "make test     lint, type-check and the whole test suite"
	@echo "make lint     ruff check, ruff format --check, mypy"
	@echo "make fmt      ruff format + autofix"
	@echo "make package  ./pants package :: (wheels and PEX binaries in dist/)"
	@echo "make release  make package + dist/SHA256SUMS"
	@echo "make bench    run the benchmarks under bench/"
	@echo "make clean    remove build outputs and caches"

venv:
	@tools/bootstrap-venv

lint: venv
	$(VENV)/bin/ruff check $(SRC_DIRS)
	$(VENV)/bin/ruff format --check $(SRC_DIRS)
	$(VENV)/bin/mypy $(addprefix -p ,$(LIB_PACKAGES) $(APP_PACKAGES))

fmt: venv
	$(VENV)/bin/ruff check --fix $(SRC_DIRS)
	$(VENV)/bin/ruff format $(SRC_DIRS)

typecheck: venv
	$(VENV)/bin/mypy $(addprefix -p ,$(LIB_PACKAGES) $(APP_PACKAGES))

pytest: venv
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint pytest

run: venv
	@tools/run-local

package:
	./pants package ::

release:
	rm -rf dist
	./pants package ::
	cd dist && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%P\n' | sort | xargs sha256sum > SHA256SUMS
	@cat dist/SHA256SUMS

bench: venv
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf dist .pants.d .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +
