# Two commands for a fresh machine: `make rebuild` (the full embedded-default rebuild)
# and `make test`. Both create .venv and install KoGNER with the `cpu` extra first;
# `make EXTRA=gpu rebuild` installs faiss-gpu instead.
PYTHON ?= python3
EXTRA ?= cpu
VENV := .venv
BIN := $(VENV)/bin
WORKSPACE ?= workspace

.PHONY: install rebuild test lint

install: $(VENV)/.installed-$(EXTRA)

$(VENV)/.installed-$(EXTRA): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned, so that no dependency pulls a CUDA build of torch.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRA),dev]"
	rm -f $(VENV)/.installed-*
	touch $@

rebuild: install
	$(BIN)/python -m workflows.rebuild --workspace $(WORKSPACE)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
