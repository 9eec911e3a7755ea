//! `Db` from several threads at once: two appenders, a querier checking every answer, and a thread that
//! truncates and maintains while they run.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Barrier;

use tsdb::{Db, Options, SyncPolicy};
use tsdb_labels::{parse_selector, Labels};

const SERIES: u64 = 30;
const T0: i64 = 1_700_000_000_000;
const STEP: i64 = 1_000;

fn labels(th: u64, s: u64) -> Labels {
    Labels::new([
        ("__name__", if th == 0 { "alpha" } else { "beta" }),
        ("series", &s.to_string()),
    ])
    .unwrap()
}

fn value(b: i64, s: u64) -> f64 {
    (b * 1000) as f64 + s as f64
}

#[test]
fn appenders_queriers_and_truncation_together() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options {
            block_range: 60_000,
            sync: SyncPolicy::Never,
            wal_segment_size: 64 * 1024,
            head_chunk_file_size: 8 * 1024,
            background: true,
            background_interval: std::time::Duration::from_millis(5),
            ..Options::default()
        },
    )
    .unwrap();
    let batches = 3_000i64;
    let done = AtomicBool::new(false);
    let truncated = AtomicI64::new(i64::MIN);
    let lockstep = Barrier::new(2);
    let mut queries = 0u64;
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..2u64)
            .map(|th| {
                let (db, lockstep) = (&db, &lockstep);
                s.spawn(move || {
                    for b in 0..batches {
                        if b % 5 == 0 {
                            lockstep.wait();
                        }
                        let mut app = db.appender();
                        for k in 0..SERIES {
                            app.append(&labels(th, k), T0 + b * STEP, value(b, k))
                                .unwrap();
                        }
                        app.commit().unwrap();
                    }
                })
            })
            .collect();
        // The querier: every answer must be internally consistent.
        let querier = s.spawn(|| {
            let sel = parse_selector(r#"{__name__=~"alpha|beta", series=~"1.*"}"#).unwrap();
            while !done.load(Ordering::Acquire) {
                let floor = truncated.load(Ordering::Acquire);
                for series in db.querier(i64::MIN, i64::MAX).select_all(&sel).unwrap() {
                    let k: u64 = series.labels.get("series").unwrap().parse().unwrap();
                    assert!(series.samples.windows(2).all(|w| w[0].0 < w[1].0));
                    for &(t, v) in &series.samples {
                        assert!(t >= floor, "sample at {t} after truncation at {floor}");
                        assert_eq!(v, value((t - T0) / STEP, k));
                    }
                }
                queries += 1;
            }
        });
        // Truncation chases the writers.
        let truncator = s.spawn(|| {
            while !done.load(Ordering::Acquire) {
                std::thread::sleep(std::time::Duration::from_millis(20));
                let newest = db.head().max_time();
                if newest > T0 + 300_000 {
                    let mint = newest - 240_000;
                    db.truncate(mint).unwrap();
                    truncated.store(mint, Ordering::Release);
                }
            }
        });
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Release);
        querier.join().unwrap();
        truncator.join().unwrap();
    });
    let floor = truncated.load(Ordering::Acquire);
    assert!(floor > T0, "truncation never ran");
    assert!(queries > 10, "only {queries} queries ran");
    let all = db.querier(i64::MIN, i64::MAX).select_all(&[]).unwrap();
    assert_eq!(all.len() as u64, 2 * SERIES);
    for s in &all {
        let k: u64 = s.labels.get("series").unwrap().parse().unwrap();
        let first = (floor - T0 + STEP - 1) / STEP;
        let want: Vec<(i64, f64)> = (first..batches)
            .map(|b| (T0 + b * STEP, value(b, k)))
            .collect();
        assert!(
            s.samples == want,
            "{}: {} samples, want {}",
            s.labels,
            s.samples.len(),
            want.len()
        );
    }
    assert!(db.warnings().is_empty(), "{:?}", db.warnings());
    db.close().unwrap();
}
