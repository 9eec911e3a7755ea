//! A real Prometheus (and node_exporter) for the interop tests: found on PATH (or skipped, unless
//! `TSDB_INTEROP=require`), started on free 127.0.0.1 ports, waited for with a bound, always stopped (a Drop
//! guard kills and reaps it, also when a test panics), and queried over its HTTP API.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Labels as a map, name to value.
pub type LabelMap = BTreeMap<String, String>;
/// Samples by series, oldest first.
pub type Dump = BTreeMap<LabelMap, Vec<(i64, f64)>>;

/// The tool `name` on PATH. When it is missing: panics under `TSDB_INTEROP=require`, else prints a note
/// and returns `None` (the test then passes without checking).
pub fn tool(test: &str, name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("TSDB_INTEROP").as_deref() == Ok("require") {
            panic!("{test}: {name} is not on PATH and TSDB_INTEROP=require (apt-get install prometheus prometheus-node-exporter)");
        }
        eprintln!(
            "{test}: skipped, {name} is not on PATH (set TSDB_INTEROP=require to fail instead)"
        );
    }
    found
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// A server process, killed (SIGKILL) and reaped when dropped.
pub struct Server {
    pub name: &'static str,
    pub child: Child,
    pub log: PathBuf,
}

impl Server {
    /// Starts `cmd` with stdout and stderr going to `log`.
    pub fn start(name: &'static str, cmd: &mut Command, log: PathBuf) -> Server {
        let out = File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Server { name, child, log }
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        format!(
            "--- {} log, last lines ---\n{}",
            self.name,
            all[all.len().saturating_sub(40)..].join("\n")
        )
    }

    /// Waits (at most `bound`) until `GET path` on `port` answers 200; panics with the log otherwise.
    pub fn wait_ready(&mut self, port: u16, path: &str, bound: Duration) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited before it was ready ({status})\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if let Ok((200, _)) = http_get(port, path) {
                return;
            }
            if start.elapsed() > bound {
                panic!(
                    "{} not ready after {bound:?}\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then waits (at most 60 s) for the exit; returns its code. Panics with the log if it
    /// does not stop.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{} did not stop within 60 s of SIGTERM\n{}",
            self.name,
            self.log_tail()
        );
    }

    /// Waits (at most `bound`) until its log contains `needle`; panics with the log otherwise.
    pub fn wait_for_log(&mut self, needle: &str, bound: Duration) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited early ({status})\n{}", self.name, self.log_tail());
            }
            if std::fs::read_to_string(&self.log).is_ok_and(|t| t.contains(needle)) {
                return;
            }
            assert!(
                start.elapsed() < bound,
                "{} did not log {needle:?} within {bound:?}\n{}",
                self.name,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `prometheus` on `data` with `config` (YAML), listening on 127.0.0.1:`port`, with a retention
/// long enough for any test data and the extra flags given; waits until it is ready (bounded).
pub fn start_prometheus(
    bin: &Path,
    root: &Path,
    data: &Path,
    port: u16,
    config: &str,
    extra: &[&str],
) -> Server {
    let cfg = root.join(format!("prometheus-{port}.yml"));
    std::fs::write(&cfg, config).expect("write config");
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=200y")
        .args(extra);
    let mut s = Server::start(
        "prometheus",
        &mut cmd,
        root.join(format!("prometheus-{port}.log")),
    );
    s.wait_ready(port, "/-/ready", Duration::from_secs(60));
    s
}

/// `GET path` over HTTP/1.0; the status and the body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    http_exchange(
        port,
        &format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"),
        &[],
    )
}

/// Sends `head` and `body` to 127.0.0.1:`port` (HTTP/1.0, bounded waits); returns the status and body.
fn http_exchange(port: u16, head: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    s.flush()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&resp[..split]).map_err(|_| bad("headers not UTF-8"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| bad("bad status line"))?;
    Ok((status, resp[split + 4..].to_vec()))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn url_encode(s: &str) -> String {
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

/// Every sample Prometheus holds in `(from, to]` (ms), through `/api/v1/query` of the range selector
/// `{__name__=~".+"}[<span>]` evaluated at `to`.
pub fn query_all(server: &Server, port: u16, from: i64, to: i64) -> Dump {
    let span_ms = (to - from).max(1);
    let query = format!("{{__name__=~\".+\"}}[{span_ms}ms]");
    let path = format!(
        "/api/v1/query?query={}&time={}.{:03}",
        url_encode(&query),
        to.div_euclid(1000),
        to.rem_euclid(1000)
    );
    let (status, body) =
        http_get(port, &path).unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", server.log_tail()));
    assert_eq!(
        status,
        200,
        "GET {path}: {}\n{}",
        String::from_utf8_lossy(&body[..body.len().min(2000)]),
        server.log_tail()
    );
    parse_matrix(&body).unwrap_or_else(|e| panic!("{e}\n{}", server.log_tail()))
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

/// The samples of an instant query's matrix answer.
pub fn parse_matrix(body: &[u8]) -> Result<Dump, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("response is not JSON: {e}"))?;
    if v["status"] != "success" || v["data"]["resultType"] != "matrix" {
        return Err(format!(
            "not a matrix answer: {}",
            &v.to_string()[..v.to_string().len().min(2000)]
        ));
    }
    let mut out = Dump::new();
    for r in v["data"]["result"].as_array().ok_or("no result array")? {
        let metric: LabelMap = r["metric"]
            .as_object()
            .ok_or("metric is not an object")?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let mut points = Vec::new();
        for p in r["values"].as_array().ok_or("values is not an array")? {
            let ts = p[0].as_f64().ok_or("bad timestamp")?;
            let vs = p[1].as_str().ok_or("bad value")?;
            points.push((
                (ts * 1000.0).round() as i64,
                parse_value(vs).ok_or("bad value")?,
            ));
        }
        out.insert(metric, points);
    }
    Ok(out)
}

/// Parses a Go-quoted string (`strconv.Quote`) at the start of `s`; returns it and the rest.
fn go_unquote(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut it = body.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => {
                let (_, e) = it.next()?;
                let mut hex = |n: usize| -> Option<char> {
                    let mut v = 0;
                    for _ in 0..n {
                        v = v * 16 + it.next()?.1.to_digit(16)?;
                    }
                    char::from_u32(v)
                };
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'a' => '\x07',
                    'b' => '\x08',
                    'f' => '\x0c',
                    'v' => '\x0b',
                    '\\' => '\\',
                    '"' => '"',
                    'x' => hex(2)?,
                    'u' => hex(4)?,
                    'U' => hex(8)?,
                    _ => return None,
                });
            }
            c => out.push(c),
        }
    }
    None
}

