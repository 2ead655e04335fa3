# Herald: `make run` to use it, `make test` to check it. Both set everything up from a fresh clone.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENDOR := app/static/vendor
PLOTLY_JS = $(shell $(BIN)/python -c "import plotly, os; print(os.path.join(os.path.dirname(plotly.__file__), 'package_data', 'plotly.min.js'))")

.PHONY: run test setup test-setup vendor browser spamassassin clean

run: setup
	@bash scripts/run.sh

test: test-setup
	@bash scripts/test.sh $(ARGS)

setup: $(VENV)/.runtime $(VENDOR)/.stamp spamassassin

test-setup: $(VENV)/.dev $(VENDOR)/.stamp browser spamassassin

$(VENV)/.runtime: requirements.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime

# Front-end assets come from the npm registry (locked) and the plotly wheel; never from a CDN.
$(VENDOR)/.stamp: package.json package-lock.json $(VENV)/.runtime
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@rm -rf $(VENDOR) && mkdir -p $(VENDOR)/tabler/css $(VENDOR)/tabler/js $(VENDOR)/tabler-icons/fonts
	cp node_modules/@tabler/core/dist/css/tabler.min.css $(VENDOR)/tabler/css/
	cp node_modules/@tabler/core/dist/js/tabler.min.js $(VENDOR)/tabler/js/
	cp node_modules/@tabler/icons-webfont/dist/tabler-icons.min.css $(VENDOR)/tabler-icons/
	cp node_modules/@tabler/icons-webfont/dist/fonts/tabler-icons.woff2 node_modules/@tabler/icons-webfont/dist/fonts/tabler-icons.woff node_modules/@tabler/icons-webfont/dist/fonts/tabler-icons.ttf $(VENDOR)/tabler-icons/fonts/
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/sortablejs/Sortable.min.js $(VENDOR)/
	cp "$(PLOTLY_JS)" $(VENDOR)/
	@touch $@

# Debian's Chromium for the end-to-end tests and wrk for the pixel benchmark (never a browser download).
browser:
	@command -v chromium >/dev/null && command -v wrk >/dev/null || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium wrk >/dev/null; \
	    else echo "chromium/wrk missing and not root: the browser tests and the pixel benchmark will be skipped"; fi; }

# Debian's SpamAssassin (spamd, spamc) for the advisor's spam score, as root; never a failure:
# without apt or root the score reads "spamd is not running" and its tests are skipped.
spamassassin:
	@command -v spamd >/dev/null || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq spamassassin >/dev/null) || \
	      echo "spamassassin could not be installed: the spam score will be unavailable"; \
	    else echo "spamd missing and not root (or no apt): the spam score will be unavailable"; fi; }

clean:
	rm -rf $(VENV) node_modules $(VENDOR)
