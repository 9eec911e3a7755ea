//! `bench query`: times PromQL range queries against several servers (ours, a Prometheus) from the same
//! client, alternating between them query by query (A B A B …) so that noise falls on both alike, and
//! reports each server's median latency and the ratio to the first.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::timefmt::positive_duration_ms;

/// Arguments of `bench query`.
#[derive(Debug, Args)]
#[command(
    long_about = "Time PromQL range queries against one or more servers.\n\n\
        Each query of FILE (one per line; empty lines and lines starting with # are skipped) is sent \
        as GET /api/v1/query_range with --start, --end and --step to every --url in turn, --rounds \
        times (A B A B …), after one warm-up request each. Every answer must be a 200 with \
        \"status\":\"success\". Prints per query each server's median latency in milliseconds, the \
        result size, and the ratio of each server's median to the first server's.",
    after_help = "Examples:\n  \
        tsdb-cli bench query --url ours=http://127.0.0.1:9201 --url prometheus=http://127.0.0.1:9090 \\\n      \
        --start 1699985600 --end 1700000000 --step 60 queries.txt"
)]
pub struct BenchQueryArgs {
    /// A server, `NAME=http://HOST:PORT` or `http://HOST:PORT` (repeatable; the first is the base of
    /// the ratios).
    #[arg(long = "url", value_name = "[NAME=]URL", required = true)]
    pub urls: Vec<String>,

    /// Start of the range (Unix seconds or RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = unix_seconds)]
    pub start: i64,

    /// End of the range (Unix seconds or RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = unix_seconds)]
    pub end: i64,

    /// Resolution step (`60`, `1m`).
    #[arg(long, default_value = "60", value_name = "DURATION", value_parser = positive_duration_ms)]
    pub step: i64,

    /// Timed requests per query and server.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub rounds: usize,

    /// Queries, one per line.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// A time as the query API takes it: Unix seconds (with a fraction) or RFC 3339; in milliseconds.
fn unix_seconds(s: &str) -> Result<i64, String> {
    tsdb_server::api::parse_time("time", s)
        .map_err(|_| format!("{s:?} is not a time: expected Unix seconds or RFC 3339"))
}

/// One server: a name, its `host:port`, and a keep-alive connection.
struct Target {
    name: String,
    host: String,
    conn: Option<BufReader<TcpStream>>,
    times: Vec<Duration>,
    bytes: usize,
}

impl Target {
    fn parse(spec: &str) -> Result<Target> {
        let (name, url) = match spec.split_once('=') {
            Some((n, u)) if !n.contains('/') => (n.to_owned(), u),
            _ => (spec.to_owned(), spec),
        };
        let host = url
            .strip_prefix("http://")
            .with_context(|| format!("--url {spec:?}: only http:// URLs are supported"))?
            .trim_end_matches('/')
            .to_owned();
        Ok(Target {
            name,
            host,
            conn: None,
            times: Vec::new(),
            bytes: 0,
        })
    }

    /// `GET path`, over the kept connection (reconnecting once if the server closed it).
    fn get(&mut self, path: &str) -> Result<(u16, Vec<u8>)> {
        for attempt in 0..2 {
            if self.conn.is_none() {
                let s = TcpStream::connect(&self.host)
                    .with_context(|| format!("connect to {}", self.host))?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(Duration::from_secs(300)))?;
                self.conn = Some(BufReader::new(s));
            }
            let conn = self.conn.as_mut().context("connection")?;
            match http_get(conn, &self.host, path) {
                Ok(r) => return Ok(r),
                Err(e) if attempt == 0 => {
                    self.conn = None;
                    let _ = e;
                }
                Err(e) => return Err(e),
            }
        }
        bail!("unreachable")
    }
}

/// One HTTP/1.1 request and its response (Content-Length or chunked body).
fn http_get(conn: &mut BufReader<TcpStream>, host: &str, path: &str) -> Result<(u16, Vec<u8>)> {
    write!(
        conn.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tsdb-cli-bench\r\nAccept: application/json\r\n\r\n"
    )?;
    conn.get_mut().flush()?;
    let mut line = String::new();
    if conn.read_line(&mut line)? == 0 {
        bail!("connection closed");
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("bad status line {line:?}"))?;
    let mut length = None;
    let mut chunked = false;
    loop {
        line.clear();
        conn.read_line(&mut line)?;
        let h = line.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                length = v.parse::<usize>().ok();
            } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let n = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .with_context(|| format!("bad chunk size {line:?}"))?;
            let at = body.len();
            body.resize(at + n, 0);
            conn.read_exact(&mut body[at..])?;
            line.clear();
            conn.read_line(&mut line)?;
            if n == 0 {
                break;
            }
        }
    } else {
        let n = length.context("response without Content-Length")?;
        body.resize(n, 0);
        conn.read_exact(&mut body)?;
    }
    Ok((status, body))
}

fn encode(s: &str) -> String {
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

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    match v.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

fn fmt_time(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// Runs the benchmark and prints the table.
pub fn run(a: &BenchQueryArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("read queries from {}", a.file.display()))?;
    let queries: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    if queries.is_empty() {
        bail!("{}: no queries", a.file.display());
    }
    if a.end < a.start {
        bail!("--end is before --start");
    }
    let mut targets = a
        .urls
        .iter()
        .map(|u| Target::parse(u))
        .collect::<Result<Vec<_>>>()?;
    let rounds = a.rounds.max(1);
    println!(
        "{} queries, {} rounds, range {}s step {}s",
        queries.len(),
        rounds,
        (a.end - a.start) / 1000,
        a.step as f64 / 1000.0
    );
    let mut header = format!("{:<60}", "query");
    for t in &targets {
        header.push_str(&format!(" {:>14}", format!("{} ms", t.name)));
    }
    for t in targets.iter().skip(1) {
        header.push_str(&format!(
            " {:>10}",
            format!("{}/{}", t.name, targets[0].name)
        ));
    }
    println!("{header}");
    for q in &queries {
        let path = format!(
            "/api/v1/query_range?query={}&start={}&end={}&step={}",
            encode(q),
            fmt_time(a.start),
            fmt_time(a.end),
            fmt_time(a.step)
        );
        for t in &mut targets {
            t.times.clear();
        }
        for round in 0..=rounds {
            for t in &mut targets {
                let started = Instant::now();
                let (status, body) = t.get(&path)?;
                let took = started.elapsed();
                if status != 200 || !body.starts_with(br#"{"status":"success""#) {
                    bail!(
                        "{}: {q}: status {status}: {}",
                        t.name,
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    );
                }
                // Round 0 warms caches up and is not counted.
                if round > 0 {
                    t.times.push(took);
                }
                t.bytes = body.len();
            }
        }
        let medians: Vec<Duration> = targets.iter_mut().map(|t| median(&mut t.times)).collect();
        let shown: String = q.chars().take(60).collect();
        let mut row = format!("{shown:<60}");
        for m in &medians {
            row.push_str(&format!(" {:>14.2}", m.as_secs_f64() * 1000.0));
        }
        for m in medians.iter().skip(1) {
            row.push_str(&format!(
                " {:>10.2}",
                m.as_secs_f64() / medians[0].as_secs_f64().max(1e-9)
            ));
        }
        println!("{row}");
        let sizes: Vec<String> = targets
            .iter()
            .map(|t| format!("{}={}B", t.name, t.bytes))
            .collect();
        println!("    result bytes: {}", sizes.join(" "));
    }
    Ok(())
}
