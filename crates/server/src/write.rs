//! `POST /api/v1/write`: the remote write 1.0 and 2.0 receiver.
//!
//! The body is decoded on the async side (bounded by the body limit and snappy's declared length), then
//! appended and committed on a blocking thread: the response is sent only after the commit returned, that
//! is once the batch is in the WAL under the database's sync policy. Invalid samples are reported with a
//! 400 while the valid ones of the same request are stored (as Prometheus's receiver does); a resent
//! batch is accepted again without storing anything twice.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tsdb::{AppendError, Db};
use tsdb_labels::{Labels, Matcher};
use tsdb_remote::{snappy, v1, v2, RemoteError};

use crate::{text, AppState};

/// Which remote write protocol a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `prometheus.WriteRequest`.
    V1,
    /// `io.prometheus.write.v2.Request`.
    V2,
}

/// Reads the protocol from `Content-Type`, as remote write 2.0 defines it: no type, or
/// `application/x-protobuf` without `proto=` or with `proto=prometheus.WriteRequest`, is 1.0;
/// `proto=io.prometheus.write.v2.Request` is 2.0; anything else is unsupported (the error says why).
pub fn protocol(content_type: Option<&str>) -> Result<Protocol, String> {
    let Some(ct) = content_type.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(Protocol::V1);
    };
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(format!(
            "unsupported Content-Type {ct:?}: expected application/x-protobuf"
        ));
    }
    let mut proto = None;
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            if k.trim().eq_ignore_ascii_case("proto") {
                proto = Some(v.trim().trim_matches('"'));
            }
        }
    }
    match proto {
        None | Some("prometheus.WriteRequest") => Ok(Protocol::V1),
        Some("io.prometheus.write.v2.Request") => Ok(Protocol::V2),
        Some(other) => Err(format!(
            "unsupported proto={other:?} in Content-Type: expected prometheus.WriteRequest or io.prometheus.write.v2.Request"
        )),
    }
}

/// One series of a request, its labels checked.
pub(crate) struct Incoming {
    /// Where it was in the request, for messages: `timeseries[3]`, `line 12`.
    pub place: String,
    pub labels: Result<Labels, String>,
    pub samples: Vec<(i64, f64)>,
    pub histograms: usize,
}

/// What appending a request did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub stored: u64,
    pub already: u64,
    pub exemplars: u64,
    pub rejected: u64,
    pub errors: Vec<String>,
}

const MAX_REPORTED_ERRORS: usize = 20;

impl Outcome {
    pub fn reject(&mut self, msg: String) {
        self.rejected += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(msg);
        }
    }
}

/// Checks pairs as remote write requires: valid names, sorted by name, no name twice.
fn check_labels(pairs: &[(&str, &str)]) -> Result<Labels, String> {
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 >= w[1].0) {
        return Err(if w[0].0 == w[1].0 {
            format!("duplicate label name {:?}", w[0].0)
        } else {
            format!(
                "labels not sorted by name: {:?} before {:?}",
                w[0].0, w[1].0
            )
        });
    }
    if let Some((_, v)) = pairs.iter().find(|(n, _)| n.is_empty()) {
        return Err(format!("empty label name (value {v:?})"));
    }
    let l = Labels::new(pairs.iter().copied()).map_err(|e| e.to_string())?;
    if l.is_empty() {
        return Err("no labels".into());
    }
    Ok(l)
}

fn describe(pairs: &[(&str, &str)]) -> String {
    let t: Vec<String> = pairs
        .iter()
        .map(|(n, v)| format!("{n}={}", tsdb_labels::go_quote(v)))
        .collect();
    format!("{{{}}}", t.join(", "))
}

