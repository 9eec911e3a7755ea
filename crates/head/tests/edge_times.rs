//! The head at the ends of the i64 range: `i64::MIN` is a sample like any other, `i64::MAX` is refused
//! at append and skipped at replay (no block could hold it).

mod common;

use common::*;
use tsdb_head::{AppendError, Head, MAX_TIME};
use tsdb_wal::{Batch, RefSample, RefSeries, SyncPolicy, Wal, WalMode};

#[test]
fn i64_min_is_appended_checked_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(WalMode::Native, SyncPolicy::Never);
    let head = open(dir.path(), o.clone());
    let s = series(1);
    let mut app = head.appender();
    app.append(&s, i64::MIN, 5.0).unwrap();
    // Within one appender: the buffered sample is the newest.
    assert!(matches!(
        app.append(&s, i64::MIN, 6.0),
        Err(AppendError::Duplicate { stored, .. }) if stored == 5.0
    ));
    assert_eq!(app.commit().unwrap().samples, 1);
    let mut app = head.appender();
    app.append(&s, i64::MIN + 1, 7.0).unwrap();
    assert_eq!(app.commit().unwrap().samples, 1);
    let want: Model = [(
        s.clone(),
        vec![(i64::MIN, 5f64.to_bits()), (i64::MIN + 1, 7f64.to_bits())],
    )]
    .into();
    assert_eq!(dump(&head), want);
    assert_eq!((head.min_time(), head.max_time()), (i64::MIN, i64::MIN + 1));
    head.close().unwrap();
    let (head, rep) = Head::open(dir.path(), o).unwrap();
    assert_eq!(rep.wal_samples, 2);
    assert_eq!(rep.time_range, Some((i64::MIN, i64::MIN + 1)));
    assert_eq!(dump(&head), want);
    // i64::MIN is now older than the newest sample.
    let mut app = head.appender();
    assert!(matches!(
        app.append(&s, i64::MIN, 9.0),
        Err(AppendError::OutOfOrder { t: i64::MIN, newest, .. }) if newest == i64::MIN + 1
    ));
    drop(app);
    head.close().unwrap();
}

#[test]
fn i64_max_is_refused_and_skipped_at_replay() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(WalMode::Native, SyncPolicy::Never);
    let head = open(dir.path(), o.clone());
    let mut app = head.appender();
    let e = app.append(&series(1), i64::MAX, 1.0).unwrap_err();
    assert!(
        matches!(
            e,
            AppendError::TooNew {
                t: i64::MAX,
                max: MAX_TIME,
                ..
            }
        ),
        "{e}"
    );
    app.append(&series(1), MAX_TIME, 1.0).unwrap();
    app.commit().unwrap();
    head.close().unwrap();
    // A WAL written elsewhere may hold i64::MAX: replay skips it.
    let wal = Wal::open(dir.path().join("wal"), o.wal.clone()).unwrap();
    wal.log(Batch {
        series: &[RefSeries {
            series: 99,
            labels: series(2),
        }],
        samples: &[RefSample {
            series: 99,
            t: i64::MAX,
            v: 2.0,
        }],
        deletes: &[],
    })
    .unwrap();
    wal.close().unwrap();
    let (head, rep) = Head::open(dir.path(), o).unwrap();
    assert_eq!(rep.skipped, 1, "{rep:?}");
    let want: Model = [(series(1), vec![(MAX_TIME, 1f64.to_bits())])].into();
    assert_eq!(dump(&head), want);
    assert_eq!(head.max_time(), MAX_TIME);
    head.close().unwrap();
}
