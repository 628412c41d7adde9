#!/usr/bin/env bash
# Measures the local stack's start-up: cold (empty state dir AND empty Maven repository, so every jar is
# downloaded and Kafka's storage formatted), warm (after `down`, data and jars kept) and no-op (`up` while
# healthy). It runs a second, throwaway stack on other ports with its own state dir, so a running dev stack
# is left alone. RabbitMQ's Debian package is assumed installed (its apt time is measured separately below).
#
#   bench/stack_start.sh            # prints one line per measurement
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/gibsey-bench.XXXXXX)
export GIBSEY_STATE_DIR=$work/state
export MAVEN_OPTS="${MAVEN_OPTS:-} -Dmaven.repo.local=$work/m2"
export KAFKA_PORT=29092 KAFKA_CONTROLLER_PORT=29093
export CASSANDRA_PORT=29042 CASSANDRA_STORAGE_PORT=27000 CASSANDRA_JMX_PORT=27199
export AMQP_PORT=25673 RABBITMQ_DIST_PORT=35672 RABBITMQ_NODENAME=gibsey-bench@localhost
cleanup() { "$repo/localstack/down" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

timed() {  # timed LABEL command...  -> "LABEL: N.N s"
  local label=$1; shift
  local start=$EPOCHREALTIME
  "$@" >"$work/$label.log" 2>&1 || { echo "$label: FAILED (see output below)"; cat "$work/$label.log"; exit 1; }
  awk -v l="$label:" -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%-28s %6.1f s\n", l, e - s }'
}

echo "# $(date -u +%FT%TZ) on $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; Kafka/Cassandra versions from localstack/versions.env"
timed "cold up (downloads+format)" "$repo/localstack/up"
echo "  jar cache: $(du -sh "$GIBSEY_STATE_DIR/cache" | cut -f1), Maven repo: $(du -sh "$work/m2" | cut -f1)"
timed "no-op up (all healthy)" "$repo/localstack/up"
timed "down" "$repo/localstack/down"
timed "warm up" "$repo/localstack/up"
timed "down again" "$repo/localstack/down"
