# Paved Road: `make` lists the targets. Every target sets up what it needs itself, so each one
# works on a fresh clone: the first run creates .venv, later runs reinstall only when a
# requirements file changed.

VENV        := .venv
PYTHON      := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
STACK       ?= dev
STACKS      := $(patsubst stacks/Pulumi.%.yaml,%,$(wildcard stacks/Pulumi.*.yaml))
PYTEST_ARGS ?=
BENCH_ARGS  ?=

.DEFAULT_GOAL := help
.PHONY: help venv plan plans catalog codeowners test fmt bench clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-7s %s\n", $$1, $$2}'

venv: $(STAMP) ## create .venv with requirements-dev.txt (reinstalls when requirements*.txt change)

$(PYTHON):
	python3 -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(PYTHON)
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

plan: $(STAMP) ## offline plan of one stack into build/STACK (STACK=dev by default)
	$(PYTHON) -m pavedroad plan $(STACK)

plans: $(STAMP) ## offline plan of every stack in stacks/
	@set -e; for stack in $(STACKS); do echo "--- $$stack"; $(PYTHON) -m pavedroad plan $$stack; done

catalog: $(STAMP) ## regenerate the Backstage catalog in catalog/ from tenants/ and stacks/
	$(PYTHON) -m pavedroad catalog

codeowners: $(STAMP) ## regenerate .github/CODEOWNERS from governance.yaml, domains/ and tenants/
	$(PYTHON) -m pavedroad codeowners

test: $(STAMP) ## run the tests (extra pytest options: PYTEST_ARGS='-k diff')
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

fmt: $(STAMP) ## format the code with Black (line length 100, as CI checks)
	$(PYTHON) -m black .

bench: $(STAMP) ## time the offline plan per stack (options: BENCH_ARGS='--repeat 5 --json')
	$(PYTHON) benchmarks/plan_scale.py $(BENCH_ARGS)

clean: ## remove build/
	rm -rf build
