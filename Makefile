# perfkit: every target works on a fresh machine with Python 3.11+; `.venv` is created on demand
# from the pinned lock file so monthly runs are reproducible.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
# The notebooks' kernel, registered in .venv (perfkit.lab); papermill and the brief runner find it there.
KERNEL := $(VENV)/share/jupyter/kernels/perfkit/kernel.json
LAB_ARGS ?=

.PHONY: venv test lint brief lab bench sample clean

venv: $(STAMP) $(KERNEL)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "perfkit needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

$(KERNEL): $(STAMP)
	$(BIN)/python -c 'import perfkit.lab as lab; print(lab.install_kernel())'

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check perfkit tests $(wildcard benchmarks)
	$(BIN)/ruff format --check perfkit tests $(wildcard benchmarks)

brief: venv
	$(BIN)/perfkit brief

lab: venv
	$(BIN)/python -m perfkit.lab $(LAB_ARGS)

sample: venv
	$(BIN)/perfkit sample

bench: venv
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
