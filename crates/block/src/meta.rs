//! `meta.json`: the description of a block, version 1, with Prometheus's field names; and the
//! ULIDs that name block directories.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
pub use ulid::Ulid;

use crate::error::{BlockError, Result};
use crate::fsutil;

/// Name of the meta file in a block directory.
pub const META_FILENAME: &str = "meta.json";
/// The only meta file version.
pub const META_VERSION: u32 = 1;

/// Contents of a block's `meta.json`, as Prometheus writes it.
///
/// The time range is half-open: the block holds samples with `min_time <= t < max_time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Unique identifier of the block, also its directory name.
    pub ulid: Ulid,
    /// Inclusive lower bound of the block's time range (ms).
    #[serde(rename = "minTime")]
    pub min_time: i64,
    /// Exclusive upper bound of the block's time range (ms).
    #[serde(rename = "maxTime")]
    pub max_time: i64,
    /// Counts of what the block holds.
    #[serde(default)]
    pub stats: BlockStats,
    /// Compaction history.
    #[serde(default)]
    pub compaction: BlockMetaCompaction,
    /// Version of the meta file format; always [`META_VERSION`].
    pub version: u32,
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

fn is_false(x: &bool) -> bool {
    !*x
}

/// Counts of a block's contents (fields left out of the JSON when zero, as Go's `omitempty`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStats {
    /// Number of samples.
    #[serde(rename = "numSamples", default, skip_serializing_if = "is_zero")]
    pub num_samples: u64,
    /// Number of series.
    #[serde(rename = "numSeries", default, skip_serializing_if = "is_zero")]
    pub num_series: u64,
    /// Number of chunks.
    #[serde(rename = "numChunks", default, skip_serializing_if = "is_zero")]
    pub num_chunks: u64,
    /// Number of tombstone intervals.
    #[serde(rename = "numTombstones", default, skip_serializing_if = "is_zero")]
    pub num_tombstones: u64,
}

/// A block named by its ULID and time range (the parents of a compacted block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDesc {
    /// The block's ULID.
    pub ulid: Ulid,
    /// Its inclusive lower time bound.
    #[serde(rename = "minTime")]
    pub min_time: i64,
    /// Its exclusive upper time bound.
    #[serde(rename = "maxTime")]
    pub max_time: i64,
}

/// Compaction history of a block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMetaCompaction {
    /// Number of compactions the block went through; 1 for a block written from the head.
    pub level: u32,
    /// ULIDs of the level-1 blocks whose data the block holds, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Ulid>,
    /// Set when a compaction found no samples left: the block may be deleted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deletable: bool,
    /// The blocks compacted directly into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockDesc>,
    /// Set when a compaction of this block failed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub failed: bool,
    /// Free-form hints (Prometheus: `from-out-of-order`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

impl BlockMeta {
    /// A level-1 meta for a new block: its own ULID is its only source.
    pub fn new(ulid: Ulid, min_time: i64, max_time: i64) -> Self {
        BlockMeta {
            ulid,
            min_time,
            max_time,
            stats: BlockStats::default(),
            compaction: BlockMetaCompaction {
                level: 1,
                sources: vec![ulid],
                ..Default::default()
            },
            version: META_VERSION,
        }
    }

    /// The [`BlockDesc`] of this block.
    pub fn desc(&self) -> BlockDesc {
        BlockDesc {
            ulid: self.ulid,
            min_time: self.min_time,
            max_time: self.max_time,
        }
    }

    /// Whether the block's range `[min_time, max_time)` intersects the closed range `[mint, maxt]`.
    pub fn overlaps_closed(&self, mint: i64, maxt: i64) -> bool {
        self.min_time <= maxt && mint < self.max_time
    }

