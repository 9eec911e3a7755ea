#!/usr/bin/env python3
"""Writes input.om: a deterministic OpenMetrics file for the promtool golden test of tsdb-chunks.

All samples fall in one 2-hour block range, [1699999200, 1700006400) seconds, so promtool
makes exactly one block. Shapes: counters scraped every 15 s and 30 s with millisecond jitter
(and a few resets), gauges as random walks with 2 decimals (negative too), constants, irregular
timestamps with fractional seconds, and odd values (NaN, +Inf, -Inf, -0, huge and tiny).

Usage: python3 gen_input.py > input.om
"""

import random
import sys

START = 1699999200  # multiple of 7200: start of a 2h block range
END = START + 7200

rng = random.Random(20240603)
out = []


def ts(ms):
    """Seconds, with millisecond decimals when needed, as OpenMetrics timestamps are written."""
    s, frac = divmod(ms, 1000)
    return "%d.%03d" % (s, frac) if frac else "%d" % s


def scrape_times(interval_ms, jitter_ms, offset_ms):
    t = START * 1000 + offset_ms
    times = []
    while t < END * 1000 - 1000:
        times.append(t + rng.randint(-jitter_ms, jitter_ms))
        t += interval_ms
    return times


def fmt(v):
    if v != v:
        return "NaN"
    if v == float("inf"):
        return "+Inf"
    if v == float("-inf"):
        return "-Inf"
    return repr(v)


# Counters, 15 s and 30 s scrape intervals, with small jitter and occasional resets.
out.append("# TYPE c counter")
for i in range(70):
    interval = 15000 if i < 45 else 30000
    v = float(rng.randint(0, 10**6))
    for t in scrape_times(interval, 40, 1000 + 97 * i):
        if rng.random() < 0.002:
            v = 0.0
        if i % 3 == 0:
            v += rng.randint(0, 50)
        else:
            v = round(v + rng.random() * 20, 3)
        out.append('c_total{i="%02d"} %s %s' % (i, fmt(v), ts(t)))

# Gauges: random walks with 2 decimals, some around zero.
out.append("# TYPE g gauge")
for i in range(45):
    v = rng.uniform(-50, 500) if i % 4 else 0.0
    for t in scrape_times(15000, 25, 2000 + 113 * i):
        v = round(v + rng.gauss(0, 3), 2)
        out.append('g{i="%02d"} %s %s' % (i, fmt(v), ts(t)))

# Constants (one of them a stretch of -0).
out.append("# TYPE k gauge")
for i, c in enumerate([1.0, 0.0, 42.5, -7.0, 1e9, -0.0, 3.141592653589793, 100.0]):
    for t in scrape_times(15000, 0, 3000 + 7 * i):
        out.append('k{i="%d"} %s %s' % (i, fmt(c), ts(t)))

# Irregular timestamps: gaps from 1 ms to 10 minutes, fractional seconds.
out.append("# TYPE r gauge")
for i in range(10):
    t = START * 1000 + 500 + i
    v = rng.uniform(0, 1000)
    while True:
        t += rng.choice([1, 7, 250, 999, 1000, 15000, 15001, 60000, 600000, rng.randint(1, 120000)])
        if t >= END * 1000:
            break
        v = v * rng.uniform(0.5, 1.5) if rng.random() < 0.9 else rng.uniform(-1e6, 1e6)
        out.append('r{i="%d"} %s %s' % (i, fmt(v), ts(t)))

# Odd values.
out.append("# TYPE o gauge")
specials = [float("nan"), float("inf"), float("-inf"), -0.0, 0.0, 1e300, -1e-300, 5e-324, 1.7976931348623157e308]
for i in range(4):
    for k, t in enumerate(scrape_times(30000, 5, 4000 + 11 * i)):
        if k % 7 == i:
            v = specials[(k + i) % len(specials)]
        else:
            v = rng.uniform(-1, 1) * 10 ** rng.randint(-5, 5)
        out.append('o{i="%d"} %s %s' % (i, fmt(v), ts(t)))

out.append("# EOF")
sys.stdout.write("\n".join(out) + "\n")
n = sum(1 for line in out if not line.startswith("#"))
sys.stderr.write("%d samples\n" % n)
