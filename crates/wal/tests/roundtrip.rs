//! Every record type, in both modes, round-trips exactly through the writer and the reader.

mod common;

use std::collections::BTreeMap;

use common::{batch_records, read_all, Rec};
use proptest::prelude::*;
use tsdb_labels::Labels;
use tsdb_wal::{Batch, Delete, RefSample, RefSeries, SyncPolicy, Wal, WalMode, WalOptions};

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::from_bits(0x7ff0_0000_0000_0002)), // Prometheus's stale marker
        Just(f64::from_bits(0xfff8_dead_beef_0001)), // negative NaN with a payload
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(0.0),
        Just(f64::MIN_POSITIVE),
        any::<u64>().prop_map(f64::from_bits),
    ]
}

fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0i64),
        (1_600_000_000_000i64..1_900_000_000_000),
    ]
}

fn series_ref() -> impl Strategy<Value = u64> {
    prop_oneof![any::<u64>(), Just(0u64), Just(u64::MAX), 0u64..10_000]
}

fn label_set() -> impl Strategy<Value = Labels> {
    prop::collection::btree_map(
        "[a-zA-Z_][a-zA-Z0-9_]{0,12}",
        prop_oneof![
            "\\PC{0,16}",
            "[a-z0-9./:-]{1,30}",
            Just("日本語 ✓ \" \\ \n".to_string())
        ],
        0..8,
    )
    .prop_map(|m: BTreeMap<String, String>| Labels::new(m).expect("valid"))
}

#[derive(Debug, Clone)]
struct TestBatch {
    series: Vec<RefSeries>,
    samples: Vec<RefSample>,
    deletes: Vec<Delete>,
}

fn batch() -> impl Strategy<Value = TestBatch> {
    (
        prop::collection::vec(
            (series_ref(), label_set()).prop_map(|(series, labels)| RefSeries { series, labels }),
            0..6,
        ),
        prop_oneof![
            prop::collection::vec(
                (series_ref(), timestamp(), value()).prop_map(|(series, t, v)| RefSample {
                    series,
                    t,
                    v
                }),
                0..40,
            ),
            // Larger than a small segment's remaining space.
            (0u64..1000, timestamp(), 300usize..700).prop_map(|(base, t, n)| {
                (0..n as u64)
                    .map(|i| RefSample {
                        series: base + i,
                        t: t.wrapping_add(i as i64 * 15_000),
                        v: i as f64 * 1.5,
                    })
                    .collect()
            }),
        ],
        prop::collection::vec(
            (series_ref(), timestamp(), timestamp()).prop_map(|(series, mint, maxt)| Delete {
                series,
                mint,
                maxt,
            }),
            0..4,
        ),
    )
        .prop_map(|(series, samples, deletes)| TestBatch {
            series,
            samples,
            deletes,
        })
}

fn write_and_read(mode: WalMode, batches: &[TestBatch], segment_size: u64) -> Vec<Rec> {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        mode,
        segment_size,
        sync: SyncPolicy::Never,
        ..WalOptions::default()
    };
    let wal = Wal::open(dir.path(), opts).unwrap();
    for b in batches {
        wal.log(Batch {
            series: &b.series,
            samples: &b.samples,
            deletes: &b.deletes,
        })
        .unwrap();
    }
    wal.close().unwrap();
    let (recs, err) = read_all(dir.path());
    assert!(err.is_none(), "unexpected error: {err:?}");
    recs
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn every_record_round_trips_in_both_modes(
        batches in prop::collection::vec(batch(), 0..12),
        segment_size in prop_oneof![Just(4096u64), Just(64 * 1024), Just(1u64 << 20)],
    ) {
        let want: Vec<Rec> = batches
            .iter()
            .flat_map(|b| batch_records(&b.series, &b.samples, &b.deletes))
            .collect();
        for mode in [WalMode::Native, WalMode::Prometheus] {
            let got = write_and_read(mode, &batches, segment_size);
            prop_assert_eq!(&got, &want, "mode {:?}", mode);
        }
    }
}

#[test]
fn empty_batches_write_nothing() {
    for mode in [WalMode::Native, WalMode::Prometheus] {
        let got = write_and_read(
            mode,
            &[TestBatch {
                series: vec![],
                samples: vec![],
                deletes: vec![],
            }],
            4096,
        );
        assert!(got.is_empty());
    }
}

#[test]
fn symbols_survive_reopen() {
    // A second writer starts a new symbol table; both tables resolve.
    let dir = tempfile::tempdir().unwrap();
    let s1 = common::make_series(1, 50);
    let s2 = common::make_series(51, 50);
    for s in [&s1, &s2] {
        let wal = Wal::open(dir.path(), WalOptions::default()).unwrap();
        wal.log_series(s).unwrap();
        wal.close().unwrap();
    }
    let (got, err) = read_all(dir.path());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, vec![Rec::Series(s1), Rec::Series(s2)]);
}
