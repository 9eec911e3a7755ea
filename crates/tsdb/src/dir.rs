//! The data directory as files: what belongs to a database, the block directories it holds, atomic
//! replacement of a small file, directory fsync, and the `truncated_before` file.
//!
//! Everything here that looks at a directory only reads; what writes (`write_atomic`,
//! `write_truncated_before`) writes `NAME.tmp`, fsyncs it, renames it over `NAME` and fsyncs the directory,
//! so a crash leaves either the old or the new file.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::DbError;

/// File holding the time the database was last truncated to (decimal milliseconds): samples older than it
/// are not replayed from the WAL. Our own file; Prometheus ignores it.
pub const TRUNCATED_FILE: &str = "truncated_before";

/// The names a database directory may hold besides block directories.
const OWN_NAMES: &[&str] = &[
    "wal",
    "chunks_head",
    "lock",
    TRUNCATED_FILE,
    "queries.active",
    FORWARD_DIR,
];

/// Directory of the forwarders' positions (one file per destination, see `tsdb_forward::position`).
pub const FORWARD_DIR: &str = "forward";

/// Whether `name` (a directory entry of a data directory) is a block directory's name: a ULID.
pub(crate) fn is_block_dir(name: &str) -> bool {
    tsdb_block::parse_block_dir_name(name).is_some()
}

/// Checks that `dir` looks like a database, is empty, or does not exist; the reason if not
/// ([`DbError::NotADatabase`]). A directory that holds other files and none of a database's is refused, so
/// that a mistyped `--data-dir` never turns a home directory into a database.
pub fn check_database_dir(dir: &Path) -> Result<(), DbError> {
    let md = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(DbError::io("stat", dir, e)),
    };
    if !md.is_dir() {
        return Err(DbError::NotADatabase {
            dir: dir.to_path_buf(),
            reason: "it is not a directory".into(),
        });
    }
    let mut ours = 0;
    let mut foreign = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| DbError::io("list", dir, e))? {
        let e = e.map_err(|e| DbError::io("list", dir, e))?;
        let name = e.file_name().to_string_lossy().to_string();
        let base = name.split('.').next().unwrap_or("");
        if OWN_NAMES.contains(&name.as_str()) || is_block_dir(base) || name.starts_with('.') {
            ours += 1;
        } else {
            foreign.push(name);
        }
    }
    if ours == 0 && !foreign.is_empty() {
        foreign.sort();
        foreign.truncate(3);
        return Err(DbError::NotADatabase {
            dir: dir.to_path_buf(),
            reason: format!(
                "it holds other files ({}) and no wal/, chunks_head/ or block",
                foreign.join(", ")
            ),
        });
    }
    Ok(())
}

/// The entries of a data directory that concern opening it.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Directories named as blocks (a ULID), sorted by name. Whether each is a readable block is for
    /// `Block::open` to say.
    pub blocks: Vec<PathBuf>,
    /// `.tmp` and `.tmp-for-deletion` leftovers of an interrupted write: in the data directory, and the
    /// `*.tmp` files (`meta.json.tmp`, `tombstones.tmp`) of an interrupted rewrite inside a block.
    pub leftovers: Vec<PathBuf>,
}

/// Lists the block directories and leftovers of `dir`.
pub(crate) fn list(dir: &Path) -> Result<Listing, DbError> {
    let mut out = Listing::default();
    for e in std::fs::read_dir(dir).map_err(|e| DbError::io("list", dir, e))? {
        let e = e.map_err(|e| DbError::io("list", dir, e))?;
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".tmp") || name.ends_with(".tmp-for-deletion") {
            out.leftovers.push(e.path());
        } else if is_block_dir(&name) && e.path().is_dir() {
            block_leftovers(&e.path(), &mut out.leftovers)?;
            out.blocks.push(e.path());
        }
    }
    out.blocks.sort();
    out.leftovers.sort();
    Ok(out)
}

/// Adds the `*.tmp` files of block directory `block` (a rewrite of its `meta.json` or `tombstones`
/// that a crash interrupted before its rename) to `leftovers`.
fn block_leftovers(block: &Path, leftovers: &mut Vec<PathBuf>) -> Result<(), DbError> {
    for e in std::fs::read_dir(block).map_err(|e| DbError::io("list", block, e))? {
        let e = e.map_err(|e| DbError::io("list", block, e))?;
        if e.file_name().to_string_lossy().ends_with(".tmp") && e.path().is_file() {
            leftovers.push(e.path());
        }
    }
    Ok(())
}

/// The time `dir` was last truncated to, if it was (`DIR/truncated_before`). A file that does not hold a
/// timestamp is damage: [`DbError::Damaged`] naming it.
pub fn read_truncated_before(dir: &Path) -> Result<Option<i64>, DbError> {
    let p = dir.join(TRUNCATED_FILE);
    match std::fs::read(&p) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            text.trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| DbError::Damaged {
                    path: p.clone(),
                    reason: format!(
                        "does not hold a timestamp in milliseconds ({} bytes: {:?})",
                        bytes.len(),
                        text.chars().take(40).collect::<String>()
                    ),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DbError::io("read", &p, e)),
    }
}

/// Records `mint` as the time `dir` was truncated to, atomically.
pub(crate) fn write_truncated_before(dir: &Path, mint: i64) -> Result<(), DbError> {
    write_atomic(dir, TRUNCATED_FILE, mint.to_string().as_bytes())
}

/// Replaces `dir/name` with `data`: written to `name.tmp`, fsynced, renamed, directory fsynced.
pub(crate) fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> Result<(), DbError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let dst = dir.join(name);
    let f = std::fs::File::create(&tmp).map_err(|e| DbError::io("create", &tmp, e))?;
    (&f).write_all(data)
        .map_err(|e| DbError::io("write", &tmp, e))?;
    tsdb_failpoint::point("db.file.fsync");
    f.sync_all().map_err(|e| DbError::io("fsync", &tmp, e))?;
    tsdb_failpoint::point("db.file.rename");
    std::fs::rename(&tmp, &dst).map_err(|e| DbError::io("rename", &tmp, e))?;
    sync_dir(dir)
}

/// Fsyncs a directory, so that the names created or removed in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), DbError> {
    tsdb_failpoint::point("db.dir.sync");
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| DbError::io("fsync directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_and_other_directories() {
        let d = tempfile::tempdir().unwrap();
        check_database_dir(d.path()).unwrap();
        check_database_dir(&d.path().join("missing")).unwrap();
        std::fs::write(d.path().join("notes.txt"), b"x").unwrap();
        let e = check_database_dir(d.path()).unwrap_err();
        assert!(e.to_string().contains("notes.txt"), "{e}");
        std::fs::create_dir(d.path().join("wal")).unwrap();
        check_database_dir(d.path()).unwrap();
        let e = check_database_dir(&d.path().join("notes.txt")).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
    }

    #[test]
    fn truncated_before_round_trip_and_damage() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_truncated_before(d.path()).unwrap(), None);
        write_truncated_before(d.path(), -5).unwrap();
        assert_eq!(read_truncated_before(d.path()).unwrap(), Some(-5));
        std::fs::write(d.path().join(TRUNCATED_FILE), b"12x").unwrap();
        let e = read_truncated_before(d.path()).unwrap_err();
        assert!(matches!(e, DbError::Damaged { .. }), "{e:?}");
        assert!(e.to_string().contains(TRUNCATED_FILE), "{e}");
    }
}
