//! The PromQL query API as Prometheus serves it (`docs/querying/api.md`): `/api/v1/query` (instant) and
//! `/api/v1/query_range`, by GET or form POST, answered in Prometheus's JSON (values as strings, times as
//! seconds with at most three decimals, `resultType`, `warnings`), and `/api/v1/query_exemplars` (this
//! store keeps no exemplars: always an empty list).
//!
//! Errors carry Prometheus's `errorType` and status: `bad_data` 400 for a bad parameter or query,
//! `execution` 422 for a query that fails while evaluated (including the sample limit), `timeout` 503,
//! `canceled` 499, `internal` 500. A query runs on a blocking thread under [`Config::max_concurrent_queries`];
//! it stops at its deadline (the smaller of `timeout` and [`Config::query_timeout`]) and as soon as the
//! client goes away. Queries slower than [`Config::slow_query_threshold`] are logged as one JSON line on
//! standard error.
//!
//! [`Config::max_concurrent_queries`]: crate::Config::max_concurrent_queries
//! [`Config::query_timeout`]: crate::Config::query_timeout
//! [`Config::slow_query_threshold`]: crate::Config::slow_query_threshold

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tsdb_labels::Labels;
use tsdb_promql::{write_float, write_int, QueryError, QueryOptions, QueryResult, Value};

use crate::api::{parse_form, parse_time};
use crate::AppState;

/// Most points a range query may give one series, as Prometheus limits them.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// A failed query: Prometheus's `errorType`, the status code and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryApiError {
    /// `bad_data`, `execution`, `timeout`, `canceled` or `internal`.
    pub kind: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// The `error` text.
    pub msg: String,
}

impl QueryApiError {
    fn bad(msg: String) -> QueryApiError {
        QueryApiError {
            kind: "bad_data",
            status: 400,
            msg,
        }
    }

    /// `invalid parameter "<name>": <why>`, as Prometheus words a bad parameter.
    fn param(name: &str, why: impl std::fmt::Display) -> QueryApiError {
        QueryApiError::bad(format!("invalid parameter {name:?}: {why}"))
    }

    fn from_query(e: QueryError) -> QueryApiError {
        match e {
            // Prometheus reports a query that does not parse as a bad `query` parameter.
            QueryError::Parse(m) => QueryApiError::param("query", m),
            other => QueryApiError {
                kind: other.error_type(),
                status: other.status(),
                msg: other.to_string(),
            },
        }
    }
}

