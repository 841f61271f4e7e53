#!/usr/bin/env bash
# Runs librdkafka's own integration test suite (tests/test-runner from Debian's librdkafka source package)
# against a single Riffle broker, for the allow-listed tests in tests.allow only, in FULL mode (no -Q).
#
# Usage:  RIFFLE_BIN=target/release/riffle bash cluster-tests/compat/librdkafka/run.sh
# Env:
#   RIFFLE_BIN            broker binary (default: <repo>/target/release/riffle)
#   RDK_CACHE_DIR         where the source is fetched and built, reused when present
#                         (default: /var/tmp/riffle-librdkafka)
#   RDK_TEST_TIMEOUT_S    per-test wall-clock limit in seconds (default: 120)
#   TEST_KAFKA_VERSION    broker version the tests assume (default: 2.8.0)
#   RDK_TESTS             space/comma separated entries to run instead of tests.allow (e.g. "0001 0081:DeleteTopics")
#   RDK_LOG_DIR           keep per-test logs and the broker log here (default: a temp dir, removed at exit)
# Idempotent: installs missing build deps via apt, adds a deb-src entry if there is none, builds once.
# Exit status: 0 when every selected test PASSED (a SKIPPED test counts as failed), 1 otherwise.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../../.." && pwd)"
RIFFLE_BIN="${RIFFLE_BIN:-$REPO_ROOT/target/release/riffle}"
RDK_CACHE_DIR="${RDK_CACHE_DIR:-/var/tmp/riffle-librdkafka}"
RDK_TEST_TIMEOUT_S="${RDK_TEST_TIMEOUT_S:-120}"
export TEST_KAFKA_VERSION="${TEST_KAFKA_VERSION:-2.8.0}"
RDK_UPSTREAM_VERSION="2.0.2"
RDK_SRC_DIR="$RDK_CACHE_DIR/librdkafka-$RDK_UPSTREAM_VERSION"
RDK_BUILD_STAMP="$RDK_SRC_DIR/.riffle-build-ok"
export DEBIAN_FRONTEND=noninteractive

log() { echo "[librdkafka-compat $(date -u +%H:%M:%S)] $*"; }
die() { log "ERROR: $*" >&2; exit 1; }

SUDO=""
if [[ $EUID -ne 0 ]]; then
  command -v sudo > /dev/null || die "need root (or sudo) to install build dependencies"
  SUDO="sudo"
fi

APT_UPDATED=0
apt_update_once() {
  if [[ $APT_UPDATED -eq 0 ]]; then
    $SUDO apt-get update -q
    APT_UPDATED=1
  fi
}

# --- build dependencies ---------------------------------------------------------------------------
BUILD_DEPS=(build-essential dpkg-dev pkg-config python3 zlib1g-dev libssl-dev libzstd-dev liblz4-dev libsasl2-dev
  rapidjson-dev)
