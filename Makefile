# One task runner for the README, developers and CI.
#   make demo   set everything up, run the embedded demo (no Kafka)
#   make test   set everything up, run lints and every test (what CI runs)
#   make tools  fetch promtool (Prometheus's linter) for the metrics tests
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUST_SRC := Cargo.toml Cargo.lock $(shell find crates -name '*.rs' -o -name 'Cargo.toml')
DEMO_ARGS ?=
PROMTOOL := .tools/bin/promtool

.PHONY: setup build demo test test-rust test-py lint fmt bench bench-py bench-rust clean tools

setup: $(VENV)/.built

$(BIN)/python:
	$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 11), "sisec-stream needs Python 3.11, found " + sys.version'
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Installs the package editable with its dev tools; maturin builds the Rust
# extension in release mode on the way.
$(VENV)/.deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.built

# Rebuild the extension when Rust sources change.
$(VENV)/.built: $(VENV)/.deps $(RUST_SRC)
	$(BIN)/maturin develop --release --quiet
	touch $@

build: setup

demo: setup
	$(BIN)/sisec-stream demo $(DEMO_ARGS)

# promtool lints the metrics exposition and checks the dashboard's PromQL
# (tests/test_metrics_exposition.py, tests/test_dashboard.py). One on the PATH is
# used as it is; otherwise promtool alone is unpacked from Debian's `prometheus`
# package into .tools/bin (apt-get download: nothing installed, no service started).
tools:
	@if [ -x $(PROMTOOL) ] || command -v promtool >/dev/null 2>&1; then exit 0; fi; \
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo "fetching promtool: Debian package prometheus, unpacked into .tools/bin"; \
	get() { (cd "$$tmp" && apt-get download -q -o APT::Sandbox::User=root prometheus); }; \
	get || { apt-get update -q && get; } || { \
	  echo "cannot fetch promtool with apt-get: install Debian's prometheus package" \
	       "or put promtool on the PATH" >&2; exit 1; }; \
	mkdir -p $(dir $(PROMTOOL)); \
	dpkg-deb --fsys-tarfile "$$tmp"/prometheus_*.deb | tar -xO ./usr/bin/promtool > $(PROMTOOL).part; \
	chmod +x $(PROMTOOL).part && mv $(PROMTOOL).part $(PROMTOOL); \
	$(PROMTOOL) --version 2>&1 | head -1

test: setup tools lint test-rust test-py

test-rust:
	cargo test --workspace --quiet

test-py: setup tools
	# Benchmarks run once each, unmeasured, so they cannot rot between bench runs.
	$(BIN)/python -m pytest benches -q --benchmark-disable
	$(BIN)/python -m pytest -q

lint: setup
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(BIN)/ruff check python tests benches dataflows
	$(BIN)/ruff format --check python tests benches dataflows
	$(BIN)/mypy
	# benches/ has its own conftest.py, so it is checked as a second root.
	MYPYPATH=python:benches $(BIN)/mypy benches
	$(BIN)/python -m mypy.stubtest sisec_stream._core

fmt:
	cargo fmt --all
	$(BIN)/ruff format python tests benches dataflows
	$(BIN)/ruff check --fix python tests benches dataflows

bench: bench-py bench-rust

bench-py: setup
	$(BIN)/python -m pytest benches --benchmark-only --benchmark-columns=min,median,mean,ops,rounds -q

bench-rust:
	cargo bench -p sisec-core --bench core

clean:
	rm -rf $(VENV) target demo-out out .pytest_cache .mypy_cache .ruff_cache .tools
