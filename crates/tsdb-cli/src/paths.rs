//! Resolving the directories the user names on the command line.

use std::path::{Path, PathBuf};

use anyhow::Result;
use tsdb_wal::segment::list_segments;

use crate::error::CliError;

/// Checks that `dir` exists and is a directory (a usage error otherwise).
pub fn existing_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(CliError::usage(format!("{}: not a directory", dir.display())).into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(CliError::usage(format!("{}: no such directory", dir.display())).into())
        }
        Err(e) => Err(CliError::usage(format!("{}: {e}", dir.display())).into()),
    }
}

/// Checks that `dir` is an existing data directory: a directory that holds a database (`wal/`,
/// `chunks_head/`, blocks) or nothing at all. Usage errors (exit status 2) otherwise, naming the
/// directory.
pub fn existing_data_dir(dir: &Path) -> Result<()> {
    if let Err(e) = existing_dir(dir) {
        return Err(match e.downcast::<CliError>() {
            Ok(c) if !dir.exists() => c
                .with_hint("name the database directory with --data-dir DIR (default: ./data)")
                .into(),
            Ok(c) => c.into(),
            Err(e) => e,
        });
    }
    tsdb::dir::check_database_dir(dir).map_err(|e| match e {
        tsdb::DbError::NotADatabase { dir, reason } => CliError::usage(format!(
            "{}: not a tsdb data directory: {reason}",
            dir.display()
        ))
        .into(),
        e => anyhow::Error::new(e),
    })
}

/// The WAL directory named by `dir`: either a data directory (holding `wal/`) or the WAL directory
/// itself. `DIR/wal` is used when it is a directory and `DIR` holds no segment files.
pub fn wal_dir(dir: &Path) -> Result<PathBuf> {
    existing_dir(dir)?;
    let sub = dir.join("wal");
    if sub.is_dir() && list_segments(dir)?.is_empty() {
        Ok(sub)
    } else {
        Ok(dir.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{exit_code, EXIT_USAGE};

    #[test]
    fn data_dir_or_wal_dir() {
        let d = tempfile::tempdir().unwrap();
        // Neither segments nor wal/: the directory itself (an empty WAL).
        assert_eq!(wal_dir(d.path()).unwrap(), d.path());
        std::fs::create_dir(d.path().join("wal")).unwrap();
        assert_eq!(wal_dir(d.path()).unwrap(), d.path().join("wal"));
        // Segment files win over a wal/ subdirectory.
        std::fs::write(d.path().join("000001"), b"").unwrap();
        assert_eq!(wal_dir(d.path()).unwrap(), d.path());
    }

    #[test]
    fn data_dirs() {
        let d = tempfile::tempdir().unwrap();
        existing_data_dir(d.path()).unwrap();
        std::fs::write(d.path().join("notes.txt"), b"x").unwrap();
        let e = existing_data_dir(d.path()).unwrap_err();
        assert_eq!(exit_code(&e), EXIT_USAGE);
        assert!(e.to_string().contains("not a tsdb data directory"), "{e}");
        std::fs::create_dir(d.path().join("wal")).unwrap();
        existing_data_dir(d.path()).unwrap();
        let e = existing_data_dir(&d.path().join("nope")).unwrap_err();
        assert_eq!(exit_code(&e), EXIT_USAGE);
        let c = e.downcast_ref::<CliError>().unwrap();
        assert!(c.hint.as_deref().unwrap().contains("--data-dir"));
    }

    #[test]
    fn missing_or_not_a_directory() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("nope");
        let e = wal_dir(&missing).unwrap_err();
        assert_eq!(exit_code(&e), EXIT_USAGE);
        assert_eq!(
            e.to_string(),
            format!("{}: no such directory", missing.display())
        );
        let file = d.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let e = wal_dir(&file).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: not a directory", file.display())
        );
    }
}
