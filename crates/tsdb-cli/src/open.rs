//! Opening a data directory: writable, as a [`tsdb::Db`] (for the commands that change it), or read-only
//! ([`ReadOnly`], over [`tsdb::ReadOnlyDb`]: its blocks and a replay of its head, for the commands that only
//! look), with the messages the command line gives about either.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use tsdb::{Db, DbError, Options, ReadOnlyDb, ReadOnlyOptions, SyncPolicy, WalMode};

use crate::error::CliError;
use crate::paths;

/// How the WAL is written: `--wal-mode` and `--sync`, on every command that writes.
#[derive(Debug, Clone, Args)]
pub struct WriteArgs {
    /// WAL format: `native` (SegmentWAL with symbol tables and snappy; smallest, only we read it),
    /// `prometheus` (only what Prometheus's old SegmentWAL writes; Prometheus up to 2.51 migrates it) or
    /// `wlog` (Prometheus's current WAL; Prometheus 2.20 to 3.x and promtool read it). Default: the format
    /// of the WAL already in the directory, `native` for a new one. A WAL the mode cannot continue (a
    /// wlog in a SegmentWAL mode, or the reverse) is refused, and nothing is changed.
    #[arg(long, value_enum, value_name = "MODE")]
    pub wal_mode: Option<WalModeArg>,

    /// When the WAL is fsynced: `always` (every commit, group commit), `interval` (every 5 s),
    /// `never` (only at close). The bytes reach the operating system at every commit in any case.
    #[arg(long, value_enum, default_value_t = SyncArg::Interval, value_name = "WHEN")]
    pub sync: SyncArg,
}

/// Forwarding to remote-write receivers: `--forward-to`, `--forward-token-file`, `--forward-max-lag`.
#[derive(Debug, Clone, Args)]
pub struct ForwardArgs {
    /// Send every sample written to the WAL to this remote-write 1.0 receiver (`http://HOST:PORT/PATH`,
    /// e.g. Prometheus's `/api/v1/write`, Mimir, VictoriaMetrics); repeatable. Each destination keeps its own
    /// position in DIR/forward/, so a restart resumes where the receiver last acknowledged.
    #[arg(long = "forward-to", value_name = "URL")]
    pub forward_to: Vec<String>,

    /// A file holding a bearer token sent to every --forward-to destination (whitespace around it ignored).
    #[arg(long, value_name = "FILE", requires = "forward_to")]
    pub forward_token_file: Option<std::path::PathBuf>,

    /// WAL bytes not yet forwarded that are kept for a destination that is down or slow; beyond it the
    /// oldest unsent segments are dropped (counted and logged) and truncation goes on. Default: 4 GiB.
    #[arg(long, value_name = "BYTES", requires = "forward_to")]
    pub forward_max_lag: Option<u64>,
}

impl ForwardArgs {
    /// Sets the forwarding fields of `opts`; `drain` is how long closing the database waits for the
    /// destinations to acknowledge what was written.
    pub fn apply(&self, opts: &mut Options, drain: Duration) -> Result<()> {
        let token = match &self.forward_token_file {
            Some(p) => {
                let t = std::fs::read_to_string(p)
                    .with_context(|| format!("read forward token file {}", p.display()))?;
                let t = t.trim().to_owned();
                if t.is_empty() {
                    anyhow::bail!("forward token file {} is empty", p.display());
                }
                Some(t)
            }
            None => None,
        };
        opts.forward = self
            .forward_to
            .iter()
            .map(|u| tsdb::Destination {
                url: u.clone(),
                bearer_token: token.clone(),
            })
            .collect();
        opts.forward_options.max_lag_bytes = Some(self.forward_max_lag.unwrap_or(4 << 30));
        opts.forward_drain = drain;
        Ok(())
    }
}

/// `--wal-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WalModeArg {
    /// Our compact encoding.
    Native,
    /// Prometheus's SegmentWAL records only.
    Prometheus,
    /// Prometheus's current WAL format (`wlog`, 32 KiB pages, checkpoint directories).
    Wlog,
}

impl WalModeArg {
    /// The library's mode.
    pub fn mode(self) -> WalMode {
        match self {
            WalModeArg::Native => WalMode::Native,
            WalModeArg::Prometheus => WalMode::Prometheus,
            WalModeArg::Wlog => WalMode::Wlog,
        }
    }
}

/// `--sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncArg {
    /// fsync before every commit returns.
    Always,
    /// fsync every 5 seconds.
    Interval,
    /// fsync only at close.
    Never,
}

impl WriteArgs {
    /// The WAL mode for the data directory `dir`: the one asked for, else the mode of the WAL already in
    /// `dir/wal` (detected from its files), else native (an empty or new directory, or one whose WAL is
    /// not recognised: opening it then says why).
    pub fn mode_for(&self, dir: &Path) -> WalMode {
        match self.wal_mode {
            Some(m) => m.mode(),
            None => tsdb_wal::detect(&dir.join("wal"))
                .ok()
                .and_then(|f| f.mode())
                .unwrap_or(WalMode::Native),
        }
    }

    /// Database options with these WAL settings for the data directory `dir` (see
    /// [`mode_for`](Self::mode_for)), maintenance left to the command (no background thread).
    pub fn options(&self, dir: &Path) -> Options {
        Options {
            wal_mode: self.mode_for(dir),
            sync: match self.sync {
                SyncArg::Always => SyncPolicy::Always,
                SyncArg::Interval => SyncPolicy::Interval(Duration::from_secs(5)),
                SyncArg::Never => SyncPolicy::Never,
            },
            background: false,
            ..Options::default()
        }
    }
}

