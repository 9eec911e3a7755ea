#!/bin/sh
# Forwarding throughput to a real receiver: a Prometheus (`--web.enable-remote-write-receiver`) on a free
# loopback port; SERIES × SAMPLES samples, one second apart and ending a minute ago (keep SAMPLES under
# 3,000: Prometheus refuses samples more than an hour behind its newest as out of bounds), are
# appended to a fresh database without forwarding, then `tsdb-cli append --forward-to` with an empty input
# opens it and sends its whole WAL, waiting at close until the receiver acknowledged everything: that run's
# time is the forwarding time (open and WAL replay included, a few percent).
#
#   cargo build --release -p tsdb-cli && crates/forward/bench/throughput.sh [SERIES] [SAMPLES]
set -eu
SERIES=${1:-1000}
SAMPLES=${2:-1000}
BIN=${TSDB_CLI:-target/release/tsdb-cli}
TMP=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'global:\n  scrape_interval: 1h\n' > "$TMP/prom.yml"
prometheus --config.file="$TMP/prom.yml" --storage.tsdb.path="$TMP/receiver" \
  --web.listen-address="127.0.0.1:$PORT" --web.enable-remote-write-receiver \
  --storage.tsdb.retention.time=100y > "$TMP/prometheus.log" 2>&1 &
PROM=$!
trap 'kill $PROM 2>/dev/null; wait $PROM 2>/dev/null; rm -rf "$TMP"' EXIT INT TERM
i=0
until curl -sf "http://127.0.0.1:$PORT/-/ready" > /dev/null; do
  i=$((i + 1)); [ $i -lt 600 ] || { echo "prometheus not ready" >&2; exit 1; }; sleep 0.1
done
python3 - "$SERIES" "$SAMPLES" > "$TMP/input.prom" <<'PY'
import sys, time
series, samples = int(sys.argv[1]), int(sys.argv[2])
t0 = int(time.time() * 1000) - samples * 1000 - 60_000
out = sys.stdout
for k in range(samples):
    t = t0 + k * 1000
    for i in range(series):
        out.write(f'fwd_bench{{job="bench",instance="host-{i % 50}",series="{i}"}} {i * 0.5 + k} {t}\n')
PY
"$BIN" append -d "$TMP/ours" "$TMP/input.prom" > /dev/null
N=$((SERIES * SAMPLES))
START=$(date +%s.%N)
"$BIN" append -d "$TMP/ours" --forward-to "http://127.0.0.1:$PORT/api/v1/write" /dev/null > /dev/null
END=$(date +%s.%N)
python3 -c "import sys; n=$N; s=$END-$START; print(f'forwarded {n} samples in {s:.2f} s: {n/s:.0f} samples/s')"
GOT=$(curl -s "http://127.0.0.1:$PORT/api/v1/query" --data-urlencode 'query=count_over_time(fwd_bench[2h])' \
  | python3 -c 'import json,sys; print(int(sum(float(r["value"][1]) for r in json.load(sys.stdin)["data"]["result"])))')
echo "receiver holds $GOT of $N samples"