fn decode(proto: Protocol, raw: &[u8]) -> Result<(Vec<Incoming>, u64), RemoteError> {
    let mut out = Vec::new();
    let mut exemplars = 0u64;
    match proto {
        Protocol::V1 => {
            let mut req = v1::FlatWriteRequest::new();
            decode_v1(&mut req, raw)?;
            for index in 0..req.len() {
                let pairs: Vec<(&str, &str)> = req.labels(raw, index).collect();
                let labels = check_labels(&pairs)
                    .map_err(|e| format!("timeseries[{index}] {}: {e}", describe(&pairs)));
                exemplars += u64::from(req.series()[index].exemplars);
                out.push(Incoming {
                    place: format!("timeseries[{index}]"),
                    labels,
                    samples: req
                        .samples(index)
                        .iter()
                        .map(|s| (s.timestamp, s.value))
                        .collect(),
                    histograms: req.series()[index].histograms as usize,
                });
            }
        }
        Protocol::V2 => {
            let req = v2::Request::decode_bytes(raw)?;
            for index in 0..req.timeseries.len() {
                let pairs = req.labels(index)?;
                let labels = check_labels(&pairs)
                    .map_err(|e| format!("timeseries[{index}] {}: {e}", describe(&pairs)));
                let ts = &req.timeseries[index];
                exemplars += ts.exemplars.len() as u64;
                out.push(Incoming {
                    place: format!("timeseries[{index}]"),
                    labels,
                    samples: ts.samples.iter().map(|s| (s.timestamp, s.value)).collect(),
                    histograms: ts.histograms.len(),
                });
            }
        }
    }
    Ok((out, exemplars))
}

/// The whole decode path of a request body without a database: snappy (bounded by `max_decoded`), the
/// protobuf message of `proto`, label references and label checks. Returns the numbers of series with
/// valid labels and of samples; the error says what and where. For fuzzing and tools.
pub fn decode_body(
    proto: Protocol,
    body: &[u8],
    max_decoded: usize,
) -> Result<(usize, usize), RemoteError> {
    let raw = snappy::decompress(body, max_decoded)?;
    if proto == Protocol::V1 {
        // The receiver's own path: flat decode and label checks into reused buffers.
        let mut req = v1::FlatWriteRequest::new();
        decode_v1(&mut req, &raw)?;
        let mut key = Vec::new();
        let valid = (0..req.len())
            .filter(|&i| label_key(req.label_bytes(&raw, i), &mut key))
            .count();
        return Ok((valid, req.num_samples()));
    }
    let (series, _) = decode(proto, &raw)?;
    let valid = series.iter().filter(|s| s.labels.is_ok()).count();
    Ok((valid, series.iter().map(|s| s.samples.len()).sum()))
}

/// Decodes a 1.0 body, refusing a 2.0 body sent as 1.0.
fn decode_v1(req: &mut v1::FlatWriteRequest, raw: &[u8]) -> Result<(), RemoteError> {
    req.decode(raw)?;
    if req.is_empty() && v1::has_v2_fields(raw) {
        return Err(RemoteError::WrongVersion);
    }
    Ok(())
}

/// Checks pairs as [`check_labels`] does (sorted by name, no name twice, valid names, not all values
/// empty) without allocating, leaving their [`Labels::hash_key`] in `key`. False if [`check_labels`]
/// would refuse them (it then says why).
fn label_key<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>, key: &mut Vec<u8>) -> bool {
    key.clear();
    let mut prev: Option<&[u8]> = None;
    for (n, v) in pairs {
        // Byte order is `str` order.
        if prev.is_some_and(|p| p >= n) || !tsdb_labels::is_valid_label_name_bytes(n) {
            return false;
        }
        prev = Some(n);
        Labels::push_hash_key(key, n, v);
    }
    !key.is_empty()
}

/// What a blocking thread keeps between remote write 1.0 requests, so that a request allocates nothing
/// for its body, its series or their labels once the buffers have grown.
#[derive(Default)]
struct V1Scratch {
    raw: Vec<u8>,
    req: v1::FlatWriteRequest,
    key: Vec<u8>,
}

/// Buffers past this size are not kept after the request (a rare huge request should not pin memory).
const KEEP_SCRATCH_BYTES: usize = 8 << 20;

thread_local! {
    static V1_SCRATCH: RefCell<V1Scratch> = RefCell::default();
}

/// What the blocking part of a 1.0 request came to.
enum V1Result {
    Refused(StatusCode, String),
    Appended(Result<Outcome, tsdb::DbError>),
}

