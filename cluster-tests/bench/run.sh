#!/usr/bin/env bash
# Single-node throughput benchmark for riffle: librdkafka's rdkafka_performance produces 1 KiB messages
# with acks=1, acks=all and acks=all + enable.idempotence=true, then consumes them back, once against a
# broker with log.durability=fsync and once with log.durability=pagecache. Prints a table of msgs/s and
# MB/s (MB = 10^6 bytes, as rdkafka_performance reports) with the exact commands. Not part of CI; every
# client run is bounded by a message count and a timeout, and the broker is killed on exit.
#
# Usage: cluster-tests/bench/run.sh [--storage] [--no-build]
#   --storage   also run `cargo bench -p riffle-storage --bench log` (criterion, ~1-2 min after compiling)
#   --no-build  do not run `cargo build --release --bin riffle` first
# Environment:
#   MSGS=1000000        messages per produce run (each consume run reads the same count back)
#   MSG_BYTES=1024      message size
#   PARTITIONS=1        partitions per topic
#   DURABILITIES="fsync pagecache"
#   PRODUCER_QUEUE_MSGS=1000000  librdkafka queue.buffering.max.messages for the producers (empty: librdkafka's
#                       default, 100000). rdkafka_performance sleeps in rd_kafka_poll(rk, 10) on every
#                       QUEUE_FULL, which at the default can dominate a run (see BENCHMARKS.md)
#   RUN_TIMEOUT_S=150   hard limit per client run (the run is reported as FAILED if it is hit)
#   RIFFLE_BIN          broker binary (default: <repo>/target/release/riffle, built unless --no-build)
#   BENCH_TOOLS_DIR     where the compiled client tools go (default: <repo>/target/bench-tools)
#   RESULTS_DIR         where logs go (default: a fresh /tmp/riffle-bench.XXXXXX, kept)
#   CARGO_TARGET_DIR    honoured by the cargo commands
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
MSGS=${MSGS:-1000000}
MSG_BYTES=${MSG_BYTES:-1024}
PARTITIONS=${PARTITIONS:-1}
DURABILITIES=${DURABILITIES:-"fsync pagecache"}
RUN_TIMEOUT_S=${RUN_TIMEOUT_S:-150}
PRODUCER_QUEUE_MSGS=${PRODUCER_QUEUE_MSGS-1000000}
CACHE=${BENCH_TOOLS_DIR:-$REPO/target/bench-tools}
RESULTS=${RESULTS_DIR:-$(mktemp -d /tmp/riffle-bench.XXXXXX)}
mkdir -p "$RESULTS"

WITH_STORAGE=0
BUILD=1
for arg in "$@"; do
    case "$arg" in
        --storage) WITH_STORAGE=1 ;;
        --no-build) BUILD=0 ;;
        -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------------------------------------------
