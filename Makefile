# ValueFlow. `make demo` and `make test` each set themselves up on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | cksum | cut -d' ' -f1)

.PHONY: demo test test-fast lint clean system-test bench browser

$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

demo: $(STAMP)
	$(PY) -m ml demo

# Debian's chromium (browser checks of the system test) and docker-compose (`config` check of
# docker-compose.yaml). Where apt-get cannot run, those checks are skipped with a message.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v docker-compose >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  echo "installing chromium and docker-compose with apt-get"; \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	      chromium chromium-driver docker-compose >/dev/null; } \
	  || echo "WARNING: apt-get could not install chromium/docker-compose: the browser and compose-config checks will be skipped"; }

# ruff, pinned in requirements.txt and configured in pyproject.toml (Airflow's AIR rules included).
lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Every tier, the system test (tests/system, marker `system`) included; lint first.
test: $(STAMP) lint browser
	$(PY) -m pytest

# The unit tier and the DAG checks: plain functions on small frames, no Airflow run (a few minutes).
test-fast: $(STAMP) lint
	$(PY) -m pytest tests/unit tests/dags

# Only the system test: docker-compose.yaml's topology on loopback with real services, UIs in chromium.
system-test: $(STAMP) browser
	$(PY) -m pytest -m system tests/system

BENCH_CUSTOMERS ?= 10000 100000
bench: $(STAMP)  # slow (tens of minutes on 2 cores); figures and how to read them: docs/benchmarks.md
	$(PY) -m ml bench --customers $(BENCH_CUSTOMERS)

clean:
	rm -rf var .pytest_cache
