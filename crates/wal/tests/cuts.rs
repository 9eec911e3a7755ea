//! Segment cuts: order across many cuts, no preallocated tail on closed segments, writers not held up by the
//! background actor, concurrent writers.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{read_all, segment_sizes, Rec};
use tsdb_wal::{RefSample, SyncPolicy, Wal, WalMode, WalOptions, WalReader};

fn small(mode: WalMode, sync: SyncPolicy) -> WalOptions {
    WalOptions {
        mode,
        segment_size: 8 * 1024,
        sync,
        ..WalOptions::default()
    }
}

#[test]
fn thousands_of_entries_across_many_cuts_read_back_in_order() {
    for (mode, sync) in [
        (WalMode::Native, SyncPolicy::Never),
        (WalMode::Prometheus, SyncPolicy::Always),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), small(mode, sync)).unwrap();
        let mut want = Vec::new();
        for i in 0..3000u64 {
            let s = common::make_samples(i % 50, 1 + i % 30, i as i64 * 1000);
            wal.log_samples(&s).unwrap();
            want.push(Rec::Samples(s));
        }
        let created = wal.metrics().segments_created;
        wal.close().unwrap();
        let (got, err) = read_all(dir.path());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got, want);
        let sizes = segment_sizes(dir.path());
        assert!(sizes.len() >= 50, "only {} segments", sizes.len());
        assert_eq!(sizes.len() as u64, created);
        // Consecutive names, and every segment ends exactly at its last entry.
        let mut r = WalReader::open(dir.path()).unwrap();
        while r.next().unwrap().is_some() {}
        for (i, st) in r.segment_stats().iter().enumerate() {
            assert_eq!(st.seq, i as u64 + 1);
            assert_eq!(st.file_len, st.data_end, "segment {} has a tail", st.seq);
            assert!(st.file_len <= 8 * 1024);
        }
    }
}

#[test]
fn writers_are_not_held_up_by_a_slow_actor() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = small(WalMode::Prometheus, SyncPolicy::Never);
    opts.actor_delay = Some(Duration::from_millis(200));
    let wal = Wal::open(dir.path(), opts).unwrap();
    for i in 0..250u64 {
        wal.log_samples(&common::make_samples(0, 40, i as i64))
            .unwrap();
    }
    let cut = wal.metrics().segments_created - 1;
    assert!(cut >= 8, "only {cut} cuts");
    // Every log call has returned. The actor needs 200 ms per closed segment, so most closed segments must
    // still be unfinished (preallocated to the full segment size): the writer did not wait for it.
    let unfinished = segment_sizes(dir.path())
        .iter()
        .filter(|(_, len)| *len == 8 * 1024)
        .count() as u64;
    assert!(
        unfinished >= cut / 2,
        "{unfinished} of {cut} closed segments unfinished: writers waited for the actor"
    );
    // Data in unfinished segments is readable already.
    let (got, err) = read_all(dir.path());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got.len(), 250);
    wal.close().unwrap();
    for (seq, len) in segment_sizes(dir.path()) {
        assert!(len < 8 * 1024, "segment {seq} kept its tail after close");
    }
}

#[test]
fn concurrent_writers_lose_nothing_and_keep_per_thread_order() {
    for sync in [SyncPolicy::Always, SyncPolicy::Never] {
        let dir = tempfile::tempdir().unwrap();
        let wal = Arc::new(Wal::open(dir.path(), small(WalMode::Native, sync)).unwrap());
        let threads: Vec<_> = (0..4u64)
            .map(|th| {
                let wal = wal.clone();
                std::thread::spawn(move || {
                    for i in 0..300i64 {
                        let s: Vec<RefSample> = (0..20)
                            .map(|k| RefSample {
                                series: th * 1000 + k,
                                t: i,
                                v: (th * 1_000_000 + i as u64) as f64,
                            })
                            .collect();
                        wal.log_samples(&s).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        if sync == SyncPolicy::Always {
            assert!(wal.metrics().fsyncs > 0);
        }
        Arc::try_unwrap(wal).ok().unwrap().close().unwrap();
        let (got, err) = read_all(dir.path());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got.len(), 1200);
        let mut next = [0i64; 4];
        for r in got {
            let Rec::Samples(s) = r else { panic!() };
            let th = (s[0].series / 1000) as usize;
            assert_eq!(s[0].t, next[th], "thread {th} out of order");
            next[th] += 1;
        }
        assert_eq!(next, [300; 4]);
    }
}

#[test]
fn interval_policy_syncs_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(
        dir.path(),
        small(
            WalMode::Native,
            SyncPolicy::Interval(Duration::from_millis(20)),
        ),
    )
    .unwrap();
    wal.log_samples(&common::make_samples(0, 10, 1)).unwrap();
    let mut waited = 0;
    while wal.metrics().fsyncs == 0 && waited < 500 {
        std::thread::sleep(Duration::from_millis(10));
        waited += 1;
    }
    assert!(wal.metrics().fsyncs > 0, "no background fsync");
    wal.close().unwrap();
}

#[test]
fn a_batch_larger_than_a_segment_gets_a_segment_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), small(WalMode::Prometheus, SyncPolicy::Never)).unwrap();
    let small_batch = common::make_samples(0, 5, 0);
    let big = common::make_samples(0, 2000, 1); // ~20 KiB
    wal.log_samples(&small_batch).unwrap();
    wal.log_samples(&big).unwrap();
    wal.log_samples(&small_batch).unwrap();
    wal.close().unwrap();
    let (got, err) = read_all(dir.path());
    assert!(err.is_none());
    assert_eq!(
        got,
        vec![
            Rec::Samples(small_batch.clone()),
            Rec::Samples(big),
            Rec::Samples(small_batch)
        ]
    );
    let sizes = segment_sizes(dir.path());
    assert_eq!(sizes.len(), 3);
    assert!(sizes[1].1 > 8 * 1024);
}

#[test]
fn closed_log_refuses_writes_and_reopen_continues() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    wal.log_samples(&common::make_samples(0, 3, 1)).unwrap();
    wal.close().unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert_eq!(wal.current_segment(), 2);
    wal.log_samples(&common::make_samples(0, 3, 2)).unwrap();
    drop(wal);
    let (got, err) = read_all(dir.path());
    assert!(err.is_none());
    assert_eq!(got.len(), 2);
}
