# Two commands for a fresh machine: `make lab` opens the course, `make test` runs every check.
# Both first make .venv and install the project into it, at the versions constraints.txt pins;
# that step is skipped while pyproject.toml and constraints.txt are unchanged, so a set-up machine
# starts in seconds.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FIRST_NOTEBOOK := notebooks/00-how-the-kata-works.ipynb
# The lock: every package's version, for every platform and Python 3.10+ (`make lock` refreshes it).
LOCK := constraints.txt
# With no network: make lab WHEELHOUSE=/media/usb/wheelhouse installs from a folder of wheels that
# `make wheelhouse` made, and never from an index.
WHEELHOUSE ?=
FROM_WHEELHOUSE := $(if $(WHEELHOUSE),--no-index --find-links $(WHEELHOUSE))
# The lock's resolver (cqrs_kata/dev/kit.py says why uv), pinned so a re-lock is reproducible.
UV_VERSION := 0.13.9
# JupyterLab refuses to run as root unless told; containers often run as root.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: setup lab test quick lint typecheck checks notebooks stubs bench site site-serve

setup: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "cqrs-kata needs Python 3.10 or newer; set PYTHON=python3.x")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(FROM_WHEELHOUSE) -c $(LOCK) -e '.[dev]'
	@# JupyterLab would otherwise greet every learner with a pop-up asking about news feeds.
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}}' \
		> $(VENV)/share/jupyter/lab/settings/overrides.json
	@touch $(STAMP)

# JupyterLab serves the whole course (its file browser shows exercises/), opening notebook 00.
lab: $(STAMP)
	$(BIN)/jupyter lab $(LAB_FLAGS) --ServerApp.root_dir=. $(FIRST_NOTEBOOK)

test: lint typecheck checks

# The edit loop, under a minute: ruff, mypy, and every test that is neither slow nor a browser's
# (left out: the notebooks, the mutation suites, the runner's attack and isolation tests, the
# kill storms, step 06's measurements, the benchmarks, the wheelhouse and Chromium).
quick: lint typecheck
	$(BIN)/pytest -n auto --dist loadfile -m "not slow and not browser"

# ruff and mypy on the .py files git tracks: a learner's scratch.py is not the course's.
lint: $(STAMP)
	$(BIN)/python -m cqrs_kata.dev.lint ruff

typecheck: $(STAMP)
	$(BIN)/python -m cqrs_kata.dev.lint mypy

# Every test in tests/ and every notebook in notebooks/ that git tracks, notebooks as committed
# (nbval compares saved outputs); conftest.py decides what is collected. pytest-xdist runs one
# worker per core and gives each file to one worker whole (--dist loadfile): a notebook's cells
# share a kernel, and the mutation suites and the site's tests share what they build once.
# (Not --dist loadgroup: with pytest 9.2 its xdist_group marks silently stop grouping.)
checks: $(STAMP)
	$(BIN)/pytest --nbval --nbval-current-env -n auto --dist loadfile

# Step 06's comparison on this machine (about a minute): table and plots in bench-results/.
# More: make bench BENCH_FLAGS=--large
bench: $(STAMP)
	$(BIN)/cqrs-kata bench $(BENCH_FLAGS)

# The course as a static JupyterLite site in _site/ (Pyodide in the browser, no network once
# loaded; needs npm to fetch Pyodide, downloads cached in ~/.cache/cqrs-kata/site). Serve
# _site/ with any web server, e.g. `make site-serve`, and open its address (it opens notebook 00).
site: $(STAMP)
	$(BIN)/python -m cqrs_kata.dev.site

site-serve: $(STAMP)
	$(BIN)/python -m cqrs_kata.dev.site --serve $(SITE_PORT)

# Maintainers: regenerate exercises/ from solutions/, and re-run notebooks to refresh outputs.
stubs: $(STAMP)
	$(BIN)/python -m cqrs_kata.dev.build_stubs

notebooks: $(STAMP)
	$(BIN)/python -m cqrs_kata.dev.execute_notebooks

# Maintainers: re-resolve constraints.txt after changing pyproject.toml's dependencies (pins that
# still fit are kept); `make lock UPGRADE=1` moves every pin to the newest release that fits.
.PHONY: lock wheelhouse
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)' \
		'tomli; python_version < "3.11"'
	$(BIN)/python -m cqrs_kata.dev.kit lock $(if $(UPGRADE),--upgrade)

# Facilitators: every wheel the course needs, for Linux x86_64/aarch64, macOS arm64 and Windows,
# Python 3.10 to 3.13, into wheelhouse/ (with a README on installing from it); copy it to a USB
# stick. Fewer: make wheelhouse KIT_FLAGS='--platform windows-x86_64 --python 3.12'
wheelhouse: $(STAMP)
	$(BIN)/python -m cqrs_kata.dev.kit wheelhouse --out wheelhouse $(KIT_FLAGS)
