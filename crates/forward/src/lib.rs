//! Forwarding: every sample of a WAL, sent to Prometheus remote-write receivers, resumable after a crash.
//!
//! This crate owns the sender that tails a WAL directory (any of the three formats [`tsdb_wal::WalReader`]
//! reads: native, Prometheus `SegmentWAL`, wlog, checkpoints included), keeps the series records it has
//! seen (ref → labels), and sends the samples as remote write 1.0 or 2.0 (`tsdb_remote::v1`/`v2`, snappy)
//! to one destination over HTTP or HTTPS (rustls; bearer token or basic auth), sharded by series, in
//! batches of at most [`ForwardOptions::max_samples_per_send`], with a durably stored position
//! ([`position`]) per destination. The number of shards follows the lag (`autoscale`). It knows no
//! database: what owns the WAL (`tsdb::Db`) starts a [`Forwarder`] per destination and asks it, before
//! truncating, which segments it still needs ([`Forwarder::keep_from_segment`]). The wire messages are
//! `tsdb-remote`'s; HTTP is hyper's client.
//!
//! Delivery is at least once and in order per series: a series always goes to the same shard within a
//! round, a shard sends its batches one after the other, a round completes before the next begins (the
//! shard count changes only between rounds), and the position advances only past WAL entries whose every
//! sample the destination acknowledged (2xx) or refused for good (4xx other than 429, counted as
//! rejected). After a crash the sender resumes at the stored position: at most the batches of one
//! unconfirmed round are sent again, nothing is skipped.

pub mod error;
pub mod position;

mod autoscale;
mod client;
mod sender;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use error::ForwardError;
pub use position::Position;
pub use sender::lag_bytes_in;

/// Where to forward: a remote-write endpoint (`http://host:port/api/v1/write` or `https://…`), how to
/// authenticate to it and which protocol version it speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The endpoint: `http://` or `https://`.
    pub url: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub bearer_token: Option<String>,
    /// Sent as `Authorization: Basic …` (user, password) when set; at most one of this and
    /// `bearer_token`.
    pub basic_auth: Option<(String, String)>,
    /// How an `https://` destination is verified (and how this side proves itself, if asked to).
    pub tls: TlsOptions,
    /// The remote-write protocol version to send.
    pub protocol: Protocol,
}

impl Destination {
    /// A destination without credentials, sent remote write 1.0, verified (if `https://`) against the
    /// system's certificate authorities.
    pub fn new(url: impl Into<String>) -> Destination {
        Destination {
            url: url.into(),
            bearer_token: None,
            basic_auth: None,
            tls: TlsOptions::default(),
            protocol: Protocol::V1,
        }
    }
}

/// TLS of an `https://` destination (PEM files, read when the forwarder starts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Certificate authorities that may sign the receiver's certificate. `None`: the system's bundle
    /// (`SSL_CERT_FILE`, else the usual Linux paths such as `/etc/ssl/certs/ca-certificates.crt`).
    pub ca_file: Option<PathBuf>,
    /// A client certificate chain presented to the receiver (with `key_file`), for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key.
    pub key_file: Option<PathBuf>,
    /// The name the receiver's certificate must carry, if not the URL's host.
    pub server_name: Option<String>,
}

/// The remote-write protocol version a destination is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocol {
    /// Remote write 1.0 (`prometheus.WriteRequest`): what every receiver takes.
    #[default]
    V1,
    /// Remote write 2.0 (`io.prometheus.write.v2.Request`, labels as references into one symbols table per
    /// request). A receiver that answers 415 does not speak it: the request is retried (with backoff, and
    /// logged) rather than dropped, so the samples wait in the WAL until the destination is fixed.
    V2,
}

