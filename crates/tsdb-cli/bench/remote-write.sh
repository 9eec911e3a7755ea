#!/usr/bin/env bash
# Remote write throughput of `tsdb-cli serve` next to Prometheus's own receiver, on this machine.
#
#   crates/tsdb-cli/bench/remote-write.sh SERIES.jsonl [ROUNDS]
#
# Builds tsdb-cli (release), then for ROUNDS rounds (default 3, at least 2) starts, alternately,
# `tsdb-cli serve` and `prometheus --web.enable-remote-write-receiver`, each on a fresh data
# directory and a free 127.0.0.1 port, runs the same `tsdb-cli bench remote-write` against it
# (same label sets, same requests: remote write 1.0, 2,000 samples per request, several shards),
# reads the server's peak RSS (VmHWM in /proc/PID/status) just before stopping it, and stops it.
# Prints every run, then a table of medians (samples/s, p50 and p99 latency, peak RSS) and the
# ratios serve/Prometheus.
#
# Environment: PROMETHEUS (default `prometheus` on PATH), BENCH_ARGS (arguments for
# `bench remote-write`; default "--scrapes 120": 20,000 series x 120 samples = 2.4 million samples
# in 1,200 requests from 4 shards), KEEP=1 to keep the work directory.
set -euo pipefail

series=${1:?usage: $0 SERIES.jsonl [ROUNDS]}
rounds=${2:-3}
[ "$rounds" -ge 2 ] || { echo "ROUNDS must be at least 2" >&2; exit 2; }
[ -r "$series" ] || { echo "$series: not readable" >&2; exit 2; }
series=$(cd "$(dirname "$series")" && pwd)/$(basename "$series")
prom=${PROMETHEUS:-prometheus}
bench_args=${BENCH_ARGS---scrapes 120}
command -v curl >/dev/null || { echo "curl not found (it polls the servers' /-/ready)" >&2; exit 2; }
command -v "$prom" >/dev/null || { echo "$prom not found (Debian: apt-get install prometheus)" >&2; exit 2; }

root=$(cd "$(dirname "$0")/../../.." && pwd)
cargo build --release -p tsdb-cli --manifest-path "$root/Cargo.toml" >&2
cli="$root/target/release/tsdb-cli"

work=$(mktemp -d "${TMPDIR:-/tmp}/rw-bench.XXXXXX")
pid=""
stop_server() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    pid=""
}
cleanup() {
    stop_server
    if [ "${KEEP:-}" = 1 ]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null && return
    local p
    while :; do
        p=$((20000 + RANDOM % 30000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

wait_ready() { # URL
    for _ in $(seq 300); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# One run: KIND (serve|prometheus) ROUND; appends "kind samples/s p50 p99 rss_kib" to $work/results.
run_one() {
    local kind=$1 round=$2 port dir
    port=$(free_port)
    dir="$work/$kind-$round"
    mkdir -p "$dir"
    if [ "$kind" = serve ]; then
        "$cli" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" 2>"$dir/server.log" &
    else
        printf 'global:\n  scrape_interval: 1h\n' >"$dir/prometheus.yml"
        "$prom" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
            --web.listen-address="127.0.0.1:$port" --web.enable-remote-write-receiver \
            >"$dir/server.log" 2>&1 &
    fi
    pid=$!
    wait_ready "http://127.0.0.1:$port/-/ready" || { cat "$dir/server.log" >&2; echo "$kind did not start" >&2; exit 1; }
    # shellcheck disable=SC2086
    "$cli" bench remote-write --url "http://127.0.0.1:$port/api/v1/write" $bench_args "$series" >"$dir/bench.txt"
    local rss
    rss=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
    stop_server
    get() { awk -F': ' -v k="$1" '$1 == k {print $2}' "$dir/bench.txt"; }
    if [ "$(get non-2xx)" != 0 ]; then
        cat "$dir/bench.txt" >&2
        echo "$kind round $round: requests were refused" >&2
        exit 1
    fi
    printf '%s %s %s %s %s\n' "$kind" "$(get samples/s)" "$(get 'latency p50 ms')" "$(get 'latency p99 ms')" "$rss" >>"$work/results"
    printf '%-10s round %d: %9s samples/s  p50 %7s ms  p99 %7s ms  peak RSS %6s MiB\n' \
        "$kind" "$round" "$(get samples/s)" "$(get 'latency p50 ms')" "$(get 'latency p99 ms')" "$(awk -v k="$rss" 'BEGIN {printf "%.1f", k / 1024}')"
}

echo "bench remote-write ${bench_args:-(default arguments)} $(basename "$series"), $rounds rounds, serve and prometheus alternating, fresh server and data dir per run"
: >"$work/results"
for r in $(seq "$rounds"); do
    run_one serve "$r"
    run_one prometheus "$r"
done

awk '
function median(kind, col,   n, i, j, t, v) {
    n = 0
    for (i = 1; i <= rows; i++) if (k[i] == kind) v[++n] = c[i, col]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{ rows++; k[rows] = $1; for (i = 2; i <= 5; i++) c[rows, i] = $i }
END {
    s1 = median("serve", 2); s2 = median("prometheus", 2)
    a1 = median("serve", 3); a2 = median("prometheus", 3)
    b1 = median("serve", 4); b2 = median("prometheus", 4)
    m1 = median("serve", 5) / 1024; m2 = median("prometheus", 5) / 1024
    printf "\nmedians of %d runs each\n", rows / 2
    printf "%-22s %12s %12s %10s\n", "", "tsdb-cli serve", "prometheus", "ratio"
    printf "%-22s %12.0f %12.0f %9.2fx\n", "samples/s", s1, s2, s1 / s2
    printf "%-22s %12.2f %12.2f %9.2fx\n", "latency p50 ms", a1, a2, a1 / a2
    printf "%-22s %12.2f %12.2f %9.2fx\n", "latency p99 ms", b1, b2, b1 / b2
    printf "%-22s %12.1f %12.1f %9.2fx\n", "peak RSS MiB", m1, m2, m1 / m2
}' "$work/results"
