//! Referee: a WAL written in Prometheus-compatible mode is migrated by Debian's `prometheus` (2.42), whose
//! HTTP API must then return every series and every sample we wrote, with the exact value and timestamp.
//!
//! Needs `prometheus` on `PATH`. Without it the test is skipped, unless `TSDB_INTEROP=require`, in which
//! case it fails.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tsdb_labels::Labels;
use tsdb_wal::{Batch, RefSample, RefSeries, SyncPolicy, Wal, WalMode, WalOptions};

const SERIES: usize = 1_200;
const SAMPLES_PER_SERIES: usize = 150;
const SCRAPE_INTERVAL_MS: i64 = 15_000;
const SEGMENT_SIZE: u64 = 512 * 1024;
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Prometheus's stale marker: range selectors drop it, so it must not be written here.
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

type LabelMap = BTreeMap<String, String>;

// ---------------------------------------------------------------------------------------------------------
// The Prometheus process.

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Kills and reaps the server when dropped, also when the test panics.
struct PromGuard {
    child: Child,
    log: PathBuf,
}

impl PromGuard {
    fn log_tail(&self) -> String {
        log_tail(&self.log, 60)
    }
}

impl Drop for PromGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("<cannot read log: {e}>"));
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    format!(
        "--- prometheus log ({}), last {} lines ---\n{}",
        path.display(),
        all.len() - from,
        all[from..].join("\n")
    )
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

fn start_prometheus(bin: &Path, root: &Path, data: &Path, port: u16) -> PromGuard {
    let config = root.join("prometheus.yml");
    std::fs::write(&config, "global: {}\nscrape_configs: []\n").expect("write config");
    let log = root.join("prometheus.log");
    let out = File::create(&log).expect("create log file");
    let err = out.try_clone().expect("clone log file");
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=100y")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    PromGuard { child, log }
}