install_build_deps() {
  local missing=()
  local pkg
  for pkg in "${BUILD_DEPS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null | grep -q '^install ok installed$'; then
      missing+=("$pkg")
    fi
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing build deps: ${missing[*]}"
    apt_update_once
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

# --- source ---------------------------------------------------------------------------------------
has_deb_src() {
  grep -qsE '^[[:space:]]*deb-src[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    || grep -qsE '^[[:space:]]*Types:.*deb-src' /etc/apt/sources.list.d/*.sources
}

ensure_deb_src() {
  if has_deb_src; then
    return
  fi
  local suite
  suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
  log "adding deb-src entry for Debian $suite"
  $SUDO tee /etc/apt/sources.list.d/riffle-deb-src.sources > /dev/null << EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  APT_UPDATED=0
}

fetch_source() {
  if [[ -f "$RDK_SRC_DIR/tests/Makefile" ]]; then
    return
  fi
  ensure_deb_src
  apt_update_once
  mkdir -p "$RDK_CACHE_DIR"
  log "fetching librdkafka source package into $RDK_CACHE_DIR"
  (cd "$RDK_CACHE_DIR" && apt-get source -q librdkafka)
  [[ -f "$RDK_SRC_DIR/tests/Makefile" ]] \
    || die "apt-get source did not produce $RDK_SRC_DIR (expected upstream version $RDK_UPSTREAM_VERSION)"
}

# --- build ----------------------------------------------------------------------------------------
build_suite() {
  if [[ -f "$RDK_BUILD_STAMP" && -x "$RDK_SRC_DIR/tests/test-runner" ]]; then
    log "reusing built test-runner in $RDK_SRC_DIR/tests"
    return
  fi
  local jobs
  jobs="$(nproc)"
  log "building librdkafka $RDK_UPSTREAM_VERSION and its test-runner (make -j$jobs)"
  (
    cd "$RDK_SRC_DIR"
    ./configure --disable-gssapi --disable-curl > "$RDK_CACHE_DIR/configure.log" 2>&1 \
      || { tail -30 "$RDK_CACHE_DIR/configure.log"; exit 1; }
    make -j"$jobs" libs > "$RDK_CACHE_DIR/build-libs.log" 2>&1 \
      || { tail -30 "$RDK_CACHE_DIR/build-libs.log"; exit 1; }
    make -j"$jobs" -C tests build > "$RDK_CACHE_DIR/build-tests.log" 2>&1 \
      || { tail -30 "$RDK_CACHE_DIR/build-tests.log"; exit 1; }
  ) || die "build failed (logs in $RDK_CACHE_DIR)"
  touch "$RDK_BUILD_STAMP"
}

# --- broker ---------------------------------------------------------------------------------------
BROKER_PID=""
WORK_DIR=""
KEEP_LOGS=0
cleanup() {
  local rc=$?
  if [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2> /dev/null; then
    kill "$BROKER_PID" 2> /dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$BROKER_PID" 2> /dev/null || break
      sleep 0.1
    done
    kill -9 "$BROKER_PID" 2> /dev/null || true
    wait "$BROKER_PID" 2> /dev/null || true
  fi
  if [[ -n "$WORK_DIR" ]]; then
    rm -rf "$WORK_DIR/data"
    [[ $KEEP_LOGS -eq 1 ]] || rm -rf "$WORK_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Kafka's defaults where the suite relies on them: several tests produce with CreateTime timestamps near
# 1970, which time retention deletes on its next check; Kafka checks every 5 minutes, Riffle's default is
# 5 seconds (see FINDINGS.md, 0059). group.initial.rebalance.delay.ms=0 as in Kafka's shipped
# config/server.properties (the 3 s default would add 3 s to every group join).
start_broker() {
  local port="$1"
  mkdir -p "$WORK_DIR/data"
  "$RIFFLE_BIN" serve \
    --override "listeners=PLAINTEXT://127.0.0.1:$port" \
    --override "log.dirs=$WORK_DIR/data" \
    --override auto.create.topics.enable=true \
    --override num.partitions=4 \
    --override schema.registry.listeners= \
    --override log.retention.check.interval.ms=300000 \
    --override group.initial.rebalance.delay.ms=0 \
    > "$WORK_DIR/broker.log" 2>&1 &
  BROKER_PID=$!
  local i
  for i in $(seq 1 100); do
    kill -0 "$BROKER_PID" 2> /dev/null || { cat "$WORK_DIR/broker.log"; die "riffle exited at startup"; }
    if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
      log "riffle (pid $BROKER_PID) listening on 127.0.0.1:$port"
      return
    fi
    sleep 0.1
  done
  cat "$WORK_DIR/broker.log"
  die "riffle did not listen on 127.0.0.1:$port within 10s"
}

# --- tests ----------------------------------------------------------------------------------------
# One entry per line: "NNNN" runs a whole test, "NNNN:substring" only its sub-tests whose name contains
# the substring (test-runner's SUBTESTS filter), e.g. "0081:do_test_DeleteTopics".
selected_tests() {
  if [[ -n "${RDK_TESTS:-}" ]]; then
    tr ', ' '\n\n' <<< "$RDK_TESTS" | grep -E '^[0-9]{4}(:[A-Za-z0-9_]+)?$' || true
  else
    sed -e 's/#.*//' -e 's/[[:space:]]//g' "$HERE/tests.allow" | grep -E '^[0-9]{4}(:[A-Za-z0-9_]+)?$' || true
  fi
}

# Verdict for test $1 from the summary table test-runner prints: "PASSED" when at least one variant
# (e.g. 0022_consume_batch) PASSED and every other row is PASSED or was skipped on purpose: filtered by
# the -L flag (the broker-less *_local variants) or silently (variants needing another test scenario such
# as "noautocreate"); otherwise the offending rows, e.g. "0045_x:SKIPPED(not applicable ...)".
test_status() {
  local num="$1" logf="$2"
  sed -e 's/\x1b\[[0-9;]*m//g' "$logf" \
    | { grep -aE "^\|[[:space:]]+${num}_[^|]*\|[[:space:]]+[A-Z]+[[:space:]]+\|" || true; } \
    | awk -F'|' '
        { name = $2; st = $3; why = $5; gsub(/ /, "", name); gsub(/ /, "", st); gsub(/^ +| +$/, "", why) }
        st == "PASSED" { ok++; next }
        st == "SKIPPED" && (why == "" || why ~ /negative test flags/) { next }
        { bad = bad (bad ? " " : "") name ":" st (why ? "(" why ")" : "") }
        END { if (bad) print bad; else if (ok) print "PASSED"; else print "NO-RESULT" }'
}

main() {
  [[ -x "$RIFFLE_BIN" ]] || die "RIFFLE_BIN=$RIFFLE_BIN is not an executable (build: cargo build --release --bin riffle)"
  local start=$SECONDS
  install_build_deps
  fetch_source
  build_suite
  log "suite ready after $((SECONDS - start))s"

  if [[ -n "${RDK_LOG_DIR:-}" ]]; then
    mkdir -p "$RDK_LOG_DIR"
    WORK_DIR="$(cd "$RDK_LOG_DIR" && pwd)"
    KEEP_LOGS=1
  else
    WORK_DIR="$(mktemp -d /tmp/riffle-librdkafka-run.XXXXXX)"
  fi
  mkdir -p "$WORK_DIR/logs"

  local port
  port="$(free_port)"
  start_broker "$port"
  printf 'bootstrap.servers=127.0.0.1:%s\n' "$port" > "$WORK_DIR/test.conf"

  local tests
  mapfile -t tests < <(selected_tests)
  [[ ${#tests[@]} -gt 0 ]] || die "no tests selected"
  log "running ${#tests[@]} tests in full mode, TEST_KAFKA_VERSION=$TEST_KAFKA_VERSION, timeout ${RDK_TEST_TIMEOUT_S}s each"

  local passed=0 failed=0 failed_list=() entry t subtests logf rc status t0
  for entry in "${tests[@]}"; do
    t="${entry%%:*}"
    subtests=""
    [[ "$entry" == *:* ]] && subtests="${entry#*:}"
    logf="$WORK_DIR/logs/${entry//:/-}.log"
    t0=$SECONDS
    set +e
    (
      cd "$RDK_SRC_DIR/tests"
      RDKAFKA_TEST_CONF="$WORK_DIR/test.conf" TESTS="$t" SUBTESTS="$subtests" \
        LD_LIBRARY_PATH="../src:../src-cpp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        timeout -k 10 "$RDK_TEST_TIMEOUT_S" ./test-runner -p1 -L
    ) > "$logf" 2>&1
    rc=$?
    set -e
    status="$(test_status "$t" "$logf" || true)"
    # A SUBTESTS filter that matches nothing would pass vacuously: require a passed sub-test.
    if [[ -n "$subtests" && "$status" == "PASSED" ]] \
      && ! sed -e 's/\x1b\[[0-9;]*m//g' "$logf" | grep -aE "\] \[ [^]]*${subtests}[^]]*: PASS" > /dev/null; then
      status="NO-SUBTEST-MATCHED"
    fi
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
      status="TIMEOUT"
    fi
    if ! kill -0 "$BROKER_PID" 2> /dev/null; then
      status="BROKER-DIED"
    fi
    if [[ $rc -eq 0 && "$status" == "PASSED" ]]; then
      passed=$((passed + 1))
      log "$entry PASSED ($((SECONDS - t0))s)"
    else
      failed=$((failed + 1))
      failed_list+=("$entry")
      log "$entry FAILED: status=${status:-none} exit=$rc ($((SECONDS - t0))s); last lines of $logf:"
      sed -e 's/\x1b\[[0-9;]*m//g' "$logf" | grep -av '^$' | tail -25 | sed 's/^/    /'
      if [[ "$status" == "BROKER-DIED" ]]; then
        log "riffle exited; last broker log lines:"
        tail -25 "$WORK_DIR/broker.log" | sed 's/^/    /'
        break
      fi
    fi
  done

  local not_run=$((${#tests[@]} - passed - failed))
  if [[ $not_run -gt 0 ]]; then
    log "$not_run test(s) not run because the broker exited; counted as failed"
    failed=$((failed + not_run))
  fi
  echo "librdkafka $RDK_UPSTREAM_VERSION test suite vs riffle: $passed passed, $failed failed" \
    "(total $((SECONDS - start))s)${failed_list:+; failed: ${failed_list[*]}}"
  [[ $KEEP_LOGS -eq 1 ]] && log "logs kept in $WORK_DIR"
  [[ $failed -eq 0 ]]
}

main "$@"
