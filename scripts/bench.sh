#!/usr/bin/env bash
# Load benchmark (examples/load.rs): builds the release binary and the benchmark, makes sure
# PostgreSQL is up, and prints the table the README shows. Takes under two minutes once built.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
cargo build --release --bin coffeebuddy --example load
exec "${CARGO_TARGET_DIR:-target}/release/examples/load"
