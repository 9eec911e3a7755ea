//! The per-destination position in the WAL, stored atomically.
//!
//! The file `STATE_DIR/<hash of the URL>.position` holds the line `v1 SEGMENT OFFSET URL` and, while a
//! round is being sent, a second line `round END_SEGMENT END_OFFSET SHARDS PER_SEND`: the round that may
//! have reached the destination in part (see [`Round`]). It is written as `NAME.tmp`, fsynced, renamed
//! over `NAME`, and the directory is fsynced, so a crash leaves the old or the new state, never a torn one.

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

/// A round of requests sent from the stored position up to `end`: with `shards` shards and at most
/// `per_send` samples a request. It is stored before the round goes out and cleared once the round is
/// acknowledged. A crash in between leaves it; the next run sends exactly the same requests again (the same
/// entries, shards and request sizes) before reading further, so that a request the destination already
/// holds is resent whole, never mixed with samples it has not seen. A destination that refuses samples
/// older than the newest it holds for a series (Prometheus answers 400 "out of order sample" and drops the
/// whole request) would otherwise lose the new samples of a mixed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Where the round's last entry ends.
    pub end: Position,
    /// Shards the round was split over.
    pub shards: usize,
    /// Most samples in one of its requests.
    pub per_send: usize,
}

/// What is stored for a destination: the acknowledged position and the round in flight, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stored {
    /// Everything before it was acknowledged.
    pub at: Position,
    /// The round that was being sent when this was stored.
    pub round: Option<Round>,
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
    Ok(load_stored(state_dir, url)?.map(|s| s.at))
}

/// Reads the stored position and round in flight; `None` if there is none yet. A damaged file is an
/// error naming it.
pub fn load_stored(state_dir: &Path, url: &str) -> Result<Option<Stored>, ForwardError> {
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
    parse(&text)
        .map(Some)
        .map_err(|reason| ForwardError::Position {
            url: url.to_string(),
            path: path.clone(),
            reason,
        })
}

/// Parses a position file's text (see the module's documentation).
fn parse(text: &str) -> Result<Stored, String> {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let mut it = first.splitn(4, ' ');
    if it.next() != Some("v1") {
        return Err(format!(
            "does not start with v1: {:?}",
            text.chars().take(40).collect::<String>()
        ));
    }
    let num = |v: Option<&str>, what: &str| {
        v.and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| format!("no {what}"))
    };
    let at = Position {
        segment: num(it.next(), "segment number")?,
        offset: num(it.next(), "offset")?,
    };
    let round = match lines.next() {
        None | Some("") => None,
        Some(l) => {
            let mut it = l.split(' ');
            if it.next() != Some("round") {
                return Err(format!("second line is not a round: {l:?}"));
            }
            let end = Position {
                segment: num(it.next(), "round end segment")?,
                offset: num(it.next(), "round end offset")?,
            };
            let shards = num(it.next(), "round shard count")? as usize;
            let per_send = num(it.next(), "round request size")? as usize;
            if shards == 0 || per_send == 0 || end < at {
                return Err(format!("impossible round: {l:?}"));
            }
            Some(Round {
                end,
                shards,
                per_send,
            })
        }
    };
    Ok(Stored { at, round })
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
        let first = text.lines().next().unwrap_or_default();
        let url = first.trim_end().splitn(4, ' ').nth(3).unwrap_or_default();
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

/// Stores `pos` for `url` durably (see the module's documentation), with no round in flight; the state
/// directory is created if needed.
pub fn store(state_dir: &Path, url: &str, pos: Position) -> Result<(), ForwardError> {
    store_stored(
        state_dir,
        url,
        Stored {
            at: pos,
            round: None,
        },
    )
}

/// Stores the position and the round in flight for `url` durably (see the module's documentation).
pub fn store_stored(state_dir: &Path, url: &str, st: Stored) -> Result<(), ForwardError> {
    let pos = st.at;
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
    let mut text = format!("v1 {} {} {}\n", pos.segment, pos.offset, url);
    if let Some(r) = st.round {
        text.push_str(&format!(
            "round {} {} {} {}\n",
            r.end.segment, r.end.offset, r.shards, r.per_send
        ));
    }
    f.write_all(text.as_bytes()).map_err(io("write", &tmp))?;
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
        let r = Stored {
            at: p,
            round: Some(Round {
                end: Position {
                    segment: 8,
                    offset: 12,
                },
                shards: 3,
                per_send: 500,
            }),
        };
        store_stored(d.path(), url, r).unwrap();
        assert_eq!(load_stored(d.path(), url).unwrap(), Some(r));
        assert_eq!(list(d.path()).unwrap(), vec![(url.to_string(), p)]);
        store(d.path(), url, p).unwrap();
        assert_eq!(load_stored(d.path(), url).unwrap().unwrap().round, None);
        std::fs::write(
            position_path(d.path(), url),
            format!("v1 7 4096 {url}\nround 1 2 3\n"),
        )
        .unwrap();
        let e = load(d.path(), url).unwrap_err().to_string();
        assert!(e.contains("request size"), "{e}");
        std::fs::write(position_path(d.path(), url), "garbage").unwrap();
        let e = load(d.path(), url).unwrap_err().to_string();
        assert!(e.contains(url) && e.contains("damaged"), "{e}");
    }
}
