# gradflow — two commands: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-sqlite test-postgresql setup system-deps lint bench worker beat clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $(STAMP)

MO := webapp/translations/en/LC_MESSAGES/messages.mo

$(MO): webapp/translations/en/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile -d webapp/translations

# ECharts for the statistics page (PRV-2), served by the app itself from node_modules (never a CDN).
NPM_STAMP := node_modules/.package-lock.json

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

setup: $(STAMP) $(MO) $(NPM_STAMP)

# Debian packages the tests and PDFs need: Chromium (browser tests), poppler-utils
# (pdftotext, pdftoppm), libzbar0 (the tests decode the QR code of verification reports),
# a CJK font. Installed only when missing and only where we are root.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	{ ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | grep -q "libzbar\.so" || missing="$$missing libzbar0"; \
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing="$$missing fonts-wqy-microhei"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "WARNING: could not install$$missing; tests that need them will skip (or fail in CI)"; \
	  else echo "WARNING: missing$$missing and not root; install them with apt-get"; fi; \
	fi

run: $(STAMP) $(MO) $(NPM_STAMP)
	$(BIN)/gradflow run

# The SQLite and PostgreSQL suites run side by side, one per core; each one's output is printed whole
# when it ends. The browser tests and some backend-independent ones (`sqlite_half`: the permission matrix, the
# route sweep) run on SQLite only, others (`one_backend`: scenario files, schema checks, the real worker and
# broker faults) on PostgreSQL only, so both halves take about as long.
test: $(STAMP) $(MO) $(NPM_STAMP) system-deps
	$(MAKE) --no-print-directory -j2 --output-sync=target test-sqlite test-postgresql

# the 30 slowest tests of each half are listed at its end: where the next minute of `make test` went
PYTEST_ARGS ?= --durations=30

test-sqlite: $(STAMP) $(NPM_STAMP)
	GRADFLOW_TEST_DB=sqlite $(BIN)/python -m pytest -m "not one_backend" $(PYTEST_ARGS)

test-postgresql: $(STAMP) $(NPM_STAMP)
	GRADFLOW_TEST_DB=postgresql $(BIN)/python -m pytest -m "not browser and not sqlite_half" $(PYTEST_ARGS)

RUFF_PATHS := core engine domain forms processes webapp gradflow tests bench tools
MYPY_PATHS := core engine domain forms processes webapp gradflow

.PHONY: lint-ruff lint-mypy lint-imports

# ruff, then mypy, then import-linter; each runs even when an earlier one fails, and lint
# fails if any did.
lint: $(STAMP)
	@rc=0; \
	for check in "$(BIN)/ruff check $(RUFF_PATHS)" "$(BIN)/mypy $(MYPY_PATHS)" "$(BIN)/lint-imports"; do \
	  echo "== $$check"; $$check || rc=1; \
	done; \
	exit $$rc

lint-ruff: $(STAMP)
	$(BIN)/ruff check $(RUFF_PATHS)

lint-mypy: $(STAMP)
	$(BIN)/mypy $(MYPY_PATHS)

lint-imports: $(STAMP)
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/step_cost.py

worker: $(STAMP)
	$(BIN)/gradflow worker

beat: $(STAMP)
	$(BIN)/gradflow beat

clean:
	rm -rf $(VENV) var *.egg-info
