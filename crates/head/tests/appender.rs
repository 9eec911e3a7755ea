//! The appender: every error kind, batches unaffected by a bad sample, concurrency.

mod common;

use std::sync::Arc;

use common::{dump, labels, open, opts, series};
use tsdb_head::AppendError;
use tsdb_wal::{SyncPolicy, WalMode};

#[test]
fn every_error_kind_is_typed_and_names_the_series() {
    let dir = tempfile::tempdir().unwrap();
    let head = open(dir.path(), opts(WalMode::Native, SyncPolicy::Never));
    let up = labels(&[("__name__", "up"), ("job", "api")]);
    let mut app = head.appender();
    let r = app.append(&up, 1000, 1.0).unwrap();
    app.commit().unwrap();

    let mut app = head.appender();
    // Out of order.
    let e = app.append(&up, 999, 1.0).unwrap_err();
    assert!(
        matches!(
            e,
            AppendError::OutOfOrder {
                t: 999,
                newest: 1000,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains(r#"{__name__="up", job="api"}"#),
        "{e}"
    );
    // Duplicate timestamp, other value.
    let e = app.append_ref(r, 1000, 2.0).unwrap_err();
    assert!(matches!(e, AppendError::Duplicate { t: 1000, .. }), "{e}");
    // Same timestamp and value: accepted silently.
    assert_eq!(app.append_ref(r, 1000, 1.0).unwrap(), r);
    // Unknown ref.
    let e = app.append_ref(12345, 2000, 1.0).unwrap_err();
    assert_eq!(e, AppendError::UnknownRef { series: 12345 });
    // Invalid labels.
    let e = app.append_pairs([("0bad", "x")], 2000, 1.0).unwrap_err();
    assert!(matches!(e, AppendError::InvalidLabels { .. }), "{e}");
    assert!(e.to_string().contains("0bad"), "{e}");
    let e = app.append(&labels(&[]), 2000, 1.0).unwrap_err();
    assert!(matches!(e, AppendError::InvalidLabels { .. }));
    // Within one batch, the second sample must follow the first.
    app.append_ref(r, 3000, 3.0).unwrap();
    let e = app.append_ref(r, 2500, 3.0).unwrap_err();
    assert!(matches!(
        e,
        AppendError::OutOfOrder {
            t: 2500,
            newest: 3000,
            ..
        }
    ));
    // The good samples of the batch are unaffected.
    app.append_ref(r, 4000, 4.0).unwrap();
    let stats = app.commit().unwrap();
    assert_eq!(stats.samples, 2);
    assert_eq!(
        head.samples(r, i64::MIN, i64::MAX).unwrap(),
        vec![(1000, 1.0), (3000, 3.0), (4000, 4.0)]
    );
    // Older than the head's lower bound.
    head.set_min_valid(10_000);
    let mut app = head.appender();
    let e = app
        .append_pairs([("__name__", "other")], 9_999, 1.0)
        .unwrap_err();
    assert!(
        matches!(
            e,
            AppendError::OutOfBounds {
                min_valid: 10_000,
                ..
            }
        ),
        "{e}"
    );
    drop(app);
    let m = head.metrics();
    assert_eq!(
        (
            m.out_of_order,
            m.duplicates,
            m.unknown_refs,
            m.invalid_labels,
            m.out_of_bounds
        ),
        (2, 1, 1, 2, 1)
    );
    assert_eq!(m.samples_appended, 3);
}

#[test]
fn rollback_and_drop_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let head = open(dir.path(), opts(WalMode::Native, SyncPolicy::Never));
    let mut app = head.appender();
    app.append(&series(1), 1, 1.0).unwrap();
    app.rollback();
    let mut app = head.appender();
    app.append(&series(1), 2, 1.0).unwrap();
    drop(app);
    assert!(dump(&head).is_empty());
    // The series exists (created at append) and takes samples later.
    let mut app = head.appender();
    app.append(&series(1), 3, 1.0).unwrap();
    app.commit().unwrap();
    assert_eq!(dump(&head).len(), 1);
    head.close().unwrap();
    let head = open(dir.path(), opts(WalMode::Native, SyncPolicy::Never));
    assert_eq!(
        dump(&head).values().next().unwrap(),
        &vec![(3, 1f64.to_bits())]
    );
}

#[test]
fn concurrent_appenders_store_every_sample_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let head = Arc::new(open(dir.path(), opts(WalMode::Native, SyncPolicy::Never)));
    // 4 threads; series 0..50 shared by all threads (each writes its own timestamps, interleaved so they
    // never collide: t = round * 4 + thread), series 1000 + thread * 100 .. disjoint.
    let rounds = 200i64;
    let handles: Vec<_> = (0..4i64)
        .map(|th| {
            let head = head.clone();
            std::thread::spawn(move || {
                let mut rejected = 0u64;
                for round in 0..rounds {
                    let mut app = head.appender();
                    let t = round * 4 + th;
                    for i in 0..50u64 {
                        // Shared series: a concurrent commit with a later t may win; such a sample is
                        // rejected (out of order) either at append or at commit.
                        if app.append(&series(i), t, t as f64).is_err() {
                            rejected += 1;
                        }
                    }
                    for i in 0..30u64 {
                        app.append(&series(1000 + th as u64 * 100 + i), round, round as f64)
                            .unwrap();
                    }
                    rejected += app.commit().unwrap().rejected;
                }
                rejected
            })
        })
        .collect();
    let rejected: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let m = dump(&head);
    // Disjoint series: every sample, in order, exactly once.
    for th in 0..4u64 {
        for i in 0..30u64 {
            let got = &m[&series(1000 + th * 100 + i)];
            let want: Vec<(i64, u64)> = (0..rounds).map(|r| (r, (r as f64).to_bits())).collect();
            assert_eq!(got, &want);
        }
    }
    // Shared series: strictly increasing, each stored sample is one that was appended, nothing lost
    // beyond the rejected ones.
    let mut stored = 0u64;
    for i in 0..50u64 {
        let got = &m[&series(i)];
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(got.iter().all(|&(t, v)| f64::from_bits(v) == t as f64));
        stored += got.len() as u64;
    }
    assert_eq!(stored + rejected, 4 * rounds as u64 * 50);
    // And the WAL holds the same: replay gives the same content.
    let before = m;
    let head = Arc::try_unwrap(head).ok().unwrap();
    head.close().unwrap();
    let head = open(dir.path(), opts(WalMode::Native, SyncPolicy::Never));
    assert!(dump(&head) == before);
}

/// Series created by different appenders sit in different lock slots, and appenders append them in
/// different orders while a reader walks their chunks: commits take the slots in slot order, so none waits
/// on another forever, and every series still holds only increasing samples.
#[test]
fn commits_in_any_order_across_shared_lock_slots_finish() {
    let dir = tempfile::tempdir().unwrap();
    let head = Arc::new(open(dir.path(), opts(WalMode::Native, SyncPolicy::Never)));
    // Created in turns by four appenders, 50 at a time: 400 series spread over many slots.
    for part in 0..8u64 {
        let mut app = head.appender();
        for i in part * 50..(part + 1) * 50 {
            app.append(&series(i), 0, 0.0).unwrap();
        }
        app.commit().unwrap();
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (head, stop) = (head.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut walks = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (r, _) in head.select(&[]) {
                    head.with_chunks(r, 0, i64::MAX, |cs| cs.len()).unwrap();
                }
                walks += 1;
            }
            walks
        })
    };
    let writers: Vec<_> = (0..4u64)
        .map(|th| {
            let head = head.clone();
            std::thread::spawn(move || {
                for round in 1..=150i64 {
                    let mut app = head.appender();
                    let t = round * 4 + th as i64;
                    // Each thread its own order: forwards, backwards, odd first, by a stride.
                    let order: Vec<u64> = match th {
                        0 => (0..400).collect(),
                        1 => (0..400).rev().collect(),
                        2 => (0..400)
                            .filter(|i| i % 2 == 1)
                            .chain((0..400).filter(|i| i % 2 == 0))
                            .collect(),
                        _ => (0..400).map(|i| (i * 7) % 400).collect(),
                    };
                    for i in order {
                        let _ = app.append(&series(i), t, t as f64);
                    }
                    app.commit().unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    let m = dump(&head);
    assert_eq!(m.len(), 400);
    for (l, got) in &m {
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "{l}");
        assert!(got.len() > 1, "{l}: only {got:?}");
    }
}

#[test]
fn matchers_select_with_prometheus_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let head = open(dir.path(), opts(WalMode::Native, SyncPolicy::Never));
    let mut app = head.appender();
    for i in 0..12 {
        app.append(&series(i), 1, 1.0).unwrap();
    }
    app.append(&labels(&[("__name__", "up"), ("zone", "eu")]), 1, 1.0)
        .unwrap();
    app.commit().unwrap();
    let sel = |s: &str| head.select(&tsdb_labels::parse_selector(s).unwrap()).len();
    assert_eq!(sel(r#"up"#), 7);
    assert_eq!(sel(r#"up{job="api"}"#), 2);
    assert_eq!(sel(r#"{job=~"api|db"}"#), 8);
    assert_eq!(sel(r#"up{job!="api"}"#), 5); // includes the series without `job`
    assert_eq!(sel(r#"up{job=""}"#), 1);
    assert_eq!(sel(r#"up{zone!~"e.*"}"#), 6);
    assert_eq!(sel(r#"{__name__=~".+", instance=~"host-1.?"}"#), 3);
    assert_eq!(head.label_values("job", &[]), vec!["api", "db", "web"]);
    assert_eq!(
        head.label_names(),
        vec!["__name__", "instance", "job", "zone"]
    );
    let sorted = head.select(&[]);
    assert!(sorted.windows(2).all(|w| w[0].1 < w[1].1));
}

#[test]
fn chunks_are_cut_at_120_samples_and_at_the_range_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(WalMode::Native, SyncPolicy::Never);
    o.chunk_range = 10_000;
    let head = open(dir.path(), o);
    let mut app = head.appender();
    // 300 samples 10 ms apart: cuts at 120 and 240 samples, all inside one range.
    for i in 0..300 {
        app.append(&series(0), i * 10, i as f64).unwrap();
    }
    // Crossing the 10 s boundary cuts too.
    app.append(&series(0), 10_000, 0.5).unwrap();
    app.commit().unwrap();
    assert_eq!(head.metrics().chunks_created, 4);
    let r = head.select(&[])[0].0;
    assert_eq!(head.samples(r, 0, 10_000).unwrap().len(), 301);
    assert_eq!(head.samples(r, 1000, 1990).unwrap().len(), 100);
}

/// `append_key`: an existing series is found by its key without building labels, a new one is created
/// from the labels it is given, and what it stores reads back as through `append`.
#[test]
fn append_key_finds_existing_series_and_creates_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let head = open(dir.path(), opts(WalMode::Native, SyncPolicy::Never));
    let up = labels(&[("__name__", "up"), ("job", "api")]);
    let down = labels(&[("__name__", "up"), ("job", "db")]);
    let mut app = head.appender();
    let r_up = app.append(&up, 1000, 1.0).unwrap();
    app.commit().unwrap();

    let mut app = head.appender();
    let mut built = 0;
    let r = app
        .append_key(
            up.hash_key(),
            || {
                built += 1;
                up.clone()
            },
            2000,
            2.0,
        )
        .unwrap();
    assert_eq!(r, r_up);
    assert_eq!(built, 0, "an existing series needs no labels");
    let r_down = app
        .append_key(
            down.hash_key(),
            || {
                built += 1;
                down.clone()
            },
            2000,
            3.0,
        )
        .unwrap();
    assert_eq!(built, 1);
    assert_ne!(r_down, r_up);
    // Errors name the series as `append`'s do.
    let e = app
        .append_key(up.hash_key(), || up.clone(), 500, 1.0)
        .unwrap_err();
    assert!(matches!(e, AppendError::OutOfOrder { t: 500, .. }), "{e}");
    app.commit().unwrap();
    assert_eq!(
        head.samples(r_up, 0, 3000).unwrap(),
        [(1000, 1.0), (2000, 2.0)]
    );
    assert_eq!(head.samples(r_down, 0, 3000).unwrap(), [(2000, 3.0)]);
    assert_eq!(head.labels(r_down).unwrap(), down);
}
