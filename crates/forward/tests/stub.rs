//! The sender against a tiny HTTP stub: delivery, rejection without retry, retry of 5xx/429, resume.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use tsdb_forward::{Destination, ForwardOptions, Forwarder};
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
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn stub(answer: impl Fn(u64) -> (u16, Option<&'static str>) + Send + Sync + 'static) -> Stub {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let requests = Arc::new(AtomicU64::new(0));
    let stored = Arc::new(Mutex::new(BTreeMap::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let headers_ok = Arc::new(AtomicBool::new(true));
    let answer = Arc::new(answer);
    let (r, s, st, h) = (
        requests.clone(),
        stored.clone(),
        stop.clone(),
        headers_ok.clone(),
    );
    std::thread::spawn(move || {
        for c in l.incoming() {
            if st.load(Ordering::Acquire) {
                return;
            }
            let Ok(c) = c else { continue };
            let (r, s, h, answer) = (r.clone(), s.clone(), h.clone(), answer.clone());
            std::thread::spawn(move || serve_conn(c, &r, &s, &h, &*answer));
        }
    });
    Stub {
        port,
        requests,
        stored,
        stop,
        headers_ok,
    }
}

fn serve_conn(
    c: TcpStream,
    requests: &AtomicU64,
    stored: &Mutex<BTreeMap<String, Vec<(i64, f64)>>>,
    headers_ok: &AtomicBool,
    answer: &dyn Fn(u64) -> (u16, Option<&'static str>),
) {
    let mut w = c.try_clone().unwrap();
    let mut rd = BufReader::new(c);
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0usize;
        let mut seen = 0;
        loop {
            let mut h = String::new();
            if rd.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end().to_ascii_lowercase();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if h == "content-encoding: snappy"
                || h == "content-type: application/x-protobuf"
                || h == "x-prometheus-remote-write-version: 0.1.0"
            {
                seen += 1;
            }
        }
        if seen != 3 {
            headers_ok.store(false, Ordering::Release);
        }
        let mut body = vec![0; len];
        rd.read_exact(&mut body).unwrap();
        let n = requests.fetch_add(1, Ordering::AcqRel) + 1;
        let (status, extra) = answer(n);
        if (200..300).contains(&status) {
            let raw = tsdb_remote::snappy::decompress(&body, 64 << 20).unwrap();
            let req = tsdb_remote::v1::WriteRequest::decode(raw.as_slice()).unwrap();
            let mut st = stored.lock().unwrap();
            for ts in req.timeseries {
                let key: Vec<String> = ts
                    .labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect();
                let e = st.entry(key.join(",")).or_default();
                e.extend(ts.samples.iter().map(|s| (s.timestamp, s.value)));
            }
        }
        let extra = extra.map(|e| format!("{e}\r\n")).unwrap_or_default();
        let resp = format!("HTTP/1.1 {status} X\r\nContent-Length: 4\r\n{extra}\r\nnope");
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// Writes `series` series with `per` samples each (interleaved, as scrapes would) into a WAL.
fn write_wal(dir: &std::path::Path, mode: WalMode, series: u64, per: i64) {
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
    wal.log_series(&refs).unwrap();
    for t in 0..per {
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
