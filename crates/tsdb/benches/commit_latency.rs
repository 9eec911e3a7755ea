//! Commit latency while blocks are persisted: one thread appends scrapes of 20,000 series (one commit per
//! 1,000 series, WAL on, no fsync) as fast as it can with simulated time advancing 15 s per scrape; another
//! runs maintenance (persistence of the head as blocks, head and WAL truncation, compaction) whenever there is
//! work. Prints the longest and the 99.9th-percentile commit time, during persistence and outside it.
//!
//! `cargo bench -p tsdb --bench commit_latency`

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tsdb::{Db, Options, SyncPolicy};
use tsdb_labels::Labels;

fn main() {
    let series: Vec<Labels> = (0..20_000)
        .map(|i| {
            Labels::new([
                ("__name__", format!("metric_{}", i % 100)),
                ("instance", format!("host-{}:9100", i / 100)),
                ("job", "node".to_string()),
            ])
            .unwrap()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options {
            sync: SyncPolicy::Never,
            background: false,
            ..Options::default()
        },
    )
    .unwrap();
    let persisting = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let scrapes = 2_000; // 2,000 × 15 s = 8.3 simulated hours: three block persistences
    let t0 = 1_700_000_000_000i64;
    let (mut during, mut outside) = (Vec::new(), Vec::new());
    let mut persisted = 0;
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Acquire) {
                let h = db.head();
                if h.max_time().saturating_sub(h.min_time()) > 3 * 3600 * 1000 {
                    persisting.store(true, Ordering::Release);
                    persisted += db.maintain().unwrap().persisted.len();
                    persisting.store(false, Ordering::Release);
                } else {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        let mut refs = vec![0u64; series.len()];
        for sc in 0..scrapes {
            let t = t0 + sc as i64 * 15_000;
            for (c, chunk) in series.chunks(1000).enumerate() {
                let mut app = db.appender();
                for (i, l) in chunk.iter().enumerate() {
                    let k = c * 1000 + i;
                    let v = (sc * 10 + i) as f64;
                    refs[k] = match app.append_ref(refs[k], t, v) {
                        Ok(r) => r,
                        Err(_) => app.append(l, t, v).unwrap(),
                    };
                }
                let was = persisting.load(Ordering::Acquire);
                let start = Instant::now();
                app.commit().unwrap();
                let d = start.elapsed();
                if was || persisting.load(Ordering::Acquire) {
                    during.push(d);
                } else {
                    outside.push(d);
                }
            }
        }
        done.store(true, Ordering::Release);
    });
    let report = |name: &str, v: &mut Vec<Duration>| {
        v.sort();
        if v.is_empty() {
            println!("{name}: no commits");
            return;
        }
        let p = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
        println!(
            "{name}: {} commits, median {:?}, p99.9 {:?}, max {:?}",
            v.len(),
            p(0.5),
            p(0.999),
            v[v.len() - 1]
        );
    };
    println!(
        "{} samples in {:?}, {} blocks persisted",
        scrapes * series.len(),
        started.elapsed(),
        persisted
    );
    report("commit while persisting", &mut during);
    report("commit otherwise", &mut outside);
    db.close().unwrap();
}
