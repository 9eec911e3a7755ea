//! Prints the OpenMetrics input of the promtool-made fixture block (`testdata/block/promtool/`):
//! 510 series, about 117,000 samples, deterministic. See `testdata/block/README.md`.
//!
//! `cargo run -p tsdb-block --example gen_openmetrics > input.om`
//!
//! The tests include this file to know the exact samples the fixture must hold.

use std::fmt::Write;

use tsdb_labels::Labels;

/// First timestamp (ms): the data crosses the 2 h boundary at 1_700_006_400_000, so promtool
/// writes two blocks.
const START_S: i64 = 1_700_003_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One metric family: name and its series (labels without the name, samples in ms).
type Family = (&'static str, Vec<(Vec<(String, String)>, Vec<(i64, f64)>)>);

fn families() -> Vec<Family> {
    let mut rng = Rng(2024);
    let regular = |rng: &mut Rng, shape: u32| -> Vec<(i64, f64)> {
        let mut t = START_S + rng.below(15) as i64;
        let mut v = 0.0f64;
        let mut out = Vec::with_capacity(240);
        for _ in 0..240 {
            v = match shape {
                0 => v + rng.below(1500) as f64 / 100.0,
                1 => (rng.below(1 << 20) * 4096) as f64,
                2 => v + rng.below(20) as f64,
                _ => rng.below(1_000_000) as f64 / 1e6,
            };
            out.push((t * 1000, v));
            t += 15;
        }
        out
    };
    let l = |pairs: &[(&str, String)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect()
    };

    let mut cpu = Vec::new();
    for host in 0..20 {
        for c in 0..4 {
            for mode in ["idle", "iowait", "system", "user"] {
                let labels = l(&[
                    ("cpu", c.to_string()),
                    ("instance", format!("host-{host}:9100")),
                    ("job", "node".into()),
                    ("mode", mode.into()),
                ]);
                cpu.push((labels, regular(&mut rng, 0)));
            }
        }
    }
    let mut mem = Vec::new();
    for host in 0..20 {
        let labels = l(&[
            ("instance", format!("host-{host}:9100")),
            ("job", "node".into()),
        ]);
        mem.push((labels, regular(&mut rng, 1)));
    }
    let mut http = Vec::new();
    for host in 0..5 {
        for method in ["GET", "POST", "PUT"] {
            for code in ["200", "404", "500", "503"] {
                let labels = l(&[
                    ("code", code.into()),
                    ("instance", format!("api-{host}:8080")),
                    ("job", "api".into()),
                    ("method", method.into()),
                ]);
                http.push((labels, regular(&mut rng, 2)));
            }
        }
    }
    let mut db = Vec::new();
    for host in 0..10 {
        for q in ["0.5", "0.9", "0.95", "0.99", "0.999"] {
            let labels = l(&[
                ("instance", format!("db-{host}:5432")),
                ("job", "db".into()),
                ("quantile", q.into()),
            ]);
            db.push((labels, regular(&mut rng, 3)));
        }
    }
    let mut sparse = Vec::new();
    for host in 0..60 {
        let labels = l(&[
            ("instance", format!("batch-{host}")),
            ("job", "batch".into()),
        ]);
        let mut t = START_S + rng.below(120) as i64;
        let mut s = Vec::new();
        while t < START_S + 3700 {
            s.push((t * 1000, rng.below(100) as f64 - 50.5));
            t += 5 + rng.below(115) as i64;
        }
        sparse.push((labels, s));
    }
    vec![
        ("node_cpu_seconds_total", cpu),
        ("node_memory_free_bytes", mem),
        ("http_requests_total", http),
        ("db_query_duration_seconds", db),
        ("sparse_events", sparse),
    ]
}

/// Every series with its samples.
pub fn series() -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut out = Vec::new();
    for (name, fam) in families() {
        for (labels, samples) in fam {
            let mut pairs = labels;
            pairs.push(("__name__".into(), name.into()));
            out.push((Labels::new(pairs).expect("valid labels"), samples));
        }
    }
    out
}

/// The OpenMetrics text (timestamps in whole seconds).
pub fn openmetrics() -> String {
    let mut s = String::new();
    for (name, fam) in families() {
        let _ = writeln!(s, "# TYPE {name} gauge");
        for (labels, samples) in fam {
            let ls: Vec<String> = labels.iter().map(|(n, v)| format!("{n}=\"{v}\"")).collect();
            let ls = ls.join(",");
            for (t, v) in samples {
                let _ = writeln!(s, "{name}{{{ls}}} {v} {}", t / 1000);
            }
        }
    }
    s.push_str("# EOF\n");
    s
}

fn main() {
    print!("{}", openmetrics());
}
