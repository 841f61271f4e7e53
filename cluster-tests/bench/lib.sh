# Shared by the benchmark scripts run.sh and cluster.sh (sourced, not run): the client tools they drive and
# the broker binary they start.
#
# The sourcing script sets HERE (this directory), REPO (the repository root), CACHE (where the compiled client
# tools go), RESULTS (where logs go) and defines log().

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# Installs librdkafka-dev if needed and compiles rdkafka_performance (from the example source Debian ships) and
# create_topic into $CACHE, unless the cached build matches librdkafka's version and the sources (the stamp).
# Sets PERF, CREATE_TOPIC and RDKAFKA_VERSION.
build_bench_tools() {
    if ! dpkg -s librdkafka-dev >/dev/null 2>&1; then
        log "installing librdkafka-dev"
        as_root apt-get install -y librdkafka-dev >"$RESULTS/apt.log" 2>&1 ||
            { as_root apt-get update >>"$RESULTS/apt.log" 2>&1 && as_root apt-get install -y librdkafka-dev >>"$RESULTS/apt.log" 2>&1; }
    fi
    local perf_src stamp
    perf_src=$(dpkg -L librdkafka-dev | grep -E '/rdkafka_performance\.c(\.gz)?$' | head -n1)
    [[ -n "$perf_src" ]] || { echo "librdkafka-dev ships no rdkafka_performance.c" >&2; exit 1; }
    RDKAFKA_VERSION=$(dpkg-query -W -f '${Version}' librdkafka-dev)
    stamp="$RDKAFKA_VERSION $(cat "$HERE/rd_shim.h" "$HERE/create_topic.c" | md5sum | cut -d' ' -f1)"
    PERF="$CACHE/rdkafka_performance"
    CREATE_TOPIC="$CACHE/create_topic"
    if [[ ! -x "$PERF" || ! -x "$CREATE_TOPIC" || "$(cat "$CACHE/stamp" 2>/dev/null)" != "$stamp" ]]; then
        log "compiling rdkafka_performance ($perf_src, librdkafka $RDKAFKA_VERSION) into $CACHE"
        mkdir -p "$CACHE/src" "$CACHE/examples"
        zcat -f "$perf_src" >"$CACHE/examples/rdkafka_performance.c"
        # The example includes librdkafka's internal "../src/rd.h" and "rdtime.h"; the shim provides the
        # few helpers it uses.
        cp "$HERE/rd_shim.h" "$CACHE/src/rd.h"
        : >"$CACHE/src/rdtime.h"
        gcc -O2 -w -I/usr/include/librdkafka -I"$CACHE/src" -o "$PERF" "$CACHE/examples/rdkafka_performance.c" \
            -lrdkafka -lz -lpthread -lm
        gcc -O2 -Wall -o "$CREATE_TOPIC" "$HERE/create_topic.c" -lrdkafka
        echo "$stamp" >"$CACHE/stamp"
    fi
}

# Sets RIFFLE_BIN, unless set already, to ${CARGO_TARGET_DIR:-$REPO/target}/release/riffle, built first with
# cargo when $1 is 1; exits if there is no such executable.
find_riffle_bin() {
    local build=$1
    if [[ -z "${RIFFLE_BIN:-}" ]]; then
        if [[ $build -eq 1 ]]; then
            log "cargo build --release --bin riffle"
            (cd "$REPO" && cargo build --release --bin riffle) >"$RESULTS/build.log" 2>&1 ||
                { tail -n 30 "$RESULTS/build.log" >&2; exit 1; }
        fi
        RIFFLE_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/riffle"
    fi
    [[ -x "$RIFFLE_BIN" ]] || { echo "no riffle binary at $RIFFLE_BIN" >&2; exit 1; }
}
