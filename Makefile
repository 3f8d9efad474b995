# One task runner for the README, developers and CI.
#   make demo   set everything up, run the embedded demo (no Kafka)
#   make test   set everything up, run lints and every test (what CI runs)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUST_SRC := Cargo.toml Cargo.lock $(shell find crates -name '*.rs' -o -name 'Cargo.toml')
DEMO_ARGS ?=

.PHONY: setup build demo test test-rust test-py lint fmt bench bench-py bench-rust clean

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

test: setup lint test-rust test-py

test-rust:
	cargo test --workspace --quiet

test-py: setup
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
	rm -rf $(VENV) target demo-out out .pytest_cache .mypy_cache .ruff_cache