/// How a forwarder sends.
#[derive(Debug, Clone)]
pub struct ForwardOptions {
    /// Concurrent connections (shards) to start with, each carrying a subset of the series (by series
    /// reference). Default 4. It then moves between `min_shards` and `max_shards` with the lag: while
    /// rounds are full it doubles as long as that raises the samples sent per second by 10 % (else it goes
    /// back and holds for 30 s); once a read of the WAL ends caught up with a quick last round, it halves.
    pub shards: usize,
    /// Fewest shards once caught up. Default 1.
    pub min_shards: usize,
    /// Most shards while behind. Default 16.
    pub max_shards: usize,
    /// Samples per request at most. Default 2,000 (Prometheus's `max_samples_per_send`).
    pub max_samples_per_send: usize,
    /// How often the WAL is read again once everything in it was sent. A sample waits at most this long
    /// (plus the time to send what was before it) before it is sent: well under Prometheus's 5 s batch
    /// deadline. Default 200 ms.
    pub poll_interval: Duration,
    /// First wait before a retry. Default 30 ms.
    pub min_backoff: Duration,
    /// Longest wait between retries (doubling from `min_backoff`) unless the receiver's `Retry-After` says
    /// more. Default 5 s.
    pub max_backoff: Duration,
    /// A request without an answer after this long is retried. Default 30 s.
    pub request_timeout: Duration,
    /// WAL bytes not yet forwarded beyond which the oldest unsent segments are given up: their samples are
    /// counted as dropped, logged, and no longer held back from truncation. `None` (default): never.
    pub max_lag_bytes: Option<u64>,
    /// Unsent WAL segments last written longer ago than this are given up the same way (counted as
    /// dropped, logged). `None` (default): no age limit.
    pub max_lag_age: Option<Duration>,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        ForwardOptions {
            shards: 4,
            min_shards: 1,
            max_shards: 16,
            max_samples_per_send: 2000,
            poll_interval: Duration::from_millis(200),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_lag_bytes: None,
            max_lag_age: None,
        }
    }
}

/// A snapshot of a forwarder's counters (names as Prometheus's `prometheus_remote_storage_*`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ForwardMetrics {
    /// The destination.
    pub url: String,
    /// Samples the destination acknowledged.
    pub samples_sent: u64,
    /// Samples the destination refused with a 4xx other than 429 (never sent again).
    pub samples_failed: u64,
    /// Samples sent again after a 5xx, a 429 or a connection failure (once per retry).
    pub samples_retried: u64,
    /// Samples given up: beyond `max_lag_bytes`, or without a series record in the WAL.
    pub samples_dropped: u64,
    /// Samples read from the WAL and not yet acknowledged.
    pub samples_pending: u64,
    /// Highest timestamp (ms) among acknowledged samples; `i64::MIN` before the first.
    pub highest_sent_timestamp_ms: i64,
    /// Number of shards.
    pub shards: u64,
    /// The stored position.
    pub position: Position,
    /// WAL bytes after the stored position (segment file sizes).
    pub lag_bytes: u64,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub url: String,
    pub stop: AtomicBool,
    pub drain: AtomicBool,
    pub caught_up: AtomicBool,
    pub keep_from: AtomicU64,
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    pub dropped: AtomicU64,
    pub pending: AtomicU64,
    pub highest: AtomicI64,
    pub shards: AtomicU64,
    pub pos_segment: AtomicU64,
    pub pos_offset: AtomicU64,
    pub lag: AtomicU64,
}

/// One destination's sender, running on its own thread until [`stop`](Self::stop),
/// [`finish`](Self::finish) or drop.
pub struct Forwarder {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<(), ForwardError>>>,
}

