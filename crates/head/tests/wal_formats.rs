//! The head and the WAL's format: replay reports the format it read and the wlog records it skipped by
//! type; an unrecognised WAL is a typed error, with nothing created or changed; in wlog mode a truncation
//! logs tombstones of the cut, so a reader that knows nothing of our lower bound sees what we see.

mod common;

use common::{dump, open, opts, series};
use tsdb_head::{Head, HeadError, HeadOptions};
use tsdb_labels::Labels;
use tsdb_wal::wlog::fragment::frame_record;
use tsdb_wal::{Record, RefSample, RefSeries, SyncPolicy, WalFormat, WalMode, WalReader};

/// Writes one wlog segment holding `records` (uncompressed).
fn write_wlog(dir: &std::path::Path, records: &[Vec<u8>]) {
    let wal = dir.join("wal");
    std::fs::create_dir_all(&wal).unwrap();
    let mut out = Vec::new();
    let mut off = 0;
    for r in records {
        off = frame_record(&mut out, off, r, 0);
    }
    std::fs::write(wal.join("00000000"), out).unwrap();
}

#[test]
fn replay_reports_the_format_and_the_skipped_records_by_type() {
    let d = tempfile::tempdir().unwrap();
    let mut series_rec = vec![1u8];
    tsdb_wal::record::encode_series_simple(
        &mut series_rec,
        &[RefSeries {
            series: 3,
            labels: Labels::new([("__name__", "up")]).unwrap(),
        }],
    );
    let mut samples = vec![2u8];
    tsdb_wal::record::encode_samples(
        &mut samples,
        &[RefSample {
            series: 3,
            t: 1_000,
            v: 1.5,
        }],
    );
    write_wlog(
        d.path(),
        &[
            series_rec,
            b"\x04an exemplar".to_vec(),
            b"\x06metadata".to_vec(),
            b"\x06more metadata".to_vec(),
            samples,
            b"\x07a histogram".to_vec(),
        ],
    );
    let (head, rep) = Head::open_read_only(d.path(), HeadOptions::default()).unwrap();
    assert_eq!(rep.wal_format, Some(WalFormat::Wlog));
    assert_eq!(
        rep.skipped_records,
        vec![
            (4, "exemplars", 1),
            (6, "metadata", 2),
            (7, "histogram_samples", 1)
        ]
    );
    assert_eq!((rep.series, rep.samples), (1, 1));
    assert!(rep.wal_corruption.is_none() && rep.missing_records().is_none());
    drop(head);

    // A SegmentWAL log: its own format, nothing skipped.
    let d = tempfile::tempdir().unwrap();
    let head = open(d.path(), opts(WalMode::Native, SyncPolicy::Never));
    let mut app = head.appender();
    app.append(&series(1), 10, 1.0).unwrap();
    app.commit().unwrap();
    head.close().unwrap();
    let (_h, rep) = Head::open_read_only(d.path(), HeadOptions::default()).unwrap();
    assert_eq!(rep.wal_format, Some(WalFormat::Native));
    assert!(rep.skipped_records.is_empty());
}

#[test]
fn an_unrecognised_wal_is_a_format_error_and_nothing_is_created() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("wal")).unwrap();
    std::fs::write(d.path().join("wal").join("000001"), b"\x00\x01not a WAL").unwrap();
    for writable in [false, true] {
        let r = if writable {
            Head::open(d.path(), opts(WalMode::Native, SyncPolicy::Never))
        } else {
            Head::open_read_only(d.path(), HeadOptions::default())
        };
        match r {
            Err(HeadError::WalFormat { dir, format }) => {
                assert_eq!(dir, d.path().join("wal"));
                assert!(matches!(&format, WalFormat::Unknown(why) if why.contains("000001")));
                let msg = HeadError::WalFormat { dir, format }.to_string();
                assert!(msg.contains("is in unrecognised ("), "{msg}");
                assert!(msg.contains("format"), "{msg}");
            }
            Err(e) => panic!("writable {writable}: another error: {e}"),
            Ok(_) => panic!("writable {writable}: opened"),
        }
        assert!(!d.path().join("chunks_head").exists(), "nothing created");
        let names: Vec<_> = std::fs::read_dir(d.path().join("wal")).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}

#[test]
fn wlog_truncation_logs_a_tombstone_of_the_cut_for_every_series() {
    let d = tempfile::tempdir().unwrap();
    let head = open(d.path(), opts(WalMode::Wlog, SyncPolicy::Never));
    for round in 0..300i64 {
        let mut app = head.appender();
        for i in 0..10 {
            app.append(&series(i), 1_000_000 + round * 15_000, round as f64)
                .unwrap();
        }
        app.commit().unwrap();
    }
    let cut = 1_000_000 + 150 * 15_000;
    let rep = head.truncate(cut).unwrap();
    assert_eq!(rep.tombstones_logged, 10, "{rep:?}");
    let want = dump(&head);
    assert!(want.values().flatten().all(|(t, _)| *t >= cut));
    head.close().unwrap();

    // The log itself says where the cut is: every series has a tombstone ending just before it.
    let mut r = WalReader::open(&d.path().join("wal")).unwrap();
    let mut tombstones = 0;
    while let Some(e) = r.next().unwrap() {
        if let Record::Deletes(ds) = e.record {
            for x in ds {
                assert_eq!((x.mint, x.maxt), (i64::MIN, cut - 1));
                tombstones += 1;
            }
        }
    }
    assert_eq!(tombstones, 10);

    // Reopened (ours ignores nothing: lower bound or not), the same samples.
    let (head, _) = Head::open_read_only(d.path(), HeadOptions::default()).unwrap();
    assert!(dump(&head) == want);

    // The SegmentWAL modes log none (their readers keep `truncated_before`'s bound).
    let d = tempfile::tempdir().unwrap();
    let head = open(d.path(), opts(WalMode::Native, SyncPolicy::Never));
    let mut app = head.appender();
    app.append(&series(1), 10, 1.0).unwrap();
    app.commit().unwrap();
    assert_eq!(head.truncate(20).unwrap().tombstones_logged, 0);
}
