# hs — common tasks. Everything installs from the npm registry (Bun included) on first use.
BUN := ./node_modules/.bin/bun
DATA ?= ./data
CONFIG ?= $(DATA)/homeserver.toml

.PHONY: all install run user test test-reliability soak sytest typecheck build release bench bench-micro bench-http sample-config demo demo-stop clean

all: build

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund || npm install --no-audit --no-fund
	@touch $@

install: node_modules/.installed

# The web client (web/src → web/dist), rebuilt when a source changes; the server serves web/dist
# when run from source, and `make build` embeds it in the binary.
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/favicon.svg scripts/build-web.ts
web/dist/index.html: node_modules/.installed $(WEB_SOURCES)
	$(BUN) scripts/build-web.ts

web: web/dist/index.html

# Serve on http://127.0.0.1:8008 with SQLite, generating $(CONFIG) and a signing key on first run.
run: install web
	@test -f $(CONFIG) || $(BUN) bin/hs.ts generate-config --server-name localhost \
		--config-path $(CONFIG) --data-dir $(DATA) --public-baseurl http://127.0.0.1:8008/
	$(BUN) bin/hs.ts serve --config $(CONFIG)

# Create an account on the server started by `make run` (prompts for name and password).
user: install
	$(BUN) bin/hs.ts register-user --config $(CONFIG)

# The whole test suite: units and HTTP tests on SQLite, and on PostgreSQL when TEST_POSTGRES_URL is set.
test: install web
	bash scripts/test.sh

# SyTest (matrix-org's integration suite, from ../shared/sytest) against a fresh dist/hs: every test on
# sytest/whitelist.txt must pass; sytest/expected-failures.txt says why the others fail.
sytest: install
	bash scripts/sytest.sh

# Crash safety, hostile input, isolation, outages (also part of `make test`).
test-reliability: install
	bash scripts/test.sh tests/reliability

# Longer runs of the same: 100 SIGKILLs per database; 20,000 content-fuzz requests per database
# against dist/hs with its memory sampled (fails on any 5xx or memory still growing at the end).
soak: install
	HS_CRASH_KILLS=100 bash scripts/test.sh tests/reliability/crash.test.ts
	$(BUN) scripts/build.ts native
	$(BUN) scripts/fuzz.ts --requests 20000
	if [ -n "$${TEST_POSTGRES_URL:-}" ]; then $(BUN) scripts/fuzz.ts --backend postgres --requests 20000; fi

typecheck: install
	./node_modules/.bin/tsc --noEmit -p .
	./node_modules/.bin/tsc --noEmit -p web

# dist/hs for this machine.
build: install
	$(BUN) scripts/build.ts native

# dist/hs-linux-x64 and dist/hs-linux-arm64, cross-compiled.
release: install
	$(BUN) scripts/build.ts linux-x64 linux-arm64

# Micro-benchmarks (in-process, bench/*.ts), then the HTTP benchmarks against a fresh dist/hs.
bench: bench-micro bench-http

bench-micro: install
	@for f in bench/*.ts; do echo "== $$f"; $(BUN) $$f || exit 1; done

# HTTP workloads with a separate client process (bench/http/run.ts; each workload on a fresh server).
# BENCH_ARGS="--side-by-side" runs Synapse 1.67 (../shared/synapse-1.67) too and prints ratios;
# e.g. BENCH_ARGS="--only fanout --fanout 1000".
bench-http: build
	$(BUN) bench/http/run.ts $(BENCH_ARGS)

# Rewrite the sample homeserver.toml from the config schema.
sample-config: install
	$(BUN) scripts/sample-config.ts > homeserver.toml

# Three servers federating on localhost (clients on http://127.0.0.1:8081-8083), one user each.
demo: install
	$(BUN) scripts/demo.ts start

demo-stop:
	$(BUN) scripts/demo.ts stop

clean:
	rm -rf dist .test-tmp web/dist
