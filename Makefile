# Stratus: `make run` serves on one machine (gunicorn, a Celery worker and beat, Valkey from a
# Python package, SQLite, local files); `make dev` is Django's development server with DEBUG;
# `make test` runs the whole suite;
# `make stack` runs the production-shaped stack (needs DATABASE_URL and REDIS_URL).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run dev test bench migrate admin stack clean-venv cluster-test

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamps: reinstall only when the requirement files change.
$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# nc-py-api brings urllib3-future, whose wheel overwrites urllib3 at every interpreter start
# (and breaks requests under threads); built from source with URLLIB3_NO_OVERRIDE it keeps
# to its own package name.
$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	URLLIB3_NO_OVERRIDE=1 $(PY) -m pip install --quiet --no-binary urllib3-future -r requirements-dev.txt
	touch $@ $(VENV)/.installed

$(VENV)/.installed-stack: requirements.txt deploy/requirements-stack.txt | $(PY)
	$(PY) -m pip install --quiet -r deploy/requirements-stack.txt
	touch $@ $(VENV)/.installed

migrate: $(VENV)/.installed
	$(PY) manage.py migrate --noinput

admin: migrate
	$(PY) manage.py ensure_admin

# Ctrl-C stops every process it started (deploy/run.sh, deploy/Procfile.run, deploy/supervise.py).
run: $(VENV)/.installed
	HOST=$(HOST) PORT=$(PORT) deploy/run.sh

# Development: runserver with DEBUG on, tasks in process.
dev: export DEBUG = true
dev: admin
	$(PY) manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# gunicorn + Celery worker + previews worker + Celery beat + SeaweedFS via honcho (Procfile), on the
# PostgreSQL and Redis of DATABASE_URL and REDIS_URL. `make stack STACK_ARGS="web worker previews beat"`
# starts only those; STACK_CONCURRENCY=web=2,worker=2 runs more of each.
stack: $(VENV)/.installed-stack
	deploy/stack.sh $(STACK_ARGS)

# Real server (gunicorn), PostgreSQL on 127.0.0.1 and SeaweedFS; writes bench/results.json and .md.
bench: $(VENV)/.installed-dev
	$(PY) -m bench.run $(BENCH_ARGS)

# Two gunicorn nodes behind nginx, two Celery workers, PostgreSQL (CLUSTER_DATABASE_URL, created and
# dropped), its own Redis and a SeaweedFS cluster, all started and stopped by the test (deploy/cluster/).
# CLUSTER_TIMEOUT (s) bounds the run: then the test stops everything it started and fails.
CLUSTER_TIMEOUT ?= 900
cluster-test: $(VENV)/.installed-dev
	cd deploy/cluster && timeout --kill-after=90 $(CLUSTER_TIMEOUT) ../../$(PY) -m pytest -c pytest.ini $(PYTEST_ARGS) test_cluster.py

clean-venv:
	rm -rf $(VENV)
