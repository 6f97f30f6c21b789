#!/usr/bin/env bash
# Makes sure a PostgreSQL answers at 127.0.0.1:5432 (the default DATABASE_URL's server),
# starting the machine's cluster if it is down.
set -euo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 -U postgres; }

if ready; then
  exit 0
fi
echo "PostgreSQL is not answering on 127.0.0.1:5432; starting the local cluster" >&2
version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
if [ -z "$version" ]; then
  echo "no PostgreSQL cluster under /etc/postgresql; install PostgreSQL 15 (apt-get install postgresql)" >&2
  exit 1
fi
pg_ctlcluster --skip-systemctl-redirect "$version" main start
for _ in $(seq 1 30); do
  ready && exit 0
  sleep 1
done
echo "PostgreSQL did not come up within 30 s" >&2
exit 1
