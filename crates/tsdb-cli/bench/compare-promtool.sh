#!/usr/bin/env bash
# Ingestion, memory and restart of our engine beside Prometheus's own TSDB, on one machine in one run:
# `promtool tsdb bench write` and `tsdb-cli bench write` on the same label sets and workload, taken in
# turns (promtool, ours, promtool, ours, ...), then each side's restart on its own output (Prometheus's
# `total_replay_duration` from its log, our `replay seconds`). Prints the medians and our/their ratios.
#
# usage: crates/tsdb-cli/bench/compare-promtool.sh [-n ROUNDS] [-m SERIES] [-s SCRAPES] [-i LABELS.jsonl]
#   defaults: 3 rounds, 20,000 series, 3,000 scrapes (60 million samples), label sets made by
#   gen-series.py beside this script. The 1M-series row of the README: -n 1 -m 1000000 -s 100.
# needs: promtool and prometheus (Debian: apt-get install prometheus), GNU time (/usr/bin/time), python3,
#   and a release build: cargo build --release -p tsdb-cli
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
rounds=3 series=20000 scrapes=3000 input="" bin="$root/target/release/tsdb-cli"
while getopts "n:m:s:i:b:" o; do
  case $o in
    n) rounds=$OPTARG ;; m) series=$OPTARG ;; s) scrapes=$OPTARG ;; i) input=$OPTARG ;; b) bin=$OPTARG ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
  esac
done
for tool in promtool prometheus /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "$tool not found (see the 'needs' line of $0)" >&2; exit 2; }
done
[ -x "$bin" ] || { echo "$bin not found: cargo build --release -p tsdb-cli" >&2; exit 2; }

work=$(mktemp -d)
prom_pid=""
cleanup() { [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
if [ -z "$input" ]; then
  input="$work/series.jsonl"
  python3 "$here/gen-series.py" "$series" > "$input"
fi

# One figure out of a command's output: the first number after NAME.
figure() { grep -Eo "$1[: =]+[0-9.e+-]+" | head -1 | grep -Eo '[0-9.]+(e[+-]?[0-9]+)?$'; }
peak_kib() { grep 'Maximum resident' "$1" | grep -Eo '[0-9]+$'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

declare -a p_rate o_rate p_rss o_rss
for r in $(seq 1 "$rounds"); do
  rm -rf "$work/p" "$work/o"
  /usr/bin/time -v -o "$work/p.time" promtool tsdb bench write --out="$work/p" --metrics="$series" \
    --scrapes="$scrapes" "$input" > "$work/p.out" 2>&1
  /usr/bin/time -v -o "$work/o.time" "$bin" bench write --out "$work/o" --metrics "$series" \
    --scrapes "$scrapes" "$input" > "$work/o.out" 2>&1
  p_rate+=("$(figure 'samples/sec' < "$work/p.out")")
  o_rate+=("$(figure 'samples/sec' < "$work/o.out")")
  p_rss+=("$(peak_kib "$work/p.time")")
  o_rss+=("$(peak_kib "$work/o.time")")
  echo "round $r: promtool ${p_rate[-1]} samples/s ${p_rss[-1]} KiB; tsdb-cli ${o_rate[-1]} samples/s ${o_rss[-1]} KiB" >&2
done

# Restart: Prometheus opens its own output (nothing to scrape) and logs its replay time once ready.
echo "scrape_configs: []" > "$work/prom.yml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
prometheus --config.file="$work/prom.yml" --storage.tsdb.path="$work/p/storage" \
  --web.listen-address="127.0.0.1:$port" --storage.tsdb.retention.time=100y > "$work/prom.log" 2>&1 &
prom_pid=$!
for _ in $(seq 1 3000); do grep -q 'Server is ready' "$work/prom.log" && break; sleep 0.2; done
kill "$prom_pid"; wait "$prom_pid" 2>/dev/null || true; prom_pid=""
p_replay=$(grep -Eo 'total_replay_duration=[0-9.]+(ms|s|µs|m[0-9.]+s)' "$work/prom.log" | head -1 | cut -d= -f2)
case "$p_replay" in
  *ms) p_replay=$(awk "BEGIN {print ${p_replay%ms} / 1000}") ;;
  *µs) p_replay=$(awk "BEGIN {print ${p_replay%µs} / 1000000}") ;;
  *m*s) m=${p_replay%%m*}; s=${p_replay#*m}; p_replay=$(awk "BEGIN {print $m * 60 + ${s%s}}") ;;
  *s) p_replay=${p_replay%s} ;;
  *) p_replay="" ;;
esac
o_replay=$("$bin" replay --data-dir "$work/o/storage" 2>&1 | figure 'replay seconds' || true)

pr=$(median "${p_rate[@]}") or=$(median "${o_rate[@]}") pm=$(median "${p_rss[@]}") om=$(median "${o_rss[@]}")
ratio() { if [ -n "$1" ] && [ -n "$2" ]; then awk "BEGIN {printf \"%.2f\", $2 / $1}"; else echo "?"; fi; }
echo
echo "$series series x $scrapes scrapes, $rounds rounds, medians; ratio = tsdb-cli / promtool"
printf '%-24s %14s %14s %8s\n' figure promtool tsdb-cli ratio
printf '%-24s %14.0f %14.0f %8s\n' "samples/s" "$pr" "$or" "$(ratio "$pr" "$or")"
printf '%-24s %14d %14d %8s\n' "peak RSS KiB" "$pm" "$om" "$(ratio "$pm" "$om")"
printf '%-24s %14.0f %14.0f %8s\n' "peak RSS bytes/series" "$(awk "BEGIN {print $pm * 1024 / $series}")" \
  "$(awk "BEGIN {print $om * 1024 / $series}")" "$(ratio "$pm" "$om")"
printf '%-24s %14s %14s %8s\n' "restart s" "${p_replay:-?}" "${o_replay:-?}" "$(ratio "$p_replay" "$o_replay")"