impl Forwarder {
    /// Starts forwarding the WAL in `wal_dir` to `dest`, from the position stored in `state_dir` (the
    /// WAL's beginning, checkpoint included, if there is none). The position is read before this returns,
    /// so [`keep_from_segment`](Self::keep_from_segment) is right from the start.
    ///
    /// Errors: an unusable URL ([`ForwardError::Url`]), a damaged position file, a thread that cannot be
    /// started. Problems later (an unreadable WAL, a receiver down) are logged and retried, not fatal.
    pub fn start(
        wal_dir: &Path,
        state_dir: &Path,
        dest: Destination,
        opts: ForwardOptions,
    ) -> Result<Forwarder, ForwardError> {
        let target = client::Target::new(&dest)?;
        let stored = position::load_stored(state_dir, &dest.url)?.unwrap_or_default();
        let pos = stored.at;
        let min_shards = opts.min_shards.max(1);
        let max_shards = opts.max_shards.max(min_shards);
        let opts = ForwardOptions {
            shards: opts.shards.clamp(min_shards, max_shards),
            min_shards,
            max_shards,
            max_samples_per_send: opts.max_samples_per_send.max(1),
            ..opts
        };
        let shared = Arc::new(Shared {
            url: dest.url.clone(),
            stop: AtomicBool::new(false),
            drain: AtomicBool::new(false),
            caught_up: AtomicBool::new(false),
            keep_from: AtomicU64::new(pos.segment),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            highest: AtomicI64::new(i64::MIN),
            shards: AtomicU64::new(opts.shards as u64),
            pos_segment: AtomicU64::new(pos.segment),
            pos_offset: AtomicU64::new(pos.offset),
            lag: AtomicU64::new(0),
        });
        let s = shared.clone();
        let wal_dir: PathBuf = wal_dir.to_path_buf();
        let state_dir: PathBuf = state_dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("tsdb-forward".into())
            .spawn(move || sender::run(s, wal_dir, state_dir, target, opts, stored))
            .map_err(|source| ForwardError::Start {
                url: dest.url.clone(),
                source,
            })?;
        Ok(Forwarder {
            shared,
            thread: Some(thread),
        })
    }

    /// The destination's URL.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// The lowest WAL segment this forwarder still needs: truncation must keep it and every later one.
    /// It moves forward as the destination acknowledges, and past unsent segments given up under
    /// `max_lag_bytes`.
    pub fn keep_from_segment(&self) -> u64 {
        self.shared.keep_from.load(Ordering::Acquire)
    }

    /// Whether the last complete read of the WAL found nothing left to send.
    pub fn caught_up(&self) -> bool {
        self.shared.caught_up.load(Ordering::Acquire)
    }

    /// The counters as they stand.
    pub fn metrics(&self) -> ForwardMetrics {
        let s = &self.shared;
        ForwardMetrics {
            url: s.url.clone(),
            samples_sent: s.sent.load(Ordering::Relaxed),
            samples_failed: s.failed.load(Ordering::Relaxed),
            samples_retried: s.retried.load(Ordering::Relaxed),
            samples_dropped: s.dropped.load(Ordering::Relaxed),
            samples_pending: s.pending.load(Ordering::Relaxed),
            highest_sent_timestamp_ms: s.highest.load(Ordering::Relaxed),
            shards: s.shards.load(Ordering::Relaxed),
            position: Position {
                segment: s.pos_segment.load(Ordering::Relaxed),
                offset: s.pos_offset.load(Ordering::Relaxed),
            },
            lag_bytes: s.lag.load(Ordering::Relaxed),
        }
    }

    /// Sends what the WAL holds now (everything logged before this call) and stops, waiting at most
    /// `timeout`; then stops regardless. `Ok(true)` if everything was acknowledged (or refused for good)
    /// and the position stored, `Ok(false)` if the time ran out first (the rest is sent after the next
    /// start, from the stored position).
    pub fn finish(mut self, timeout: Duration) -> Result<bool, ForwardError> {
        self.shared.drain.store(true, Ordering::Release);
        let deadline = Instant::now() + timeout;
        while self.thread.as_ref().is_some_and(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let done = self.thread.as_ref().is_none_or(|t| t.is_finished());
        self.shutdown()?;
        Ok(done && self.shared.caught_up.load(Ordering::Acquire))
    }

    /// Stops sending (a request in flight is abandoned; its samples are sent again after the next start)
    /// and waits for the thread. Returns the error that stopped the sender, if one did.
    pub fn stop(mut self) -> Result<(), ForwardError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), ForwardError> {
        self.shared.stop.store(true, Ordering::Release);
        match self.thread.take() {
            Some(t) => match t.join() {
                Ok(r) => r,
                Err(_) => {
                    eprintln!("forward to {}: the sender thread panicked", self.shared.url);
                    Ok(())
                }
            },
            None => Ok(()),
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            eprintln!("{e}");
        }
    }
}
