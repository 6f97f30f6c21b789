#!/usr/bin/env bash
# Installs sqlx-cli (`cargo sqlx`) at the version of the sqlx the crate uses, unless it is
# there already (it stays in ~/.cargo/bin, so only a new machine builds it: a few minutes).
set -euo pipefail
version=0.9.0
if cargo sqlx --version 2>/dev/null | grep -q " $version"; then
  exit 0
fi
echo "installing sqlx-cli $version" >&2
cargo install sqlx-cli --version "$version" --no-default-features --features postgres,rustls --locked
