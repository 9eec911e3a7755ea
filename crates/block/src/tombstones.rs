//! Tombstones: the deleted time ranges of a block's series, and the `tombstones` file
//! (Prometheus `tsdb/docs/format/tombstones.md`).
//!
//! File layout: magic `0x0130BA30` (big-endian u32), version byte `1`, then per interval
//! `uvarint series ref | varint mint | varint maxt`, then a big-endian CRC32-Castagnoli over the
//! intervals (not over the version byte, as Prometheus computes it).

use std::collections::BTreeMap;
use std::path::Path;

use crate::encoding::{self, Decbuf, Fault};
use crate::error::{BlockError, Corruption, Result};
use crate::fsutil;

/// Name of the tombstones file in a block directory.
pub const TOMBSTONES_FILENAME: &str = "tombstones";
/// Magic number of tombstones files.
pub const TOMBSTONES_MAGIC: u32 = 0x0130_BA30;
const FORMAT_V1: u8 = 1;

/// A closed time interval `[mint, maxt]` (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    /// First deleted timestamp.
    pub mint: i64,
    /// Last deleted timestamp.
    pub maxt: i64,
}

impl Interval {
    /// `[mint, maxt]`.
    pub fn new(mint: i64, maxt: i64) -> Self {
        Interval { mint, maxt }
    }

    /// Whether `t` lies in the interval.
    #[inline]
    pub fn contains(&self, t: i64) -> bool {
        self.mint <= t && t <= self.maxt
    }
}

/// A sorted set of disjoint, non-adjacent closed intervals (adding merges overlapping and
/// touching ones, as Prometheus's `Intervals.Add`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intervals(Vec<Interval>);

impl Intervals {
    /// No interval.
    pub fn new() -> Self {
        Intervals(Vec::new())
    }

    /// Adds `[iv.mint, iv.maxt]`, merging it with every interval it overlaps or touches.
    /// Intervals with `mint > maxt` are ignored.
    pub fn add(&mut self, iv: Interval) {
        if iv.mint > iv.maxt {
            return;
        }
        let v = &mut self.0;
        // First interval that ends at or after iv.mint - 1 (could merge).
        let lo = v.partition_point(|x| x.maxt < iv.mint.saturating_sub(1));
        // First interval that starts after iv.maxt + 1 (cannot merge).
        let hi = v.partition_point(|x| x.mint <= iv.maxt.saturating_add(1));
        if lo >= hi {
            v.insert(lo, iv);
            return;
        }
        let merged = Interval {
            mint: iv.mint.min(v[lo].mint),
            maxt: iv.maxt.max(v[hi - 1].maxt),
        };
        v.splice(lo..hi, std::iter::once(merged));
    }

    /// The intervals, ascending.
    pub fn as_slice(&self) -> &[Interval] {
        &self.0
    }

    /// Number of intervals.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no interval.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `t` is deleted.
    pub fn contains(&self, t: i64) -> bool {
        let i = self.0.partition_point(|x| x.maxt < t);
        self.0.get(i).is_some_and(|x| x.mint <= t)
    }

    /// Whether the whole closed range `[mint, maxt]` is deleted.
    pub fn covers(&self, mint: i64, maxt: i64) -> bool {
        let i = self.0.partition_point(|x| x.maxt < mint);
        self.0
            .get(i)
            .is_some_and(|x| x.mint <= mint && maxt <= x.maxt)
    }

    /// Whether some part of `[mint, maxt]` is deleted.
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        let i = self.0.partition_point(|x| x.maxt < mint);
        self.0.get(i).is_some_and(|x| x.mint <= maxt)
    }
}

impl FromIterator<Interval> for Intervals {
    fn from_iter<I: IntoIterator<Item = Interval>>(iter: I) -> Self {
        let mut ivs = Intervals::new();
        for iv in iter {
            ivs.add(iv);
        }
        ivs
    }
}

/// The tombstones of one block: deleted intervals by series reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones {
    by_series: BTreeMap<u64, Intervals>,
}

impl Tombstones {
    /// No tombstones.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `iv` deleted for series `series_ref`.
    pub fn add(&mut self, series_ref: u64, iv: Interval) {
        if iv.mint > iv.maxt {
            return;
        }
        self.by_series.entry(series_ref).or_default().add(iv);
    }

    /// The deleted intervals of a series (`None` if it has none).
    pub fn get(&self, series_ref: u64) -> Option<&Intervals> {
        self.by_series.get(&series_ref)
    }

