# Two commands for a fresh machine: `make lab` opens the course, `make test` runs every check.
# Both first make .venv and install the project into it; that step is skipped while
# pyproject.toml is unchanged, so a set-up machine starts in seconds.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FIRST_NOTEBOOK := notebooks/00-how-the-kata-works.ipynb
# JupyterLab refuses to run as root unless told; containers often run as root.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: setup lab test lint typecheck checks notebooks stubs bench site site-serve

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "cqrs-kata needs Python 3.10 or newer; set PYTHON=python3.x")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@# JupyterLab would otherwise greet every learner with a pop-up asking about news feeds.
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}}' \
		> $(VENV)/share/jupyter/lab/settings/overrides.json
	@touch $(STAMP)

# JupyterLab serves the whole course (its file browser shows exercises/), opening notebook 00.
lab: $(STAMP)
	$(BIN)/jupyter lab $(LAB_FLAGS) --ServerApp.root_dir=. $(FIRST_NOTEBOOK)

test: lint typecheck checks

# ruff and mypy on the .py files git tracks: a learner's scratch.py is not the course's.
lint: $(STAMP)
	$(BIN)/python -m cqrs_kata.dev.lint ruff

typecheck: $(STAMP)
	$(BIN)/python -m cqrs_kata.dev.lint mypy

# Every test in tests/ and every notebook in notebooks/ that git tracks, notebooks as committed
# (nbval compares saved outputs); conftest.py decides what is collected.
checks: $(STAMP)
	$(BIN)/pytest --nbval --nbval-current-env

# Step 06's comparison on this machine (about a minute): table and plots in bench-results/.
# More: make bench BENCH_FLAGS=--large
bench: $(STAMP)
	$(BIN)/cqrs-kata bench $(BENCH_FLAGS)

# The course as a static JupyterLite site in _site/ (Pyodide in the browser, no network once
# loaded; needs npm to fetch Pyodide, downloads cached in ~/.cache/cqrs-kata/site). Serve
# _site/ with any web server, e.g. `make site-serve`, and open lab/index.html.
site: $(STAMP)
	$(BIN)/python -m cqrs_kata.dev.site

site-serve: $(STAMP)
	$(BIN)/python -m cqrs_kata.dev.site --serve $(SITE_PORT)

# Maintainers: regenerate exercises/ from solutions/, and re-run notebooks to refresh outputs.
stubs: $(STAMP)
	$(BIN)/python -m cqrs_kata.dev.build_stubs

notebooks: $(STAMP)
	$(BIN)/python -m cqrs_kata.dev.execute_notebooks
