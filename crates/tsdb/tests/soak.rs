//! Soak under churn: a one-minute block range and tiny head chunk files, two threads appending with
//! timestamps advancing fast, a third running maintenance without pause — hundreds of persistence,
//! head-truncation, WAL-truncation and chunk-file-cut cycles. No error; every sample queryable; head chunk
//! files replay cleanly after a clean close. (After SIGKILL: see `crash.rs`, which runs with small head
//! chunk files and checks every acknowledged sample after each kill.)

use std::sync::atomic::{AtomicBool, Ordering};

use tsdb::{Db, Options, SyncPolicy};
use tsdb_labels::Labels;

const SERIES: u64 = 25;
const T0: i64 = 1_700_000_000_000;
const STEP: i64 = 2_000;

fn labels(thread: u64, s: u64) -> Labels {
    Labels::new([
        ("__name__", "soak"),
        ("thread", &thread.to_string()),
        ("series", &s.to_string()),
    ])
    .unwrap()
}

fn opts() -> Options {
    Options {
        block_range: 60_000,
        sync: SyncPolicy::Never,
        wal_segment_size: 32 * 1024,
        head_chunk_file_size: 2 * 1024,
        background: false,
        ..Options::default()
    }
}

#[test]
fn soak_under_churn() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let batches: i64 = std::env::var("SOAK_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(9_000); // 5 simulated hours per thread: 300 one-minute blocks
    let done = AtomicBool::new(false);
    // The writers stay within a few simulated seconds of each other, as scrapers of one server do: the
    // database rejects samples older than half a block range behind the newest.
    let lockstep = std::sync::Barrier::new(2);
    let mut totals = tsdb::Maintenance::default();
    let mut rounds = 0;
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..2u64)
            .map(|th| {
                let db = &db;
                let lockstep = &lockstep;
                s.spawn(move || {
                    let mut refs = Vec::new();
                    for b in 0..batches {
                        if b % 5 == 0 {
                            lockstep.wait();
                        }
                        let t = T0 + b * STEP;
                        let mut app = db.appender();
                        for k in 0..SERIES {
                            let v = (b as u64 * 100 + k) as f64;
                            match refs.get(k as usize) {
                                Some(&r) => match app.append_ref(r, t, v) {
                                    Ok(_) => {}
                                    // Truncation removed the series (it had no sample left): by labels.
                                    Err(tsdb::AppendError::UnknownRef { .. }) => {
                                        refs[k as usize] =
                                            app.append(&labels(th, k), t, v).unwrap();
                                    }
                                    Err(e) => panic!("{e}"),
                                },
                                None => refs.push(app.append(&labels(th, k), t, v).unwrap()),
                            }
                        }
                        app.commit().unwrap();
                    }
                })
            })
            .collect();
        let maint = s.spawn(|| {
            while !done.load(Ordering::Acquire) {
                let m = db.maintain().unwrap();
                totals.persisted.extend(m.persisted);
                totals.compacted.extend(m.compacted);
                totals.wal_segments_truncated += m.wal_segments_truncated;
                totals.chunk_files_removed += m.chunk_files_removed;
                rounds += 1;
            }
        });
        let results: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
        done.store(true, Ordering::Release);
        maint.join().unwrap();
        for r in results {
            if let Err(p) = r {
                std::panic::resume_unwind(p);
            }
        }
    });
    totals.persisted.extend(db.maintain().unwrap().persisted);
    let chunk_files_made = std::fs::read_dir(dir.path().join("chunks_head"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    eprintln!(
        "soak: {} blocks persisted, {} compactions, {} WAL segments truncated, {} head chunk files cut \
         ({} removed), {rounds} maintenance rounds",
        totals.persisted.len(),
        totals.compacted.len(),
        totals.wal_segments_truncated,
        chunk_files_made,
        totals.chunk_files_removed
    );
    assert!(
        totals.persisted.len() >= 200,
        "only {} persistence cycles",
        totals.persisted.len()
    );
    assert!(totals.wal_segments_truncated >= 100);
    assert!(chunk_files_made >= 100 && totals.chunk_files_removed >= 100);

    let check = |db: &Db| {
        let all = db.querier(i64::MIN, i64::MAX).select_all(&[]).unwrap();
        assert_eq!(all.len() as u64, 2 * SERIES);
        for s in &all {
            let k: u64 = s.labels.get("series").unwrap().parse().unwrap();
            assert_eq!(s.samples.len() as i64, batches, "{}", s.labels);
            for (b, &(t, v)) in s.samples.iter().enumerate() {
                assert_eq!((t, v), (T0 + b as i64 * STEP, (b as u64 * 100 + k) as f64));
            }
        }
    };
    check(&db);
    db.close().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let r = db.replay_report();
    assert!(r.chunk_damage.is_none(), "{:?}", r.chunk_damage);
    assert!(r.wal_corruption.is_none(), "{:?}", r.wal_corruption);
    check(&db);
    db.close().unwrap();
}
