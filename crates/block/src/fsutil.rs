//! File-system plumbing: durable replacement of files, directory fsync, renames and removals of
//! block directories.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{BlockError, Result};

/// Fsyncs a directory so that creations, renames and removals in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| BlockError::io("open directory", dir, e))?;
    tsdb_failpoint::point("block.dir.sync");
    d.sync_all()
        .map_err(|e| BlockError::io("fsync directory", dir, e))
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Replaces `path` with `bytes`: written to `path.tmp`, fsynced, renamed over `path`, and the
/// directory fsynced. On failure the temporary file is removed and `path` is untouched.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = with_suffix(path, ".tmp");
    let res = (|| {
        let mut f = File::create(&tmp).map_err(|e| BlockError::io("create", &tmp, e))?;
        f.write_all(bytes)
            .map_err(|e| BlockError::io("write", &tmp, e))?;
        tsdb_failpoint::point("block.file.fsync");
        f.sync_all().map_err(|e| BlockError::io("fsync", &tmp, e))?;
        drop(f);
        tsdb_failpoint::point("block.file.rename");
        fs::rename(&tmp, path).map_err(|e| BlockError::io("rename", &tmp, e))?;
        match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
            _ => sync_dir(Path::new(".")),
        }
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Removes a directory tree if it exists.
pub(crate) fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BlockError::io("remove directory", dir, e)),
    }
}

/// Total size of the regular files under `dir` (recursively).
pub(crate) fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let rd = fs::read_dir(dir).map_err(|e| BlockError::io("read directory", dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| BlockError::io("read directory", dir, e))?;
        let path = entry.path();
        let md = entry
            .metadata()
            .map_err(|e| BlockError::io("stat", &path, e))?;
        if md.is_dir() {
            total += dir_size(&path)?;
        } else {
            total += md.len();
        }
    }
    Ok(total)
}
