#!/usr/bin/env bash
# Makes sure a PostgreSQL answers at 127.0.0.1:5432 (the default DATABASE_URL's server):
# starts the machine's cluster if it is down and, on a Debian machine with none, installs
# Debian's PostgreSQL as root, with trust auth for local TCP connections (a development
# machine's setup: never run this on a shared host).
set -euo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 -U postgres 2>/dev/null; }
cluster() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

if command -v pg_isready >/dev/null && ready; then
  exit 0
fi

if [ -z "$(cluster)" ]; then
  if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null; then
    echo "No PostgreSQL answers on 127.0.0.1:5432 and this is not a Debian machine: install" >&2
    echo "PostgreSQL 15 or later, let user postgres connect from 127.0.0.1 without a password" >&2
    echo "(or set DATABASE_URL / TEST_DATABASE_URL to a server that takes you), then run this again." >&2
    exit 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "No PostgreSQL answers on 127.0.0.1:5432 and none is installed. As root, run:" >&2
    echo "  apt-get install -y postgresql" >&2
    echo "then let user postgres connect from 127.0.0.1 without a password (pg_hba.conf:" >&2
    echo "'host all postgres 127.0.0.1/32 trust'), start it, and run this again." >&2
    exit 1
  fi
  echo "installing Debian's PostgreSQL" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >/dev/null
  version=$(cluster)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q "^host all postgres 127.0.0.1/32 trust" "$hba"; then
    # Local development: user postgres from loopback without a password, ahead of the rest.
    sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
  fi
fi

version=$(cluster)
echo "PostgreSQL is not answering on 127.0.0.1:5432; starting cluster $version/main" >&2
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do
  ready && exit 0
  sleep 1
done
echo "PostgreSQL $version/main did not come up within 30 s (pg_lsclusters shows its state)" >&2
exit 1
