# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $@

install: $(STAMP)

## Start the whole pipeline on loopback (moto, sandbox sources, scheduler, worker, web).
## A person reads this console: plain log lines and no EMF metric lines unless asked for.
run: $(STAMP)
	TWL_LOG_FORMAT=$${TWL_LOG_FORMAT:-plain} TWL_METRICS_ENABLED=$${TWL_METRICS_ENABLED:-false} \
		$(BIN)/python manage.py runlocal $(ARGS)

## Run the whole test suite, offline (installs Debian's chromium for the browser tests).
test: $(STAMP)
	bash scripts/ensure-chromium.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles
