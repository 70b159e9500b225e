# askd: the commands a newcomer needs. `make run` and `make test` install what is missing.
SHELL := /bin/bash
PORT ?= 8080

# Debian packages the build, the dev stack, the tests and the benchmark need.
APT_PACKAGES := pkg-config libfcgi-dev libsqlite3-dev libpq-dev postgresql libssl-dev libcurl4-openssl-dev libfcgi-bin nginx curl python3 systemd openssl
BENCH_APT_PACKAGES := wrk gcc
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps bench-deps build build-debug run test bench clean

all: build

# Installs each missing package with apt; does nothing when all are there.
deps:
	@./dev/apt-install $(APT_PACKAGES)
	@command -v swift >/dev/null || { echo "Swift 6 is needed: see https://www.swift.org/install/linux/"; exit 1; }

bench-deps: deps
	@./dev/apt-install $(BENCH_APT_PACKAGES)

build: deps
	swift build -c release --product askd

build-debug: deps
	swift build --product askd

run: build
	PORT=$(PORT) ./dev/run

# Unit tests and the integration tests through a real nginx. The integration tests run the
# debug askd binary, which is the only build that can serve the test-only routes.
test: build-debug
	ASKD_BIN=$(CURDIR)/.build/debug/askd swift test

bench: bench-deps build
	./bench/run

clean:
	rm -rf .build var
