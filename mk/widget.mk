# Clinic website chat widget (web/widget/, docs/widget.md). Included by the Makefile.
# Its browser tests run headless Debian Chromium through Playwright for Python (from
# requirements.lock) and axe-core from tests/browser/package-lock.json. No browser is
# downloaded: never `playwright install`.

CHROMIUM       ?= /usr/bin/chromium
WIDGET_NPM_DIR := tests/browser
WIDGET_NPM_OK  := $(WIDGET_NPM_DIR)/node_modules/.installed
WIDGET_FILES   := web/widget/widget.js web/widget/widget.css
# Root installs directly; anyone else through sudo.
WIDGET_SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: widget-setup widget-test widget-size

widget-setup: setup $(WIDGET_NPM_OK) ## Chromium (Debian package) and axe-core for the widget's browser tests
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  echo "Installing Debian's chromium..."; \
	  $(WIDGET_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(WIDGET_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi
	@test -x "$(CHROMIUM)" || { echo "$(CHROMIUM) is still missing" >&2; exit 1; }

$(WIDGET_NPM_OK): $(WIDGET_NPM_DIR)/package.json $(WIDGET_NPM_DIR)/package-lock.json
	@command -v npm >/dev/null || { \
	  echo "Installing Debian's nodejs and npm..."; \
	  $(WIDGET_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(WIDGET_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	cd $(WIDGET_NPM_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

widget-test: widget-setup train ## the widget's browser tests (screenshots in artifacts/screenshots/)
	$(PY) -m pytest tests/browser -q

widget-size: ## the widget's size in bytes, raw and gzipped
	@for f in $(WIDGET_FILES); do \
	  printf '%-24s %6d bytes raw %6d gzipped\n' $$f $$(wc -c < $$f) $$(gzip -9c $$f | wc -c); done
	@printf '%-24s %6d bytes raw %6d gzipped\n' total $$(cat $(WIDGET_FILES) | wc -c) \
	  $$(for f in $(WIDGET_FILES); do gzip -9c $$f; done | wc -c)

TEST_PREREQS += widget-setup