impl IntoResponse for QueryApiError {
    fn into_response(self) -> Response {
        let mut body = String::with_capacity(self.msg.len() + 64);
        body.push_str(r#"{"status":"error","errorType":"#);
        push_json_str(&mut body, self.kind);
        body.push_str(r#","error":"#);
        push_json_str(&mut body, &self.msg);
        body.push('}');
        (
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

/// A duration parameter as Prometheus reads one: seconds as a float (`15`, `0.5`, `-1`) or a duration
/// (`1h30m`, `5m`, `100ms`, units `ms s m h d w y`), in milliseconds.
///
/// # Errors
/// `cannot parse "<text>" to a valid duration` (with `. It overflows int64` for huge numbers).
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        let ms = f * 1000.0;
        if !ms.is_finite() || ms.abs() > 9.2e15 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ms.round() as i64);
    }
    model_duration_ms(s).ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

/// Prometheus's `model.ParseDuration`: units in decreasing order, each at most once.
fn model_duration_ms(s: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        let at = UNITS[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
        next_unit = at + 1;
        total = total.checked_add(n.checked_mul(UNITS[at].1)?)?;
    }
    Some(total)
}

/// The parameters of one query request, from the URL and a form body.
#[derive(Debug, Default)]
struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    fn new(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> Form {
        let mut pairs = parse_form(query.as_deref().unwrap_or(""));
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if form {
            // As Go's `FormValue`, the body's values come first.
            let mut body_pairs = parse_form(&String::from_utf8_lossy(body));
            body_pairs.append(&mut pairs);
            pairs = body_pairs;
        }
        Form { pairs }
    }

    /// The first value of `name`, or `""` (as Go's `FormValue`).
    fn get(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn time(&self, name: &str, default: i64) -> Result<i64, QueryApiError> {
        match self.get(name) {
            "" => Ok(default),
            v => time_param(name, v),
        }
    }

    fn timeout(&self) -> Result<Option<Duration>, QueryApiError> {
        match self.get("timeout") {
            "" => Ok(None),
            v => {
                let ms = parse_duration_ms(v).map_err(|e| QueryApiError::param("timeout", e))?;
                Ok(Some(Duration::from_millis(ms.max(0) as u64)))
            }
        }
    }
}

fn time_param(name: &str, v: &str) -> Result<i64, QueryApiError> {
    parse_time(name, v)
        .map_err(|_| QueryApiError::param(name, format!("cannot parse {v:?} to a valid timestamp")))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What a request asks the engine.
#[derive(Debug, Clone)]
enum Job {
    Instant {
        query: String,
        time: i64,
    },
    Range {
        query: String,
        start: i64,
        end: i64,
        step: i64,
    },
}

impl Job {
    fn query(&self) -> &str {
        match self {
            Job::Instant { query, .. } | Job::Range { query, .. } => query,
        }
    }
}

/// Sets the cancel flag when dropped: when the client goes away, hyper drops the handler's future, and
/// the evaluation on its blocking thread stops at its next check.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `job` under the query concurrency limit and deadline, then writes the answer.
async fn run(st: Arc<AppState>, job: Job, timeout: Option<Duration>) -> Response {
    let Ok(_permit) = st.query_permits.acquire().await else {
        return crate::text(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    let started = Instant::now();
    let limit = match timeout {
        Some(t) => t.min(st.cfg.query_timeout),
        None => st.cfg.query_timeout,
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancel.clone());
    let qo = QueryOptions {
        deadline: Some(started + limit),
        cancel: Some(cancel),
    };
    let st2 = st.clone();
    let job2 = job.clone();
    let res = tokio::task::spawn_blocking(move || {
        let db: &tsdb::Db = &st2.db;
        let r = match &job2 {
            Job::Instant { query, time } => st2.engine.instant(db, query, *time, &qo),
            Job::Range {
                query,
                start,
                end,
                step,
            } => st2.engine.range(db, query, *start, *end, *step, &qo),
        };
        r.map(|r| {
            let body = render(&r);
            (body, r.samples_loaded)
        })
    })
    .await;
    let elapsed = started.elapsed();
    let (resp, samples) = match res {
        Ok(Ok((body, samples))) => (
            ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Some(samples),
        ),
        Ok(Err(e)) => (QueryApiError::from_query(e).into_response(), None),
        Err(e) => (
            QueryApiError {
                kind: "internal",
                status: 500,
                msg: e.to_string(),
            }
            .into_response(),
            None,
        ),
    };
    if let Some(th) = st.cfg.slow_query_threshold {
        if elapsed >= th {
            log_slow(&job, elapsed, resp.status().as_u16(), samples);
        }
    }
    resp
}

fn log_slow(job: &Job, took: Duration, status: u16, samples: Option<u64>) {
    let mut line = String::from(r#"{"level":"warn","msg":"slow query","query":"#);
    push_json_str(&mut line, job.query());
    match job {
        Job::Instant { time, .. } => {
            let _ = write!(line, r#","time":{}"#, seconds(*time));
        }
        Job::Range {
            start, end, step, ..
        } => {
            let _ = write!(
                line,
                r#","start":{},"end":{},"step":{}"#,
                seconds(*start),
                seconds(*end),
                seconds(*step)
            );
        }
    }
    let _ = write!(
        line,
        r#","durationSeconds":{:.3},"status":{status}"#,
        took.as_secs_f64()
    );
    if let Some(n) = samples {
        let _ = write!(line, r#","samplesLoaded":{n}"#);
    }
    line.push('}');
    eprintln!("{line}");
}

/// `GET|POST /api/v1/query`: `query`, `time` (default now), `timeout`.
pub(crate) async fn instant(
    State(st): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = Form::new(q, &headers, &body);
    let parsed = (|| {
        let time = f.time("time", now_ms())?;
        let timeout = f.timeout()?;
        Ok::<_, QueryApiError>((time, timeout))
    })();
    match parsed {
        Ok((time, timeout)) => {
            let job = Job::Instant {
                query: f.get("query").to_owned(),
                time,
            };
            run(st, job, timeout).await
        }
        Err(e) => e.into_response(),
    }
}

/// `GET|POST /api/v1/query_range`: `query`, `start`, `end`, `step`, `timeout`.
pub(crate) async fn range(
    State(st): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = Form::new(q, &headers, &body);
    match range_params(&f) {
        Ok((job, timeout)) => run(st, job, timeout).await,
        Err(e) => e.into_response(),
    }
}

fn range_params(f: &Form) -> Result<(Job, Option<Duration>), QueryApiError> {
    let start = time_param("start", f.get("start"))?;
    let end = time_param("end", f.get("end"))?;
    if end < start {
        return Err(QueryApiError::param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step = parse_duration_ms(f.get("step")).map_err(|e| QueryApiError::param("step", e))?;
    if step <= 0 {
        return Err(QueryApiError::param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(QueryApiError::bad(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
        ));
    }
    let timeout = f.timeout()?;
    Ok((
        Job::Range {
            query: f.get("query").to_owned(),
            start,
            end,
            step,
        },
        timeout,
    ))
}

/// `GET|POST /api/v1/query_exemplars`: parameters checked as Prometheus checks them; no exemplars are
/// stored, so the answer is always an empty list.
pub(crate) async fn exemplars(RawQuery(q): RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let f = Form::new(q, &headers, &body);
    let checked = (|| {
        let start = f.time("start", i64::MIN)?;
        let end = f.time("end", i64::MAX)?;
        if end < start {
            return Err(QueryApiError::param(
                "end",
                "end timestamp must not be before start time",
            ));
        }
        promql_check(f.get("query"))
    })();
    match checked {
        Ok(()) => (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"status":"success","data":[]}"#,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Whether `query` parses, as the exemplar endpoint requires.
fn promql_check(query: &str) -> Result<(), QueryApiError> {
    tsdb_promql::parse_check(query).map_err(QueryApiError::from_query)
}

/// The success envelope of a query result, as Prometheus's JSON writes it.
pub fn render(r: &QueryResult) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"status":"success","data":{"resultType":""#);
    out.push_str(r.value.result_type());
    out.push_str(r#"","result":"#);
    match &r.value {
        Value::Scalar { t, v } => push_point(&mut out, *t, *v),
        Value::String { t, v } => {
            out.push('[');
            out.push_str(&seconds(*t));
            out.push(',');
            push_json_str(&mut out, v);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                push_labels(&mut out, &s.labels);
                out.push_str(r#","value":"#);
                push_point(&mut out, s.t, s.v);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                push_labels(&mut out, &s.labels);
                out.push_str(r#","values":["#);
                for (j, &(t, v)) in s.points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    push_point(&mut out, t, v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
    if !r.warnings.is_empty() {
        out.push_str(r#","warnings":["#);
        for (i, w) in r.warnings.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_str(&mut out, w);
        }
        out.push(']');
    }
    out.push('}');
    out
}

fn push_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    push_seconds(out, t);
    out.push_str(",\"");
    write_float(out, v);
    out.push_str("\"]");
}

fn push_labels(out: &mut String, l: &Labels) {
    out.push('{');
    for (i, (n, v)) in l.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, n);
        out.push(':');
        push_json_str(out, v);
    }
    out.push('}');
}

/// A JSON string literal of `s`.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Milliseconds as Prometheus writes a timestamp: whole seconds, then `.` and three digits when the
/// milliseconds are not zero (`1435781451.781`, `10.500`, `-1.005`).
pub fn seconds(t: i64) -> String {
    let mut s = String::with_capacity(16);
    push_seconds(&mut s, t);
    s
}

/// [`seconds`] appended to `out`, without allocating.
fn push_seconds(out: &mut String, t: i64) {
    if t < 0 {
        out.push('-');
    }
    let u = t.unsigned_abs();
    write_int(out, (u / 1000) as i64);
    let frac = u % 1000;
    if frac != 0 {
        out.push('.');
        for d in [frac / 100, frac / 10 % 10, frac % 10] {
            out.push((b'0' + d as u8) as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_prometheus_reads_them() {
        assert_eq!(parse_duration_ms("15"), Ok(15_000));
        assert_eq!(parse_duration_ms("0.5"), Ok(500));
        assert_eq!(parse_duration_ms("-1"), Ok(-1000));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("100ms"), Ok(100));
        assert_eq!(parse_duration_ms("1d2h"), Ok(93_600_000));
        assert_eq!(parse_duration_ms("2w"), Ok(14 * 86_400_000));
        assert!(parse_duration_ms("").is_err());
        assert!(parse_duration_ms("5x").is_err());
        assert!(parse_duration_ms("1m1h").is_err(), "units out of order");
        assert!(parse_duration_ms("1m1m").is_err(), "a unit twice");
        assert_eq!(
            parse_duration_ms("1e300"),
            Err("cannot parse \"1e300\" to a valid duration. It overflows int64".into())
        );
        assert_eq!(
            parse_duration_ms("abc"),
            Err("cannot parse \"abc\" to a valid duration".into())
        );
    }

    #[test]
    fn timestamps_as_prometheus_writes_them() {
        assert_eq!(seconds(1_435_781_451_781), "1435781451.781");
        assert_eq!(seconds(10_500), "10.500");
        assert_eq!(seconds(10_005), "10.005");
        assert_eq!(seconds(60_000), "60");
        assert_eq!(seconds(-1_005), "-1.005");
        assert_eq!(seconds(0), "0");
    }

    #[test]
    fn results_render_in_prometheus_json() {
        let l = Labels::new([("__name__", "up"), ("job", "a\"b")]).expect("valid labels");
        let r = QueryResult {
            value: Value::Vector(vec![tsdb_promql::Sample {
                labels: l.clone(),
                t: 1500,
                v: f64::INFINITY,
            }]),
            warnings: vec!["w".into()],
            samples_loaded: 1,
        };
        assert_eq!(
            render(&r),
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b"},"value":[1.500,"+Inf"]}]},"warnings":["w"]}"#
        );
        let m = QueryResult {
            value: Value::Matrix(vec![tsdb_promql::RangeSeries {
                labels: Labels::empty(),
                points: vec![(0, 1.0), (60_000, 0.25)],
            }]),
            warnings: vec![],
            samples_loaded: 2,
        };
        assert_eq!(
            render(&m),
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[0,"1"],[60,"0.25"]]}]}}"#
        );
        let s = QueryResult {
            value: Value::Scalar { t: 2000, v: 1.5 },
            warnings: vec![],
            samples_loaded: 0,
        };
        assert_eq!(
            render(&s),
            r#"{"status":"success","data":{"resultType":"scalar","result":[2,"1.5"]}}"#
        );
        let e: serde_json::Value = serde_json::from_str(&render(&r)).expect("valid JSON");
        assert_eq!(e["data"]["result"][0]["value"][1], "+Inf");
    }

    #[test]
    fn range_parameters_checked_as_prometheus_checks_them() {
        let form = |s: &str| Form {
            pairs: parse_form(s),
        };
        let err = |s: &str| range_params(&form(s)).unwrap_err();
        assert_eq!(
            err("query=up&end=10&step=1").msg,
            "invalid parameter \"start\": cannot parse \"\" to a valid timestamp"
        );
        assert_eq!(
            err("query=up&start=10&end=1&step=1").msg,
            "invalid parameter \"end\": end timestamp must not be before start time"
        );
        assert_eq!(
            err("query=up&start=0&end=10&step=0").msg,
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"
        );
        let e = err("query=up&start=0&end=11001&step=1");
        assert_eq!((e.kind, e.status), ("bad_data", 400));
        assert!(e
            .msg
            .starts_with("exceeded maximum resolution of 11,000 points"));
        assert!(range_params(&form("query=up&start=0&end=11000&step=1")).is_ok());
        assert_eq!(
            err("query=up&start=0&end=1&step=1&timeout=x").msg,
            "invalid parameter \"timeout\": cannot parse \"x\" to a valid duration"
        );
    }
}