/// The whole of a 1.0 request after its headers: decompress, decode, check and append, on the calling
/// (blocking) thread with its reused buffers.
fn write_v1(db: &Db, cfg: &crate::Config, body: &[u8]) -> V1Result {
    V1_SCRATCH.with(|cell| {
        let mut guard = cell.borrow_mut();
        let sc = &mut *guard;
        let n = match snappy::decompress_into(body, cfg.max_decoded_bytes, &mut sc.raw) {
            Ok(n) => n,
            Err(e @ RemoteError::TooLarge { .. }) => {
                return V1Result::Refused(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body: {e}"),
                )
            }
            Err(e) => {
                return V1Result::Refused(StatusCode::BAD_REQUEST, format!("request body: {e}"))
            }
        };
        let raw = &sc.raw[..n];
        if let Err(e) = decode_v1(&mut sc.req, raw) {
            return V1Result::Refused(StatusCode::BAD_REQUEST, format!("request body: {e}"));
        }
        let samples = sc.req.num_samples();
        if samples > cfg.max_samples_per_request {
            return V1Result::Refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request holds {samples} samples, more than the limit of {}",
                    cfg.max_samples_per_request
                ),
            );
        }
        let r = append_v1(db, raw, &sc.req, &mut sc.key);
        if sc.raw.len() > KEEP_SCRATCH_BYTES {
            *sc = V1Scratch::default();
        }
        V1Result::Appended(r)
    })
}

/// [`append`] for a decoded 1.0 request: series already in the head are found by the hash of their raw
/// label pairs ([`tsdb::Appender::append_key`]), their further samples by reference; a `Labels` is built
/// only for a new series, and strings are formatted only for the report of a rejection.
fn append_v1(
    db: &Db,
    raw: &[u8],
    req: &v1::FlatWriteRequest,
    key: &mut Vec<u8>,
) -> Result<Outcome, tsdb::DbError> {
    let mut out = Outcome::default();
    // Per series (by request index): labels and the (t, v) samples to look up after the commit.
    let mut maybe_retry: Vec<(usize, Retry)> = Vec::new();
    let mut app = db.appender();
    let mut pending = 0u64;
    for (i, fs) in req.series().iter().enumerate() {
        out.exemplars += u64::from(fs.exemplars);
        for _ in 0..fs.histograms {
            out.reject(format!(
                "timeseries[{i}]: native histograms are not supported; histogram not stored"
            ));
        }
        let samples = req.samples(i);
        let pairs = req.labels(raw, i);
        if !label_key(req.label_bytes(raw, i), key) {
            let pairs: Vec<(&str, &str)> = pairs.collect();
            let why = check_labels(&pairs)
                .err()
                .unwrap_or_else(|| "invalid labels".into());
            let msg = format!("timeseries[{i}] {}: {why}", describe(&pairs));
            for _ in samples {
                out.reject(msg.clone());
            }
            continue;
        }
        let mut sref = None;
        for s in samples {
            let (t, v) = (s.timestamp, s.value);
            let r = match sref {
                Some(r) => app.append_ref(r, t, v),
                None => {
                    app.append_key(key, || Labels::new(pairs.clone()).unwrap_or_default(), t, v)
                }
            };
            match r {
                Ok(r) => {
                    sref = Some(r);
                    pending += 1;
                }
                Err(
                    AppendError::OutOfOrder { labels, .. }
                    | AppendError::OutOfBounds { labels, .. },
                ) => match maybe_retry.last_mut() {
                    Some((j, r)) if *j == i => r.1.push((t, v)),
                    _ => maybe_retry.push((i, (labels, vec![(t, v)]))),
                },
                Err(e) => out.reject(format!("timeseries[{i}]: {e}")),
            }
        }
    }
    let stats = app.commit()?;
    settle(
        db,
        &mut out,
        pending,
        stats,
        maybe_retry
            .into_iter()
            .map(|(i, r)| (format!("timeseries[{i}]"), r)),
    )?;
    Ok(out)
}

