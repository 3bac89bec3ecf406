# Two commands from a fresh clone: `make run` (the main job on the bundled
# sample) and `make test`. Each builds .venv with the pinned versions first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test dev lock docs clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (set PYTHON=python3 to use another 3.11+)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/fostering run

test: $(STAMP)
	$(BIN)/python -m pytest

dev: $(STAMP)
	$(BIN)/fostering dev

lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable > constraints.txt

docs: $(STAMP)
	$(BIN)/python -c "from orchestration.dbt_project import prepare_manifest; prepare_manifest()"
	cd dbt_project && FOSTERING_WAREHOUSE=../data/warehouse.duckdb ../$(BIN)/dbt docs generate --profiles-dir . && ../$(BIN)/dbt docs serve --profiles-dir . --port 8080

clean:
	rm -rf data
