# Two commands do all the set-up on a fresh machine:
#   make run    create .venv if missing, install, run the default profile
#   make test   same environment: lint and format checks, the test suite, the documentation
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the test suite also checks the Triton kernels (under Triton's interpreter without a
# GPU): the `gpu` extra, installed for `make test` only, keeps `make run` light
GPU_STAMP := $(VENV)/.installed-gpu
CORES  ?= all

.PHONY: run test lint format docs report clean-results mutation

# The torch the test suite runs on; the library accepts any torch >= 2.1, < 3.
TORCH  ?= torch==2.13.0

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check '$(TORCH)'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[workflow,test,docs,dev]'
	@touch $@

$(GPU_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[gpu]'
	@touch $@

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/default/report.html

# the HTML report of the last run of a profile: make report PROFILE=real_small
PROFILE ?= default
report: $(STAMP)
	$(BIN)/snakemake --report results/$(PROFILE)/report.html $(if $(filter default,$(PROFILE)),,--configfile config/$(PROFILE).yaml)

# pytest exit code 5 means no test was collected: that is a broken suite, not a pass.
test: lint $(STAMP) $(GPU_STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is broken" >&2; fi; \
	exit $$rc
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# style: ruff (lint and format) for Python, snakefmt for the Snakefile and rules
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules/

# apply the formatters
format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile workflow/rules/

# the documentation site (mkdocs.yml, docs/) into site/
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# mutation testing of the core library (src/subsetgrad/*.py) against its fast tests; not part of
# `make test` (about 5 minutes on two cores). Settings: [tool.mutmut] in pyproject.toml; the
# score and every surviving mutant are discussed in docs/testing.md. One torch thread per
# mutant: mutmut forks a worker per mutant, and a forked OpenMP pool hangs.
MUTATION_JOBS ?= 2
mutation: $(STAMP)
	rm -rf mutants
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/mutmut run --max-children $(MUTATION_JOBS)
	$(BIN)/mutmut results

clean-results:
	rm -rf results/*/
