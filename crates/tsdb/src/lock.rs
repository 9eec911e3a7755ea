//! The directory lock: `DIR/lock`, held (an advisory exclusive `flock`) while a `Db` is open, so that a second
//! open — from this process or another — fails at once with a clear error instead of corrupting the data.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::DbError;

/// A held lock; released when dropped (and by the kernel if the process dies).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock of `dir`, creating `dir/lock` if needed.
    pub fn acquire(dir: &Path) -> Result<DirLock, DbError> {
        let path = dir.join("lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| DbError::io("open lock file", &path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file, path }),
            Err(TryLockError::WouldBlock) => Err(DbError::Locked {
                dir: dir.to_path_buf(),
            }),
            Err(TryLockError::Error(e)) => Err(DbError::io("lock", &path, e)),
        }
    }

    /// Takes the lock of `dir` only if `dir` has a lock file (a directory without one was never opened by a
    /// `Db`, and gets none: nothing is created). `Ok(None)` without a lock file or where it cannot be
    /// opened for writing (a read-only file system, another user's files); [`DbError::Locked`] when another
    /// process holds it.
    pub fn acquire_existing(dir: &Path) -> Result<Option<DirLock>, DbError> {
        if !dir.join("lock").is_file() {
            return Ok(None);
        }
        match DirLock::acquire(dir) {
            Ok(l) => Ok(Some(l)),
            Err(e @ DbError::Locked { .. }) => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