/// Parses the output of `promtool tsdb dump` (and `tsdb-cli dump`): `{a="b", c="d"} value timestamp`.
pub fn parse_dump(text: &str) -> Dump {
    let mut d = Dump::new();
    for (i, line) in text.lines().enumerate() {
        let parsed = (|| {
            let mut rest = line.strip_prefix('{')?;
            let mut m = LabelMap::new();
            loop {
                if let Some(r) = rest.strip_prefix('}') {
                    rest = r;
                    break;
                }
                let eq = rest.find('=')?;
                let name = rest[..eq].to_string();
                let (value, r) = go_unquote(&rest[eq + 1..])?;
                m.insert(name, value);
                rest = r.strip_prefix(", ").unwrap_or(r);
            }
            let mut f = rest.split_whitespace();
            let v = parse_value(f.next()?)?;
            let t: i64 = f.next()?.parse().ok()?;
            f.next().is_none().then_some((m, v, t))
        })();
        let (m, v, t) =
            parsed.unwrap_or_else(|| panic!("dump line {}: cannot parse {line:?}", i + 1));
        d.entry(m).or_default().push((t, v));
    }
    for v in d.values_mut() {
        v.sort_by_key(|p| p.0);
    }
    d
}

/// Asserts that two dumps hold the same samples (bit for bit; any NaN equals any NaN, as JSON keeps no
/// payload); the message names the first differences.
#[track_caller]
pub fn assert_same(what: &str, got: &Dump, want: &Dump) {
    let same = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits();
    let mut diffs = Vec::new();
    for (l, w) in want {
        match got.get(l) {
            None => diffs.push(format!("series {l:?} missing ({} samples)", w.len())),
            Some(g)
                if g.len() != w.len()
                    || g.iter().zip(w).any(|(a, b)| a.0 != b.0 || !same(a.1, b.1)) =>
            {
                let first = g
                    .iter()
                    .zip(w)
                    .position(|(a, b)| a.0 != b.0 || !same(a.1, b.1));
                diffs.push(format!(
                    "series {l:?}: {} samples, want {}; first difference at {first:?}: {:?} vs {:?}",
                    g.len(),
                    w.len(),
                    first.and_then(|i| g.get(i)),
                    first.and_then(|i| w.get(i)),
                ))
            }
            Some(_) => {}
        }
    }
    for l in got.keys().filter(|l| !want.contains_key(*l)) {
        diffs.push(format!("unexpected series {l:?}"));
    }
    let n: usize = want.values().map(Vec::len).sum();
    assert!(
        diffs.is_empty(),
        "{what}: {} differences ({} series, {n} samples wanted):\n{}",
        diffs.len(),
        want.len(),
        diffs[..diffs.len().min(10)].join("\n")
    );
}

/// The time range of a dump's samples.
pub fn time_range(d: &Dump) -> (i64, i64) {
    let ts = d.values().flatten().map(|p| p.0);
    (ts.clone().min().unwrap_or(0), ts.max().unwrap_or(0))
}

/// A checksum of every file under `dir` (FNV-1a of its bytes), with directories listed too.
pub fn checksums(dir: &Path) -> BTreeMap<String, (u64, u64)> {
    fn walk(base: &Path, d: &Path, m: &mut BTreeMap<String, (u64, u64)>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            if p.is_dir() {
                m.insert(format!("{rel}/"), (0, 0));
                walk(base, &p, m);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                let mut h: u64 = 0xcbf29ce484222325;
                for b in &bytes {
                    h ^= *b as u64;
                    h = h.wrapping_mul(0x100000001b3);
                }
                m.insert(rel, (bytes.len() as u64, h));
            }
        }
    }
    let mut m = BTreeMap::new();
    walk(dir, dir, &mut m);
    m
}

/// Starts `tsdb-cli serve` on `data`, listening on 127.0.0.1:`port`, with the extra flags given; waits
/// until it is ready (bounded).
pub fn start_serve(root: &Path, data: &Path, port: u16, extra: &[&str]) -> Server {
    let mut g = Server::start(
        "tsdb-cli serve",
        Command::new(env!("CARGO_BIN_EXE_tsdb-cli"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(extra),
        root.join(format!("serve-{port}.log")),
    );
    g.wait_ready(port, "/-/ready", Duration::from_secs(60));
    g
}

/// POSTs `body` to `path` on 127.0.0.1:`port`; returns the status and body.
pub fn http_post(port: u16, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    http_exchange(
        port,
        &format!(
            "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        ),
        body,
    )
}
