# askd: the commands a newcomer needs. `make run` and `make test` install what is missing.
SHELL := /bin/bash
PORT ?= 8080

# Debian packages the build and the dev stack need (libjs-marked and node-dompurify: the web chat
# page's Markdown and sanitiser); the tests and the benchmark also need a PostgreSQL server, for
# throwaway clusters (Tests/Support/pg-cluster), python3-venv, for the OpenAPI contract test's
# Schemathesis (Tests/Support/openapi-contract) and the web chat test's Selenium
# (Tests/Support/web-chat), which drives Debian's chromium, and prometheus (its server and
# promtool), which scrapes askd through nginx and checks the exposition, the alert rules and
# their unit tests (deploy/prometheus); the benchmark needs wrk, and valgrind (callgrind) to
# count what metrics cost (bench/metrics-instructions); the OpenAI-compatibility test installs
# the official openai SDK in a venv (Tests/Support/openai-sdk).
APT_PACKAGES := pkg-config libfcgi-dev libsqlite3-dev libpq-dev libssl-dev libcurl4-openssl-dev libfcgi-bin nginx curl python3 systemd openssl libjs-marked node-dompurify
TEST_APT_PACKAGES := postgresql python3-venv chromium chromium-driver prometheus
BENCH_APT_PACKAGES := wrk gcc valgrind
# `make deb` (dpkg-deb, dpkg-shlibdeps, lintian) and the boot test of the package in a Debian 12
# tree made by debootstrap and booted by systemd-nspawn.
DEB_APT_PACKAGES := dpkg-dev binutils lintian
BOOT_APT_PACKAGES := debootstrap systemd-container util-linux
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps test-deps deb-deps bench-deps build build-debug deb run test tsan bench fuzz clean

all: build

# Installs each missing package with apt; does nothing when all are there.
deps:
	@./dev/apt-install $(APT_PACKAGES)
	@command -v swift >/dev/null || { echo "Swift 6 is needed: see https://www.swift.org/install/linux/"; exit 1; }

test-deps: deps deb-deps
	@./dev/apt-install $(TEST_APT_PACKAGES) $(BOOT_APT_PACKAGES)

deb-deps: deps
	@./dev/apt-install $(DEB_APT_PACKAGES)

bench-deps: test-deps
	@./dev/apt-install $(BENCH_APT_PACKAGES)

# The Swift runtime and Foundation are linked into the binary: it needs no toolchain on the
# server, and maps only the runtime code it uses (askd's idle RSS is about 3 MB lower than with
# the toolchain's shared libraries).
build: deps
	swift build -c release --product askd --static-swift-stdlib

build-debug: deps
	swift build --product askd

# askd_<version>_amd64.deb here, from the release build and deploy/ (dev/build-deb says what
# goes where), then lintian on it: its remaining tags are explained in
# deploy/debian/lintian-overrides, and any other warning or error fails the target.
DEB_FILE = askd_$(shell ./dev/build-deb --print-version)_$(shell dpkg --print-architecture).deb
deb: build deb-deps
	@rm -f askd_*.deb   # an earlier build's: `apt install ./askd_*.deb` must find only this one
	@deb=$$(./dev/build-deb) && echo "built $$deb ($$(du -h "$$deb" | cut -f1))" && \
	lintian --fail-on error,warning "$$deb"

run: build
	PORT=$(PORT) ./dev/run

# Unit tests and the integration tests through a real nginx. The integration tests run the
# debug askd binary, which is the only build that can serve the test-only routes.
# The tests' temporary files (stores, logs, sockets, configs) go to a folder of this run, removed
# afterwards whatever the outcome. It is world-traversable, as /tmp is, for nginx's workers.
# The package boot test (Tests/IntegrationTests/PackageBootTests.swift) installs the package
# that `deb` built (ASKD_DEB) in a Debian 12 tree that Tests/Support/boot-tree makes once.
test: test-deps build-debug deb
	./Tests/Support/openapi-contract install
	./Tests/Support/web-chat install
	./Tests/Support/boot-tree prepare
	./Tests/Support/openai-sdk install
	@scratch=$$(mktemp -d /tmp/askd-test.XXXXXX) && chmod 755 "$$scratch" && \
	trap 'rm -rf "$$scratch"' EXIT && ulimit -n "$$(ulimit -Hn)" && \
	ASKD_BIN=$(CURDIR)/.build/debug/askd ASKD_DEB=$(CURDIR)/$(DEB_FILE) TMPDIR="$$scratch" swift test

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
	./Tests/Support/openai-sdk install
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
	./bench/metrics-cost
	./bench/metrics-instructions
	./bench/search

# libFuzzer with AddressSanitizer (both ship with the Swift toolchain), one binary per target in
# FUZZ_TARGETS, each run for FUZZ_SECONDS from its seeds in fuzz/corpus/<target>/ (see fuzz/run).
# The checks (Sources/FuzzChecks) and all they reach are built instrumented into one archive in
# a scratch path of their own; each binary is its entry file (fuzz/targets) linked against it.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := json form cursor fastcgi sse rfc3339 router
FUZZ_BUILD := .build-fuzz
fuzz: deps
	@test -f "$$(dirname "$$(readlink -f "$$(command -v swiftc)")")/../lib/swift/clang/lib/linux/libclang_rt.fuzzer-$$(uname -m).a" || \
		{ echo "this Swift toolchain has no libFuzzer runtime (libclang_rt.fuzzer)"; exit 1; }
	swift build -c release --scratch-path $(FUZZ_BUILD) -Xswiftc -sanitize=fuzzer,address --product FuzzChecks
	@mkdir -p $(FUZZ_BUILD)/fuzzers
	@for target in $(FUZZ_TARGETS); do \
		swiftc -O -sanitize=fuzzer,address -parse-as-library -use-ld=lld fuzz/targets/$$target.swift \
			-I $(FUZZ_BUILD)/release/Modules -L $(FUZZ_BUILD)/release \
			$(foreach map,$(wildcard Sources/C*/module.modulemap) $(FUZZ_BUILD)/release/CLinux.build/module.modulemap,-Xcc -fmodule-map-file=$(map)) \
			-Xlinker --whole-archive -lFuzzChecks -Xlinker --no-whole-archive $$(pkg-config --libs fcgi libcurl libcrypto) \
			-o $(FUZZ_BUILD)/fuzzers/$$target || exit 1; \
	done
	FUZZ_BUILD=$(FUZZ_BUILD) ./fuzz/run $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf .build .build-fuzz .build-tsan var askd_*.deb
