# Two commands do all the set-up on a fresh machine:
#   make run    create .venv if missing, install, run the default profile
#   make test   same environment, run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= all

.PHONY: run test docs report clean-results

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[workflow,test,docs]'
	@touch $@

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/default/report.html

# the HTML report of the last run of a profile: make report PROFILE=real_small
PROFILE ?= default
report: $(STAMP)
	$(BIN)/snakemake --report results/$(PROFILE)/report.html $(if $(filter default,$(PROFILE)),,--configfile config/$(PROFILE).yaml)

# pytest exit code 5 means no test was collected: that is a broken suite, not a pass.
test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is broken" >&2; fi; \
	exit $$rc
	$(BIN)/mkdocs build --strict

# the documentation site (mkdocs.yml, docs/) into site/
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

clean-results:
	rm -rf results/*/
