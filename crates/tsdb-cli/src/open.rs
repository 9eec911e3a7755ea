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

/// Forwarding to remote-write receivers: `--forward-to` and how to reach, authenticate to and bound
/// each destination.
#[derive(Debug, Clone, Args)]
pub struct ForwardArgs {
    /// Send every sample written to the WAL to this remote-write receiver (`http://HOST:PORT/PATH` or
    /// `https://…`, e.g. Prometheus's `/api/v1/write`, Mimir's `/api/v1/push`, VictoriaMetrics);
    /// repeatable. Each destination keeps its own position in DIR/forward/, so a restart resumes where the
    /// receiver last acknowledged. The flags below apply to every destination.
    #[arg(long = "forward-to", value_name = "URL")]
    pub forward_to: Vec<String>,

    /// Remote-write protocol version: `1.0` (every receiver) or `2.0` (Prometheus 3's
    /// `io.prometheus.write.v2.Request`, labels through a symbols table; a receiver answering 415 does not
    /// take it, and the samples are retried, not dropped, until this is changed).
    #[arg(long, value_enum, default_value_t = ProtocolArg::V1, value_name = "VERSION", requires = "forward_to")]
    pub forward_protocol: ProtocolArg,

    /// A file holding a bearer token sent as `Authorization: Bearer` (whitespace around it ignored).
    #[arg(
        long,
        value_name = "FILE",
        requires = "forward_to",
        conflicts_with = "forward_basic_auth_user"
    )]
    pub forward_token_file: Option<std::path::PathBuf>,

    /// User name for HTTP basic auth (with --forward-password-file).
    #[arg(long, value_name = "USER", requires_all = ["forward_to", "forward_password_file"])]
    pub forward_basic_auth_user: Option<String>,

    /// A file holding the basic-auth password (a trailing newline ignored).
    #[arg(long, value_name = "FILE", requires = "forward_basic_auth_user")]
    pub forward_password_file: Option<std::path::PathBuf>,

    /// Certificate authorities (PEM) that sign an https:// receiver's certificate. Default: the system's
    /// bundle (SSL_CERT_FILE, else /etc/ssl/certs/ca-certificates.crt and the like).
    #[arg(long, value_name = "FILE", requires = "forward_to")]
    pub forward_ca_file: Option<std::path::PathBuf>,

    /// A client certificate chain (PEM) for receivers that require mutual TLS (with --forward-key-file).
    #[arg(long, value_name = "FILE", requires_all = ["forward_to", "forward_key_file"])]
    pub forward_cert_file: Option<std::path::PathBuf>,

    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "forward_cert_file")]
    pub forward_key_file: Option<std::path::PathBuf>,

    /// The name the receiver's certificate must carry, when it is not the URL's host.
    #[arg(long, value_name = "NAME", requires = "forward_to")]
    pub forward_server_name: Option<String>,

    /// How far a destination that is down or slow may fall behind before the oldest unsent WAL segments
    /// are given up (their samples counted as dropped and logged, and truncation goes on): a size
    /// (`4GiB`, `512MiB`, `100MB`, or bytes) or an age of the oldest unsent segment (`6h`, `30m`, `2d`).
    /// Give it twice for both. Default: 4GiB, and no age limit.
    #[arg(long, value_name = "SIZE|AGE", value_parser = parse_max_lag, requires = "forward_to")]
    pub forward_max_lag: Vec<MaxLag>,

    /// Most concurrent connections per destination. Forwarding starts with 4, adds connections while
    /// behind as long as they raise the throughput, and goes down to 1 once caught up.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256), value_name = "N", requires = "forward_to")]
    pub forward_max_shards: u16,
}

/// `--forward-protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    /// Remote write 1.0.
    #[value(name = "1.0")]
    V1,
    /// Remote write 2.0.
    #[value(name = "2.0")]
    V2,
}

/// One `--forward-max-lag`: a size or an age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxLag {
    /// Unsent WAL bytes.
    Bytes(u64),
    /// Age of the oldest unsent segment.
    Age(Duration),
}

