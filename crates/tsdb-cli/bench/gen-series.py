#!/usr/bin/env python3
"""Deterministic label sets shaped like a Kubernetes cluster's, for `bench write` and the side-by-side
benchmarks: one JSON object per line (label name -> value), the input of both `tsdb-cli bench write`
and `promtool tsdb bench write`, so no value holds ':', ',', '{', '}' or '"'.

usage: gen-series.py N [SEED] > series.jsonl

Families: node metrics per node (CPU per core and mode, filesystem and network per device), container
metrics per pod and container, and HTTP request counters and latency histograms per service instance.
Every label set is distinct; the same N and SEED always give the same lines.
"""
import json
import random
import sys

MODES = ["idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"]
DEVICES = ["sda", "sdb", "nvme0n1", "eth0", "eth1"]
METHODS = ["GET", "POST", "PUT", "DELETE"]
CODES = ["200", "201", "204", "301", "400", "404", "500", "503"]
BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
NAMESPACES = ["default", "kube-system", "monitoring", "payments", "search", "checkout", "auth"]


def node_series(rnd, node):
    inst = f"10.{node // 65536 % 256}.{node // 256 % 256}.{node % 256}_9100"
    base = {"job": "node", "instance": inst}
    for cpu in range(rnd.choice([2, 4, 8])):
        for mode in MODES:
            yield {"__name__": "node_cpu_seconds_total", **base, "cpu": str(cpu), "mode": mode}
    for dev in DEVICES:
        for name in ["node_network_receive_bytes_total", "node_network_transmit_bytes_total",
                     "node_disk_read_bytes_total", "node_disk_written_bytes_total"]:
            yield {"__name__": name, **base, "device": dev}
    for name in ["node_memory_MemFree_bytes", "node_memory_MemTotal_bytes", "node_load1", "node_load5"]:
        yield {"__name__": name, **base}


def pod_series(rnd, pod):
    ns = NAMESPACES[pod % len(NAMESPACES)]
    name = f"app-{pod // 7}-{rnd.randrange(16**5):05x}"
    for container in ["app", "sidecar"][: rnd.choice([1, 2])]:
        base = {"job": "kubelet", "namespace": ns, "pod": name, "container": container}
        for metric in ["container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                       "container_memory_rss", "container_network_receive_bytes_total",
                       "container_fs_reads_bytes_total"]:
            yield {"__name__": metric, **base}


def service_series(rnd, svc):
    base = {"job": f"svc-{svc % 97}", "instance": f"svc-{svc}_8080", "namespace": NAMESPACES[svc % 7]}
    handlers = [f"/api/v{1 + i % 2}/{w}" for i, w in enumerate(["items", "users", "orders"][: rnd.choice([1, 2, 3])])]
    for h in handlers:
        for m in METHODS[: rnd.choice([1, 2, 4])]:
            for c in CODES[: rnd.choice([2, 4, 8])]:
                yield {"__name__": "http_requests_total", **base, "handler": h, "method": m, "code": c}
        for le in BUCKETS:
            yield {"__name__": "http_request_duration_seconds_bucket", **base, "handler": h, "le": le}
        for suffix in ["sum", "count"]:
            yield {"__name__": f"http_request_duration_seconds_{suffix}", **base, "handler": h}


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rnd = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    out = sys.stdout
    written = 0
    unit = 0
    while written < n:
        kind = unit % 10
        gen = node_series if kind == 0 else pod_series if kind < 6 else service_series
        for labels in gen(rnd, unit):
            if written == n:
                break
            labels["cluster"] = f"c{unit % 3}"
            out.write(json.dumps(labels, separators=(",", ":"), sort_keys=True))
            out.write("\n")
            written += 1
        unit += 1


if __name__ == "__main__":
    main()
