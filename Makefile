# askd: the commands a newcomer needs. `make run` and `make test` install what is missing.
SHELL := /bin/bash
PORT ?= 8080

# Debian packages the build and the dev stack need; the tests and the benchmark also need a
# PostgreSQL server, for throwaway clusters (Tests/Support/pg-cluster), and python3-venv, for the
# OpenAPI contract test's Schemathesis (Tests/Support/openapi-contract); the benchmark needs wrk.
APT_PACKAGES := pkg-config libfcgi-dev libsqlite3-dev libpq-dev libssl-dev libcurl4-openssl-dev libfcgi-bin nginx curl python3 systemd openssl
TEST_APT_PACKAGES := postgresql python3-venv
BENCH_APT_PACKAGES := wrk gcc
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps test-deps bench-deps build build-debug run test tsan bench clean

all: build

# Installs each missing package with apt; does nothing when all are there.
deps:
	@./dev/apt-install $(APT_PACKAGES)
	@command -v swift >/dev/null || { echo "Swift 6 is needed: see https://www.swift.org/install/linux/"; exit 1; }

test-deps: deps
	@./dev/apt-install $(TEST_APT_PACKAGES)

bench-deps: test-deps
	@./dev/apt-install $(BENCH_APT_PACKAGES)

# The Swift runtime and Foundation are linked into the binary: it needs no toolchain on the
# server, and maps only the runtime code it uses (askd's idle RSS is about 3 MB lower than with
# the toolchain's shared libraries).
build: deps
	swift build -c release --product askd --static-swift-stdlib

build-debug: deps
	swift build --product askd

run: build
	PORT=$(PORT) ./dev/run

# Unit tests and the integration tests through a real nginx. The integration tests run the
# debug askd binary, which is the only build that can serve the test-only routes.
# The tests' temporary files (stores, logs, sockets, configs) go to a folder of this run, removed
# afterwards whatever the outcome. It is world-traversable, as /tmp is, for nginx's workers.
test: test-deps build-debug
	./Tests/Support/openapi-contract install
	@scratch=$$(mktemp -d /tmp/askd-test.XXXXXX) && chmod 755 "$$scratch" && \
	trap 'rm -rf "$$scratch"' EXIT && \
	ASKD_BIN=$(CURDIR)/.build/debug/askd TMPDIR="$$scratch" swift test

# The whole suite under ThreadSanitizer: the tests and askd are built with --sanitize=thread in
# .build-tsan (the debug build in .build is left as it is), and the integration tests run that
# askd. Every process of the run inherits TSAN_OPTIONS, so each report, the test runner's or any
# askd's, goes to .build-tsan/tsan-reports/tsan.<pid>, and the target fails when one was written,
# whatever the tests said. Tests/Support/tsan.supp holds the C library noise, each entry with why.
# ASKD_TEST_SLOWDOWN tells the few tests with latency bounds that the run is slower.
# TSAN_ARGS goes on to swift test: make tsan TSAN_ARGS='--filter StoreTests'.
TSAN_SCRATCH := $(CURDIR)/.build-tsan
tsan: test-deps
	./Tests/Support/openapi-contract install
	swift build --build-tests --sanitize=thread --scratch-path $(TSAN_SCRATCH)
	@reports=$(TSAN_SCRATCH)/tsan-reports && rm -rf "$$reports" && mkdir -p "$$reports" && \
	scratch=$$(mktemp -d /tmp/askd-tsan.XXXXXX) && chmod 755 "$$scratch" && \
	trap 'rm -rf "$$scratch"' EXIT && status=0 && \
	TSAN_OPTIONS="halt_on_error=0 exitcode=66 log_path=$$reports/tsan suppressions=$(CURDIR)/Tests/Support/tsan.supp" \
	ASKD_TEST_SLOWDOWN=10 ASKD_BIN=$(TSAN_SCRATCH)/debug/askd TMPDIR="$$scratch" \
	swift test --sanitize=thread --scratch-path $(TSAN_SCRATCH) --skip-build $(TSAN_ARGS) || status=$$?; \
	if compgen -G "$$reports/tsan.*" >/dev/null; then \
		grep -h '^SUMMARY' "$$reports"/tsan.* | sort | uniq -c; \
		echo "ThreadSanitizer wrote $$(ls "$$reports" | wc -l) report file(s) to $$reports"; exit 1; \
	fi; \
	exit $$status

bench: bench-deps build
	./bench/run

clean:
	rm -rf .build .build-tsan var
