# llmops-kit — every target bootstraps what it needs (venv, packages, local peers).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS ?= dev

.PHONY: install peers demo test bench lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	@touch $(STAMP)

install: $(STAMP)

peers:
	@bash scripts/ensure_peers.sh

demo: install
	@$(BIN)/llmops-kit demo

test: install peers
	@$(BIN)/ruff check src integrations tests samples scripts monitoring
	@$(BIN)/python scripts/gen_monitoring.py --check
	@$(BIN)/python scripts/gen_config_table.py --check || { echo "README configuration table is stale: run python scripts/gen_config_table.py"; exit 1; }
	@$(BIN)/python -m pytest -q

bench: install peers
	@for b in tests/benchmarks/bench_*.py; do echo "== $$b"; PYTHONPATH=src:integrations:. $(BIN)/python $$b || exit 1; done

lint: install
	@$(BIN)/ruff check src integrations tests samples scripts monitoring

clean:
	rm -rf $(VENV) .peers .llmops
