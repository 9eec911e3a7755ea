//! The metadata API as Prometheus serves it (`docs/querying/api.md`): `/api/v1/labels`,
//! `/api/v1/label/<name>/values`, `/api/v1/series` with `match[]`, `start`, `end` and `limit`, and
//! `/api/v1/status/buildinfo`; answers in the `{"status":"success","data":...}` envelope, errors as
//! `{"status":"error","errorType":"bad_data","error":...}` with 400 (`execution`, 500, for storage errors).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tsdb::Db;
use tsdb_labels::{parse_selector, Matcher};

use crate::AppState;

/// An API error: its Prometheus `errorType`, status code and message.
#[derive(Debug)]
pub struct ApiError {
    kind: &'static str,
    code: StatusCode,
    msg: String,
}

impl ApiError {
    fn bad(msg: impl Into<String>) -> ApiError {
        ApiError {
            kind: "bad_data",
            code: StatusCode::BAD_REQUEST,
            msg: msg.into(),
        }
    }
    /// What Prometheus's agent answers on its query and admin APIs: 422, `execution`.
    pub(crate) fn agent() -> ApiError {
        ApiError {
            kind: "execution",
            code: StatusCode::UNPROCESSABLE_ENTITY,
            msg: "unavailable with Prometheus Agent".into(),
        }
    }
    fn exec(e: tsdb::DbError) -> ApiError {
        ApiError {
            kind: "execution",
            code: StatusCode::INTERNAL_SERVER_ERROR,
            msg: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"status": "error", "errorType": self.kind, "error": self.msg});
        (
            self.code,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

fn success(data: Value) -> Response {
    let body = json!({"status": "success", "data": data});
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Decodes `application/x-www-form-urlencoded` text (query string or form body) into pairs.
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(x) => {
                        out.push(x);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parameters common to the three endpoints.
struct Params {
    matchers: Vec<Vec<Matcher>>,
    start: i64,
    end: i64,
    limit: usize,
}

/// A time parameter: Unix seconds with a fraction, or RFC 3339 (`2006-01-02T15:04:05Z` and offsets).
pub fn parse_time(name: &str, v: &str) -> Result<i64, ApiError> {
    if let Ok(f) = v.parse::<f64>() {
        if f.is_finite() {
            return Ok((f * 1000.0).round() as i64);
        }
    }
    parse_rfc3339(v).ok_or_else(|| {
        ApiError::bad(format!(
            "invalid parameter \"{name}\": cannot parse {v:?} to a valid timestamp"
        ))
    })
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut ms = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let f = &frac[..digits];
        let padded = format!("{:0<3}", &f[..f.len().min(3)]);
        ms = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) - offset) * 1000 + ms)
}

fn params(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> Result<Params, ApiError> {
    let mut pairs = parse_form(query.as_deref().unwrap_or(""));
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form {
        pairs.extend(parse_form(&String::from_utf8_lossy(body)));
    }
    let mut p = Params {
        matchers: Vec::new(),
        start: i64::MIN,
        end: i64::MAX,
        limit: 0,
    };
    for (k, v) in pairs {
        match k.as_str() {
            "match[]" => p.matchers.push(
                parse_selector(&v)
                    .map_err(|e| ApiError::bad(format!("invalid parameter \"match[]\": {e}")))?,
            ),
            "start" => p.start = parse_time("start", &v)?,
            "end" => p.end = parse_time("end", &v)?,
            "limit" => {
                p.limit = v.parse().map_err(|_| {
                    ApiError::bad(format!(
                        "invalid parameter \"limit\": cannot parse {v:?} to a number"
                    ))
                })?
            }
            _ => {}
        }
    }
    if p.end < p.start {
        return Err(ApiError::bad(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    Ok(p)
}

async fn blocking<T: Send + 'static>(
    st: &Arc<AppState>,
    f: impl FnOnce(&Db) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let db = st.db.clone();
    tokio::task::spawn_blocking(move || f(&db))
        .await
        .map_err(|e| ApiError {
            kind: "internal",
            code: StatusCode::INTERNAL_SERVER_ERROR,
            msg: e.to_string(),
        })?
}

/// Walks every series the selectors pick (deduplicated), calling `f` on its labels; `false` stops.
fn for_each_series(
    db: &Db,
    p: &Params,
    mut f: impl FnMut(&tsdb_labels::Labels) -> bool,
) -> Result<(), ApiError> {
    let q = db.querier(p.start, p.end);
    let mut seen = BTreeSet::new();
    for m in &p.matchers {
        for s in q.select(m).map_err(ApiError::exec)? {
            let s = s.map_err(ApiError::exec)?;
            if p.matchers.len() > 1 && !seen.insert(s.labels().clone()) {
                continue;
            }
            if !f(s.labels()) {
                return Ok(());
            }
        }
    }
    Ok(())
}

fn truncate(mut v: Vec<String>, limit: usize) -> Vec<String> {
    if limit > 0 {
        v.truncate(limit);
    }
    v
}

/// `GET|POST /api/v1/labels`.
pub(crate) async fn labels(
    State(st): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match params(q, &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let limit = p.limit;
    let r = blocking(&st, move |db| {
        if p.matchers.is_empty() {
            return db
                .querier(p.start, p.end)
                .label_names()
                .map_err(ApiError::exec);
        }
        let mut names = BTreeSet::new();
        for_each_series(db, &p, |l| {
            names.extend(l.iter().map(|(n, _)| n.to_owned()));
            true
        })?;
        Ok(names.into_iter().collect())
    })
    .await;
    match r {
        Ok(v) => success(json!(truncate(v, limit))),
        Err(e) => e.into_response(),
    }
}

/// `GET /api/v1/label/<name>/values`.
pub(crate) async fn label_values(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match params(q, &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if !(name == "__name__" || tsdb_labels::is_valid_label_name(&name)) {
        return ApiError::bad(format!("invalid label name: {name:?}")).into_response();
    }
    let limit = p.limit;
    let r = blocking(&st, move |db| {
        if p.matchers.is_empty() {
            return db
                .querier(p.start, p.end)
                .label_values(&name)
                .map_err(ApiError::exec);
        }
        let mut values = BTreeSet::new();
        for_each_series(db, &p, |l| {
            if let Some(v) = l.get(&name) {
                values.insert(v.to_owned());
            }
            true
        })?;
        Ok(values.into_iter().collect())
    })
    .await;
    match r {
        Ok(v) => success(json!(truncate(v, limit))),
        Err(e) => e.into_response(),
    }
}

/// `GET|POST /api/v1/series`.
pub(crate) async fn series(
    State(st): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let p = match params(q, &headers, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if p.matchers.is_empty() {
        return ApiError::bad("no match[] parameter provided").into_response();
    }
    let r = blocking(&st, move |db| {
        let mut out = Vec::new();
        let mut all = BTreeSet::new();
        for_each_series(db, &p, |l| {
            all.insert(l.clone());
            p.limit == 0 || all.len() < p.limit
        })?;
        for l in all {
            let m: serde_json::Map<String, Value> = l
                .iter()
                .map(|(n, v)| (n.to_owned(), Value::String(v.to_owned())))
                .collect();
            out.push(Value::Object(m));
        }
        Ok(out)
    })
    .await;
    match r {
        Ok(v) => success(Value::Array(v)),
        Err(e) => e.into_response(),
    }
}

/// `GET /api/v1/status/buildinfo`.
pub(crate) async fn buildinfo() -> Response {
    success(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}

/// `GET /api/v1/status/tsdb`: head statistics and the top `limit` (default 10) of series per metric name,
/// distinct values per label name, bytes of values per label name, and series per label pair, over the
/// head's series, in Prometheus's shape.
pub(crate) async fn status_tsdb(
    State(st): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Response {
    let mut limit = 10usize;
    for (k, v) in parse_form(q.as_deref().unwrap_or("")) {
        if k == "limit" {
            match v.parse::<usize>() {
                Ok(n) if n > 0 => limit = n,
                _ => {
                    return ApiError::bad(format!(
                        "invalid parameter \"limit\": {v:?} is not a positive number"
                    ))
                    .into_response()
                }
            }
        }
    }
    let r = blocking(&st, move |db| {
        use std::collections::HashMap;
        let head = db.head();
        let series = head.select(&[]);
        let mut by_metric: HashMap<String, u64> = HashMap::new();
        let mut values: HashMap<String, BTreeSet<String>> = HashMap::new();
        let mut pairs: HashMap<(String, String), u64> = HashMap::new();
        for (_, l) in &series {
            if let Some(n) = l.metric_name() {
                *by_metric.entry(n.to_owned()).or_default() += 1;
            }
            for (n, v) in l.iter() {
                values.entry(n.to_owned()).or_default().insert(v.to_owned());
                *pairs.entry((n.to_owned(), v.to_owned())).or_default() += 1;
            }
        }
        let top = |mut v: Vec<(String, u64)>| -> Value {
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(limit);
            Value::Array(
                v.into_iter()
                    .map(|(name, value)| json!({"name": name, "value": value}))
                    .collect(),
            )
        };
        let memory: Vec<(String, u64)> = values
            .iter()
            .map(|(n, vs)| (n.clone(), vs.iter().map(|v| v.len() as u64).sum()))
            .collect();
        let num_pairs = pairs.len();
        let (mint, maxt) = if series.is_empty() {
            (0, 0)
        } else {
            (head.min_time(), head.max_time())
        };
        Ok(json!({
            "headStats": {
                "numSeries": series.len(),
                "numLabelPairs": num_pairs,
                "chunkCount": head.num_chunks(),
                "minTime": mint,
                "maxTime": maxt,
            },
            "seriesCountByMetricName": top(by_metric.into_iter().collect()),
            "labelValueCountByLabelName": top(values.iter().map(|(n, v)| (n.clone(), v.len() as u64)).collect()),
            "memoryInBytesByLabelName": top(memory),
            "seriesCountByLabelValuePair": top(pairs.into_iter().map(|((n, v), c)| (format!("{n}={v}"), c)).collect()),
        }))
    })
    .await;
    match r {
        Ok(v) => success(v),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_times() {
        assert_eq!(
            parse_form("match%5B%5D=up%7Bjob%3D%22a+b%22%7D&start=1"),
            vec![
                ("match[]".to_owned(), "up{job=\"a b\"}".to_owned()),
                ("start".to_owned(), "1".to_owned())
            ]
        );
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(parse_time("start", "1.5").unwrap(), 1500);
        assert_eq!(
            parse_time("start", "1970-01-01T00:00:01.25Z").unwrap(),
            1250
        );
        assert_eq!(
            parse_time("start", "2015-07-01T20:10:51.781Z").unwrap(),
            1435781451781
        );
        assert_eq!(parse_time("t", "1970-01-01T01:00:00+01:00").unwrap(), 0);
        assert!(parse_time("start", "yesterday").is_err());
    }
}
