//! `Db`: the storage engine as one embeddable type.
//!
//! It joins the head (`tsdb-head`) and persisted blocks (`tsdb-block`): opening and recovering a data
//! directory ([`Db::open`]), opening one read-only beside a writer or on a copy ([`ReadOnlyDb`]),
//! appending ([`Db::appender`]), querying across head and blocks as a stream ([`Db::querier`],
//! [`Querier::select`]), persisting the head as blocks, compaction and retention (a background thread, or
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
//! let series = q.select_all(&parse_selector(r#"up{job="node"}"#)?)?;
//! assert_eq!(series[0].samples, vec![(1_700_000_000_000, 1.0)]);
//! drop(q); // a querier holds off head truncation: drop it before closing
//! db.close()?;
//!
//! // Read it without taking it over: blocks, and the head replayed read-only; nothing on disk changes.
//! let ro = tsdb::ReadOnlyDb::open(dir.path(), tsdb::ReadOnlyOptions::default())?;
//! assert!(ro.damaged_blocks().is_empty());
//! let q = ro.querier(i64::MIN, i64::MAX);
//! let mut samples = Vec::new();
//! for s in q.select(&[])? {
//!     let s = s?; // a series; its samples are decoded only now
//!     s.samples_into(&mut samples)?;
//!     assert_eq!((s.labels(), &samples[..]), (&up, &[(1_700_000_000_000, 1.0)][..]));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod db;
pub mod dir;
mod error;
mod lock;
mod options;
mod querier;
mod readonly;
mod source;

pub use db::{Db, Maintenance};
pub use error::{mode_name, DbError};
pub use lock::DirLock;
pub use options::Options;
pub use querier::{
    ChunkOrigin, EncodedChunk, Querier, SelectedSeries, Series, SeriesSet, ENCODED_CHUNK_SAMPLES,
};
pub use readonly::{DamagedBlock, HeadAbsence, ReadOnlyDb, ReadOnlyOptions};
pub use tsdb_head::{
    AppendError, Appender, CommitStats, Head, HeadError, HeadMetrics, MissingRecords, ReplayReport,
    MAX_TIME,
};

/// Blocks as the database's API hands them out ([`ReadOnlyDb::blocks`], [`Db::blocks`]), and what a tool
/// needs to write blocks of its own (backfill): the parts of `tsdb-block` that are part of this crate's
/// interface, so that users need no second dependency.
pub mod block {
    pub use tsdb_block::{
        write_block, Block, BlockError, BlockMeta, BlockSource, ChunkMeta, CutPolicy, IndexReader,
        SeriesSink, WriteOptions, DEFAULT_BLOCK_RANGE,
    };
}
/// The forwarding crate itself: stored positions ([`forward::position::list`]) and lag
/// ([`forward::lag_bytes_in`]) for tools that look at a data directory without opening it.
pub use tsdb_forward as forward;
/// Forwarding to remote-write receivers ([`Options::forward`]).
pub use tsdb_forward::{
    Destination, ForwardMetrics, ForwardOptions, Protocol as ForwardProtocol,
    TlsOptions as ForwardTls,
};
pub use tsdb_wal::{SyncPolicy, WalFormat, WalMode};
