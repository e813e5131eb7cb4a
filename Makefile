# Two entry points: `make run` (set up, then run the main job on the embedded default) and
# `make test` (set up, then lint and run the whole test suite). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

.PHONY: setup run test test-fast lint ui bench bench-quick
setup: $(STAMP)

run: $(STAMP)
	$(BIN)/pricing run --top 3

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# The quick loop while developing: no CLI runs, end-to-end, fault or load tests (the quick PostgreSQL
# and moto S3 tests stay in; without PostgreSQL they are skipped, see pricing_assets_tests/components.py).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not reliability"

ui: $(STAMP)
	$(BIN)/pricing ui

# The benchmark suite (bench/run.py): every benchmark at full size, results in bench/results/*.json,
# tables in BENCHMARKS.md regenerated (about an hour on 2 cores). bench-quick is the smoke run
# (about a minute, nothing measured): results and a rendered copy of BENCHMARKS.md in bench/results/quick.tmp/.
bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

# Known vulnerabilities (PyPI's advisory data) in every pin of pyproject.toml (all extras) and of
# the serving image (--strict: a pin that cannot be looked up fails the audit instead of being
# skipped), then in what is installed in the venv, transitive dependencies included (there a local
# build such as torch's +cpu wheel cannot be looked up and is listed as skipped). Findings and
# what was done about them: RELIABILITY.md.
.PHONY: audit
audit: $(STAMP)
	$(BIN)/python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	print(*p['dependencies'], *(r for e in p['optional-dependencies'].values() for r in e), sep='\n')" \
	  > $(VENV)/audit-requirements.txt
	$(BIN)/pip-audit --progress-spinner off --strict --no-deps --disable-pip -r $(VENV)/audit-requirements.txt
	$(BIN)/pip-audit --progress-spinner off --strict --no-deps --disable-pip -r serving/requirements.txt
	$(BIN)/pip-audit --progress-spinner off --skip-editable
