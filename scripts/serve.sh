#!/usr/bin/env bash
# Starts CoffeeBuddy (`coffeebuddy serve`) against the local PostgreSQL at the default
# DATABASE_URL, starting the cluster first if it is down. Extra arguments go to `serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
exec cargo run --release -- serve "$@"
