#!/usr/bin/env bash
# Three-node cluster benchmark for riffle: starts three `riffle serve` nodes (RF=3, min.insync.replicas=2,
# free ports, temp data dirs) and measures acks=all produce throughput with librdkafka's rdkafka_performance,
# per-message acks=all delivery latency (p50/p99) at a fixed rate with confluent-kafka, and leader failover
# time (SIGKILL of a partition leader under load, until a message produced after the kill is acknowledged).
# Prints a Markdown report with the exact commands. Not part of CI; nothing asserts a speed. Every node is
# killed on exit (try/finally, atexit, setpriv --pdeathsig KILL): see cluster-tests/cluster/conftest.py.
#
# Usage: cluster-tests/bench/cluster.sh [--no-build]
# Environment:
#   MSGS=1000000 MSG_BYTES=1024 PARTITIONS=1  throughput runs
#   LATENCY_RATE=500 LATENCY_S=10             latency run: messages/s and duration
#   FAILOVER_REPS=3                           leader kills
#   RUN_TIMEOUT_S=150                         limit per rdkafka_performance run
#   RIFFLE_BIN            broker binary (default: built with cargo into ${CARGO_TARGET_DIR:-<repo>/target})
#   BENCH_TOOLS_DIR       compiled client tools, shared with run.sh (default: <repo>/target/bench-tools)
#   RESULTS_DIR           logs (default: a fresh /tmp/riffle-cluster-bench.XXXXXX, kept)
#   PYTHON                python with confluent-kafka (default: <repo>/.venv/bin/python)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${BENCH_TOOLS_DIR:-$REPO/target/bench-tools}
RESULTS=${RESULTS_DIR:-$(mktemp -d /tmp/riffle-cluster-bench.XXXXXX)}
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
mkdir -p "$RESULTS"

BUILD=1
for arg in "$@"; do
    case "$arg" in
        --no-build) BUILD=0 ;;
        -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done

log() { echo "[cluster-bench $(date +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------------------------------------------
# Tools (rdkafka_performance: the same build step and cache stamp as run.sh, so the two share the binary)
# and the broker binary: lib.sh.
# shellcheck source=lib.sh
source "$HERE/lib.sh"
build_bench_tools
find_riffle_bin "$BUILD"
export RIFFLE_BIN
[[ -x "$PYTHON" ]] || { echo "no python at $PYTHON (run .ci/run once, or set PYTHON)" >&2; exit 1; }

log "riffle $RIFFLE_BIN ($(cd "$REPO" && git rev-parse --short HEAD)), librdkafka $RDKAFKA_VERSION, logs in $RESULTS"
exec "$PYTHON" "$REPO/cluster-tests/cluster/bench_cluster.py" --perf "$PERF" --results "$RESULTS" \
    --msgs "${MSGS:-1000000}" --msg-bytes "${MSG_BYTES:-1024}" --partitions "${PARTITIONS:-1}" \
    --latency-rate "${LATENCY_RATE:-500}" --latency-seconds "${LATENCY_S:-10}" \
    --failover-reps "${FAILOVER_REPS:-3}" --run-timeout "${RUN_TIMEOUT_S:-150}"
