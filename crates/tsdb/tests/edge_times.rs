//! Timestamps at the ends of the i64 range: stored, queried, persisted as blocks, and never looping or
//! overflowing; and a query that stays complete while maintenance moves the head's data into a block.

use tsdb::{AppendError, Db, Options};
use tsdb_labels::Labels;

fn opts() -> Options {
    Options {
        background: false,
        ..Options::default()
    }
}

fn lbl(name: &str) -> Labels {
    Labels::new([("__name__", name)]).unwrap()
}

fn all(db: &Db) -> Vec<(Labels, Vec<(i64, f64)>)> {
    db.querier(i64::MIN, i64::MAX)
        .select_all(&[])
        .unwrap()
        .into_iter()
        .map(|s| (s.labels, s.samples))
        .collect()
}

#[test]
fn sample_at_i64_min_is_stored_and_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let mut app = db.appender();
    app.append(&lbl("lo"), i64::MIN, 5.0).unwrap();
    let stats = app.commit().unwrap();
    assert_eq!(stats.samples, 1);
    assert_eq!(all(&db), vec![(lbl("lo"), vec![(i64::MIN, 5.0)])]);
    // Appending it again is an exact duplicate; another value at the same time is a conflict.
    let mut app = db.appender();
    app.append(&lbl("lo"), i64::MIN, 5.0).unwrap();
    assert!(matches!(
        app.append(&lbl("lo"), i64::MIN, 6.0),
        Err(AppendError::Duplicate { stored, .. }) if stored == 5.0
    ));
    assert_eq!(app.commit().unwrap().samples, 0);
    db.close().unwrap();
    // Replayed from the WAL.
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(all(&db), vec![(lbl("lo"), vec![(i64::MIN, 5.0)])]);
    // And persisted as a block.
    let blocks = db.flush().unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].min_time, i64::MIN);
    assert!(blocks[0].max_time > i64::MIN);
    assert_eq!(all(&db), vec![(lbl("lo"), vec![(i64::MIN, 5.0)])]);
    db.close().unwrap();
}

#[test]
fn flush_near_both_ends_terminates_and_keeps_every_sample() {
    for ts in [
        vec![i64::MIN + 1],
        vec![i64::MIN, i64::MIN + 1, i64::MIN + 7_200_000],
        vec![tsdb::MAX_TIME],
        vec![
            tsdb::MAX_TIME - 7_200_000,
            tsdb::MAX_TIME - 1,
            tsdb::MAX_TIME,
        ],
        vec![i64::MIN, -1, 0, tsdb::MAX_TIME],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), opts()).unwrap();
        let mut app = db.appender();
        for (i, &t) in ts.iter().enumerate() {
            app.append(&lbl("edge"), t, i as f64).unwrap();
        }
        app.commit().unwrap();
        let want: Vec<(i64, f64)> = ts.iter().enumerate().map(|(i, &t)| (t, i as f64)).collect();
        // maintain, then flush (as the CLI's flush does).
        db.maintain().unwrap();
        let blocks = db.flush().unwrap();
        for b in db.blocks() {
            assert!(b.min_time < b.max_time, "{ts:?}: empty block {b:?}");
        }
        assert!(db.head().max_time() < db.head().min_time() || blocks.is_empty());
        assert_eq!(all(&db), vec![(lbl("edge"), want.clone())], "{ts:?}");
        db.close().unwrap();
        let db = Db::open(dir.path(), opts()).unwrap();
        assert_eq!(all(&db), vec![(lbl("edge"), want)], "{ts:?} after reopen");
        // A snapshot holds them too.
        let snap = tempfile::tempdir().unwrap();
        db.snapshot(snap.path().join("s")).unwrap();
        db.close().unwrap();
    }
}

#[test]
fn snapshot_of_head_near_i64_min() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let mut app = db.appender();
    app.append(&lbl("s"), i64::MIN + 1, 1.0).unwrap();
    app.commit().unwrap();
    let snap = tempfile::tempdir().unwrap();
    let metas = db.snapshot(snap.path().join("s")).unwrap();
    assert_eq!(metas.len(), 1);
    assert!(metas[0].min_time <= i64::MIN + 1 && i64::MIN + 1 < metas[0].max_time);
    db.close().unwrap();
}

