# Neutron-on-Ryu controller.  `make install` then `make test` on a fresh Debian 12 (root).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
SITE := $(VENV)/lib/python3.11/site-packages
CONFIG ?= etc/neutron-ryu.conf
# Open vSwitch for the emulated hypervisors (each runs its own ovsdb-server and
# ovs-vswitchd in a network namespace), Mininet for the VMs, and the tools tests use
# (ISC dhclient is the VMs' DHCP client; dnsmasq a rogue tenant's DHCP server), and OVN,
# which `make bench` runs on the bulk workload back to back with the controller.
DEBIAN_PACKAGES := openvswitch-switch openvswitch-common mininet iproute2 iputils-ping arping \
	traceroute procps ethtool tcpdump openssl python3-venv python3-dev gcc curl \
	isc-dhcp-client dnsmasq-base ovn-central ovn-host

.PHONY: install system-packages venv lint test unit bench run demo clean

install: system-packages venv

system-packages:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null

# Debian's Python 3.11, so that Debian's Mininet (built for it) can be imported.
# Ryu 4.34's setup.py needs an old setuptools and no build isolation; the .pth
# files put the project on the path and apply the eventlet shim at interpreter
# start (ryu-manager imports ryu.app.wsgi before any app); Mininet is exposed
# alone, not the whole of Debian's dist-packages.
venv:
	test -x $(PY) || /usr/bin/python3 -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check "setuptools<67" wheel
	$(PIP) install -q --disable-pip-version-check --no-build-isolation -r requirements.txt -c constraints.txt
	$(PIP) install -q --disable-pip-version-check -r requirements-test.txt -c constraints.txt
	echo "$(CURDIR)" > $(SITE)/neutron_ryu_project.pth
	echo "import ryu_app.compat" > $(SITE)/ryu_compat.pth
	mkdir -p $(VENV)/debian-mininet
	ln -sfn /usr/lib/python3/dist-packages/mininet $(VENV)/debian-mininet/mininet
	echo "$(CURDIR)/$(VENV)/debian-mininet" > $(SITE)/debian_mininet.pth
	$(VENV)/bin/ryu-manager --version

lint:
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest tests

unit:
	$(PY) -m pytest tests/unit

# REST creates; hypervisor onboarding; port wiring latency on 3 and 8 hypervisors; bulk
# programming (OVN's workload: 8 hypervisors, 20 networks x 25 ports); DHCP (200 VMs
# booting at once on 8 hypervisors, and the answers per second sustained).
bench:
	$(PY) -m tests.bench.rest_ports
	$(PY) -m tests.bench.onboarding
	$(PY) -m tests.bench.wiring
	$(PY) -m tests.bench.bulk
	$(PY) -m tests.bench.dhcp
	$(PY) -m tests.bench.north_south
	$(PY) -m tests.bench.security_groups

run:
	$(VENV)/bin/ryu-manager --config-file $(CONFIG) ryu_app.app

# Three emulated hypervisors, two tenants' VMs, and the Mininet CLI (see mininet/demo.py).
demo:
	$(PY) mininet/demo.py

clean:
	rm -rf $(VENV) .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
