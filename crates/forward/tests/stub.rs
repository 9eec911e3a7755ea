//! The sender against a tiny HTTP(S) stub: delivery in both protocols, rejection without retry, retry of
//! 5xx/429 (and of 415 to 2.0), resume, TLS and basic auth, shards that follow the lag.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use tokio_rustls::rustls;
use tsdb_forward::{Destination, ForwardOptions, Forwarder, Protocol, TlsOptions};
use tsdb_labels::Labels;
use tsdb_wal::{RefSample, RefSeries, Wal, WalMode, WalOptions};

/// Samples by series text, in arrival order.
type Stored = Arc<Mutex<BTreeMap<String, Vec<(i64, f64)>>>>;

/// What the stub received, and how it answers the n-th request (from 1).
struct Stub {
    port: u16,
    requests: Arc<AtomicU64>,
    /// series text -> (t, v) in arrival order, only for requests answered 2xx.
    stored: Stored,
    stop: Arc<AtomicBool>,
    headers_ok: Arc<AtomicBool>,
    seen: Arc<Seen>,
}

/// Headers and concurrency the stub saw.
#[derive(Default)]
struct Seen {
    /// The last `Authorization` header.
    authorization: Mutex<Option<String>>,
    /// Requests that were remote write 2.0 (by Content-Type and version header).
    v2: AtomicU64,
    /// Requests being answered now, and the most at once.
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

type Answer = dyn Fn(u64) -> (u16, Option<&'static str>) + Send + Sync;

/// How a stub behaves beyond its answers.
#[derive(Default, Clone)]
struct StubConfig {
    /// Time taken before answering each request.
    delay: Duration,
    /// Serve HTTPS with this configuration.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Answer 415 to remote write 2.0 (a 1.0-only receiver).
    only_v1: bool,
    /// Refuse a whole request with 400 if any sample in it is older than the newest held for its series
    /// (or at the same time with another value), as Prometheus's receiver does.
    strict_order: bool,
}

fn stub(answer: impl Fn(u64) -> (u16, Option<&'static str>) + Send + Sync + 'static) -> Stub {
    stub_with(answer, StubConfig::default())
}

fn stub_with(
    answer: impl Fn(u64) -> (u16, Option<&'static str>) + Send + Sync + 'static,
    cfg: StubConfig,
) -> Stub {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let requests = Arc::new(AtomicU64::new(0));
    let stored = Arc::new(Mutex::new(BTreeMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let headers_ok = Arc::new(AtomicBool::new(true));
    let seen = Arc::new(Seen::default());
    let answer: Arc<Answer> = Arc::new(answer);
    let (r, s, st, h, sn) = (
        requests.clone(),
        stored.clone(),
        stop.clone(),
        headers_ok.clone(),
        seen.clone(),
    );
    std::thread::spawn(move || {
        for c in l.incoming() {
            if st.load(Ordering::Acquire) {
                return;
            }
            let Ok(c) = c else { continue };
            let (r, s, h, sn, answer, cfg) = (
                r.clone(),
                s.clone(),
                h.clone(),
                sn.clone(),
                answer.clone(),
                cfg.clone(),
            );
            std::thread::spawn(move || match &cfg.tls {
                Some(t) => {
                    let Ok(conn) = rustls::ServerConnection::new(t.clone()) else {
                        return;
                    };
                    let tls = rustls::StreamOwned::new(conn, c);
                    serve_conn(tls, &r, &s, &h, &sn, &*answer, &cfg)
                }
                None => serve_conn(c, &r, &s, &h, &sn, &*answer, &cfg),
            });
        }
    });
    Stub {
        port,
        requests,
        stored,
        stop,
        headers_ok,
        seen,
    }
}

fn serve_conn(
    c: impl Read + Write,
    requests: &AtomicU64,
    stored: &Mutex<BTreeMap<String, Vec<(i64, f64)>>>,
    headers_ok: &AtomicBool,
    seen: &Seen,
    answer: &Answer,
    cfg: &StubConfig,
) {
    let mut rd = BufReader::new(c);
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0usize;
        let mut common = 0;
        let (mut v1, mut v2) = (0, 0);
        loop {
            let mut h = String::new();
            if rd.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            let lower = h.to_ascii_lowercase();
            if lower.is_empty() {
                break;
            }
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if lower.starts_with("authorization:") {
                *seen.authorization.lock().unwrap() = Some(h[14..].trim().to_string());
            }
            match lower.as_str() {
                "content-encoding: snappy" => common += 1,
                "content-type: application/x-protobuf"
                | "x-prometheus-remote-write-version: 0.1.0" => v1 += 1,
                "content-type: application/x-protobuf;proto=io.prometheus.write.v2.request"
                | "x-prometheus-remote-write-version: 2.0.0" => v2 += 1,
                _ => {}
            }
        }
        let is_v2 = v2 == 2;
        if common != 1 || !(v1 == 2 || is_v2) {
            headers_ok.store(false, Ordering::Release);
        }
        if is_v2 {
            seen.v2.fetch_add(1, Ordering::AcqRel);
        }
        let mut body = vec![0; len];
        if rd.read_exact(&mut body).is_err() {
            return;
        }
        let now = seen.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        seen.max_in_flight.fetch_max(now, Ordering::AcqRel);
        std::thread::sleep(cfg.delay);
        seen.in_flight.fetch_sub(1, Ordering::AcqRel);
        let n = requests.fetch_add(1, Ordering::AcqRel) + 1;
        let (mut status, extra) = if is_v2 && cfg.only_v1 {
            (415, None)
        } else {
            answer(n)
        };
        if (200..300).contains(&status) {
            let raw = tsdb_remote::snappy::decompress(&body, 64 << 20).unwrap();
            let series: Vec<(String, Vec<(i64, f64)>)> = if is_v2 {
                let req = tsdb_remote::v2::Request::decode_bytes(&raw).unwrap();
                (0..req.timeseries.len())
                    .map(|i| {
                        let key: Vec<String> = req
                            .labels(i)
                            .unwrap()
                            .iter()
                            .map(|(n, v)| format!("{n}={v}"))
                            .collect();
                        let samples = req.timeseries[i]
                            .samples
                            .iter()
                            .map(|s| (s.timestamp, s.value))
                            .collect();
                        (key.join(","), samples)
                    })
                    .collect()
            } else {
                let req = tsdb_remote::v1::WriteRequest::decode(raw.as_slice()).unwrap();
                req.timeseries
                    .iter()
                    .map(|ts| {
                        let key: Vec<String> = ts
                            .labels
                            .iter()
                            .map(|l| format!("{}={}", l.name, l.value))
                            .collect();
                        let samples = ts.samples.iter().map(|s| (s.timestamp, s.value)).collect();
                        (key.join(","), samples)
                    })
                    .collect()
            };
            let mut st = stored.lock().unwrap();
            let out_of_order = cfg.strict_order
                && series.iter().any(|(k, v)| {
                    let last = st.get(k).and_then(|h| h.last()).copied();
                    v.iter()
                        .zip(std::iter::once(last).chain(v.iter().map(|s| Some(*s))))
                        .any(|(s, prev)| {
                            prev.is_some_and(|p| s.0 < p.0 || (s.0 == p.0 && s.1 != p.1))
                        })
                });
            if out_of_order {
                status = 400;
            } else {
                for (k, v) in series {
                    let held = st.entry(k).or_default();
                    for smp in v {
                        // The newest sample again is accepted and not stored twice.
                        if held.last() != Some(&smp) {
                            held.push(smp);
                        }
                    }
                }
            }
        }
        let extra = extra.map(|e| format!("{e}\r\n")).unwrap_or_default();
        let resp = format!("HTTP/1.1 {status} X\r\nContent-Length: 4\r\n{extra}\r\nnope");
        let w = rd.get_mut();
        if w.write_all(resp.as_bytes())
            .and_then(|_| w.flush())
            .is_err()
        {
            return;
        }
    }
}

/// Writes `series` series with `per` samples each (interleaved, as scrapes would) into a WAL.
fn write_wal(dir: &std::path::Path, mode: WalMode, series: u64, per: i64) {
    write_wal_range(dir, mode, series, 0..per);
}

/// Writes samples `ts` of `series` series into a WAL, their series records first if it is new.
fn write_wal_range(dir: &std::path::Path, mode: WalMode, series: u64, ts: std::ops::Range<i64>) {
    let new = !dir.exists();
    let wal = Wal::open(
        dir,
        WalOptions {
            mode,
            segment_size: 256 << 10,
            ..Default::default()
        },
    )
    .unwrap();
    let refs: Vec<RefSeries> = (1..=series)
        .map(|i| RefSeries {
            series: i,
            labels: Labels::new([("__name__", "m"), ("i", &i.to_string())]).unwrap(),
        })
        .collect();
    if new {
        wal.log_series(&refs).unwrap();
    }
    for t in ts {
        let s: Vec<RefSample> = (1..=series)
            .map(|i| RefSample {
                series: i,
                t: 1000 * t,
                v: (i as f64) + t as f64,
            })
            .collect();
        wal.log_samples(&s).unwrap();
    }
    wal.close().unwrap();
}

fn opts() -> ForwardOptions {
    ForwardOptions {
        poll_interval: Duration::from_millis(20),
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        ..Default::default()
    }
}

fn url(s: &Stub) -> String {
    format!("http://127.0.0.1:{}/api/v1/write", s.port)
}

fn check_all(s: &Stub, series: u64, per: i64) {
    let st = s.stored.lock().unwrap();
    assert_eq!(st.len() as u64, series);
    for (k, v) in st.iter() {
        let i: f64 = k.rsplit('=').next().unwrap().parse().unwrap();
        let want: Vec<(i64, f64)> = (0..per).map(|t| (1000 * t, i + t as f64)).collect();
        assert_eq!(v, &want, "series {k}: every sample once, in order");
    }
}

#[test]
fn delivers_every_sample_once_in_order_in_all_wal_modes() {
    for mode in [WalMode::Native, WalMode::Prometheus, WalMode::Wlog] {
        let d = tempfile::tempdir().unwrap();
        let wal = d.path().join("wal");
        write_wal(&wal, mode, 50, 300);
        let s = stub(|_| (204, None));
        let f = Forwarder::start(
            &wal,
            &d.path().join("forward"),
            Destination::new(url(&s)),
            opts(),
        )
        .unwrap();
        let m0 = f.metrics();
        assert_eq!(m0.shards, 4);
        assert!(
            f.finish(Duration::from_secs(30)).unwrap(),
            "{mode:?}: caught up"
        );
        check_all(&s, 50, 300);
        assert!(s.headers_ok.load(Ordering::Acquire), "remote write headers");
        // Every request ≤ 2,000 samples: 15,000 samples need at least 8.
        assert!(s.requests.load(Ordering::Acquire) >= 8);
        // A restart resumes at the stored position: nothing is sent again.
        let before = s.requests.load(Ordering::Acquire);
        let f = Forwarder::start(
            &wal,
            &d.path().join("forward"),
            Destination::new(url(&s)),
            opts(),
        )
        .unwrap();
        assert!(f.finish(Duration::from_secs(30)).unwrap());
        assert_eq!(
            s.requests.load(Ordering::Acquire),
            before,
            "{mode:?}: resumed, nothing resent"
        );
    }
}

#[test]
fn rejected_with_400_counted_not_retried_rest_delivered() {
    let d = tempfile::tempdir().unwrap();
    let wal = d.path().join("wal");
    write_wal(&wal, WalMode::Native, 40, 500);
    // Every third request is refused.
    let s = stub(|n| if n % 3 == 0 { (400, None) } else { (204, None) });
    let f = Forwarder::start(
        &wal,
        &d.path().join("forward"),
        Destination::new(url(&s)),
        opts(),
    )
    .unwrap();
    let t0 = Instant::now();
    while !f.caught_up() && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let m = f.metrics();
    assert!(f.finish(Duration::from_secs(30)).unwrap());
    let n = s.requests.load(Ordering::Acquire);
    let stored: u64 = s
        .stored
        .lock()
        .unwrap()
        .values()
        .map(|v| v.len() as u64)
        .sum();
    assert_eq!(m.samples_retried, 0, "no retry of a 400");
    assert!(m.samples_failed > 0);
    assert_eq!(m.samples_failed + m.samples_sent, 20_000);
    assert_eq!(stored, m.samples_sent);
    // Each request went out once: with 2,000-sample requests (or fewer, at the end of a shard's part of a
    // round) 20,000 samples take at most a few dozen, never a loop.
    assert!((10..100).contains(&n), "{n} requests");
    assert_eq!(m.samples_dropped, 0);
}

#[test]
fn retries_5xx_and_429_honouring_retry_after() {
    let d = tempfile::tempdir().unwrap();
    let wal = d.path().join("wal");
    write_wal(&wal, WalMode::Native, 10, 100);
    // First a 503, then a 429 asking for 1 s, then success.
    let s = stub(|n| match n {
        1 => (503, None),
        2 => (429, Some("Retry-After: 1")),
        _ => (204, None),
    });
    let t0 = Instant::now();
    let f = Forwarder::start(
        &wal,
        &d.path().join("forward"),
        Destination::new(url(&s)),
        opts(),
    )
    .unwrap();
    while !f.caught_up() && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let m = f.metrics();
    assert!(f.finish(Duration::from_secs(30)).unwrap());
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    check_all(&s, 10, 100);
    assert!(m.samples_retried > 0);
    assert_eq!(m.samples_sent, 1000);
    assert_eq!(m.samples_failed, 0);
    assert_eq!(m.highest_sent_timestamp_ms, 99_000);
}

#[test]
fn tails_a_wal_being_written() {
    let d = tempfile::tempdir().unwrap();
    let walp = d.path().join("wal");
    let s = stub(|_| (204, None));
    let wal = Wal::open(&walp, WalOptions::default()).unwrap();
    let f = Forwarder::start(
        &walp,
        &d.path().join("forward"),
        Destination::new(url(&s)),
        opts(),
    )
    .unwrap();
    let refs: Vec<RefSeries> = (1..=5)
        .map(|i| RefSeries {
            series: i,
            labels: Labels::new([("__name__", "m"), ("i", &i.to_string())]).unwrap(),
        })
        .collect();
    wal.log_series(&refs).unwrap();
    for t in 0..200 {
        let smp: Vec<RefSample> = (1..=5)
            .map(|i| RefSample {
                series: i,
                t: 1000 * t,
                v: i as f64 + t as f64,
            })
            .collect();
        wal.log_samples(&smp).unwrap();
        if t % 50 == 0 {
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    assert!(f.finish(Duration::from_secs(30)).unwrap());
    wal.close().unwrap();
    check_all(&s, 5, 200);
}

/// A self-signed certificate for 127.0.0.1, its PEM in `dir/ca.pem`, and the stub's TLS configuration.
fn tls_for_loopback(dir: &std::path::Path) -> (std::path::PathBuf, Arc<rustls::ServerConfig>) {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ck.cert.pem()).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    (ca, Arc::new(cfg))
}

#[test]
fn https_with_basic_auth_verified_against_the_given_ca() {
    let d = tempfile::tempdir().unwrap();
    let wal = d.path().join("wal");
    write_wal(&wal, WalMode::Wlog, 20, 100);
    let (ca, cfg) = tls_for_loopback(d.path());
    let s = stub_with(
        |_| (204, None),
        StubConfig {
            tls: Some(cfg),
            ..Default::default()
        },
    );
    let https = format!("https://127.0.0.1:{}/api/v1/write", s.port);
    // Against the system's authorities the self-signed certificate is refused: nothing is delivered,
    // the samples are retried (never dropped), and a later start with the right CA sends them all.
    let f = Forwarder::start(
        &wal,
        &d.path().join("forward"),
        Destination::new(https.clone()),
        opts(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let m = f.metrics();
    assert!(!f.finish(Duration::from_millis(100)).unwrap());
    assert_eq!(m.samples_sent, 0);
    assert!(m.samples_retried > 0, "{m:?}");
    assert_eq!((m.samples_failed, m.samples_dropped), (0, 0));
    assert!(s.stored.lock().unwrap().is_empty());

    let dest = Destination {
        basic_auth: Some(("shipper".into(), "s3cr:t".into())),
        tls: TlsOptions {
            ca_file: Some(ca),
            ..Default::default()
        },
        ..Destination::new(https)
    };
    let f = Forwarder::start(&wal, &d.path().join("forward"), dest, opts()).unwrap();
    assert!(f.finish(Duration::from_secs(30)).unwrap());
    check_all(&s, 20, 100);
    assert!(s.headers_ok.load(Ordering::Acquire));
    // base64("shipper:s3cr:t")
    assert_eq!(
        s.seen.authorization.lock().unwrap().as_deref(),
        Some("Basic c2hpcHBlcjpzM2NyOnQ=")
    );
}

#[test]
fn tls_files_that_cannot_be_used_are_refused_at_start_naming_the_file() {
    let d = tempfile::tempdir().unwrap();
    let wal = d.path().join("wal");
    let bad = d.path().join("not-a-ca.pem");
    std::fs::write(&bad, "hello").unwrap();
    let with_ca = |url: &str, ca: &std::path::Path| Destination {
        tls: TlsOptions {
            ca_file: Some(ca.to_path_buf()),
            ..Default::default()
        },
        ..Destination::new(url)
    };
    let e = Forwarder::start(
        &wal,
        &d.path().join("forward"),
        with_ca("https://127.0.0.1:1/w", &bad),
        opts(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("not-a-ca.pem") && e.contains("no certificate"),
        "{e}"
    );
    let e = Forwarder::start(
        &wal,
        &d.path().join("forward"),
        with_ca("http://127.0.0.1:1/w", &bad),
        opts(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("use https://"), "{e}");
    let both = Destination {
        bearer_token: Some("t".into()),
        basic_auth: Some(("u".into(), "p".into())),
        ..Destination::new("http://127.0.0.1:1/w")
    };
    let e = Forwarder::start(&wal, &d.path().join("forward"), both, opts())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("use one"), "{e}");
}

#[test]
fn remote_write_2_0_delivered_and_kept_for_a_receiver_that_answers_415() {
    let d = tempfile::tempdir().unwrap();
    let wal = d.path().join("wal");
    write_wal(&wal, WalMode::Native, 30, 200);
    let v2 = |url: String| Destination {
        protocol: Protocol::V2,
        ..Destination::new(url)
    };
    let s = stub(|_| (204, None));
    let f = Forwarder::start(&wal, &d.path().join("a"), v2(url(&s)), opts()).unwrap();
    assert!(f.finish(Duration::from_secs(30)).unwrap());
    check_all(&s, 30, 200);
    assert!(s.headers_ok.load(Ordering::Acquire));
    assert_eq!(
        s.seen.v2.load(Ordering::Acquire),
        s.requests.load(Ordering::Acquire)
    );

    // A 1.0-only receiver: 415 to every 2.0 request; the samples are retried, not refused.
    let old = stub_with(
        |_| (204, None),
        StubConfig {
            only_v1: true,
            ..Default::default()
        },
    );
    let f = Forwarder::start(&wal, &d.path().join("b"), v2(url(&old)), opts()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let m = f.metrics();
    assert!(!f.finish(Duration::from_millis(100)).unwrap());
    assert_eq!((m.samples_sent, m.samples_failed), (0, 0));
    assert!(m.samples_retried > 0, "{m:?}");
    // Switched to 1.0, the same position: everything arrives.
    let f = Forwarder::start(
        &wal,
        &d.path().join("b"),
        Destination::new(url(&old)),
        opts(),
    )
    .unwrap();
    assert!(f.finish(Duration::from_secs(30)).unwrap());
    check_all(&old, 30, 200);
}

#[test]
fn shards_grow_while_behind_and_shrink_once_caught_up() {
    let d = tempfile::tempdir().unwrap();
    let wal = d.path().join("wal");
    // 80,000 samples in requests of 500 to a receiver taking 15 ms a request: one shard would need
    // 2.4 s; concurrent shards are faster, so they are added.
    write_wal(&wal, WalMode::Native, 200, 400);
    let s = stub_with(
        |_| (204, None),
        StubConfig {
            delay: Duration::from_millis(15),
            ..Default::default()
        },
    );
    let o = ForwardOptions {
        shards: 1,
        min_shards: 1,
        max_shards: 8,
        max_samples_per_send: 500,
        ..opts()
    };
    let f = Forwarder::start(
        &wal,
        &d.path().join("forward"),
        Destination::new(url(&s)),
        o,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut most = 0;
    while !(f.caught_up() && f.metrics().shards == 1) {
        assert!(Instant::now() < deadline, "{:?}", f.metrics());
        most = most.max(f.metrics().shards);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(most >= 4, "grew to {most} shards only");
    assert!(
        s.seen.max_in_flight.load(Ordering::Acquire) >= 4,
        "requests were concurrent"
    );
    assert!(f.finish(Duration::from_secs(30)).unwrap());
    check_all(&s, 200, 400);
}

#[test]
fn a_round_cut_short_by_a_stop_is_sent_again_the_same_way_after_a_restart() {
    // A receiver that drops a whole request holding one sample older than it has (Prometheus) would lose
    // the new samples of a request that mixes held and new ones. The first run stops in the middle of a
    // round (some requests delivered, the position not moved); the WAL grows; the second run has another
    // shard count, so a new round would be split otherwise. It sends the stored round again as it was.
    let d = tempfile::tempdir().unwrap();
    let wal = d.path().join("wal");
    write_wal_range(&wal, WalMode::Native, 50, 0..100);
    let s = stub_with(
        |_| (204, None),
        StubConfig {
            delay: Duration::from_millis(300),
            strict_order: true,
            ..Default::default()
        },
    );
    let fixed = |n: usize| ForwardOptions {
        shards: n,
        min_shards: n,
        max_shards: n,
        max_samples_per_send: 1000,
        ..opts()
    };
    let f = Forwarder::start(
        &wal,
        &d.path().join("forward"),
        Destination::new(url(&s)),
        fixed(2),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.stored.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "nothing delivered");
        std::thread::sleep(Duration::from_millis(5));
    }
    f.stop().unwrap();
    let held: usize = s.stored.lock().unwrap().values().map(Vec::len).sum();
    assert!(
        (1..5000).contains(&held),
        "{held} samples delivered before the stop"
    );
    write_wal_range(&wal, WalMode::Native, 50, 100..300);
    let f = Forwarder::start(
        &wal,
        &d.path().join("forward"),
        Destination::new(url(&s)),
        fixed(3),
    )
    .unwrap();
    assert!(f.finish(Duration::from_secs(60)).unwrap());
    check_all(&s, 50, 300);
}
