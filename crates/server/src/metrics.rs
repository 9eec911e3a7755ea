//! `/metrics`: the server's and the engine's own metrics in the Prometheus text format, so a Prometheus can
//! scrape the server: request counts by route and status, a latency histogram per route, samples written,
//! already stored and rejected, and the head's and blocks' figures read at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::Mutex;

use crate::AppState;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default, Clone)]
struct Route {
    by_code: BTreeMap<u16, u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<String, Route>>,
    samples_written: AtomicU64,
    samples_already_stored: AtomicU64,
    samples_rejected: AtomicU64,
    bad_requests: AtomicU64,
    tls_handshake_failures: AtomicU64,
}

impl Metrics {
    /// Records one finished request.
    pub fn observe_request(&self, route: &str, code: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let mut g = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let r = g.entry(route.to_owned()).or_default();
        *r.by_code.entry(code).or_default() += 1;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                r.buckets[i] += 1;
            }
        }
        r.count += 1;
        r.sum += secs;
    }

    /// Records what a remote write request did.
    pub fn write_outcome(&self, stored: u64, already: u64, rejected: u64) {
        self.samples_written.fetch_add(stored, Ordering::Relaxed);
        self.samples_already_stored
            .fetch_add(already, Ordering::Relaxed);
        self.samples_rejected.fetch_add(rejected, Ordering::Relaxed);
    }

    /// Counts a write request refused whole (undecodable, too large).
    pub fn bad_request(&self) {
        self.bad_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a connection closed because its TLS handshake failed or took too long.
    pub fn tls_handshake_failed(&self) {
        self.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// The handler.
pub(crate) async fn handle(State(st): State<Arc<AppState>>) -> Response {
    let mut out = String::new();
    let m = &st.metrics;
    let h = st.db.head().metrics();
    let blocks = st.db.blocks();
    metric(
        &mut out,
        "tsdb_remote_write_samples_written_total",
        "counter",
        "Samples stored by remote write.",
        m.samples_written.load(Ordering::Relaxed),
    );
    metric(
        &mut out,
        "tsdb_remote_write_samples_already_stored_total",
        "counter",
        "Samples of remote write requests already stored with the same value (retries).",
        m.samples_already_stored.load(Ordering::Relaxed),
    );
    metric(
        &mut out,
        "tsdb_remote_write_samples_rejected_total",
        "counter",
        "Samples of remote write requests rejected as invalid.",
        m.samples_rejected.load(Ordering::Relaxed),
    );
    metric(
        &mut out,
        "tsdb_remote_write_bad_requests_total",
        "counter",
        "Remote write requests refused whole (undecodable or over a limit).",
        m.bad_requests.load(Ordering::Relaxed),
    );
    metric(
        &mut out,
        "tsdb_server_tls_handshake_failures_total",
        "counter",
        "Connections closed because their TLS handshake failed or timed out.",
        m.tls_handshake_failures.load(Ordering::Relaxed),
    );
    metric(
        &mut out,
        "tsdb_head_series",
        "gauge",
        "Series in the head.",
        h.series,
    );
    metric(
        &mut out,
        "tsdb_head_series_created_total",
        "counter",
        "Series created in the head.",
        h.series_created,
    );
    metric(
        &mut out,
        "tsdb_head_series_removed_total",
        "counter",
        "Series removed from the head.",
        h.series_removed,
    );
    metric(
        &mut out,
        "tsdb_head_samples_appended_total",
        "counter",
        "Samples stored in the head.",
        h.samples_appended,
    );
    metric(
        &mut out,
        "tsdb_head_chunks_created_total",
        "counter",
        "Head chunks started.",
        h.chunks_created,
    );
    metric(
        &mut out,
        "tsdb_head_commits_total",
        "counter",
        "Successful commits.",
        h.commits,
    );
    let _ = writeln!(out, "# HELP tsdb_head_samples_rejected_total Samples rejected by the head, by reason.\n# TYPE tsdb_head_samples_rejected_total counter");
    for (reason, v) in [
        ("out_of_order", h.out_of_order),
        ("duplicate", h.duplicates),
        ("out_of_bounds", h.out_of_bounds),
        ("unknown_ref", h.unknown_refs),
        ("invalid_labels", h.invalid_labels),
    ] {
        let _ = writeln!(
            out,
            "tsdb_head_samples_rejected_total{{reason=\"{reason}\"}} {v}"
        );
    }
    metric(
        &mut out,
        "tsdb_wal_bytes_written_total",
        "counter",
        "Bytes of WAL entries written.",
        h.wal_bytes,
    );
    metric(
        &mut out,
        "tsdb_blocks",
        "gauge",
        "Persisted blocks.",
        blocks.len(),
    );
    metric(
        &mut out,
        "tsdb_blocks_samples",
        "gauge",
        "Samples in persisted blocks.",
        blocks.iter().map(|b| b.stats.num_samples).sum::<u64>(),
    );
    let routes = m.routes.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let _ = writeln!(out, "# HELP tsdb_http_requests_total Requests by route and status code.\n# TYPE tsdb_http_requests_total counter");
    for (route, r) in &routes {
        for (code, n) in &r.by_code {
            let _ = writeln!(
                out,
                "tsdb_http_requests_total{{code=\"{code}\",handler=\"{route}\"}} {n}"
            );
        }
    }
    let _ = writeln!(out, "# HELP tsdb_http_request_duration_seconds Request latency by route.\n# TYPE tsdb_http_request_duration_seconds histogram");
    for (route, r) in &routes {
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "tsdb_http_request_duration_seconds_bucket{{handler=\"{route}\",le=\"{b}\"}} {}",
                r.buckets[i]
            );
        }
        let _ = writeln!(
            out,
            "tsdb_http_request_duration_seconds_bucket{{handler=\"{route}\",le=\"+Inf\"}} {}",
            r.count
        );
        let _ = writeln!(
            out,
            "tsdb_http_request_duration_seconds_sum{{handler=\"{route}\"}} {}",
            r.sum
        );
        let _ = writeln!(
            out,
            "tsdb_http_request_duration_seconds_count{{handler=\"{route}\"}} {}",
            r.count
        );
    }
    forward_metrics(&mut out, &st.db.forward_metrics());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// The forwarders' counters, one series per destination (`url` label), named after Prometheus's
/// `prometheus_remote_storage_*` metrics. Nothing when the database forwards nowhere.
fn forward_metrics(out: &mut String, fs: &[tsdb::ForwardMetrics]) {
    if fs.is_empty() {
        return;
    }
    let url = |u: &str| {
        u.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    type Get = fn(&tsdb::ForwardMetrics) -> f64;
    let rows: [(&str, &str, &str, Get); 9] = [
        (
            "tsdb_forward_samples_total",
            "counter",
            "Samples the destination acknowledged.",
            |m| m.samples_sent as f64,
        ),
        (
            "tsdb_forward_samples_failed_total",
            "counter",
            "Samples the destination refused with a 4xx other than 429 (not retried).",
            |m| m.samples_failed as f64,
        ),
        (
            "tsdb_forward_samples_retried_total",
            "counter",
            "Samples sent again after a 5xx, a 429 or a connection failure.",
            |m| m.samples_retried as f64,
        ),
        (
            "tsdb_forward_samples_dropped_total",
            "counter",
            "Samples given up: over --forward-max-lag, or without a series record.",
            |m| m.samples_dropped as f64,
        ),
        (
            "tsdb_forward_samples_pending",
            "gauge",
            "Samples read from the WAL and not yet acknowledged.",
            |m| m.samples_pending as f64,
        ),
        (
            "tsdb_forward_queue_highest_sent_timestamp_seconds",
            "gauge",
            "Highest timestamp among acknowledged samples.",
            |m| {
                if m.highest_sent_timestamp_ms == i64::MIN {
                    0.0
                } else {
                    m.highest_sent_timestamp_ms as f64 / 1000.0
                }
            },
        ),
        (
            "tsdb_forward_shards",
            "gauge",
            "Shards (concurrent connections) sending.",
            |m| m.shards as f64,
        ),
        (
            "tsdb_forward_lag_bytes",
            "gauge",
            "WAL bytes after the stored position.",
            |m| m.lag_bytes as f64,
        ),
        (
            "tsdb_forward_position_segment",
            "gauge",
            "WAL segment of the stored position.",
            |m| m.position.segment as f64,
        ),
    ];
    for (name, kind, help, get) in rows {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for m in fs {
            let _ = writeln!(out, "{name}{{url=\"{}\"}} {}", url(&m.url), get(m));
        }
    }
}