#[test]
fn i64_max_is_refused_at_append_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let mut app = db.appender();
    let e = app.append(&lbl("hi"), i64::MAX, 1.0).unwrap_err();
    assert!(
        matches!(
            e,
            AppendError::TooNew {
                t: i64::MAX,
                max: tsdb::MAX_TIME,
                ..
            }
        ),
        "{e}"
    );
    app.append(&lbl("hi"), tsdb::MAX_TIME, 1.0).unwrap();
    app.commit().unwrap();
    assert!(db.flush().unwrap().len() == 1);
    assert_eq!(all(&db), vec![(lbl("hi"), vec![(tsdb::MAX_TIME, 1.0)])]);
    db.close().unwrap();
}

/// A querier made before maintenance persisted a range and truncated the head still sees that range
/// (it was reported as missing, so a re-appended stored sample counted as rejected).
#[test]
fn querier_made_before_persisting_sees_the_persisted_range() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let range = Options::default().block_range;
    let mut app = db.appender();
    for i in 0..40 {
        let t = i * range / 10;
        app.append(&lbl("a"), t, 1.0).unwrap();
        app.append(&lbl("b"), t, 2.0).unwrap();
    }
    app.commit().unwrap();
    let n = (0..40).filter(|i| i * range / 10 <= range).count();
    // Maintenance runs on another thread while a querier made before it walks: it writes the block, then
    // waits for the querier before it truncates the head, so the walk sees every sample once.
    let q = db.querier(0, range);
    let started = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let m = scope.spawn(|| {
            started.store(true, std::sync::atomic::Ordering::SeqCst);
            db.maintain().unwrap()
        });
        while !started.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let mut seen = Vec::new();
        let mut buf = Vec::new();
        for s in q.select(&[]).unwrap() {
            let s = s.unwrap();
            // Give maintenance time to persist the block and reach the truncation.
            std::thread::sleep(std::time::Duration::from_millis(100));
            s.samples_into(&mut buf).unwrap();
            seen.push((s.labels().clone(), buf.len()));
        }
        assert_eq!(seen, vec![(lbl("a"), n), (lbl("b"), n)]);
        assert!(!m.is_finished(), "truncation waited for the querier");
        drop(q);
        let rep = m.join().unwrap();
        assert!(!rep.persisted.is_empty());
    });
    let q = db.querier(0, range);
    let got = q.select_all(&[]).unwrap();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|s| s.samples.len() == n));
    drop(q);
    db.close().unwrap();
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn time() -> impl Strategy<Value = i64> {
        prop_oneof![
            any::<i64>().prop_map(|t| t.min(tsdb::MAX_TIME)),
            (0i64..20_000_000).prop_map(|d| i64::MIN + d),
            (0i64..20_000_000).prop_map(|d| tsdb::MAX_TIME - d),
            -20_000_000i64..20_000_000,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Samples anywhere on the i64 line: maintenance and flush end, write only non-empty blocks
        /// whose range holds their samples, and every sample reads back.
        #[test]
        fn persisting_keeps_every_sample_anywhere(ts in prop::collection::btree_set(time(), 1..12)) {
            let dir = tempfile::tempdir().unwrap();
            let db = Db::open(dir.path(), opts()).unwrap();
            let mut app = db.appender();
            let want: Vec<(i64, f64)> = ts.iter().enumerate().map(|(i, &t)| (t, i as f64)).collect();
            for &(t, v) in &want {
                app.append(&lbl("p"), t, v).unwrap();
            }
            app.commit().unwrap();
            db.maintain().unwrap();
            db.flush().unwrap();
            let mut n = 0u64;
            for b in db.blocks() {
                prop_assert!(b.min_time < b.max_time, "empty block {:?}", b);
                n += b.stats.num_samples;
            }
            prop_assert_eq!(n, want.len() as u64);
            prop_assert_eq!(all(&db), vec![(lbl("p"), want)]);
            db.close().unwrap();
        }
    }
}