    /// The JSON text Prometheus writes: tab-indented, no trailing newline.
    pub fn to_json(&self) -> String {
        let mut meta = self.clone();
        meta.version = META_VERSION;
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        // Serializing plain structs of strings and integers into memory cannot fail.
        if meta.serialize(&mut ser).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// Parses `meta.json` text; `path` names the file in errors.
    pub fn from_json(text: &[u8], path: &Path) -> Result<Self> {
        let meta: BlockMeta = serde_json::from_slice(text).map_err(|e| BlockError::Meta {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if meta.version != META_VERSION {
            return Err(BlockError::Meta {
                path: path.to_path_buf(),
                reason: format!("unexpected meta file version {}", meta.version),
            });
        }
        if meta.min_time > meta.max_time {
            return Err(BlockError::Meta {
                path: path.to_path_buf(),
                reason: format!(
                    "minTime {} is after maxTime {}: the block's time range is inverted",
                    meta.min_time, meta.max_time
                ),
            });
        }
        Ok(meta)
    }
}

/// Reads `dir/meta.json`.
pub fn read_meta(dir: &Path) -> Result<BlockMeta> {
    let path = dir.join(META_FILENAME);
    let text = std::fs::read(&path).map_err(|e| BlockError::io("read", &path, e))?;
    BlockMeta::from_json(&text, &path)
}

/// Writes `dir/meta.json` atomically (temporary file, fsync, rename, directory fsync); returns its
/// size in bytes.
pub fn write_meta(dir: &Path, meta: &BlockMeta) -> Result<u64> {
    let text = meta.to_json();
    fsutil::write_atomic(&dir.join(META_FILENAME), text.as_bytes())?;
    Ok(text.len() as u64)
}

static ULIDS: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());

/// A new ULID for a block: the current time in ms and random bits, strictly greater than every
/// ULID this function returned before in this process (so blocks created in one process sort by
/// creation).
pub fn new_ulid() -> Ulid {
    let mut g = ULIDS.lock();
    loop {
        match g.generate() {
            Ok(u) => return u,
            // The random part overflowed within one millisecond: wait for the next one.
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
        }
    }
}

/// Whether a directory name is a block ULID (the 26 characters Crockford base32 form).
pub fn parse_block_dir_name(name: &str) -> Option<Ulid> {
    if name.len() != 26 {
        return None;
    }
    Ulid::from_string(name).ok()
}

/// The block directories (named by ULID, holding a `meta.json`) directly under `parent`,
/// sorted by ULID. Temporary directories (`ULID.tmp`, …) are skipped.
pub fn block_dirs(parent: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(parent).map_err(|e| BlockError::io("read directory", parent, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| BlockError::io("read directory", parent, e))?;
        let name = entry.file_name();
        let Some(ulid) = name.to_str().and_then(parse_block_dir_name) else {
            continue;
        };
        let path = entry.path();
        if path.join(META_FILENAME).is_file() {
            out.push((ulid, path));
        }
    }
    out.sort();
    Ok(out.into_iter().map(|(_, p)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_matches_prometheus_layout() {
        let u = Ulid::from_string("01BKGV7JBM69T2G1BGBGM6KB12").unwrap();
        let mut m = BlockMeta::new(u, 0, 7_200_000);
        m.stats.num_samples = 10;
        m.stats.num_series = 2;
        m.stats.num_chunks = 2;
        let text = m.to_json();
        let want = "{\n\t\"ulid\": \"01BKGV7JBM69T2G1BGBGM6KB12\",\n\t\"minTime\": 0,\n\t\"maxTime\": 7200000,\n\t\"stats\": {\n\t\t\"numSamples\": 10,\n\t\t\"numSeries\": 2,\n\t\t\"numChunks\": 2\n\t},\n\t\"compaction\": {\n\t\t\"level\": 1,\n\t\t\"sources\": [\n\t\t\t\"01BKGV7JBM69T2G1BGBGM6KB12\"\n\t\t]\n\t},\n\t\"version\": 1\n}";
        assert_eq!(text, want);
        let back = BlockMeta::from_json(text.as_bytes(), Path::new("m")).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn bad_meta_is_an_error() {
        let p = Path::new("x/meta.json");
        assert!(matches!(
            BlockMeta::from_json(b"{", p),
            Err(BlockError::Meta { .. })
        ));
        let v2 = br#"{"ulid":"01BKGV7JBM69T2G1BGBGM6KB12","minTime":0,"maxTime":1,"version":2}"#;
        assert!(matches!(
            BlockMeta::from_json(v2, p),
            Err(BlockError::Meta { .. })
        ));
    }

    #[test]
    fn ulids_are_monotonic() {
        let mut prev = new_ulid();
        for _ in 0..1000 {
            let u = new_ulid();
            assert!(u > prev);
            prev = u;
        }
    }
}