# Cleanup: the broker (and any sampler) never outlives the script.
BROKER_PID=""
SAMPLER_PID=""
LOG_DIR=""
cleanup() {
    if [[ -n "$SAMPLER_PID" ]]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
    if [[ -n "$BROKER_PID" ]]; then
        kill -KILL "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    if [[ -n "$LOG_DIR" && -d "$LOG_DIR" ]]; then rm -rf "$LOG_DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------------
# Tools (librdkafka's rdkafka_performance and create_topic) and the broker binary: lib.sh, shared with
# cluster.sh.
# shellcheck source=lib.sh
source "$HERE/lib.sh"
build_bench_tools
find_riffle_bin "$BUILD"

# ---------------------------------------------------------------------------------------------------
# Helpers.
CLK_TCK=$(getconf CLK_TCK)

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# utime + stime of a process in clock ticks (fields 14 and 15 of /proc/PID/stat, after the "(comm)").
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

start_broker() { # durability
    local durability=$1
    PORT=$(free_port)
    LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/riffle-bench-data.XXXXXX")
    BOOTSTRAP="127.0.0.1:$PORT"
    local cmd=("$RIFFLE_BIN" serve --override "listeners=PLAINTEXT://$BOOTSTRAP" --override "log.dirs=$LOG_DIR"
        --override auto.create.topics.enable=false --override "log.durability=$durability"
        --override schema.registry.listeners=)
    BROKER_CMD="${cmd[*]}"
    # setpriv: the kernel kills the broker if this script dies without running its trap (SIGKILL).
    if command -v setpriv >/dev/null; then cmd=(setpriv --pdeathsig KILL -- "${cmd[@]}"); fi
    "${cmd[@]}" >"$RESULTS/broker-$durability.log" 2>&1 &
    BROKER_PID=$!
    local deadline=$((SECONDS + 30))
    until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
        if ! kill -0 "$BROKER_PID" 2>/dev/null; then
            tail -n 30 "$RESULTS/broker-$durability.log" >&2
            echo "riffle exited before accepting connections" >&2
            exit 1
        fi
        ((SECONDS < deadline)) || { echo "riffle did not accept connections within 30 s" >&2; exit 1; }
        sleep 0.1
    done
    log "riffle pid $BROKER_PID on $BOOTSTRAP, log.durability=$durability, log dir $LOG_DIR"
}

stop_broker() {
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "$BROKER_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
    rm -rf "$LOG_DIR"
    LOG_DIR=""
}

ROWS=()     # "durability|scenario|msgs|MB|s|msgs/s|MB/s|broker cpu|client cpu|status"
COMMANDS=() # "durability scenario: command"
FAILED=0

# run_client DURABILITY SCENARIO KIND(produce|consume) ARGS... : one bounded rdkafka_performance run.
run_client() {
    local durability=$1 scenario=$2 kind=$3
    shift 3
    local out="$RESULTS/$durability-$scenario.log"
    local cmd=("$PERF" "$@")
    COMMANDS+=("$durability / $scenario: ${cmd[*]}")
    log "$durability / $scenario: ${cmd[*]}"
    if command -v pidstat >/dev/null; then
        pidstat -u -t -p "$BROKER_PID" 1 >"$RESULTS/$durability-$scenario.pidstat" 2>&1 &
        SAMPLER_PID=$!
    fi
    local before after start end status=ok
    before=$(cpu_ticks "$BROKER_PID")
    start=$(date +%s.%N)
    # TIMEFORMAT: the client's wall, user and system seconds, appended to its log.
    local TIMEFORMAT='%% client-time %R %U %S'
    { time timeout --signal=INT --kill-after=10 "$RUN_TIMEOUT_S" "${cmd[@]}" >"$out" 2>&1; } 2>>"$out" || status=FAILED
    end=$(date +%s.%N)
    after=$(cpu_ticks "$BROKER_PID")
    if [[ -n "$SAMPLER_PID" ]]; then
        kill -INT "$SAMPLER_PID" 2>/dev/null || true
        wait "$SAMPLER_PID" 2>/dev/null || true
        SAMPLER_PID=""
    fi
    local wall broker_cpu client_cpu summary msgs bytes ms
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
    broker_cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v w="$wall" 'BEGIN { printf "%.0f%%", 100 * t / hz / w }')
    client_cpu=$(awk '/^% client-time/ { printf "%.0f%%", 100 * ($4 + $5) / $3 }' "$out")
    if [[ $kind == produce ]]; then
        # "% N messages produced (B bytes), D delivered (offset O, F failed) in Tms: ..."
        summary=$(grep -E '^% [0-9]+ messages produced' "$out" | tail -n1 || true)
        msgs=$(sed -nE 's/.* ([0-9]+) delivered .*/\1/p' <<<"$summary")
        local failed
        failed=$(sed -nE 's/.*, ([0-9]+) failed\).*/\1/p' <<<"$summary")
        [[ "$msgs" == "$MSGS" && "$failed" == 0 ]] || status=FAILED
        bytes=$((${msgs:-0} * MSG_BYTES))
    else
        # "% N messages (B bytes) consumed in Tms: ..."
        summary=$(grep -E '^% [0-9]+ messages \([0-9]+ bytes\) consumed' "$out" | tail -n1 || true)
        msgs=$(sed -nE 's/^% ([0-9]+) messages.*/\1/p' <<<"$summary")
        bytes=$(sed -nE 's/^% [0-9]+ messages \(([0-9]+) bytes\).*/\1/p' <<<"$summary")
        [[ "$msgs" == "$MSGS" ]] || status=FAILED
    fi
    ms=$(sed -nE 's/.* in ([0-9]+)ms.*/\1/p' <<<"$summary")
    msgs=${msgs:-0} bytes=${bytes:-0} ms=${ms:-0}
    local row
    row=$(awk -v d="$durability" -v s="$scenario" -v m="$msgs" -v b="$bytes" -v ms="$ms" -v bc="$broker_cpu" \
        -v cc="$client_cpu" -v st="$status" 'BEGIN {
            secs = ms / 1000; rate = secs > 0 ? m / secs : 0; mbs = secs > 0 ? b / 1e6 / secs : 0
            printf "%s|%s|%d|%.0f|%.2f|%.0f|%.1f|%s|%s|%s", d, s, m, b / 1e6, secs, rate, mbs, bc, cc, st }')
    ROWS+=("$row")
    if [[ $status != ok ]]; then
        FAILED=1
        log "FAILED: $durability / $scenario (log: $out)"
        tail -n 5 "$out" >&2
    fi
    log "  -> $row"
}

