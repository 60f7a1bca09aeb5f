# The README's commands. Each target creates or reuses .venv and installs what it needs;
# the install step is skipped when pyproject.toml has not changed since the last install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip 2> /dev/null || true

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "Installing cs-sync and its dependencies into $(VENV) (first time only)..."
	@$(BIN)/python -m pip install -e '.[dev]' > $(VENV)/install.log 2>&1 \
		|| { cat $(VENV)/install.log; echo "install failed: see above"; exit 1; }
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cs-sync demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo
