//! Recording mode: each data set of a script is loaded into a real `prometheus` (2.42) and every eval's
//! HTTP JSON answer is stored in `<script>.expected.json` beside the script.
//!
//! Data sets without staleness markers are written as OpenMetrics and turned into blocks with
//! `promtool tsdb create-blocks-from openmetrics`; data sets with markers (which OpenMetrics cannot
//! carry) are sent to a Prometheus started with `--web.enable-remote-write-receiver`, in one remote
//! write request whose samples go in time order. Prometheus is always killed (a Drop guard), also when
//! recording panics.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use super::script::{DataSet, EvalKind, Script};

/// A running `prometheus`, killed and reaped when dropped.
struct Prometheus {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Prometheus {
    /// Starts `prometheus` on `data` (an empty config, a 200-year retention) and waits for `/-/ready`
    /// (30 s at most).
    fn start(root: &Path, data: &Path, remote_write: bool) -> Prometheus {
        let port = free_port();
        let cfg = root.join("prometheus.yml");
        std::fs::write(&cfg, "global: {}\n").expect("write prometheus.yml");
        let log = root.join(format!("prometheus-{port}.log"));
        let out = File::create(&log).expect("create log");
        let err = out.try_clone().expect("clone log");
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=200y");
        if remote_write {
            cmd.arg("--web.enable-remote-write-receiver");
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start prometheus (is it on PATH?): {e}"));
        let mut p = Prometheus { child, log, port };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!(
                    "prometheus exited before ready ({status})\n{}",
                    p.log_tail()
                );
            }
            if let Ok((200, _)) = http(port, "GET", "/-/ready", &[], &[]) {
                return p;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "prometheus not ready after 30 s\n{}",
                p.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// One HTTP/1.0 request to 127.0.0.1:`port`; the status and the body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    s.flush()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let status = std::str::from_utf8(&resp[..split])
        .ok()
        .and_then(|h| h.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    Ok((status, resp[split + 4..].to_vec()))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn url_encode(s: &str) -> String {
    let mut out = String::new();
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

/// Milliseconds as the decimal seconds Prometheus's API reads.
fn secs(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

/// A float as OpenMetrics writes it.
fn om_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v:?}")
    }
}

fn om_escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The data set as OpenMetrics text: series sorted by labels (so each metric family is contiguous),
/// samples in time order, timestamps in seconds, `# EOF` at the end.
pub fn openmetrics(ds: &DataSet) -> String {
    let mut out = String::new();
    for s in &ds.series {
        let name = s
            .labels
            .iter()
            .find(|(n, _)| n == "__name__")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        let rest: Vec<String> = s
            .labels
            .iter()
            .filter(|(n, _)| n != "__name__")
            .map(|(n, v)| format!("{n}=\"{}\"", om_escape(v)))
            .collect();
        let desc = if rest.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{}}}", rest.join(","))
        };
        for &(t, v) in &s.samples {
            out.push_str(&format!("{desc} {} {}\n", om_float(v), secs(t)));
        }
    }
    out.push_str("# EOF\n");
    out
}

/// Loads `ds` into a fresh Prometheus under `root` and returns it running.
fn load(root: &Path, ds: &DataSet) -> Prometheus {
    let data = root.join("data");
    std::fs::create_dir_all(&data).expect("create data dir");
    if ds.has_stale() {
        let p = Prometheus::start(root, &data, true);
        remote_write(&p, ds);
        return p;
    }
    if !ds.series.is_empty() {
        let om = root.join("data.om");
        std::fs::write(&om, openmetrics(ds)).expect("write openmetrics");
        let out = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&om)
            .arg(&data)
            .output()
            .unwrap_or_else(|e| panic!("cannot run promtool (is it on PATH?): {e}"));
        assert!(
            out.status.success(),
            "promtool failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Prometheus::start(root, &data, false)
}

/// Sends every sample of `ds` in one remote write 1.0 request. Series go oldest first sample first, so
/// the head's appendable window (an hour before its first sample) holds them all.
fn remote_write(p: &Prometheus, ds: &DataSet) {
    use tsdb_remote::v1::{Label, Sample, TimeSeries, WriteRequest};
    use tsdb_remote::Message;
    let mut series: Vec<&super::script::LoadedSeries> = ds.series.iter().collect();
    series.sort_by_key(|s| s.samples.first().map(|x| x.0));
    let req = WriteRequest {
        timeseries: series
            .iter()
            .map(|s| TimeSeries {
                labels: s.labels.iter().map(|(n, v)| Label::new(n, v)).collect(),
                samples: s
                    .samples
                    .iter()
                    .map(|&(t, v)| Sample {
                        value: v,
                        timestamp: t,
                    })
                    .collect(),
                exemplars: vec![],
                histograms: vec![],
            })
            .collect(),
    };
    let body = tsdb_remote::snappy::compress(&req.encode_to_vec());
    let (status, resp) = http(
        p.port,
        "POST",
        "/api/v1/write",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ],
        &body,
    )
    .unwrap_or_else(|e| panic!("remote write: {e}\n{}", p.log_tail()));
    assert!(
        (200..300).contains(&status),
        "remote write answered {status}: {}\n{}",
        String::from_utf8_lossy(&resp),
        p.log_tail()
    );
}

/// Records every eval of `script` against Prometheus; returns the JSON document of the expected file.
pub fn record(script: &Script) -> Json {
    let mut cases = Vec::new();
    let mut version = String::new();
    for (i, ds) in script.datasets.iter().enumerate() {
        let root = tempfile::tempdir().expect("tempdir");
        let p = load(root.path(), ds);
        if version.is_empty() {
            if let Ok((200, b)) = http(p.port, "GET", "/api/v1/status/buildinfo", &[], &[]) {
                if let Ok(j) = serde_json::from_slice::<Json>(&b) {
                    version = j["data"]["version"].as_str().unwrap_or("").to_owned();
                }
            }
        }
        for e in &ds.evals {
            let path = match e.kind {
                EvalKind::Instant { t } => format!(
                    "/api/v1/query?query={}&time={}",
                    url_encode(&e.query),
                    secs(t)
                ),
                EvalKind::Range { start, end, step } => format!(
                    "/api/v1/query_range?query={}&start={}&end={}&step={}",
                    url_encode(&e.query),
                    secs(start),
                    secs(end),
                    secs(step)
                ),
            };
            let (status, body) = http(p.port, "GET", &path, &[], &[]).unwrap_or_else(|err| {
                panic!(
                    "{}:{}: GET {path}: {err}\n{}",
                    script.name,
                    e.line,
                    p.log_tail()
                )
            });
            let response: Json = serde_json::from_slice(&body).unwrap_or_else(|err| {
                panic!(
                    "{}:{}: HTTP {status}, not JSON ({err}): {}",
                    script.name,
                    e.line,
                    String::from_utf8_lossy(&body)
                )
            });
            cases.push(json!({
                "line": e.line,
                "query": e.query,
                "eval": e.describe(),
                "dataset": i,
                "response": response,
            }));
        }
        drop(p);
    }
    json!({
        "about": "Prometheus's answers to the evals of the script beside this file, recorded by \
                  TSDB_PROMQL_RECORD=1 cargo test -p tsdb-promql --test conformance. Do not edit: re-record.",
        "prometheus_version": version,
        "script": script.name,
        "cases": cases,
    })
}