    /// Every series with tombstones, ascending by reference.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Intervals)> {
        self.by_series.iter().map(|(r, ivs)| (*r, ivs))
    }

    /// Total number of intervals (Prometheus's `numTombstones`).
    pub fn total(&self) -> u64 {
        self.by_series.values().map(|ivs| ivs.len() as u64).sum()
    }

    /// Whether there is no tombstone.
    pub fn is_empty(&self) -> bool {
        self.by_series.is_empty()
    }

    /// The file contents: header, intervals, CRC.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.by_series.len() * 8);
        out.extend_from_slice(&TOMBSTONES_MAGIC.to_be_bytes());
        out.push(FORMAT_V1);
        for (r, ivs) in &self.by_series {
            for iv in ivs.as_slice() {
                encoding::put_uvarint(&mut out, *r);
                encoding::put_varint(&mut out, iv.mint);
                encoding::put_varint(&mut out, iv.maxt);
            }
        }
        let crc = crc32c::crc32c(&out[5..]);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Parses the contents of a tombstones file; `path` names it in errors.
    pub fn decode(b: &[u8], path: &Path) -> Result<Self> {
        Self::decode_inner(b).map_err(|f| f.at(path))
    }

    fn decode_inner(b: &[u8]) -> Result<Self, Fault> {
        if b.len() < 9 {
            return Err(Fault::new(
                0,
                Corruption::ShortFile {
                    len: b.len() as u64,
                },
            ));
        }
        let mut d = Decbuf::new(b, 0);
        let magic = d.be32()?;
        if magic != TOMBSTONES_MAGIC {
            return Err(Fault::new(
                0,
                Corruption::BadMagic {
                    found: magic,
                    expected: TOMBSTONES_MAGIC,
                },
            ));
        }
        let version = d.u8()?;
        if version != FORMAT_V1 {
            return Err(Fault::new(4, Corruption::BadVersion(version)));
        }
        let crc_at = b.len() - 4;
        let body = &b[5..crc_at];
        let stored = u32::from_be_bytes([b[crc_at], b[crc_at + 1], b[crc_at + 2], b[crc_at + 3]]);
        encoding::check_crc(body, stored, 5)?;
        let mut d = Decbuf::new(body, 5);
        let mut t = Tombstones::new();
        while d.remaining() > 0 {
            let r = d.uvarint()?;
            let mint = d.varint()?;
            let maxt = d.varint()?;
            t.add(r, Interval { mint, maxt });
        }
        Ok(t)
    }
}

/// Reads `dir/tombstones`; a missing file means no tombstones.
pub fn read_tombstones(dir: &Path) -> Result<Tombstones> {
    let path = dir.join(TOMBSTONES_FILENAME);
    match std::fs::read(&path) {
        Ok(b) => Tombstones::decode(&b, &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Tombstones::new()),
        Err(e) => Err(BlockError::io("read", &path, e)),
    }
}

/// Writes `dir/tombstones` atomically (temporary file, fsync, rename, directory fsync); returns
/// its size in bytes.
pub fn write_tombstones(dir: &Path, t: &Tombstones) -> Result<u64> {
    let b = t.encode();
    fsutil::write_atomic(&dir.join(TOMBSTONES_FILENAME), &b)?;
    Ok(b.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn add_merges_like_prometheus() {
        let mut ivs = Intervals::new();
        ivs.add(Interval::new(10, 20));
        ivs.add(Interval::new(30, 40));
        ivs.add(Interval::new(21, 29));
        assert_eq!(ivs.as_slice(), &[Interval::new(10, 40)]);
        ivs.add(Interval::new(50, 60));
        ivs.add(Interval::new(0, 5));
        assert_eq!(ivs.len(), 3);
        ivs.add(Interval::new(4, 55));
        assert_eq!(ivs.as_slice(), &[Interval::new(0, 60)]);
        assert!(ivs.contains(0) && ivs.contains(60) && !ivs.contains(61));
        assert!(ivs.covers(3, 60) && !ivs.covers(3, 61));
        ivs.add(Interval::new(i64::MIN, i64::MIN));
        ivs.add(Interval::new(i64::MAX, i64::MAX));
        assert_eq!(ivs.len(), 3);
    }

    #[test]
    fn empty_file_matches_prometheus_bytes() {
        let b = Tombstones::new().encode();
        // magic, version 1, CRC32C of nothing (0).
        assert_eq!(b, vec![0x01, 0x30, 0xBA, 0x30, 1, 0, 0, 0, 0]);
    }

    proptest! {
        #[test]
        fn intervals_agree_with_a_model(ops in prop::collection::vec((-50i64..50, 0i64..10), 0..20),
                                        probe in -70i64..70) {
            let mut ivs = Intervals::new();
            let mut model = std::collections::BTreeSet::new();
            for (a, len) in &ops {
                ivs.add(Interval::new(*a, a + len));
                for t in *a..=a + len { model.insert(t); }
            }
            prop_assert_eq!(ivs.contains(probe), model.contains(&probe));
            for w in ivs.as_slice().windows(2) {
                prop_assert!(w[0].maxt + 1 < w[1].mint);
            }
        }

        #[test]
        fn files_round_trip(entries in prop::collection::vec((0u64..100, any::<i64>(), 0i64..1000), 0..30)) {
            let mut t = Tombstones::new();
            for (r, a, len) in entries {
                t.add(r, Interval::new(a, a.saturating_add(len)));
            }
            let b = t.encode();
            prop_assert_eq!(Tombstones::decode(&b, Path::new("t")).unwrap(), t);
        }

        #[test]
        fn damaged_files_never_panic(entries in prop::collection::vec((0u64..100, -1000i64..1000), 1..10),
                                     flip in any::<usize>(), cut in any::<usize>()) {
            let mut t = Tombstones::new();
            for (r, a) in entries { t.add(r, Interval::new(a, a + 5)); }
            let mut b = t.encode();
            let i = flip % b.len();
            b[i] ^= 0x5a;
            prop_assert!(Tombstones::decode(&b, Path::new("t")).is_err());
            let b = t.encode();
            let short = &b[..cut % b.len()];
            prop_assert!(Tombstones::decode(short, Path::new("t")).is_err());
        }
    }
}
