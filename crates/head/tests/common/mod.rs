//! Helpers of the head's integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use tsdb_head::{Head, HeadOptions};
use tsdb_labels::Labels;
use tsdb_wal::{SyncPolicy, WalMode, WalOptions};

/// Small files so that tests cut segments and chunk files.
pub fn opts(mode: WalMode, sync: SyncPolicy) -> HeadOptions {
    HeadOptions {
        wal: WalOptions {
            mode,
            sync,
            segment_size: 64 * 1024,
            ..WalOptions::default()
        },
        head_chunks: tsdb_chunks::HeadFilesOptions {
            max_file_size: 64 * 1024,
            ..Default::default()
        },
        stripes: 64,
        ..HeadOptions::default()
    }
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied()).unwrap()
}

pub fn series(i: u64) -> Labels {
    labels(&[
        (
            "__name__",
            if i.is_multiple_of(2) {
                "up"
            } else {
                "requests_total"
            },
        ),
        ("job", ["api", "db", "web"][(i % 3) as usize]),
        ("instance", &format!("host-{i}")),
    ])
}

/// Everything in the head, by labels, with values as bits.
pub type Model = BTreeMap<Labels, Vec<(i64, u64)>>;

pub fn dump(head: &Head) -> Model {
    let mut m = Model::new();
    for (r, l) in head.select(&[]) {
        let s = head.samples(r, i64::MIN, i64::MAX).unwrap();
        if !s.is_empty() {
            m.insert(l, s.into_iter().map(|(t, v)| (t, v.to_bits())).collect());
        }
    }
    m
}

pub fn open(dir: &Path, o: HeadOptions) -> Head {
    Head::open(dir, o).unwrap().0
}