fn wait_ready(prom: &mut PromGuard, port: u16) {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = prom.child.try_wait() {
            panic!(
                "prometheus exited before it was ready ({status})\n{}",
                prom.log_tail()
            );
        }
        if let Ok((200, _)) = http_get(port, "/-/ready") {
            return;
        }
        if start.elapsed() > READY_TIMEOUT {
            panic!(
                "prometheus not ready after {READY_TIMEOUT:?}\n{}",
                prom.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ---------------------------------------------------------------------------------------------------------
// Minimal HTTP/1.0 client.

/// `GET path` over HTTP/1.0; returns the status code and the body.
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    s.flush()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&resp[..split]).map_err(|_| bad("headers not UTF-8"))?;
    let status_line = head.lines().next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| bad(&format!("bad status line {status_line:?}")))?;
    if head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:"))
    {
        return Err(bad("unexpected transfer-encoding in an HTTP/1.0 response"));
    }
    Ok((status, resp[split + 4..].to_vec()))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------------
// The data set.

struct DataSet {
    series: Vec<RefSeries>,
    /// One scrape-like batch per round, over all series.
    rounds: Vec<Vec<RefSample>>,
    /// What Prometheus must return: label set → samples `(t ms, v)` in time order.
    expected: BTreeMap<LabelMap, Vec<(i64, f64)>>,
    min_t: i64,
    max_t: i64,
}

/// Deterministic xorshift64* generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

const METRICS: &[&str] = &[
    "http_requests_total",
    "node_cpu_seconds_total",
    "process_resident_memory_bytes",
    "room_temperature_celsius",
    "queue_depth_delta",
    "physics_constant_ratio",
    "disk_io_time_weighted_seconds_total",
    "odd_values",
];

const SPECIALS: &[f64] = &[
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -0.0,
    0.0,
    f64::MIN_POSITIVE,
    5e-324, // smallest subnormal
    -5e-324,
    f64::MAX,
    f64::MIN,
    1e-300,
    -1e300,
    0.1 + 0.2,
    std::f64::consts::PI,
    -std::f64::consts::E,
    9_007_199_254_740_994.0, // 2^53 + 2
    1.0e21,
    123_456_789.012_345,
];

fn value(kind: usize, s: usize, i: usize, rng: &mut Rng) -> f64 {
    let i_f = i as f64;
    let s_f = s as f64;
    match kind {
        // Counters: integral, monotonic.
        0 | 1 => (s as u64 * 1_000 + (i as u64) * (s as u64 % 17 + 1)) as f64,
        // A counter of seconds with fractions.
        6 => s_f * 10.0 + i_f * 0.25 + (i as f64) / 3.0,
        // Large magnitudes.
        2 => 1.0e9 + s_f * 4096.0 + i_f * 1.5e3,
        // Gauges with fractions, around zero (negative too).
        3 => -20.0 + (s_f * 0.37 + i_f * 1.1).sin() * 45.3 + (i_f / 7.0),
        4 => (i as i64 - 75) as f64 * (s as f64 + 1.0) / 13.0,
        // Tiny magnitudes and random finite bit patterns.
        5 => match i % 3 {
            0 => (s_f + 1.0) * 1e-12 / (i_f + 3.0),
            1 => -6.626_070_15e-34 * (i_f + 1.0),
            _ => loop {
                let v = f64::from_bits(rng.next());
                if v.is_finite() {
                    break v;
                }
            },
        },
        // Special values: NaN, ±Inf, -0.0, extremes, interleaved with ordinary ones.
        _ => {
            if i.is_multiple_of(2) {
                SPECIALS[(i / 2 + s) % SPECIALS.len()]
            } else {
                s_f - i_f * 0.5
            }
        }
    }
}

fn build_dataset(now_ms: i64) -> DataSet {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // The last round lands about a minute before now; every series has its own phase within the interval.
    let base = now_ms - SCRAPE_INTERVAL_MS * SAMPLES_PER_SERIES as i64 - 60_000;
    let jobs = ["node", "api-server", "batch/worker", "café-exporter"];
    let mut series = Vec::with_capacity(SERIES);
    let mut label_maps = Vec::with_capacity(SERIES);
    let mut phases = Vec::with_capacity(SERIES);
    for s in 0..SERIES {
        let kind = s % METRICS.len();
        let mut pairs: Vec<(String, String)> = vec![
            ("__name__".into(), METRICS[kind].into()),
            ("job".into(), jobs[s % jobs.len()].into()),
            (
                "instance".into(),
                format!("10.{}.{}.{}:9100", s / 65_536, (s / 256) % 256, s % 256),
            ),
        ];
        match s % 5 {
            0 => pairs.push(("path".into(), format!("/api/v1/日本語/ünïcødé/{s}"))),
            1 => pairs.push(("quoted".into(), format!("say \"hi\" \\ back\\slash {s}"))),
            2 => pairs.push(("mode".into(), ["user", "system", "idle"][s % 3].into())),
            3 => pairs.push(("multi_line".into(), format!("line1\nline2\ttab {s}"))),
            _ => {}
        }
        if s % 7 == 0 {
            pairs.push(("le".into(), "+Inf".into()));
        }
        let labels =
            Labels::new(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))).expect("valid labels");
        let map: LabelMap = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        series.push(RefSeries {
            series: 1_000 + 3 * s as u64,
            labels,
        });
        label_maps.push(map);
        phases.push(((s as i64) * 7_919) % SCRAPE_INTERVAL_MS);
    }

    let mut expected: BTreeMap<LabelMap, Vec<(i64, f64)>> = BTreeMap::new();
    let mut per_series: Vec<Vec<(i64, f64)>> = (0..SERIES)
        .map(|_| Vec::with_capacity(SAMPLES_PER_SERIES))
        .collect();
    let mut rounds = Vec::with_capacity(SAMPLES_PER_SERIES);
    let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
    for i in 0..SAMPLES_PER_SERIES {
        let mut round = Vec::with_capacity(SERIES);
        for s in 0..SERIES {
            let t = base + i as i64 * SCRAPE_INTERVAL_MS + phases[s];
            let v = value(s % METRICS.len(), s, i, &mut rng);
            assert_ne!(v.to_bits(), STALE_NAN_BITS);
            min_t = min_t.min(t);
            max_t = max_t.max(t);
            round.push(RefSample {
                series: series[s].series,
                t,
                v,
            });
            per_series[s].push((t, v));
        }
        rounds.push(round);
    }
    for (map, samples) in label_maps.into_iter().zip(per_series) {
        let dup = expected.insert(map, samples);
        assert!(dup.is_none(), "label sets must be distinct");
    }
    DataSet {
        series,
        rounds,
        expected,
        min_t,
        max_t,
    }
}

