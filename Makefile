# Thin wrapper around CMake/ctest.  `make check` and `make demo` each work as
# the only command on a fresh Debian 12 machine: they install the Debian
# packages first (scripts/deps.sh, idempotent).

JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
BUILD   ?= build
CTEST_FLAGS ?= --output-on-failure -j$(JOBS)
FUZZ_SECONDS ?= 60

.PHONY: all deps build build-asan build-fuzz check check-release check-asan \
        demo fuzz bench clean

all: build

deps:
	@sh scripts/deps.sh

$(BUILD)/release/Makefile: | deps
	cmake -S . -B $(BUILD)/release -DCMAKE_BUILD_TYPE=RelWithDebInfo

$(BUILD)/asan/Makefile: | deps
	CC=clang cmake -S . -B $(BUILD)/asan -DCMAKE_BUILD_TYPE=Debug -DSPROV_SANITIZE=ON

$(BUILD)/fuzz/Makefile: | deps
	CC=clang cmake -S . -B $(BUILD)/fuzz -DCMAKE_BUILD_TYPE=Debug -DSPROV_FUZZ=ON

build: deps $(BUILD)/release/Makefile
	cmake --build $(BUILD)/release -j$(JOBS)

build-asan: deps $(BUILD)/asan/Makefile
	cmake --build $(BUILD)/asan -j$(JOBS)

build-fuzz: deps $(BUILD)/fuzz/Makefile
	cmake --build $(BUILD)/fuzz -j$(JOBS)

# Unit + integration tests and fuzz-corpus replay, in a normal build and again
# under ASan+UBSan.  The ASan pass leaves out the serve_* tests' PostgreSQL
# variants (label serve_pg): the server code runs under ASan in their two
# TLS variants, and pgsql.c in unit_store_*_pg and store_*.sh; and the
# testssl.sh scans (label scan), whose many handshakes the other serve_*
# tests' paths cover; the packaging and documentation checks (label
# package: man pages, .deb, install, units, README), which run nothing the
# other tests do not; and rollout_e2e (label e2e), whose parts run under ASan
# in their own tests; and console_browser (label browser), headless
# Chromium over the console, whose API runs under ASan in its own tests;
# and serve_trust_crlexp_gnutls (label asan_dup), half a minute of waiting
# on policy code both backends share, run under ASan through OpenSSL.
# This keeps `make check` within 25 minutes on two
# cores.
check: check-release check-asan

check-release: build
	cd $(BUILD)/release && ctest $(CTEST_FLAGS)

check-asan: build-asan
	cd $(BUILD)/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_FLAGS) -LE 'serve_pg|scan|package|e2e|browser|asan_dup'

# Run every libFuzzer target for FUZZ_SECONDS, growing a scratch corpus seeded
# from fuzz/corpus.  Fails if a target is missing or finds anything; each
# finding is copied to fuzz/corpus/<name>/crash-<sha1> (replayed by check).
fuzz: build-fuzz
	sh scripts/fuzz.sh $(BUILD)/fuzz $(FUZZ_SECONDS)

demo: build
	bash scripts/demo.sh $(BUILD)/release/sprov

# The storm of distinct devices first (its first line is the headline), then
# the one-device figures (run.sh), issuance (bench/issue) and the rest; every
# part runs even when one fails (make bench then fails); the total time last.
bench: build
	@t0=$$(date +%s); rc=0; \
	bash bench/storm.sh $(BUILD)/release/sprov || rc=1; \
	bash bench/run.sh $(BUILD)/release/sprov || rc=1; \
	SPROV=$(BUILD)/release/sprov bash bench/issue || rc=1; \
	bash bench/cluster.sh $(BUILD)/release/sprov || rc=1; \
	bash bench/firmware.sh $(BUILD)/release/sprov || rc=1; \
	bash bench/handshake_failures.sh $(BUILD)/release/sprov || rc=1; \
	bash bench/console_store.sh $(BUILD)/release || rc=1; \
	echo "make bench: $$(( $$(date +%s) - t0 )) s in total (exit $$rc)"; exit $$rc

clean:
	rm -rf $(BUILD)

# ---- Install and Debian package ----
# `make install [PREFIX=/usr/local] [DESTDIR=...]`: the release build's files
# (binary, man pages, units, sample config, completion, logrotate).
# `make deb`: $(BUILD)/deb/sprov_<version>_<arch>.deb with debhelper (debian/),
# built from a copy of the tree (contrib/deb.sh).
PREFIX ?= /usr/local

.PHONY: install deb

install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD)/release --prefix "$(PREFIX)"

deb: deps
	JOBS=$(JOBS) sh contrib/deb.sh $(BUILD)/deb
