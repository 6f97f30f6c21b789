#!/usr/bin/env bash
# Regenerates `.sqlx/`, the committed description of every query sqlx's macros check at
# build time, against a scratch database at the current schema. Run it after changing a
# query, a migration or a SQL function; `--check` (CI) fails instead when `.sqlx/` is stale.
#
# The scratch database is built without compiling the crate (whose queries may be what
# changed): apalis' migrations, ours, then every SQL function file, as `storage::schema`
# applies them.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-postgres.sh
scripts/ensure-sqlx-cli.sh

server="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
server="${server%/}"
db="$server/coffeebuddy_sqlx"
psql "$server/postgres" -qc "DROP DATABASE IF EXISTS coffeebuddy_sqlx WITH (FORCE)"
psql "$server/postgres" -qc "CREATE DATABASE coffeebuddy_sqlx"

apalis=$(cargo metadata --format-version 1 --locked | python3 -c '
import json, os, sys
packages = json.load(sys.stdin)["packages"]
print(os.path.dirname(next(p for p in packages if p["name"] == "apalis-postgres")["manifest_path"]))')
cargo sqlx migrate run --database-url "$db" --source "$apalis/migrations" --ignore-missing
cargo sqlx migrate run --database-url "$db" --source migrations --ignore-missing
for file in src/storage/sql/*.sql src/storage/job_queue/sql/*.sql; do
  psql "$db" -q -v ON_ERROR_STOP=1 -f "$file"
done

DATABASE_URL="$db" cargo sqlx prepare "$@" -- --all-targets
