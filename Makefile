# Two commands do everything: `make dev` runs the stack, `make test` runs every check.
# Each creates .venv on first use (Python 3.11+ is the only prerequisite), from the pinned
# versions in requirements.lock (`make lock` refreshes it, and requirements-runtime.lock, after a
# change to pyproject.toml).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test lint fmt typecheck install lock clean bench bench-quick bench-levers bench-burst bench-scale profile

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/booking-engine dev

# Hygiene hooks of .pre-commit-config.yaml that `make lint` runs on every file (all local).
HYGIENE := check-yaml check-toml end-of-file-fixer trailing-whitespace codespell

# ruff (lint and format check), the layer contracts (import-linter), then the hygiene hooks
# (YAML and TOML parse, files end in one newline, no trailing spaces, spelling).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	@for hook in $(HYGIENE); do $(BIN)/pre-commit run $$hook --all-files || exit 1; done

# Rewrite: format and apply the safe lint fixes.
fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# mypy --strict over the code, then a relaxed pass over tests/ and bench/.
typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --config-file tests/mypy.toml

# Branch coverage of the code ([tool.coverage] in pyproject.toml), reported worst first.
# Every test; branch coverage measured and printed (no target). The racing tests run
# after, without the tracer: it slows each request enough to push creates past their
# timeout, which would test the tracer instead of the engine.
test: lint typecheck
	$(BIN)/pytest -m "not contention" --cov --cov-report=term
	$(BIN)/pytest -m contention

# Pin every dependency (dev, the dev servers and bench included) for reproducible installs;
# then the runtime alone, at the same versions and with hashes: what the image installs
# (docker/install-runtime.sh), without the dev servers, the test tools or the bench.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --extra dev --extra dev-servers --extra bench --strip-extras \
	    --no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --strip-extras --generate-hashes --constraint requirements.lock \
	    --no-emit-index-url --no-emit-find-links --output-file requirements-runtime.lock \
	    pyproject.toml

# The benchmark: its own stack on free ports; results in bench/results/.
bench: $(STAMP)
	$(BIN)/python -m bench.run

# The short version (about two minutes); numbers are reported, never asserted.
bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

# Where a booking's time goes: its SQL, its history, py-spy on the worker and the API (about 1.5 min).
profile: $(STAMP)
	$(BIN)/python -m bench.profile

# Each worker and pool setting on its own stack, engine against the floor (about 7 min).
bench-levers: $(STAMP)
	$(BIN)/python -m bench.levers

# The 1,000-way burst on one slot alone, three times on one fresh stack (about 1.5 min).
bench-burst: $(STAMP)
	$(BIN)/python -m bench.burst

# Reads at 10k, 100k and 1M bookings (10M ledger entries), side by side; generating the data
# takes most of the time (20-60 min; `python -m bench.scale --workdir DIR` keeps it for the next run).
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage .coverage.*
