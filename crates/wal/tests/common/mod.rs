//! Helpers shared by the WAL's integration tests.
#![allow(dead_code)]

use std::path::Path;

use tsdb_labels::Labels;
use tsdb_wal::{Delete, Record, RefSample, RefSeries, WalError, WalReader};

/// A record as owned data, for comparing what was written with what was read.
#[derive(Debug, Clone, PartialEq)]
pub enum Rec {
    Series(Vec<RefSeries>),
    Samples(Vec<RefSample>),
    Deletes(Vec<Delete>),
}

/// Owned records of one logged batch, in the order the log holds them.
pub fn batch_records(series: &[RefSeries], samples: &[RefSample], deletes: &[Delete]) -> Vec<Rec> {
    let mut v = Vec::new();
    if !series.is_empty() {
        v.push(Rec::Series(series.to_vec()));
    }
    if !samples.is_empty() {
        v.push(Rec::Samples(samples.to_vec()));
    }
    if !deletes.is_empty() {
        v.push(Rec::Deletes(deletes.to_vec()));
    }
    v
}

/// Reads every record (symbols left out) until the end or the first error.
pub fn read_all(dir: &Path) -> (Vec<Rec>, Option<WalError>) {
    let mut out = Vec::new();
    let mut r = match WalReader::open(dir) {
        Ok(r) => r,
        Err(e) => return (out, Some(e)),
    };
    loop {
        match r.next() {
            Ok(Some(e)) => match e.record {
                Record::Series(s) => out.push(Rec::Series(s.to_vec())),
                Record::Samples(s) => out.push(Rec::Samples(s.to_vec())),
                Record::Deletes(d) => out.push(Rec::Deletes(d.to_vec())),
                Record::Symbols { .. } => {}
            },
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// A label set from literal pairs.
pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied()).expect("valid labels")
}

/// `n` series with refs `first..first + n`.
pub fn make_series(first: u64, n: u64) -> Vec<RefSeries> {
    (first..first + n)
        .map(|i| RefSeries {
            series: i,
            labels: labels(&[
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("instance", &format!("host-{}:9100", i % 97)),
                ("id", &i.to_string()),
            ]),
        })
        .collect()
}

/// Samples of series `first..first + n` at time `t`.
pub fn make_samples(first: u64, n: u64, t: i64) -> Vec<RefSample> {
    (first..first + n)
        .map(|i| RefSample {
            series: i,
            t,
            v: (t as f64) * 0.5 + i as f64,
        })
        .collect()
}

/// Sizes of the segment files of `dir`, in order.
pub fn segment_sizes(dir: &Path) -> Vec<(u64, u64)> {
    tsdb_wal::segment::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|s| (s.seq, std::fs::metadata(&s.path).unwrap().len()))
        .collect()
}

/// A record with where it was found: segment, offset, entry length.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub segment: u64,
    pub offset: u64,
    pub len: u64,
    pub rec: Option<Rec>,
}

/// Every entry (symbols included, as `rec: None`) with its position; panics on any error.
pub fn read_placed(dir: &Path) -> Vec<Placed> {
    let mut out = Vec::new();
    let mut r = WalReader::open(dir).unwrap();
    while let Some(e) = r.next().unwrap() {
        let rec = match e.record {
            Record::Series(s) => Some(Rec::Series(s.to_vec())),
            Record::Samples(s) => Some(Rec::Samples(s.to_vec())),
            Record::Deletes(d) => Some(Rec::Deletes(d.to_vec())),
            Record::Symbols { .. } => None,
        };
        out.push(Placed {
            segment: e.segment,
            offset: e.offset,
            len: e.len,
            rec,
        });
    }
    out
}

/// Copies every file of `from` into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Asserts `got` is a prefix of `want`.
pub fn assert_prefix(got: &[Rec], want: &[Rec]) {
    assert!(
        got.len() <= want.len() && got == &want[..got.len()],
        "read {} records that are not a prefix of the {} written",
        got.len(),
        want.len()
    );
}
