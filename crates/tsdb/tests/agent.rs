//! Agent mode (`Options::agent`): no chunks, no blocks; every sample forwarded, the WAL folded away once
//! acknowledged, stale series forgotten; what keeps samples is refused.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tsdb::{Db, DbError, Destination, ForwardOptions, Options};
use tsdb_labels::Labels;
use tsdb_remote::Message;

/// Samples by series text, as a receiver got them.
type Received = Arc<Mutex<BTreeMap<String, Vec<(i64, f64)>>>>;

/// A remote-write 1.0 receiver on a free loopback port answering 204; its thread ends with the test.
fn receiver() -> (String, Received) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1/write", l.local_addr().unwrap());
    let got: Received = Arc::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let g = g.clone();
            std::thread::spawn(move || {
                let mut rd = BufReader::new(c);
                loop {
                    let mut len = 0usize;
                    let mut first = true;
                    loop {
                        let mut h = String::new();
                        if rd.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end().to_ascii_lowercase();
                        if h.is_empty() && !first {
                            break;
                        }
                        first = false;
                        if let Some(v) = h.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if rd.read_exact(&mut body).is_err() {
                        return;
                    }
                    let raw = tsdb_remote::snappy::decompress(&body, 64 << 20).unwrap();
                    let req = tsdb_remote::v1::WriteRequest::decode(raw.as_slice()).unwrap();
                    {
                        let mut g = g.lock().unwrap();
                        for ts in req.timeseries {
                            let key: Vec<String> = ts
                                .labels
                                .iter()
                                .map(|l| format!("{}={}", l.name, l.value))
                                .collect();
                            let v = g.entry(key.join(",")).or_default();
                            v.extend(ts.samples.iter().map(|s| (s.timestamp, s.value)));
                        }
                    }
                    let w = rd.get_mut();
                    if w.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, got)
}

fn agent_opts(url: &str) -> Options {
    Options {
        agent: true,
        wal_segment_size: 32 << 10,
        background: false,
        forward: vec![Destination::new(url.to_string())],
        forward_options: ForwardOptions {
            poll_interval: Duration::from_millis(20),
            ..Default::default()
        },
        forward_drain: Duration::from_secs(30),
        agent_series_retention: 60_000,
        ..Options::default()
    }
}

fn wal_segments(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u64>().is_ok())
        .count()
}

/// `n` samples 1 s apart for each of `series` series named `name`, from `t0`.
fn fill(db: &Db, name: &str, series: usize, t0: i64, n: i64) {
    let ls: Vec<Labels> = (0..series)
        .map(|i| Labels::new([("__name__", name), ("i", &i.to_string())]).unwrap())
        .collect();
    for k in 0..n {
        let mut app = db.appender();
        for (i, l) in ls.iter().enumerate() {
            app.append(l, t0 + k * 1000, (k * 10 + i as i64) as f64)
                .unwrap();
        }
        app.commit().unwrap();
    }
}

fn total(got: &Received) -> usize {
    got.lock().unwrap().values().map(Vec::len).sum()
}

#[test]
fn an_agent_forwards_everything_keeps_no_chunks_and_folds_its_wal_away() {
    for mode in [
        tsdb_wal::WalMode::Native,
        tsdb_wal::WalMode::Prometheus,
        tsdb_wal::WalMode::Wlog,
    ] {
        agent_round_trip(mode);
    }
}

fn agent_round_trip(mode: tsdb_wal::WalMode) {
    let d = tempfile::tempdir().unwrap();
    let (url, got) = receiver();
    let opts = |url: &str| Options {
        wal_mode: mode,
        ..agent_opts(url)
    };
    let db = Db::open(d.path(), opts(&url)).unwrap();
    assert!(db.is_agent());
    fill(&db, "a", 40, 0, 500);
    // Out of order is refused as in a full database.
    let l = Labels::new([("__name__", "a"), ("i", "0")]).unwrap();
    {
        let mut app = db.appender();
        let refused = app.append(&l, 5, 1.0).is_err() || app.commit().unwrap().rejected == 1;
        assert!(refused, "an out-of-order sample was accepted");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while total(&got) < 20_000 {
        assert!(Instant::now() < deadline, "{} forwarded", total(&got));
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = wal_segments(d.path());
    assert!(before > 3, "{before} segments");
    // Once acknowledged, the closed segments are folded into a checkpoint of series records.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut truncated = 0;
    while truncated == 0 {
        assert!(Instant::now() < deadline, "no truncation");
        truncated = db.maintain().unwrap().wal_segments_truncated;
        std::thread::sleep(Duration::from_millis(20));
    }
    let after = wal_segments(d.path());
    assert!(after < before, "{mode:?}: {before} -> {after} segments");
    // No chunks: a query finds no samples; nothing is written to chunks_head.
    let q = db.querier(i64::MIN, i64::MAX);
    let m = tsdb_labels::Matcher::equal("__name__", "a");
    let found = q.select_all(&[m]).unwrap();
    drop(q);
    assert!(found.is_empty(), "{} series with samples", found.len());
    // Keeping or cutting samples is refused.
    for e in [
        db.flush().map(|_| ()).unwrap_err(),
        db.truncate(0).unwrap_err(),
        db.delete(&[], 0, 1).map(|_| ()).unwrap_err(),
        db.snapshot(d.path().join("snap")).map(|_| ()).unwrap_err(),
    ] {
        assert!(matches!(e, DbError::Agent { .. }), "{e}");
        assert!(e.to_string().contains("agent mode"), "{e}");
    }
    db.close().unwrap();
    // After a restart, the series left in the checkpoint let the next samples go out with their labels;
    // nothing is sent twice, nothing lost.
    let db = Db::open(d.path(), opts(&url)).unwrap();
    fill(&db, "a", 40, 500_000, 100);
    db.close().unwrap();
    let g = got.lock().unwrap();
    assert_eq!(g.len(), 40);
    for (k, v) in g.iter() {
        let i: i64 = k.rsplit('=').next().unwrap().parse().unwrap();
        let want: Vec<(i64, f64)> = (0..500)
            .map(|k| (k * 1000, (k * 10 + i) as f64))
            .chain((0..100).map(|k| (500_000 + k * 1000, (k * 10 + i) as f64)))
            .collect();
        assert_eq!(v, &want, "{mode:?}: {k}");
    }
    assert!(!d
        .path()
        .join("chunks_head")
        .read_dir()
        .is_ok_and(|mut r| r.next().is_some()));
}

#[test]
fn an_agent_forgets_series_without_recent_samples() {
    let d = tempfile::tempdir().unwrap();
    let (url, got) = receiver();
    let db = Db::open(d.path(), agent_opts(&url)).unwrap();
    fill(&db, "old", 30, 0, 10);
    // Two minutes later (retention one minute), only "new" series are written, across many segments.
    fill(&db, "new", 30, 120_000, 400);
    let deadline = Instant::now() + Duration::from_secs(30);
    while total(&got) < 30 * 410 {
        assert!(Instant::now() < deadline, "{} forwarded", total(&got));
        std::thread::sleep(Duration::from_millis(20));
    }
    let series = db.head().num_series();
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.maintain().unwrap().wal_segments_truncated == 0 {
        assert!(Instant::now() < deadline, "no truncation");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(series, 60);
    assert_eq!(db.head().num_series(), 30, "the old series are forgotten");
    db.close().unwrap();
}

#[test]
fn agent_mode_needs_a_destination_and_a_directory_without_blocks() {
    let d = tempfile::tempdir().unwrap();
    let e = Db::open(
        d.path(),
        Options {
            agent: true,
            ..Options::default()
        },
    )
    .map(|_| ())
    .unwrap_err();
    assert!(e.to_string().contains("destination"), "{e}");
    // A directory with a block.
    let full = Db::open(
        d.path(),
        Options {
            background: false,
            ..Options::default()
        },
    )
    .unwrap();
    fill(&full, "x", 2, 0, 10);
    full.flush().unwrap();
    full.close().unwrap();
    let (url, _got) = receiver();
    let e = Db::open(d.path(), agent_opts(&url))
        .map(|_| ())
        .unwrap_err();
    assert!(
        e.to_string().contains("holds blocks") && e.to_string().contains("agent"),
        "{e}"
    );
}