fn write_wal(dir: &Path, data: &DataSet) -> Vec<String> {
    let wal = Wal::open(
        dir,
        WalOptions {
            mode: WalMode::Prometheus,
            segment_size: SEGMENT_SIZE,
            sync: SyncPolicy::Never,
            ..Default::default()
        },
    )
    .expect("open WAL");
    for chunk in data.series.chunks(250) {
        wal.log(Batch {
            series: chunk,
            samples: &[],
            deletes: &[],
        })
        .expect("log series");
    }
    for round in &data.rounds {
        wal.log(Batch {
            series: &[],
            samples: round,
            deletes: &[],
        })
        .expect("log samples");
    }
    wal.close().expect("close WAL");
    let mut segments: Vec<String> = std::fs::read_dir(dir)
        .expect("read WAL dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    segments.sort();
    segments
}

// ---------------------------------------------------------------------------------------------------------
// Parsing the API's answer.

/// Parses a sample value as Prometheus formats it: Go's `FormatFloat(v, 'f', -1, 64)`, `NaN`, `+Inf`, `-Inf`.
fn parse_prom_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}

/// Bit-exact, except that every NaN equals every NaN (JSON keeps no payload).
fn same_value(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

fn parse_matrix(body: &[u8]) -> Result<BTreeMap<LabelMap, Vec<(i64, f64)>>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("response is not JSON: {e}"))?;
    if v["status"] != "success" {
        return Err(format!("query failed: {}", truncate(&v.to_string(), 2000)));
    }
    if v["data"]["resultType"] != "matrix" {
        return Err(format!(
            "resultType {} is not matrix",
            v["data"]["resultType"]
        ));
    }
    let result = v["data"]["result"]
        .as_array()
        .ok_or("data.result is not an array")?;
    let mut out = BTreeMap::new();
    for r in result {
        let metric: LabelMap = r["metric"]
            .as_object()
            .ok_or("metric is not an object")?
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    v.as_str().ok_or("label value not a string")?.to_string(),
                ))
            })
            .collect::<Result<_, String>>()?;
        let mut points = Vec::new();
        for p in r["values"].as_array().ok_or("values is not an array")? {
            let ts = p[0]
                .as_f64()
                .ok_or_else(|| format!("bad timestamp in {p}"))?;
            let t = (ts * 1000.0).round() as i64;
            let vs = p[1].as_str().ok_or_else(|| format!("bad value in {p}"))?;
            let val = parse_prom_value(vs).ok_or_else(|| format!("unparsable value {vs:?}"))?;
            points.push((t, val));
        }
        if out.insert(metric.clone(), points).is_some() {
            return Err(format!("series {metric:?} returned twice"));
        }
    }
    Ok(out)
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Every difference between what we wrote and what Prometheus returned, at most `limit` of them described.
fn diff(
    expected: &BTreeMap<LabelMap, Vec<(i64, f64)>>,
    got: &BTreeMap<LabelMap, Vec<(i64, f64)>>,
    limit: usize,
) -> (usize, Vec<String>) {
    let mut n = 0;
    let mut msgs = Vec::new();
    let mut report = |m: String| {
        n += 1;
        if msgs.len() < limit {
            msgs.push(m);
        }
    };
    for (labels, want) in expected {
        let Some(have) = got.get(labels) else {
            report(format!(
                "missing series {labels:?} ({} samples)",
                want.len()
            ));
            continue;
        };
        if have.len() != want.len() {
            report(format!(
                "series {labels:?}: {} samples returned, {} written",
                have.len(),
                want.len()
            ));
        }
        for (k, (w, h)) in want.iter().zip(have).enumerate() {
            if w.0 != h.0 || !same_value(w.1, h.1) {
                report(format!(
                    "series {labels:?} sample {k}: got ({}, {:?} bits {:#018x}), wrote ({}, {:?} bits {:#018x})",
                    h.0,
                    h.1,
                    h.1.to_bits(),
                    w.0,
                    w.1,
                    w.1.to_bits()
                ));
            }
        }
    }
    for labels in got.keys().filter(|l| !expected.contains_key(*l)) {
        report(format!("unexpected series {labels:?}"));
    }
    (n, msgs)
}

