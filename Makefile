# CRMForge: the developer's entry point.
#
#   make setup   create .venv and install CRMForge with its dev tools (and the npm packages)
#   make run     create ./instance on first use, then serve it on http://127.0.0.1:5000
#                (PACKS="core pharma" installs industry packs first)
#   make test    lint, type-check, and run the tests on SQLite and PostgreSQL (one worker
#                per core: pytest-xdist)
#   make bench   run the performance suite
#   make vendor  copy the front-end files the pages load into the package (what a wheel carries)
#
# `make test` starts a throwaway PostgreSQL (scripts/pg-test-server) when PostgreSQL is
# installed, and stops it afterwards. It uses a server you already run instead: either
# export CRMFORGE_TEST_PG_URL yourself, or keep one up with `scripts/pg-test-server start`
# (faster test runs). Without PostgreSQL it warns and tests SQLite only, unless
# CRMFORGE_REQUIRE_PG=1 (CI), which makes that an error.

VENV   := .venv
PYTHON := $(VENV)/bin/python
# Lint only the folders that exist (a fresh clone may not have them all yet).
LINT_PATHS := $(wildcard crmforge tests benchmarks admin_ui)

.PHONY: help setup run test bench vendor

help:
	@sed -n '3,10p' Makefile | sed 's/^# *//'

# -- setup ------------------------------------------------------------------------------------
# Stamp files make `setup` cheap when nothing changed: pip runs again when pyproject.toml
# changes, npm when package.json or its lock file does. Delete .venv to start over.
setup: $(VENV)/.installed $(if $(wildcard package.json),node_modules/.installed)

# A failed venv (Debian without python3-venv) is removed, so the next try starts clean.
$(VENV)/bin/python:
	python3 -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PYTHON) -m pip install -e '.[dev]'
	touch $@

# `npm ci` installs exactly the lock file; without one yet, `npm install` writes it.
node_modules/.installed: $(wildcard package.json package-lock.json)
	@command -v npm >/dev/null || { echo "npm is needed for the front-end libraries (install Node.js)" >&2; exit 1; }
	if [ -f package-lock.json ]; then npm ci; else npm install; fi
	touch $@

# -- run --------------------------------------------------------------------------------------
# The first run creates the instance with a random admin password, shown once.
# PACKS="core exhibitions" installs those industry packs (once) before serving;
# SAMPLE_USERS=1 also makes each pack's sample organisation (its users' password is shown
# once; packs without one are refused).
PACKS ?=
SAMPLE_USERS ?=
run: setup
	@set -e; \
	if [ ! -f instance/crmforge.json ]; then \
	    PW=$$(python3 -c 'import secrets; print(secrets.token_urlsafe(12) + "9!")'); \
	    $(VENV)/bin/crmforge init --instance instance --admin-password "$$PW"; \
	    echo; \
	    echo "  Created ./instance. Sign in as 'admin' with password: $$PW"; \
	    echo "  (shown only this once; write it down)"; \
	    echo; \
	fi
	@for p in $(PACKS); do \
	    if ! $(VENV)/bin/crmforge pack list --instance instance | cut -f1 | grep -qx "$$p"; then \
	        $(VENV)/bin/crmforge pack install "$$p" --instance instance \
	            $(if $(SAMPLE_USERS),--sample-users) || exit 1; \
	    fi; \
	done
	$(VENV)/bin/crmforge serve --instance instance --host 127.0.0.1 --port 5000

# -- test -------------------------------------------------------------------------------------
# Which PostgreSQL the tests use, in order: CRMFORGE_TEST_PG_URL if set; the test server
# already running on the default port (left running); else a private server in a fresh
# temp dir, stopped and deleted on exit, whatever pytest's result (the EXIT trap keeps
# pytest's exit code; INT/TERM are turned into an exit so Ctrl-C cleans up too).
test: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/mypy
	@set -e; \
	if [ -n "$${CRMFORGE_TEST_PG_URL:-}" ]; then \
	    echo "make test: PostgreSQL from your environment: $$CRMFORGE_TEST_PG_URL"; \
	elif url=$$(scripts/pg-test-server status 2>/dev/null); then \
	    echo "make test: using the running test server ($$url)"; \
	    export "$$url"; \
	elif scripts/pg-test-server available; then \
	    CRMFORGE_PG_DIR=$$(mktemp -d /tmp/crmforge-pg-make.XXXXXX); \
	    export CRMFORGE_PG_DIR; \
	    trap 'scripts/pg-test-server stop || true' EXIT; \
	    trap 'exit 130' HUP INT TERM; \
	    url=$$(scripts/pg-test-server start); \
	    export "$$url"; \
	elif [ "$${CRMFORGE_REQUIRE_PG:-}" = 1 ]; then \
	    echo "make test: CRMFORGE_REQUIRE_PG=1 but PostgreSQL is not installed" \
	         "(no initdb/pg_ctl found; on Debian: apt-get install postgresql)" >&2; \
	    exit 1; \
	else \
	    echo "make test: WARNING: PostgreSQL is not installed (no initdb/pg_ctl found):" \
	         "testing on SQLite ONLY. On Debian: apt-get install postgresql" >&2; \
	fi; \
	$(PYTHON) -m pytest -n auto

# -- bench ------------------------------------------------------------------------------------
bench: setup
	$(PYTHON) -m benchmarks

# -- vendor -----------------------------------------------------------------------------------
# The files crmforge/web/vendor.json lists, copied from node_modules into
# crmforge/web/static/vendor/ (ignored by git), which the app then serves instead of
# node_modules: e.g. to run a checkout without node_modules. Building a wheel does the same
# by itself. Run it again after npm updates them, or delete the folder to serve node_modules.
vendor: setup
	$(PYTHON) crmforge/web/vendor.py
