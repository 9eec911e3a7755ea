//! `POST /api/v1/import/prometheus`: text import. The body is Prometheus text, OpenMetrics or Influx line
//! protocol (`?format=` names it, else `tsdb-textparse` detects it from the first bytes); lines without a
//! timestamp get the time of the request. 204 when every line was stored; else 400 with one line per bad
//! line (`line N:COLUMN: reason`) or rejected sample (`line N: reason`), the rest stored. A resent body
//! stores nothing twice.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use tsdb_textparse::{self as parse, Format, ParserState};

use crate::write::{append_blocking, outcome_response, Incoming};
use crate::{text, AppState};

/// The handler.
pub(crate) async fn handle(
    State(st): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let mut format = None;
    for (k, v) in crate::api::parse_form(q.as_deref().unwrap_or("")) {
        if k == "format" {
            match v.parse::<Format>() {
                Ok(f) => format = Some(f),
                Err(e) => return text(StatusCode::BAD_REQUEST, format!("format: {e}")),
            }
        }
    }
    let format = format.unwrap_or_else(|| parse::detect(&body[..body.len().min(64 * 1024)]));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut bad_lines = Vec::new();
    let mut series = Vec::new();
    let mut state = ParserState::new();
    let mut samples = Vec::new();
    let mut n = 0usize;
    for (i, line) in body.split_inclusive(|&b| b == b'\n').enumerate() {
        samples.clear();
        if let Err(e) = parse::parse_line(format, line, i + 1, &mut state, &mut samples) {
            bad_lines.push(position(&e));
            continue;
        }
        for s in samples.drain(..) {
            n += 1;
            series.push(Incoming {
                place: format!("line {}", i + 1),
                labels: Ok(s.labels),
                samples: vec![(s.timestamp_ms.unwrap_or(now), s.value)],
                histograms: 0,
            });
        }
    }
    if let Err(e) = parse::finish(format, &state) {
        bad_lines.push(position(&e));
    }
    if n > st.cfg.max_samples_per_request {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "body holds {n} samples, more than the limit of {}",
                st.cfg.max_samples_per_request
            ),
        );
    }
    match append_blocking(&st, series, StatusCode::INTERNAL_SERVER_ERROR).await {
        Ok(mut out) => {
            for e in bad_lines {
                out.reject(e);
            }
            outcome_response(&out)
        }
        Err(r) => *r,
    }
}

/// `line N:COLUMN: reason` (`line N: reason` when the whole line is at fault).
fn position(e: &parse::ParseError) -> String {
    match e.column {
        Some(c) => format!("line {}:{c}: {}", e.line, e.kind),
        None => format!("line {}: {}", e.line, e.kind),
    }
}
