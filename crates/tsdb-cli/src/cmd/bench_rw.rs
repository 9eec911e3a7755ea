//! `bench remote-write`: a load generator that sends Prometheus remote write 1.0 requests as Prometheus's
//! queue manager sends them (series split over shards, batches of `--batch` samples, each shard one
//! connection sending its batches in order) and reports samples/s and request latency percentiles.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use tsdb_labels::Labels;
use tsdb_remote::v1::{Label, Sample, TimeSeries, WriteRequest};
use tsdb_remote::{snappy, Message};

/// Arguments of `bench remote-write`.
#[derive(Debug, Args)]
#[command(
    long_about = "Send remote write 1.0 requests to URL and report throughput and latency.\n\n\
        Label sets come from FILE (one JSON object per line, as for `bench write`); the first --metrics \
        distinct ones are spread over --shards shards by index. Each scrape gives every series one \
        sample (timestamps 15 s apart, ending now); each shard sends its samples in requests of --batch \
        samples, in order, over one keep-alive connection, as Prometheus's queue manager does. All \
        requests are encoded (protobuf, snappy) before the clock starts. Prints the samples sent, the \
        wall time, samples/s, the latency percentiles of the requests and how many were not answered \
        with a 2xx.",
    after_help = "Examples:\n  \
        tsdb-cli bench remote-write --url http://127.0.0.1:9201/api/v1/write series-20k.jsonl\n  \
        tsdb-cli bench remote-write --url http://127.0.0.1:9090/api/v1/write --shards 8 series-20k.jsonl"
)]
pub struct BenchRemoteWriteArgs {
    /// The receiver, `http://HOST:PORT/PATH`.
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// Number of distinct label sets (series) to read from FILE.
    #[arg(long, default_value_t = 20_000, value_name = "N")]
    pub metrics: usize,

    /// Scrapes to send (samples per series).
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub scrapes: usize,

    /// Concurrent shards (connections).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub shards: usize,

    /// Samples per request (Prometheus's max_samples_per_send).
    #[arg(long, default_value_t = 2_000, value_name = "N")]
    pub batch: usize,

    /// Label sets, one JSON object per line.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("--url {url:?}: only http:// URLs are supported"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Ok((host.to_owned(), path.to_owned()))
}

/// Sends one request over a keep-alive connection; returns the status code.
fn send(conn: &mut BufReader<TcpStream>, host: &str, path: &str, body: &[u8]) -> Result<u16> {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-protobuf\r\n\
         Content-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\n\
         User-Agent: tsdb-cli-bench\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let s = conn.get_mut();
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut line = String::new();
    conn.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("bad status line {line:?}"))?;
    let mut len = 0usize;
    loop {
        line.clear();
        if conn.read_line(&mut line)? == 0 {
            bail!("connection closed in the headers");
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                bail!("chunked responses are not supported by the load generator");
            }
        }
    }
    let mut sink = vec![0u8; len];
    conn.read_exact(&mut sink)?;
    Ok(status)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Runs the benchmark.
pub fn run(args: &BenchRemoteWriteArgs, labels: Vec<Labels>) -> Result<()> {
    let (host, path) = parse_url(&args.url)?;
    if labels.is_empty() || args.shards == 0 || args.batch == 0 {
        bail!("nothing to send: need label sets, --shards ≥ 1 and --batch ≥ 1");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let t0 = now - args.scrapes as i64 * 15_000;
    let proto_labels: Vec<Vec<Label>> = labels
        .iter()
        .map(|l| l.iter().map(|(n, v)| Label::new(n, v)).collect())
        .collect();
    // Encode every shard's requests up front.
    let mut shards: Vec<Vec<Vec<u8>>> = vec![Vec::new(); args.shards];
    for (s, reqs) in shards.iter_mut().enumerate() {
        let mine: Vec<usize> = (s..labels.len()).step_by(args.shards).collect();
        let mut batch = WriteRequest::default();
        let mut n = 0;
        for k in 0..args.scrapes {
            let t = t0 + k as i64 * 15_000;
            for &i in &mine {
                batch.timeseries.push(TimeSeries {
                    labels: proto_labels[i].clone(),
                    samples: vec![Sample {
                        value: (k * 1000 + i) as f64,
                        timestamp: t,
                    }],
                    ..Default::default()
                });
                n += 1;
                if n == args.batch {
                    reqs.push(snappy::compress(&batch.encode_to_vec()));
                    batch.timeseries.clear();
                    n = 0;
                }
            }
        }
        if n > 0 {
            reqs.push(snappy::compress(&batch.encode_to_vec()));
        }
    }
    let total_samples = labels.len() * args.scrapes;
    let start = Instant::now();
    let results: Vec<Result<(Vec<Duration>, usize)>> = std::thread::scope(|sc| {
        let handles: Vec<_> = shards
            .iter()
            .map(|reqs| {
                let (host, path) = (&host, &path);
                sc.spawn(move || -> Result<(Vec<Duration>, usize)> {
                    let stream =
                        TcpStream::connect(host).with_context(|| format!("connect {host}"))?;
                    stream.set_nodelay(true)?;
                    let mut conn = BufReader::new(stream);
                    let mut lat = Vec::with_capacity(reqs.len());
                    let mut failed = 0;
                    for r in reqs {
                        let t = Instant::now();
                        let code = send(&mut conn, host, path, r)?;
                        lat.push(t.elapsed());
                        if !(200..300).contains(&code) {
                            failed += 1;
                        }
                    }
                    Ok((lat, failed))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| bail!("a shard panicked")))
            .collect()
    });
    let wall = start.elapsed();
    let mut lat = Vec::new();
    let mut failed = 0;
    for r in results {
        let (l, f) = r?;
        lat.extend(l);
        failed += f;
    }
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("url: {}", args.url);
    println!("series: {}", labels.len());
    println!("shards: {}", args.shards);
    println!("requests: {}", lat.len());
    println!("samples: {total_samples}");
    println!("seconds: {:.3}", wall.as_secs_f64());
    println!(
        "samples/s: {:.0}",
        total_samples as f64 / wall.as_secs_f64()
    );
    println!("latency p50 ms: {:.2}", ms(percentile(&lat, 0.50)));
    println!("latency p90 ms: {:.2}", ms(percentile(&lat, 0.90)));
    println!("latency p99 ms: {:.2}", ms(percentile(&lat, 0.99)));
    println!(
        "latency max ms: {:.2}",
        ms(lat.last().copied().unwrap_or_default())
    );
    println!("non-2xx: {failed}");
    Ok(())
}
