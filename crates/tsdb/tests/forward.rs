//! `Options::forward` and WAL truncation: segments a destination has not acknowledged stay on disk while
//! the head is persisted, up to `max_lag_bytes`, beyond which the oldest unsent samples are dropped and
//! counted.

use std::net::TcpListener;
use std::time::Duration;

use tsdb::{Db, Destination, ForwardOptions, Options};
use tsdb_labels::Labels;

/// A URL nobody listens on (connections refused): every send is retried.
fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/api/v1/write")
}

fn wal_segments(dir: &std::path::Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u64>().ok())
        .collect();
    v.sort_unstable();
    v
}

fn fill(db: &Db, ticks: i64) {
    let series: Vec<Labels> = (0..50)
        .map(|i| Labels::new([("__name__", "f"), ("i", &i.to_string())]).unwrap())
        .collect();
    for t in 0..ticks {
        let mut app = db.appender();
        for l in &series {
            app.append(l, t * 100, t as f64).unwrap();
        }
        app.commit().unwrap();
    }
}

fn opts(max_lag: Option<u64>) -> Options {
    Options {
        block_range: 10_000,
        wal_segment_size: 32 << 10,
        background: false,
        forward: vec![Destination::new(dead_url())],
        forward_options: ForwardOptions {
            max_backoff: Duration::from_millis(100),
            poll_interval: Duration::from_millis(20),
            max_lag_bytes: max_lag,
            ..Default::default()
        },
        ..Options::default()
    }
}

#[test]
fn unacknowledged_segments_survive_head_truncation() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(d.path(), opts(None)).unwrap();
    fill(&db, 2000);
    let before = wal_segments(d.path());
    assert!(before.len() > 3, "{before:?}");
    let m = db.maintain().unwrap();
    assert!(!db.blocks().is_empty(), "{m:?}");
    let after = wal_segments(d.path());
    assert_eq!(
        after.first(),
        before.first(),
        "nothing acknowledged: the first segment stays"
    );
    let f = &db.forward_metrics()[0];
    assert_eq!(f.samples_sent, 0);
    assert_eq!(f.samples_dropped, 0);
    db.close().unwrap();

    // Without forwarding the same data is truncated.
    let d2 = tempfile::tempdir().unwrap();
    let db = Db::open(
        d2.path(),
        Options {
            forward: Vec::new(),
            ..opts(None)
        },
    )
    .unwrap();
    fill(&db, 2000);
    let before = wal_segments(d2.path());
    db.maintain().unwrap();
    let after = wal_segments(d2.path());
    assert!(
        after.first() > before.first(),
        "{before:?} -> {after:?}; {:?}",
        db.forward_metrics()
    );
    db.close().unwrap();
}

#[test]
fn beyond_the_lag_limit_the_oldest_unsent_samples_are_dropped_and_truncated() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(d.path(), opts(Some(200 << 10))).unwrap();
    fill(&db, 2000);
    let before = wal_segments(d.path());
    // The sender gives up the oldest segments within a few retries.
    let t0 = std::time::Instant::now();
    while db.forward_metrics()[0].samples_dropped == 0 && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let f = db.forward_metrics()[0].clone();
    assert!(f.samples_dropped > 0, "{f:?}");
    let b = wal_bytes(d.path(), &before);
    // The floor moves once the round whose requests were dropped is done (its position stored), which
    // may be a little after the first drop was counted.
    let mut after = before.clone();
    while after.first() <= before.first() && t0.elapsed() < Duration::from_secs(60) {
        db.maintain().unwrap();
        after = wal_segments(d.path());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        after.first() > before.first(),
        "{before:?} -> {after:?}; {:?}",
        db.forward_metrics()
    );
    // The WAL is back under the limit, give or take a segment (and the checkpoint of the series).
    let a = wal_bytes(d.path(), &after);
    eprintln!(
        "WAL during the outage: {} bytes in {} segments, after truncation {} bytes in {} segments (limit {})",
        b,
        before.len(),
        a,
        after.len(),
        200 << 10
    );
    assert!(a <= (200 << 10) + 2 * (32 << 10), "{a} bytes");
    db.close().unwrap();
}

fn wal_bytes(dir: &std::path::Path, segs: &[u64]) -> u64 {
    segs.iter()
        .filter_map(|s| std::fs::metadata(dir.join("wal").join(format!("{s:06}"))).ok())
        .map(|m| m.len())
        .sum()
}
