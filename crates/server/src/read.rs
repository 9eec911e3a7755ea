//! `POST /api/v1/read`: remote read. `SAMPLES` answers with one snappy-compressed `ReadResponse`;
//! `STREAMED_XOR_CHUNKS` with framed `ChunkedReadResponse`s — the stored XOR chunks as they are, only those
//! crossing the range's ends or merged from several sources re-encoded — produced one series at a time by a blocking
//! thread that walks the streaming querier and sends frames through a small channel, so memory holds a few
//! frames whatever the number of series (a slow client slows the reader down instead).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tsdb::Db;
use tsdb_labels::{Labels, MatchOp, Matcher};
use tsdb_remote::read::{
    Chunk, ChunkEncoding, ChunkedReadResponse, ChunkedSeries, MatchType, Query, QueryResult,
    ReadRequest, ReadResponse, ResponseType,
};
use tsdb_remote::v1::{Label, Sample, TimeSeries};
use tsdb_remote::{frame, snappy, Message, RemoteError};

use crate::{text, AppState};

/// Target size of one streamed frame's message, as Prometheus's own server uses.
const FRAME_BYTES: usize = 1 << 20;

/// Converts a request's matchers; the error names the query and matcher.
pub fn matchers(q: &Query, qi: usize) -> Result<Vec<Matcher>, String> {
    q.matchers
        .iter()
        .enumerate()
        .map(|(mi, m)| {
            let op = match MatchType::try_from(m.r#type) {
                Ok(MatchType::Eq) => MatchOp::Equal,
                Ok(MatchType::Neq) => MatchOp::NotEqual,
                Ok(MatchType::Re) => MatchOp::RegexMatch,
                Ok(MatchType::Nre) => MatchOp::RegexNoMatch,
                Err(_) => {
                    return Err(format!(
                        "queries[{qi}].matchers[{mi}]: unknown matcher type {}",
                        m.r#type
                    ))
                }
            };
            Matcher::new(op, m.name.clone(), m.value.clone())
                .map_err(|e| format!("queries[{qi}].matchers[{mi}]: {e}"))
        })
        .collect()
}

fn proto_labels(l: &Labels) -> Vec<Label> {
    l.iter().map(|(n, v)| Label::new(n, v)).collect()
}

/// The handler.
pub(crate) async fn handle(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = crate::write::unsupported_encoding(&headers) {
        return r;
    }
    let req = match snappy::decompress(&body, st.cfg.max_decoded_bytes)
        .and_then(|raw| ReadRequest::decode_bytes(&raw))
    {
        Ok(r) => r,
        Err(e @ RemoteError::TooLarge { .. }) => {
            return text(StatusCode::PAYLOAD_TOO_LARGE, format!("request body: {e}"))
        }
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("request body: {e}")),
    };
    let mut queries = Vec::with_capacity(req.queries.len());
    for (qi, q) in req.queries.iter().enumerate() {
        match matchers(q, qi) {
            Ok(m) => queries.push((q.start_timestamp_ms, q.end_timestamp_ms, m)),
            Err(e) => return text(StatusCode::BAD_REQUEST, e),
        }
    }
    // The first accepted type we can answer; none named means SAMPLES.
    let streamed = req
        .accepted_response_types
        .iter()
        .find_map(|t| ResponseType::try_from(*t).ok())
        == Some(ResponseType::StreamedXorChunks);
    let db = st.db.clone();
    if streamed {
        let (tx, rx) = mpsc::channel(4);
        tokio::task::spawn_blocking(move || stream_chunks(&db, queries, tx));
        return (
            [(
                header::CONTENT_TYPE,
                "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse",
            )],
            Body::new(ChannelBody(rx)),
        )
            .into_response();
    }
    let limit = st.cfg.max_samples_per_query;
    match tokio::task::spawn_blocking(move || samples(&db, queries, limit)).await {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, "application/x-protobuf"),
                (header::CONTENT_ENCODING, "snappy"),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err((code, e))) => text(code, e),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("read task failed: {e}"),
        ),
    }
}

type Queries = Vec<(i64, i64, Vec<Matcher>)>;

fn samples(db: &Db, queries: Queries, limit: usize) -> Result<Vec<u8>, (StatusCode, String)> {
    let internal = |e: tsdb::DbError| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let mut resp = ReadResponse::default();
    let mut buf = Vec::new();
    for (qi, (mint, maxt, m)) in queries.into_iter().enumerate() {
        let q = db.querier(mint, maxt);
        let mut result = QueryResult::default();
        let mut n = 0usize;
        for s in q.select(&m).map_err(internal)? {
            let s = s.map_err(internal)?;
            s.samples_into(&mut buf).map_err(internal)?;
            if buf.is_empty() {
                continue;
            }
            n += buf.len();
            if n > limit {
                return Err((
                    StatusCode::BAD_REQUEST,
                    format!("queries[{qi}] selects more than the limit of {limit} samples"),
                ));
            }
            result.timeseries.push(TimeSeries {
                labels: proto_labels(s.labels()),
                samples: buf
                    .iter()
                    .map(|&(timestamp, value)| Sample { value, timestamp })
                    .collect(),
                ..Default::default()
            });
        }
        resp.results.push(result);
    }
    Ok(snappy::compress(&resp.encode_to_vec()))
}

/// Walks every query's series and sends frames; stops early when the client went away.
fn stream_chunks(db: &Db, queries: Queries, tx: mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let fail = |e: String| {
        let _ = tx.blocking_send(Err(std::io::Error::other(e)));
    };
    let (mut chunks, mut scratch) = (Vec::new(), Vec::new());
    for (qi, (mint, maxt, m)) in queries.into_iter().enumerate() {
        let q = db.querier(mint, maxt);
        let set = match q.select(&m) {
            Ok(s) => s,
            Err(e) => return fail(e.to_string()),
        };
        for s in set {
            let s = match s {
                Ok(s) => s,
                Err(e) => return fail(e.to_string()),
            };
            // Stored chunks go out as they are; only the range's ends and merged series are re-encoded.
            if let Err(e) = s.chunks_into(&mut chunks, &mut scratch) {
                return fail(e.to_string());
            }
            if chunks.is_empty() {
                continue;
            }
            let mut msg = ChunkedReadResponse {
                chunked_series: vec![ChunkedSeries {
                    labels: proto_labels(s.labels()),
                    chunks: Vec::new(),
                }],
                query_index: qi as i64,
            };
            let mut size = 0;
            for c in chunks.drain(..) {
                size += c.data.len() + 32;
                msg.chunked_series[0].chunks.push(Chunk {
                    min_time_ms: c.min_time,
                    max_time_ms: c.max_time,
                    r#type: ChunkEncoding::Xor as i32,
                    data: c.data,
                });
                if size >= FRAME_BYTES {
                    if !send(&tx, &msg) {
                        return;
                    }
                    msg.chunked_series[0].chunks.clear();
                    size = 0;
                }
            }
            if !msg.chunked_series[0].chunks.is_empty() && !send(&tx, &msg) {
                return;
            }
        }
    }
}

fn send(tx: &mpsc::Sender<Result<Bytes, std::io::Error>>, msg: &ChunkedReadResponse) -> bool {
    let mut out = Vec::new();
    frame::write_frame(&msg.encode_to_vec(), &mut out);
    tx.blocking_send(Ok(Bytes::from(out))).is_ok()
}

/// A response body fed by a channel.
struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|r| r.map(http_body::Frame::data)))
    }
}