/// A database error as the command line reports it: a locked directory or a directory that is not a
/// database gets its own message and hint.
pub fn db_error(e: DbError) -> anyhow::Error {
    match e {
        DbError::Locked { dir } => CliError::failure(format!(
            "{}: the database is locked: another process has it open",
            dir.display()
        ))
        .with_hint(
            "stop the process that has it open (a Prometheus-style server, another tsdb-cli); \
             ls, dump and analyze can read its blocks meanwhile",
        )
        .into(),
        DbError::NotADatabase { dir, reason } => CliError::usage(format!(
            "{}: not a tsdb data directory: {reason}",
            dir.display()
        ))
        .into(),
        DbError::WalMode { dir, found, asked } => CliError::failure(format!(
            "{}: the WAL is in {found} format and cannot be continued in {} mode; nothing was changed",
            dir.display(),
            tsdb::mode_name(asked)
        ))
        .with_hint(match found.mode() {
            Some(m) => format!(
                "run the command with --wal-mode {} (or without --wal-mode: the mode of the WAL in the \
                 directory is the default)",
                tsdb::mode_name(m)
            ),
            None => "move the WAL away to start a new one".to_string(),
        })
        .into(),
        DbError::Head(tsdb::HeadError::WalFormat { dir, format }) => wal_format_error(&dir, &format),
        e => anyhow::Error::new(e),
    }
}

/// The error of a command refusing a WAL it does not recognise (exit status 1): it is not damage.
pub fn wal_format_error(wal: &Path, format: &tsdb::WalFormat) -> anyhow::Error {
    CliError::failure(format!(
        "this WAL ({}) is in {format} format, which tsdb-cli does not read: nothing was read or changed",
        wal.display()
    ))
    .with_hint(
        "it is not damage, and `tsdb-cli wal repair` does not apply: tsdb-cli reads its native WAL, \
         Prometheus's SegmentWAL and Prometheus's wlog; move this WAL away, or read it with the program \
         that wrote it",
    )
    .into()
}

/// Opens an existing database for writing (the directory must exist: see [`open_db_create`]).
pub fn open_db(dir: &Path, opts: Options) -> Result<Db> {
    paths::existing_data_dir(dir)?;
    open_db_create(dir, opts)
}

/// Opens (creating if needed) a database for writing, and prints the warnings of its open (a repaired
/// WAL, say) to stderr.
pub fn open_db_create(dir: &Path, opts: Options) -> Result<Db> {
    let db = Db::open(dir, opts).map_err(db_error)?;
    for w in db.warnings() {
        eprintln!("warning: {w}");
    }
    Ok(db)
}

/// A data directory opened read-only for a command that only looks, with the damage it met so far: a
/// damaged block is reported on stderr (file and offset) and left out, the command goes on with the rest,
/// and [`ReadOnly::finish`] makes it fail (exit status 1) at the end.
pub struct ReadOnly {
    /// The database.
    pub db: ReadOnlyDb,
    damaged: usize,
}

impl ReadOnly {
    /// Opens `dir` read-only, replaying its head when `with_head`, and prints what a reader must know:
    /// blocks that could not be opened, a live database whose head is not read, a damaged WAL or head chunk
    /// file (read up to the damage).
    pub fn open(dir: &Path, with_head: bool) -> Result<ReadOnly> {
        paths::existing_data_dir(dir)?;
        let db = ReadOnlyDb::open(dir, ReadOnlyOptions { head: with_head })
            .map_err(db_error)
            .with_context(|| format!("open {} read-only", dir.display()))?;
        let mut r = ReadOnly { db, damaged: 0 };
        for b in r.db.damaged_blocks() {
            r.damaged += 1;
            eprintln!(
                "warning: block {} is damaged and is not read: {}",
                b.dir.display(),
                b.error
            );
        }
        if with_head && r.db.is_live() {
            eprintln!(
                "warning: {} is open in another process: its head (wal/, chunks_head/) is not read, \
                 only its blocks",
                dir.display()
            );
        }
        if let Some(rep) = r.db.replay_report() {
            // Damage in the head's files is damage like a block's: reported here, and the command
            // exits 1 at the end (`finish`), even when the WAL still holds what a chunk file lost.
            if let Some(c) = &rep.wal_corruption {
                r.damaged += 1;
                eprintln!(
                    "warning: the WAL is damaged at {c}: what follows is not read \
                     (\"tsdb-cli wal repair {}\" cuts it there)",
                    dir.display()
                );
            }
            if let Some(m) = rep.missing_records() {
                r.damaged += 1;
                eprintln!("warning: the WAL lost records: {m}");
            }
            if let Some(d) = &rep.chunk_damage {
                r.damaged += 1;
                eprintln!(
                    "warning: head chunk file {} is damaged at offset {}: {}; its chunks from there \
                     on are not read (the WAL still is)",
                    d.path.display(),
                    d.offset,
                    d.reason
                );
            }
        }
        Ok(r)
    }

    /// Reports damage met while reading (a block whose series or chunks do not decode) and remembers it.
    pub fn damage(&mut self, e: &DbError) {
        self.damaged += 1;
        eprintln!("warning: {e}; the rest is read");
    }

    /// Fails (exit status 1) if any damage was met; the command's output is complete otherwise.
    pub fn finish(self) -> Result<()> {
        if self.damaged == 0 {
            return Ok(());
        }
        let n = self.damaged;
        Err(CliError::failure(format!(
            "{}: {n} damaged {} could not be read (see the warnings above); everything else was",
            self.db.dir().display(),
            if n == 1 { "part" } else { "parts" }
        ))
        .into())
    }
}
