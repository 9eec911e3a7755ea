//! The per-destination position in the WAL, stored atomically.
//!
//! The file `STATE_DIR/<hash of the URL>.position` holds one line: `v1 SEGMENT OFFSET URL`. It is written
//! as `NAME.tmp`, fsynced, renamed over `NAME`, and the directory is fsynced, so a crash leaves the old or
//! the new position, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ForwardError;

/// A place in the WAL: every entry starting before it (in segment order, then offset) was acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    /// Segment sequence number.
    pub segment: u64,
    /// Byte offset inside the segment.
    pub offset: u64,
}

/// The position file of destination `url` inside `state_dir`.
pub fn position_path(state_dir: &Path, url: &str) -> PathBuf {
    // FNV-1a: stable across builds and platforms, so the file name of a URL never changes.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in url.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    state_dir.join(format!("{h:016x}.position"))
}

/// Reads the stored position; `None` if there is none yet.
pub fn load(state_dir: &Path, url: &str) -> Result<Option<Position>, ForwardError> {
    let path = position_path(state_dir, url);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ForwardError::Io {
                url: url.to_string(),
                op: "read",
                path,
                source,
            })
        }
    };
    let damaged = |reason: String| ForwardError::Position {
        url: url.to_string(),
        path: path.clone(),
        reason,
    };
    let mut it = text.trim_end().splitn(4, ' ');
    if it.next() != Some("v1") {
        return Err(damaged(format!(
            "does not start with v1: {:?}",
            text.chars().take(40).collect::<String>()
        )));
    }
    let segment = it
        .next()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| damaged("no segment number".into()))?;
    let offset = it
        .next()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| damaged("no offset".into()))?;
    Ok(Some(Position { segment, offset }))
}

/// Every destination with a stored position in `state_dir` (URL, position), sorted by URL; none if the
/// directory does not exist. A damaged file is an error naming it.
pub fn list(state_dir: &Path) -> Result<Vec<(String, Position)>, ForwardError> {
    let rd = match std::fs::read_dir(state_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ForwardError::Io {
                url: String::new(),
                op: "list",
                path: state_dir.to_path_buf(),
                source,
            })
        }
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("position") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ForwardError::Io {
            url: String::new(),
            op: "read",
            path: path.clone(),
            source,
        })?;
        // `v1 SEGMENT OFFSET URL`: the URL is what `load` needs to find the file again.
        let url = text.trim_end().splitn(4, ' ').nth(3).unwrap_or_default();
        if url.is_empty() {
            return Err(ForwardError::Position {
                url: String::new(),
                path,
                reason: "no URL after the offset".into(),
            });
        }
        if let Some(p) = load(state_dir, url)? {
            out.push((url.to_string(), p));
        }
    }
    out.sort();
    Ok(out)
}

/// Stores `pos` for `url` durably (see the module's documentation); the state directory is created if
/// needed.
pub fn store(state_dir: &Path, url: &str, pos: Position) -> Result<(), ForwardError> {
    let io = |op: &'static str, path: &Path| {
        let url = url.to_string();
        let path = path.to_path_buf();
        move |source| ForwardError::Io {
            url,
            op,
            path,
            source,
        }
    };
    std::fs::create_dir_all(state_dir).map_err(io("create", state_dir))?;
    let path = position_path(state_dir, url);
    let tmp = path.with_extension("position.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
    writeln!(f, "v1 {} {} {}", pos.segment, pos.offset, url).map_err(io("write", &tmp))?;
    f.sync_all().map_err(io("fsync", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(io("rename", &tmp))?;
    std::fs::File::open(state_dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync", state_dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let d = tempfile::tempdir().unwrap();
        let url = "http://127.0.0.1:9/api/v1/write";
        assert_eq!(load(d.path(), url).unwrap(), None);
        let p = Position {
            segment: 7,
            offset: 4096,
        };
        store(d.path(), url, p).unwrap();
        assert_eq!(load(d.path(), url).unwrap(), Some(p));
        assert_eq!(list(d.path()).unwrap(), vec![(url.to_string(), p)]);
        assert_eq!(list(&d.path().join("none")).unwrap(), vec![]);
        std::fs::write(position_path(d.path(), url), "garbage").unwrap();
        let e = load(d.path(), url).unwrap_err().to_string();
        assert!(e.contains(url) && e.contains("damaged"), "{e}");
    }
}