/// Parses `--forward-max-lag`: bytes with an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB) or a
/// duration (`30s`, `15m`, `6h`, `2d`, `1w`, combinations such as `1h30m`).
pub fn parse_max_lag(s: &str) -> Result<MaxLag, String> {
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!(
            "{s:?} is neither a size (4GiB, 512MB, bytes) nor an age (6h, 30m)"
        ));
    }
    let (num, unit) = t.split_at(digits);
    let mult: Option<u64> = match unit.trim() {
        "" | "B" => Some(1),
        "KB" | "kB" => Some(1_000),
        "MB" => Some(1_000_000),
        "GB" => Some(1_000_000_000),
        "TB" => Some(1_000_000_000_000),
        "KiB" => Some(1 << 10),
        "MiB" => Some(1 << 20),
        "GiB" => Some(1 << 30),
        "TiB" => Some(1 << 40),
        _ => None,
    };
    if let Some(m) = mult {
        let n: u64 = num.parse().map_err(|e| format!("{s:?}: {e}"))?;
        return n
            .checked_mul(m)
            .filter(|&b| b > 0)
            .map(MaxLag::Bytes)
            .ok_or_else(|| format!("{s:?}: a size must be above zero and fit 64 bits"));
    }
    crate::timefmt::positive_duration(t)
        .map(MaxLag::Age)
        .map_err(|e| {
            format!("{s:?} is neither a size (4GiB, 512MB, bytes) nor an age (6h, 30m): {e}")
        })
}

/// Reads a secret from `p`; `what` names it in errors. Surrounding whitespace is dropped; empty is an error.
fn read_secret(p: &Path, what: &str) -> Result<String> {
    let t = std::fs::read_to_string(p).with_context(|| format!("read {what} {}", p.display()))?;
    let t = t.trim().to_owned();
    if t.is_empty() {
        anyhow::bail!("{what} {} is empty", p.display());
    }
    Ok(t)
}

impl ForwardArgs {
    /// Sets the forwarding fields of `opts`; `drain` is how long closing the database waits for the
    /// destinations to acknowledge what was written.
    pub fn apply(&self, opts: &mut Options, drain: Duration) -> Result<()> {
        let token = match &self.forward_token_file {
            Some(p) => Some(read_secret(p, "forward token file")?),
            None => None,
        };
        let basic_auth = match (&self.forward_basic_auth_user, &self.forward_password_file) {
            (Some(u), Some(p)) => Some((u.clone(), read_secret(p, "forward password file")?)),
            _ => None,
        };
        let tls = tsdb::ForwardTls {
            ca_file: self.forward_ca_file.clone(),
            cert_file: self.forward_cert_file.clone(),
            key_file: self.forward_key_file.clone(),
            server_name: self.forward_server_name.clone(),
        };
        let protocol = match self.forward_protocol {
            ProtocolArg::V1 => tsdb::ForwardProtocol::V1,
            ProtocolArg::V2 => tsdb::ForwardProtocol::V2,
        };
        opts.forward = self
            .forward_to
            .iter()
            .map(|u| tsdb::Destination {
                url: u.clone(),
                bearer_token: token.clone(),
                basic_auth: basic_auth.clone(),
                tls: tls.clone(),
                protocol,
            })
            .collect();
        let mut bytes = None;
        let mut age = None;
        for l in &self.forward_max_lag {
            match *l {
                MaxLag::Bytes(b) if bytes.is_none() => bytes = Some(b),
                MaxLag::Age(a) if age.is_none() => age = Some(a),
                _ => anyhow::bail!(
                    "--forward-max-lag is given twice as a size or twice as an age; give at most one of each"
                ),
            }
        }
        let fo = &mut opts.forward_options;
        fo.max_lag_bytes = Some(bytes.unwrap_or(4 << 30));
        fo.max_lag_age = age;
        fo.max_shards = usize::from(self.forward_max_shards);
        fo.shards = fo.shards.min(fo.max_shards);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_lag_is_a_size_or_an_age() {
        assert_eq!(parse_max_lag("4GiB"), Ok(MaxLag::Bytes(4 << 30)));
        assert_eq!(parse_max_lag("512MB"), Ok(MaxLag::Bytes(512_000_000)));
        assert_eq!(parse_max_lag("1073741824"), Ok(MaxLag::Bytes(1 << 30)));
        assert_eq!(
            parse_max_lag("6h"),
            Ok(MaxLag::Age(Duration::from_secs(6 * 3600)))
        );
        assert_eq!(
            parse_max_lag("1h30m"),
            Ok(MaxLag::Age(Duration::from_secs(5400)))
        );
        for bad in ["", "GiB", "0", "4XB", "-1h", "99999999999TiB"] {
            assert!(parse_max_lag(bad).is_err(), "{bad}");
        }
    }
}
