# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# checkov (the template security scan) pins packages the app pins differently (boto3,
# packaging...): it gets a virtualenv of its own, fully pinned, and the app's stays untouched.
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: install checkov run test lint clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $@

install: $(STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt constraints-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt -c constraints-checkov.txt
	@touch $@

checkov: $(CHECKOV_STAMP)

## Start the whole pipeline on loopback (moto, sandbox sources, scheduler, worker, web).
## A person reads this console: plain log lines and no EMF metric lines unless asked for.
run: $(STAMP)
	TWL_LOG_FORMAT=$${TWL_LOG_FORMAT:-plain} TWL_METRICS_ENABLED=$${TWL_METRICS_ENABLED:-false} \
		$(BIN)/python manage.py runlocal $(ARGS)

## Run the whole test suite, offline (installs Debian's chromium for the browser tests,
## and checkov in its own virtualenv for tests/test_template_checks.py).
test: $(STAMP) $(CHECKOV_STAMP)
	bash scripts/ensure-chromium.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache staticfiles
