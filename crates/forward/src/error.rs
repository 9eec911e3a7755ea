//! Errors of a forwarder, each naming its destination and the file or WAL position concerned.

use std::path::PathBuf;

/// Why a forwarder could not start or stopped.
///
/// Delivery problems (a receiver that is down, answers 5xx or 429, or refuses samples with another 4xx)
/// are not errors: they are retried or counted (see [`crate::ForwardMetrics`]).
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The destination URL cannot be used.
    #[error("forward to {url}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS set-up of an `https://` destination failed (a file unreadable, not PEM, refused by rustls).
    #[error("forward to {url}: TLS{}: {reason}", file.as_ref().map(|f| format!(" file {}", f.display())).unwrap_or_default())]
    Tls {
        /// Destination.
        url: String,
        /// The file concerned, if one is.
        file: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },
    /// A file operation on the forwarder's own state failed.
    #[error("forward to {url}: {op} {}: {source}", path.display())]
    Io {
        /// Destination.
        url: String,
        /// What was being done ("write", "fsync", "rename", …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The stored position does not parse.
    #[error("forward to {url}: position file {} is damaged: {reason}", path.display())]
    Position {
        /// Destination.
        url: String,
        /// The position file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The WAL could not be opened or read at a position.
    #[error("forward to {url}: reading the WAL {} after segment {segment}, offset {offset}: {source}", dir.display())]
    Wal {
        /// Destination.
        url: String,
        /// The WAL directory.
        dir: PathBuf,
        /// Segment of the last entry read successfully (or of the stored position).
        segment: u64,
        /// Offset just past it.
        offset: u64,
        /// The WAL's error (boxed: it is large, and rare).
        #[source]
        source: Box<tsdb_wal::WalError>,
    },
    /// The sender's thread or runtime could not be created.
    #[error("forward to {url}: starting the sender: {source}")]
    Start {
        /// Destination.
        url: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}