// ---------------------------------------------------------------------------------------------------------

#[test]
fn prometheus_migrates_and_serves_compatible_wal() {
    let started = Instant::now();
    let require = std::env::var("TSDB_INTEROP").is_ok_and(|v| v == "require");
    let Some(bin) = find_in_path("prometheus") else {
        if require {
            panic!("TSDB_INTEROP=require but `prometheus` was not found on PATH (Debian: apt-get install prometheus)");
        }
        eprintln!(
            "skipping: prometheus not found (set TSDB_INTEROP=require to make this an error)"
        );
        return;
    };

    let root = tempfile::tempdir().expect("tempdir");
    let data_dir = root.path().join("data");
    let wal_dir = data_dir.join("wal");

    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    let data = build_dataset(now_ms);
    let total_samples: usize = data.expected.values().map(Vec::len).sum();
    assert!(data.expected.len() >= 1_000 && total_samples >= 100_000);
    let (nan, pinf, ninf) = data
        .expected
        .values()
        .flatten()
        .fold((0, 0, 0), |c, &(_, v)| {
            (
                c.0 + v.is_nan() as usize,
                c.1 + (v == f64::INFINITY) as usize,
                c.2 + (v == f64::NEG_INFINITY) as usize,
            )
        });
    assert!(nan > 0 && pinf > 0 && ninf > 0);

    let segments = write_wal(&wal_dir, &data);
    assert!(
        segments.len() >= 2,
        "expected at least 2 WAL segments, found {segments:?}"
    );
    let wal_bytes: u64 = segments
        .iter()
        .map(|s| std::fs::metadata(wal_dir.join(s)).map_or(0, |m| m.len()))
        .sum();

    let port = free_port();
    let mut prom = start_prometheus(&bin, root.path(), &data_dir, port);
    wait_ready(&mut prom, port);
    let ready_after = started.elapsed();

    let log = std::fs::read_to_string(&prom.log).unwrap_or_default();
    assert!(
        log.contains("Migrating WAL format"),
        "prometheus did not log \"Migrating WAL format\"\n{}",
        prom.log_tail()
    );

    // Evaluate just after the last sample, over a range reaching before the first one.
    let eval_ms = data.max_t + 1;
    let range_s = (eval_ms - data.min_t) / 1000 + 120;
    let query = format!("{{__name__=~\".+\"}}[{range_s}s]");
    let path = format!(
        "/api/v1/query?query={}&time={}.{:03}",
        url_encode(&query),
        eval_ms / 1000,
        eval_ms % 1000
    );
    let (status, body) = http_get(port, &path)
        .unwrap_or_else(|e| panic!("GET {path} failed: {e}\n{}", prom.log_tail()));
    assert_eq!(
        status,
        200,
        "GET {path}: status {status}, body {}\n{}",
        truncate(&String::from_utf8_lossy(&body), 2000),
        prom.log_tail()
    );
    let got = parse_matrix(&body).unwrap_or_else(|e| panic!("{e}\n{}", prom.log_tail()));

    let (n_diff, msgs) = diff(&data.expected, &got, 20);
    let got_samples: usize = got.values().map(Vec::len).sum();
    assert!(
        n_diff == 0,
        "{n_diff} differences between the WAL and Prometheus's answer \
         (wrote {} series / {total_samples} samples, got {} series / {got_samples} samples):\n{}\n{}",
        data.expected.len(),
        got.len(),
        msgs.join("\n"),
        prom.log_tail()
    );

    eprintln!(
        "interop ok: {} series, {total_samples} samples ({nan} NaN, {pinf} +Inf, {ninf} -Inf), \
         {} segments ({wal_bytes} bytes), {} bytes of JSON; prometheus ready after {:.1?}, total {:.1?}",
        data.expected.len(),
        segments.len(),
        body.len(),
        ready_after,
        started.elapsed()
    );
    drop(prom);
}