# fdatasync latency of the disk under the log dirs: 200 x (append 4 KiB + fdatasync).
fsync_probe() {
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/riffle-bench-fsync.XXXXXX")
    timeout 60 python3 - "$dir" <<'PY' || echo "fdatasync probe failed or timed out"
import os, statistics, sys, time
path = os.path.join(sys.argv[1], "probe")
fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
buf = b"x" * 4096
lat = []
for _ in range(200):
    t = time.perf_counter()
    os.write(fd, buf)
    os.fdatasync(fd)
    lat.append((time.perf_counter() - t) * 1000)
lat.sort()
print("fdatasync after a 4 KiB append: median %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (200 samples)"
      % (statistics.median(lat), lat[179], lat[197], lat[-1]))
PY
    rm -rf "$dir"
}

# ---------------------------------------------------------------------------------------------------
# The runs.
PARTITION_ARGS=()
for ((p = 0; p < PARTITIONS; p++)); do PARTITION_ARGS+=(-p "$p"); done

FSYNC_PROBE=$(fsync_probe)
log "$FSYNC_PROBE"

for durability in $DURABILITIES; do
    start_broker "$durability"
    for topic in bench-acks1 bench-acksall bench-idempotent; do
        "$CREATE_TOPIC" "$BOOTSTRAP" "$topic" "$PARTITIONS"
    done
    common=(-b "$BOOTSTRAP" -s "$MSG_BYTES" -c "$MSGS")
    if [[ -n "$PRODUCER_QUEUE_MSGS" ]]; then common+=(-X "queue.buffering.max.messages=$PRODUCER_QUEUE_MSGS"); fi
    run_client "$durability" "produce acks=1" produce -P -t bench-acks1 "${common[@]}" -X acks=1
    run_client "$durability" "produce acks=all" produce -P -t bench-acksall "${common[@]}" -X acks=all
    run_client "$durability" "produce acks=all idempotent" produce -P -t bench-idempotent "${common[@]}" \
        -X acks=all -X enable.idempotence=true
    run_client "$durability" "consume" consume -C -t bench-acksall "${PARTITION_ARGS[@]}" -o beginning -e \
        -b "$BOOTSTRAP" -c "$MSGS"
    du -sh "$LOG_DIR" >"$RESULTS/$durability-du.txt" 2>&1 || true
    stop_broker
done

STORAGE_SUMMARY=""
if [[ $WITH_STORAGE -eq 1 ]]; then
    log "cargo bench -p riffle-storage --bench log"
    (cd "$REPO" && cargo bench -p riffle-storage --bench log) >"$RESULTS/storage-bench.log" 2>&1 || FAILED=1
    # Criterion prints "group/name  time: [lo est hi]" then "thrpt: [lo est hi]"; keep the estimates.
    STORAGE_SUMMARY=$(awk '
        /^[a-z_]+\/[A-Za-z0-9_]+/ { name = $1 }
        /time:/ && name != "" { match($0, /\[[^]]*\]/); split(substr($0, RSTART + 1, RLENGTH - 2), t, " "); tm = t[3] " " t[4] }
        /thrpt:/ && name != "" { match($0, /\[[^]]*\]/); split(substr($0, RSTART + 1, RLENGTH - 2), r, " ");
            printf "| %s | %s | %s %s |\n", name, tm, r[3], r[4]; name = "" }' "$RESULTS/storage-bench.log")
fi

# ---------------------------------------------------------------------------------------------------
# Report.
echo
echo "riffle single-node benchmark, $(date -u +'%Y-%m-%d %H:%M UTC'), $(nproc) cores, librdkafka $RDKAFKA_VERSION"
echo "$MSGS messages x $MSG_BYTES bytes per run, $PARTITIONS partition(s); MB = 10^6 bytes; logs in $RESULTS"
echo "$FSYNC_PROBE"
echo
echo "| log.durability | scenario | msgs | MB | s | msgs/s | MB/s | broker CPU | client CPU | status |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
for row in "${ROWS[@]}"; do echo "| ${row//|/ | } |"; done
if [[ -n "$STORAGE_SUMMARY" ]]; then
    echo
    echo "riffle-storage criterion benches (estimate of the mean):"
    echo
    echo "| bench | time per iteration | throughput |"
    echo "|---|---:|---:|"
    echo "$STORAGE_SUMMARY"
fi
echo
echo "Commands (broker: $(sed -E 's|log.dirs=[^ ]+|log.dirs=DIR|; s|127.0.0.1:[0-9]+|127.0.0.1:PORT|g' <<<"${BROKER_CMD:-}")):"
for c in "${COMMANDS[@]}"; do echo "  $c"; done
echo
echo "CPU: 100% = one core, over the client run's wall time. Broker per-thread CPU (pidstat -t): $RESULTS/*.pidstat"
exit $FAILED
