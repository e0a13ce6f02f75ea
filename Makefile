# vehicle_mw -- every target installs what it needs first (into .venv), so on a fresh
# Debian 12 machine with Python 3.11 `make run` and `make test` are all it takes.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Exact versions of everything installed (pyproject.toml declares compatible ranges).
CONSTRAINTS := constraints.txt
comma := ,
EXTRAS ?= dev,gateway,someip,mf4,cluster

# Debian packages the tests and benchmarks use (installed only when missing, needs root).
#   gcc/libc6-dev: native build; iproute2: network namespaces; tshark: SOME/IP dissector checks;
#   chromium: dashboard test; rt-tests: cyclictest peer in benchmarks; postgresql: cluster sink tests.
APT_PACKAGES ?= gcc libc6-dev iproute2 tshark chromium rt-tests postgresql

# `make run` needs only the gateway extra and a compiler: no test tools, no GPL someipy, no browser.
run: EXTRAS = gateway
run: APT_PACKAGES = gcc libc6-dev

NATIVE_SRC := $(wildcard native/src/*.c native/include/*.h) native/build_ffi.py native/cflags
PROTO_SRC  := $(wildcard proto/vehicle_mw/v1/*.proto)

.PHONY: all install deps native proto run test test-native test-python bench soak fuzz lint sysdeps clean interop

all: install

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	touch $@

# (Re)install when the project metadata, the constraints or the wanted extras change; one stamp
# per set of extras, so `make run` after `make test` installs nothing and the reverse adds the rest.
deps: $(VENV)/.created
	@stamp="$(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))"; \
	if [ ! -f "$$stamp" ] || [ pyproject.toml -nt "$$stamp" ] || [ setup.py -nt "$$stamp" ] \
	   || [ $(CONSTRAINTS) -nt "$$stamp" ]; then \
	  echo "installing vehicle_mw[$(EXTRAS)] with $(CONSTRAINTS)"; \
	  $(PIP) install --quiet -c $(CONSTRAINTS) -e '.[$(EXTRAS)]' && touch "$$stamp" $(VENV)/.installed; \
	fi

$(VENV)/.installed: | deps

# Rebuild the cffi extension in place when the C sources change.
$(VENV)/.native: $(VENV)/.installed $(NATIVE_SRC)
	$(PY) setup.py --quiet build_ext --inplace
	touch $@

$(VENV)/.proto: $(VENV)/.installed $(PROTO_SRC)
	$(PY) -c "import setup; setup.generate_protocol()"
	touch $@

install: deps $(VENV)/.native $(VENV)/.proto

native: $(VENV)/.native
proto: $(VENV)/.proto

sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" -ne 0 ]; then echo "need root to apt-get install:$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

run: sysdeps install
	$(VENV)/bin/vmw demo

test: sysdeps install test-native test-python

test-native:
	$(MAKE) -C native test

test-python: install
	$(PY) -m pytest -q

bench: sysdeps install
	$(PY) -m bench

# SOME/IP interoperability with vsomeip 3.7.4 (built once from ../shared/vsomeip/, cached outside the
# repo; see docs/someip.md); not part of `make test`. Results: sent vs received counts per test.
interop: sysdeps install
	nice -n 19 interop/build_vsomeip.sh
	$(PY) -m pytest -q -p no:cacheprovider interop
	@cat "$${VSOMEIP_CACHE:-/var/cache/vehicle_mw/vsomeip-3.7.4}/interop-results.jsonl" 2>/dev/null || true

soak: sysdeps install
	$(PY) -m pytest -q -m soak --run-soak

# Coverage-guided fuzzing (atheris) of every parser a peer or a file reaches: >=10^6 inputs per
# target (FUZZ_TIME caps the seconds per target), findings under fuzz/findings/. See docs/fuzzing.md.
FUZZ_RUNS ?= 1000000
FUZZ_TIME ?= 3600
fuzz: install
	$(PY) -m fuzz --runs $(FUZZ_RUNS) --max-time $(FUZZ_TIME) $(FUZZ_TARGETS)

lint: install
	$(VENV)/bin/ruff check vehicle_mw tests bench hil fuzz setup.py
	$(VENV)/bin/ruff format --check vehicle_mw tests bench hil fuzz setup.py
	$(MAKE) -C native build-check

clean:
	rm -rf build dist *.egg-info vehicle_mw/_native*.so vehicle_mw/v1 .pytest_cache
	$(MAKE) -C native clean