/// The handler./// The handler.
pub(crate) async fn handle(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let proto = match protocol(ct) {
        Ok(p) => p,
        Err(e) => return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, e),
    };
    if let Some(r) = unsupported_encoding(&headers) {
        return r;
    }
    if proto == Protocol::V1 {
        let st2 = st.clone();
        let r = tokio::task::spawn_blocking(move || write_v1(&st2.db, &st2.cfg, &body)).await;
        return match r {
            Ok(V1Result::Refused(code, msg)) => {
                st.metrics.bad_request();
                text(code, msg)
            }
            Ok(V1Result::Appended(Ok(out))) => {
                st.metrics
                    .write_outcome(out.stored, out.already, out.rejected);
                outcome_response(&out)
            }
            Ok(V1Result::Appended(Err(e))) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("commit failed, nothing acknowledged: {e}"),
            ),
            Err(e) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("append task failed: {e}"),
            ),
        };
    }
    let raw = match snappy::decompress(&body, st.cfg.max_decoded_bytes) {
        Ok(r) => r,
        Err(e @ RemoteError::TooLarge { .. }) => {
            st.metrics.bad_request();
            return text(StatusCode::PAYLOAD_TOO_LARGE, format!("request body: {e}"));
        }
        Err(e) => {
            st.metrics.bad_request();
            return text(StatusCode::BAD_REQUEST, format!("request body: {e}"));
        }
    };
    drop(body);
    let (series, exemplars) = match decode(proto, &raw) {
        Ok(x) => x,
        Err(e) => {
            st.metrics.bad_request();
            return text(StatusCode::BAD_REQUEST, format!("request body: {e}"));
        }
    };
    drop(raw);
    let n: usize = series.iter().map(|s| s.samples.len()).sum();
    if n > st.cfg.max_samples_per_request {
        st.metrics.bad_request();
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request holds {n} samples, more than the limit of {}",
                st.cfg.max_samples_per_request
            ),
        );
    }
    let mut out = match append_blocking(&st, series, StatusCode::INTERNAL_SERVER_ERROR).await {
        Ok(o) => o,
        Err(r) => return *r,
    };
    out.exemplars = exemplars;
    let written = out.stored + out.already;
    let mut resp = outcome_response(&out);
    if proto == Protocol::V2 {
        let h = resp.headers_mut();
        h.insert(
            "X-Prometheus-Remote-Write-Samples-Written",
            HeaderValue::from(written),
        );
        h.insert(
            "X-Prometheus-Remote-Write-Histograms-Written",
            HeaderValue::from(0u64),
        );
        h.insert(
            "X-Prometheus-Remote-Write-Exemplars-Written",
            HeaderValue::from(0u64),
        );
    }
    resp
}

/// A series' labels and the samples to look up after the commit.
type Retry = (Labels, Vec<(i64, f64)>);

/// 204 when nothing was rejected, else 400 with a summary line and one line per rejection (at most
/// [`MAX_REPORTED_ERRORS`], then a count of the rest).
pub(crate) fn outcome_response(out: &Outcome) -> Response {
    if out.rejected == 0 {
        return StatusCode::NO_CONTENT.into_response();
    }
    let written = out.stored + out.already;
    let mut msg = format!(
        "{} of {} samples rejected ({} stored, {} already stored):\n",
        out.rejected,
        written + out.rejected,
        out.stored,
        out.already
    );
    for e in &out.errors {
        msg.push_str(e);
        msg.push('\n');
    }
    if out.rejected as usize > out.errors.len() {
        msg.push_str(&format!(
            "and {} more\n",
            out.rejected as usize - out.errors.len()
        ));
    }
    text(StatusCode::BAD_REQUEST, msg)
}

/// The 415 response for a `Content-Encoding` other than snappy (none is taken as snappy, as senders
/// that omit it mean it); `None` when the encoding is acceptable.
pub(crate) fn unsupported_encoding(headers: &HeaderMap) -> Option<Response> {
    let enc = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?"))
        .unwrap_or("");
    if enc.is_empty() || enc.eq_ignore_ascii_case("snappy") {
        return None;
    }
    Some(text(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("unsupported Content-Encoding {enc:?}: only snappy is accepted"),
    ))
}

/// Runs [`append`] on a blocking thread (never on the async workers) and counts its outcome in the
/// server's metrics. A failed commit answers `commit_failed` and a failed task 500, both saying that
/// nothing was acknowledged, so that a sender retries.
pub(crate) async fn append_blocking(
    st: &AppState,
    series: Vec<Incoming>,
    commit_failed: StatusCode,
) -> Result<Outcome, Box<Response>> {
    let db = st.db.clone();
    match tokio::task::spawn_blocking(move || append(&db, series)).await {
        Ok(Ok(out)) => {
            st.metrics
                .write_outcome(out.stored, out.already, out.rejected);
            Ok(out)
        }
        Ok(Err(e)) => Err(Box::new(text(
            commit_failed,
            format!("commit failed, nothing acknowledged: {e}"),
        ))),
        Err(e) => Err(Box::new(text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("append task failed: {e}"),
        ))),
    }
}

