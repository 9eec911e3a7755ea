//! Helpers shared by the integration tests: deterministic data, a model of the expected query
//! results, and running `promtool` (gated by `TSDB_INTEROP`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use tsdb_block::{Block, Interval, Intervals};
use tsdb_labels::{Labels, Matcher};

/// A small deterministic PRNG (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub type Data = Vec<(Labels, Vec<(i64, f64)>)>;

/// `n` series with about `samples` samples each from `start`, every `step` ms (with jitter for
/// some series), of assorted value shapes.
pub fn gen_data(seed: u64, n: usize, samples: usize, start: i64, step: i64) -> Data {
    let mut rng = Rng(seed);
    let jobs = ["api", "db", "cache", "web"];
    let mut out = Vec::new();
    for i in 0..n {
        let name = format!("metric_{}", i % 7);
        let job = jobs[i % jobs.len()];
        let inst = format!("host-{}:9100", i / 7);
        let mut pairs = vec![
            ("__name__".to_string(), name),
            ("job".to_string(), job.to_string()),
            ("instance".to_string(), inst),
        ];
        if i % 3 == 0 {
            pairs.push(("zone".to_string(), format!("z{}", i % 5)));
        }
        let labels = Labels::new(pairs).unwrap();
        let mut t = start + rng.below(step as u64) as i64;
        let mut v = 0.0f64;
        let mut s = Vec::with_capacity(samples);
        let shape = i % 4;
        for k in 0..samples {
            v = match shape {
                0 => v + rng.below(100) as f64,
                1 => (rng.below(1_000_000) as f64) / 1000.0,
                2 => 42.0,
                _ => f64::from_bits(rng.next() >> 12 | 0x3ff0_0000_0000_0000) * 1e3,
            };
            s.push((t, v));
            let jitter = if i % 5 == 0 {
                rng.below(1000) as i64
            } else {
                0
            };
            t += step + jitter;
            let _ = k;
        }
        out.push((labels, s));
    }
    out
}

/// What a query should return: series matching all matchers (an empty list matches all), samples
/// in the closed range and not deleted, series left without samples dropped; sorted by labels.
pub fn model(
    data: &[(Labels, Vec<(i64, f64)>)],
    ms: &[Matcher],
    mint: i64,
    maxt: i64,
    deleted: &dyn Fn(&Labels) -> Intervals,
) -> BTreeMap<Labels, Vec<(i64, f64)>> {
    let mut out = BTreeMap::new();
    for (l, s) in data {
        if !ms.iter().all(|m| m.matches_labels(l)) {
            continue;
        }
        let d = deleted(l);
        let v: Vec<(i64, f64)> = s
            .iter()
            .copied()
            .filter(|(t, _)| *t >= mint && *t <= maxt && !d.contains(*t))
            .collect();
        if !v.is_empty() {
            out.insert(l.clone(), v);
        }
    }
    out
}

pub fn no_deletes(_: &Labels) -> Intervals {
    Intervals::new()
}

pub fn single(iv: Interval) -> Intervals {
    [iv].into_iter().collect()
}

/// Everything a select returns, collected.
pub fn query(b: &Block, ms: &[Matcher], mint: i64, maxt: i64) -> BTreeMap<Labels, Vec<(i64, f64)>> {
    let mut out = BTreeMap::new();
    let mut prev: Option<Labels> = None;
    for s in b.select(ms, mint, maxt).unwrap() {
        let s = s.unwrap();
        if let Some(p) = &prev {
            assert!(p < s.labels(), "series out of order");
        }
        prev = Some(s.labels().clone());
        let v = s.collect_samples().unwrap();
        if !v.is_empty() {
            out.insert(s.labels().clone(), v);
        }
    }
    out
}

/// Compares two results, NaN equal to NaN (by bits).
pub fn assert_same(
    got: &BTreeMap<Labels, Vec<(i64, f64)>>,
    want: &BTreeMap<Labels, Vec<(i64, f64)>>,
) {
    assert_eq!(got.len(), want.len(), "number of series");
    for ((gl, gs), (wl, ws)) in got.iter().zip(want) {
        assert_eq!(gl, wl);
        assert_eq!(gs.len(), ws.len(), "samples of {gl}");
        for (g, w) in gs.iter().zip(ws) {
            assert_eq!(g.0, w.0, "timestamp in {gl}");
            assert!(
                g.1.to_bits() == w.1.to_bits() || (g.1.is_nan() && w.1.is_nan()),
                "value in {gl} at {}: {} vs {}",
                g.0,
                g.1,
                w.1
            );
        }
    }
}

/// `promtool` if on PATH. When it is missing: panics under `TSDB_INTEROP=require`, else prints
/// a skip note and returns `None`.
pub fn promtool(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("TSDB_INTEROP").as_deref() == Ok("require") {
            panic!("{test}: promtool is not on PATH and TSDB_INTEROP=require");
        }
        eprintln!(
            "{test}: skipped, promtool is not on PATH (set TSDB_INTEROP=require to fail instead)"
        );
    }
    found
}

/// Runs promtool; returns stdout, panicking with stderr if it fails.
pub fn run(promtool: &Path, args: &[&str]) -> String {
    let out = Command::new(promtool)
        .args(args)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn parse_go_float(s: &str) -> f64 {
    match s {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => s.parse().unwrap_or_else(|_| panic!("bad value {s:?}")),
    }
}

/// Parses `promtool tsdb dump` output: `{labels} value timestamp` per line.
pub fn parse_dump(text: &str) -> BTreeMap<Labels, Vec<(i64, f64)>> {
    let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (rest, ts) = line.rsplit_once(' ').expect("timestamp");
        let (labels, v) = rest.rsplit_once(' ').expect("value");
        let labels = tsdb_labels::parse_labels(labels).unwrap_or_else(|e| panic!("{labels}: {e}"));
        out.entry(labels)
            .or_default()
            .push((ts.parse().unwrap(), parse_go_float(v)));
    }
    for v in out.values_mut() {
        v.sort_by_key(|s| s.0);
    }
    out
}
