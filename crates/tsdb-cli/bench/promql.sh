#!/usr/bin/env bash
# PromQL range-query latency of `tsdb-cli serve` beside Prometheus 2.x on the same data, from the same
# client: `tsdb-cli bench demo-data` writes the demo series, promtool makes blocks of them, `prometheus`
# and `tsdb-cli serve` serve copies, and `tsdb-cli bench query` asks each query of promql-queries.txt of
# both in turns (prom, ours, prom, ours, ...), printing median latencies and ours/prom ratios.
#
# usage: crates/tsdb-cli/bench/promql.sh [-n ROUNDS] [-i INSTANCES] [-H HOURS] [-q QUERIES]
#   defaults: 10 rounds, 30 instances, 6 hours of data every 15 s; the queries span the data, step 60 s.
# needs: promtool and prometheus (Debian: apt-get install prometheus), curl, and a release build:
#   cargo build --release -p tsdb-cli
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
rounds=10 instances=30 hours=6 queries="$here/promql-queries.txt" bin="$root/target/release/tsdb-cli"
while getopts "n:i:H:q:b:" o; do
  case $o in
    n) rounds=$OPTARG ;; i) instances=$OPTARG ;; H) hours=$OPTARG ;; q) queries=$OPTARG ;; b) bin=$OPTARG ;;
    *) sed -n '2,10p' "$0" >&2; exit 2 ;;
  esac
done
for tool in promtool prometheus curl; do
  command -v "$tool" >/dev/null || { echo "$tool not found (see the 'needs' line of $0)" >&2; exit 2; }
done
[ -x "$bin" ] || { echo "$bin not found: cargo build --release -p tsdb-cli" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
end=1700000000
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { # url, what
  for _ in $(seq 1 120); do curl -sf "$1/-/ready" >/dev/null && return 0; sleep 0.5; done
  echo "$2 did not become ready" >&2; exit 1
}

"$bin" bench demo-data --hours "$hours" --instances "$instances" --end "$end" --out "$work/demo.om"
promtool tsdb create-blocks-from openmetrics "$work/demo.om" "$work/prom" >/dev/null
cp -r "$work/prom" "$work/ours"
pport=$(free_port) oport=$(free_port)
echo "global: {}" > "$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --storage.tsdb.retention.time=200y --web.listen-address="127.0.0.1:$pport" >"$work/prom.log" 2>&1 &
pids+=($!)
"$bin" serve --data-dir "$work/ours" --listen "127.0.0.1:$oport" >"$work/serve.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$pport" prometheus
wait_ready "http://127.0.0.1:$oport" "tsdb-cli serve"
"$bin" bench query --url "prom=http://127.0.0.1:$pport" --url "ours=http://127.0.0.1:$oport" \
  --start $((end - hours * 3600)) --end "$end" --step 60 --rounds "$rounds" "$queries"