/// Appends and commits a request; then looks up samples refused as older than their series' newest (or the
/// head's lower bound) and accepts those already stored with the same value bit for bit: that is a retry.
pub(crate) fn append(db: &Db, series: Vec<Incoming>) -> Result<Outcome, tsdb::DbError> {
    let mut out = Outcome::default();
    // Per series (by request index): labels and the (t, v) samples to look up after the commit.
    let mut maybe_retry: BTreeMap<&str, Retry> = BTreeMap::new();
    let mut app = db.appender();
    let mut pending = 0u64;
    for s in &series {
        for _ in 0..s.histograms {
            out.reject(format!(
                "{}: native histograms are not supported; histogram not stored",
                s.place
            ));
        }
        let labels = match &s.labels {
            Ok(l) => l,
            Err(e) => {
                for _ in &s.samples {
                    out.reject(e.clone());
                }
                continue;
            }
        };
        for &(t, v) in &s.samples {
            match app.append(labels, t, v) {
                Ok(_) => pending += 1,
                Err(AppendError::OutOfOrder { .. } | AppendError::OutOfBounds { .. }) => {
                    maybe_retry
                        .entry(&s.place)
                        .or_insert_with(|| (labels.clone(), Vec::new()))
                        .1
                        .push((t, v));
                }
                Err(e) => out.reject(format!("{}: {e}", s.place)),
            }
        }
    }
    let stats = app.commit()?;
    settle(
        db,
        &mut out,
        pending,
        stats,
        maybe_retry
            .into_iter()
            .map(|(place, r)| (place.to_owned(), r)),
    )?;
    Ok(out)
}

/// After a commit: counts what was stored and what was an exact duplicate of a newest sample, then looks
/// up the samples refused as older than their series' newest (or the head's lower bound), per series, and
/// accepts those stored with the same value bit for bit (a retry); the rest are rejected.
fn settle(
    db: &Db,
    out: &mut Outcome,
    pending: u64,
    stats: tsdb::CommitStats,
    maybe_retry: impl Iterator<Item = (String, Retry)>,
) -> Result<(), tsdb::DbError> {
    out.stored = stats.samples;
    // Accepted as exact duplicates of a newest sample: pending but not stored.
    out.already = pending.saturating_sub(stats.samples + stats.rejected);
    if stats.rejected > 0 {
        out.reject(format!(
            "{} samples conflicted with a concurrent write to the same series and were not stored",
            stats.rejected
        ));
        out.rejected += stats.rejected - 1;
    }
    for (place, (labels, samples)) in maybe_retry {
        let (lo, hi) = samples
            .iter()
            .fold((i64::MAX, i64::MIN), |(a, b), s| (a.min(s.0), b.max(s.0)));
        let stored = stored_samples(db, &labels, lo, hi)?;
        for (t, v) in samples {
            match stored.binary_search_by_key(&t, |s| s.0).map(|i| stored[i].1) {
                Ok(x) if x.to_bits() == v.to_bits() => out.already += 1,
                Ok(x) => out.reject(format!(
                    "{place}: duplicate sample for {labels} at timestamp {t}: stored value {x}, new value {v}"
                )),
                Err(_) => out.reject(format!(
                    "{place}: out of order sample for {labels} at timestamp {t}: older than the series' newest sample or the head's lower bound"
                )),
            }
        }
    }
    Ok(())
}

fn stored_samples(
    db: &Db,
    labels: &Labels,
    lo: i64,
    hi: i64,
) -> Result<Vec<(i64, f64)>, tsdb::DbError> {
    let matchers: Vec<Matcher> = labels.iter().map(|(n, v)| Matcher::equal(n, v)).collect();
    let q = db.querier(lo, hi);
    let mut buf = Vec::new();
    for s in q.select(&matchers)? {
        let s = s?;
        if s.labels() == labels {
            s.samples_into(&mut buf)?;
            break;
        }
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(protocol(None), Ok(Protocol::V1));
        assert_eq!(protocol(Some("application/x-protobuf")), Ok(Protocol::V1));
        assert_eq!(
            protocol(Some(
                "application/x-protobuf;proto=io.prometheus.write.v2.Request"
            )),
            Ok(Protocol::V2)
        );
        assert_eq!(
            protocol(Some(
                "application/x-protobuf; proto=prometheus.WriteRequest"
            )),
            Ok(Protocol::V1)
        );
        assert!(protocol(Some("application/json")).is_err());
        assert!(protocol(Some("application/x-protobuf;proto=foo")).is_err());
    }

    #[test]
    fn label_checks() {
        assert!(check_labels(&[("__name__", "a"), ("job", "x")]).is_ok());
        assert!(check_labels(&[("job", "x"), ("__name__", "a")]).is_err());
        assert!(check_labels(&[("a", "x"), ("a", "y")]).is_err());
        assert!(check_labels(&[("", "x")]).is_err());
        assert!(check_labels(&[]).is_err());
    }
}
