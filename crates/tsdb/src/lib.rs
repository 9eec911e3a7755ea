//! `Db`: the storage engine as one embeddable type.
//!
//! It joins the head (`tsdb-head`) and persisted blocks (`tsdb-block`): opening and recovering a data
//! directory ([`Db::open`]), appending ([`Db::appender`]), querying across head and blocks
//! ([`Db::querier`]), persisting the head as blocks, compaction and retention (a background thread, or
//! [`Db::maintain`]), [`Db::truncate`], [`Db::delete`], [`Db::snapshot`] and [`Db::flush`]. Formats and files are
//! left to the crates below it.
//!
//! ```
//! use tsdb::{Db, Options};
//! use tsdb_labels::{parse_selector, Labels};
//!
//! let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path(), Options::default())?;
//! let up = Labels::new([("__name__", "up"), ("job", "node")])?;
//! let mut app = db.appender();
//! app.append(&up, 1_700_000_000_000, 1.0)?;
//! app.commit()?; // durable in the WAL once this returns
//!
//! let q = db.querier(i64::MIN, i64::MAX);
//! let series = q.select(&parse_selector(r#"up{job="node"}"#)?)?;
//! assert_eq!(series[0].samples, vec![(1_700_000_000_000, 1.0)]);
//! db.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod db;
mod error;
mod lock;
mod options;
mod querier;
mod source;

pub use db::{Db, Maintenance};
pub use error::DbError;
pub use lock::DirLock;
pub use options::Options;
pub use querier::{Querier, Series};
pub use tsdb_head::{AppendError, Appender, CommitStats, HeadMetrics, ReplayReport, MAX_TIME};
pub use tsdb_wal::{SyncPolicy, WalMode};
