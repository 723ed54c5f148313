# Production deployment (deploy/, docs/deploy.md): systemd units and an nginx site.
# Included by the Makefile. Its test (tests/test_deploy.py) runs Debian's nginx on
# loopback with a self-signed certificate in front of two Rasa instances, and checks
# the units with `systemd-analyze verify`.

NGINX          ?= /usr/sbin/nginx
# Root installs directly; anyone else through sudo.
DEPLOY_SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Another apt-get (e.g. widget-setup's) may hold the dpkg lock: wait for it.
DEPLOY_APT     := $(DEPLOY_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600

.PHONY: deploy-setup deploy-test

deploy-setup: ## nginx, openssl and systemd-analyze (Debian packages) for the deployment test
	@missing=""; \
	  [ -x "$(NGINX)" ] || missing="$$missing nginx"; \
	  command -v openssl >/dev/null || missing="$$missing openssl"; \
	  command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	  if [ -n "$$missing" ]; then \
	    echo "Installing Debian's$$missing..."; \
	    $(DEPLOY_APT) update -qq && $(DEPLOY_APT) install -y -qq $$missing >/dev/null; \
	  fi
	@test -x "$(NGINX)" || { echo "$(NGINX) is still missing" >&2; exit 1; }
	@command -v openssl >/dev/null || { echo "openssl is still missing" >&2; exit 1; }

deploy-test: setup train deploy-setup widget-setup ## the deployment test: nginx + TLS + two Rasa instances (needs PostgreSQL, Redis)
	$(PY) -m pytest tests/test_deploy.py -q

TEST_PREREQS += deploy-setup
