//! `POST /api/v1/otlp/v1/metrics`: OTLP/HTTP metrics (protobuf), translated as Prometheus's OTLP receiver
//! translates them (underscore escaping with suffixes): names split on characters a Prometheus name cannot
//! hold and joined with `_`, the unit appended (`s` → `seconds`, `By` → `bytes`, `a/s` → `…_per_second`),
//! `_total` for monotonic sums, `_ratio` for gauges of unit `1`; classic histograms as `_bucket{le}`
//! (cumulative), `_sum` and `_count`; summaries as `{quantile}`, `_sum` and `_count`; attribute names with
//! invalid characters replaced by `_`; `service.namespace/service.name` as `job`, `service.instance.id` as
//! `instance`, the other resource attributes on a `target_info` series. Delta temporality and exponential
//! histograms are refused (reported in the response's partial success) as Prometheus refuses them by
//! default.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tsdb_labels::Labels;
use tsdb_remote::otlp::{
    self, ExportMetricsServiceRequest, ExportResponse, KeyValue, PartialSuccess,
};
use tsdb_remote::Message;

use crate::write::{append_blocking, Incoming};
use crate::{text, AppState};

const STALE: u64 = 0x7ff0_0000_0000_0002;

/// What kind of Prometheus metric an OTLP metric becomes, for its name's suffixes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// A gauge (also a non-monotonic sum).
    Gauge,
    /// A monotonic sum.
    Counter,
    /// A histogram or summary.
    Other,
}

fn unit_word(u: &str) -> &str {
    match u {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

fn per_word(u: &str) -> &str {
    match u {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

fn valid_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// `text` with runs of characters other than `[a-zA-Z0-9:]` turned into single `_`, ends trimmed.
fn clean(text: &str) -> String {
    text.split(|c: char| !valid_name_char(c))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// The Prometheus name of an OTLP metric.
pub fn metric_name(name: &str, unit: &str, kind: Kind) -> String {
    let mut tokens: Vec<String> = name
        .split(|c: char| !valid_name_char(c))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    // Annotations in braces (`{request}`) are not units.
    let bare: String = {
        let mut out = String::new();
        let mut depth = 0;
        for c in unit.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth > 0 => depth -= 1,
                _ if depth == 0 => out.push(c),
                _ => {}
            }
        }
        out
    };
    let (main, per) = match bare.split_once('/') {
        Some((m, p)) => (m.trim(), Some(p.trim())),
        None => (bare.trim(), None),
    };
    let main = clean(unit_word(main));
    let per = per
        .map(|p| clean(per_word(p)))
        .filter(|p| !p.is_empty())
        .map(|p| format!("per_{p}"));
    if !main.is_empty() && !tokens.contains(&main) {
        tokens.push(main);
    }
    if let Some(p) = per {
        if !tokens.contains(&p) {
            tokens.push(p);
        }
    }
    if kind == Kind::Counter {
        tokens.retain(|t| t != "total");
        tokens.push("total".into());
    }
    if unit == "1" && kind == Kind::Gauge {
        tokens.retain(|t| t != "ratio");
        tokens.push("ratio".into());
    }
    let mut n = tokens.join("_");
    if n.starts_with(|c: char| c.is_ascii_digit()) {
        n.insert(0, '_');
    }
    n
}

/// The Prometheus name of an attribute.
pub fn label_name(key: &str) -> String {
    let mut n: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if n.starts_with(|c: char| c.is_ascii_digit()) {
        n.insert_str(0, "key_");
    }
    n
}

fn attrs(kv: &[KeyValue]) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    for a in kv {
        let v = a.value.as_ref().map(|v| v.as_label()).unwrap_or_default();
        // Two keys that sanitize to one name: values joined with `;`, as Prometheus does.
        m.entry(label_name(&a.key))
            .and_modify(|old| {
                old.push(';');
                old.push_str(&v);
            })
            .or_insert(v);
    }
    m
}

/// Builds the series of a request and the reasons points were refused.
pub(crate) fn translate(req: &ExportMetricsServiceRequest) -> (Vec<Incoming>, Vec<String>) {
    let mut out = Vec::new();
    let mut refused = Vec::new();
    for (ri, rm) in req.resource_metrics.iter().enumerate() {
        let res: Vec<KeyValue> = rm
            .resource
            .as_ref()
            .map(|r| r.attributes.clone())
            .unwrap_or_default();
        let get = |k: &str| {
            res.iter()
                .find(|a| a.key == k)
                .and_then(|a| a.value.as_ref())
                .map(|v| v.as_label())
                .filter(|v| !v.is_empty())
        };
        let job = match (get("service.namespace"), get("service.name")) {
            (Some(ns), Some(n)) => Some(format!("{ns}/{n}")),
            (None, Some(n)) => Some(n),
            _ => None,
        };
        let instance = get("service.instance.id");
        let mut base = BTreeMap::new();
        if let Some(j) = &job {
            base.insert("job".to_owned(), j.clone());
        }
        if let Some(i) = &instance {
            base.insert("instance".to_owned(), i.clone());
        }
        let max_t = std::cell::Cell::new(None::<i64>);
        let mut push = |place: String,
                        name: &str,
                        extra: &BTreeMap<String, String>,
                        more: &[(&str, String)],
                        t: i64,
                        v: f64| {
            let mut l = base.clone();
            l.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            for (k, v) in more {
                l.insert((*k).to_owned(), v.clone());
            }
            l.insert("__name__".into(), name.to_owned());
            max_t.set(Some(max_t.get().map_or(t, |m| m.max(t))));
            out.push(Incoming {
                place,
                labels: Labels::new(l.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .map_err(|e| format!("{name}: {e}")),
                samples: vec![(t, v)],
                histograms: 0,
            });
        };
        let ms = |ns: u64| (ns / 1_000_000) as i64;
        let value = |flags: u32, v: f64| {
            if flags & 1 == 1 {
                f64::from_bits(STALE)
            } else {
                v
            }
        };
        for (si, sm) in rm.scope_metrics.iter().enumerate() {
            for (mi, m) in sm.metrics.iter().enumerate() {
                let place = format!(
                    "resource_metrics[{ri}].scope_metrics[{si}].metrics[{mi}] {:?}",
                    m.name
                );
                if let Some(g) = &m.gauge {
                    let n = metric_name(&m.name, &m.unit, Kind::Gauge);
                    for p in &g.data_points {
                        let v = p.as_double.or(p.as_int.map(|i| i as f64)).unwrap_or(0.0);
                        push(
                            place.clone(),
                            &n,
                            &attrs(&p.attributes),
                            &[],
                            ms(p.time_unix_nano),
                            value(p.flags, v),
                        );
                    }
                } else if let Some(s) = &m.sum {
                    if s.is_monotonic && s.aggregation_temporality == otlp::DELTA {
                        refused.push(format!(
                            "{place}: delta temporality is not supported ({} points)",
                            s.data_points.len()
                        ));
                        continue;
                    }
                    let kind = if s.is_monotonic {
                        Kind::Counter
                    } else {
                        Kind::Gauge
                    };
                    let n = metric_name(&m.name, &m.unit, kind);
                    for p in &s.data_points {
                        let v = p.as_double.or(p.as_int.map(|i| i as f64)).unwrap_or(0.0);
                        push(
                            place.clone(),
                            &n,
                            &attrs(&p.attributes),
                            &[],
                            ms(p.time_unix_nano),
                            value(p.flags, v),
                        );
                    }
                } else if let Some(h) = &m.histogram {
                    if h.aggregation_temporality == otlp::DELTA {
                        refused.push(format!(
                            "{place}: delta temporality is not supported ({} points)",
                            h.data_points.len()
                        ));
                        continue;
                    }
                    let n = metric_name(&m.name, &m.unit, Kind::Other);
                    for p in &h.data_points {
                        let a = attrs(&p.attributes);
                        let t = ms(p.time_unix_nano);
                        let mut cum = 0u64;
                        for (i, b) in p.explicit_bounds.iter().enumerate() {
                            cum += p.bucket_counts.get(i).copied().unwrap_or(0);
                            push(
                                place.clone(),
                                &format!("{n}_bucket"),
                                &a,
                                &[("le", b.to_string())],
                                t,
                                value(p.flags, cum as f64),
                            );
                        }
                        push(
                            place.clone(),
                            &format!("{n}_bucket"),
                            &a,
                            &[("le", "+Inf".into())],
                            t,
                            value(p.flags, p.count as f64),
                        );
                        if let Some(sum) = p.sum {
                            push(
                                place.clone(),
                                &format!("{n}_sum"),
                                &a,
                                &[],
                                t,
                                value(p.flags, sum),
                            );
                        }
                        push(
                            place.clone(),
                            &format!("{n}_count"),
                            &a,
                            &[],
                            t,
                            value(p.flags, p.count as f64),
                        );
                    }
                } else if let Some(s) = &m.summary {
                    let n = metric_name(&m.name, &m.unit, Kind::Other);
                    for p in &s.data_points {
                        let a = attrs(&p.attributes);
                        let t = ms(p.time_unix_nano);
                        for q in &p.quantile_values {
                            push(
                                place.clone(),
                                &n,
                                &a,
                                &[("quantile", q.quantile.to_string())],
                                t,
                                value(p.flags, q.value),
                            );
                        }
                        push(
                            place.clone(),
                            &format!("{n}_sum"),
                            &a,
                            &[],
                            t,
                            value(p.flags, p.sum),
                        );
                        push(
                            place.clone(),
                            &format!("{n}_count"),
                            &a,
                            &[],
                            t,
                            value(p.flags, p.count as f64),
                        );
                    }
                } else if m.exponential_histogram.is_some() {
                    refused.push(format!("{place}: exponential histograms are not supported"));
                }
            }
        }
        // target_info: the resource attributes that are not job and instance, once per resource.
        if let (Some(t), true) = (max_t.get(), job.is_some() || instance.is_some()) {
            let mut info: BTreeMap<String, String> = BTreeMap::new();
            for a in &res {
                if matches!(
                    a.key.as_str(),
                    "service.name" | "service.namespace" | "service.instance.id"
                ) {
                    continue;
                }
                let v = a.value.as_ref().map(|v| v.as_label()).unwrap_or_default();
                info.insert(label_name(&a.key), v);
            }
            if !info.is_empty() {
                push(
                    format!("resource_metrics[{ri}] target_info"),
                    "target_info",
                    &info,
                    &[],
                    t,
                    1.0,
                );
            }
        }
    }
    (out, refused)
}

/// The handler.
pub(crate) async fn handle(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-protobuf") {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported Content-Type {ct:?}: only application/x-protobuf (OTLP/HTTP protobuf) is accepted"),
        );
    }
    if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
        let enc = enc.to_str().unwrap_or("?");
        if !(enc.is_empty() || enc.eq_ignore_ascii_case("identity")) {
            return text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported Content-Encoding {enc:?}: send OTLP uncompressed"),
            );
        }
    }
    let req = match ExportMetricsServiceRequest::decode_bytes(&body) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("request body: {e}")),
    };
    let (series, refused) = translate(&req);
    // A failed commit is transient. OTLP/HTTP clients retry only 429, 502, 503 and 504 (not 500, which
    // Prometheus's remote write senders do retry), hence 503 here and 500 on the other write paths.
    let out = match append_blocking(&st, series, StatusCode::SERVICE_UNAVAILABLE).await {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let rejected = out.rejected as usize + refused.len();
    let resp = ExportResponse {
        partial_success: (rejected > 0).then(|| PartialSuccess {
            rejected_data_points: rejected as i64,
            error_message: refused
                .iter()
                .chain(out.errors.iter())
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
        }),
    };
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        resp.encode_to_vec(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_prometheus_translates_them() {
        assert_eq!(
            metric_name("http.server.duration", "s", Kind::Other),
            "http_server_duration_seconds"
        );
        assert_eq!(
            metric_name("requests.count", "1", Kind::Counter),
            "requests_count_total"
        );
        assert_eq!(
            metric_name("memory.usage", "By", Kind::Gauge),
            "memory_usage_bytes"
        );
        assert_eq!(
            metric_name("cpu.utilization", "1", Kind::Gauge),
            "cpu_utilization_ratio"
        );
        assert_eq!(
            metric_name("requests_total", "{request}", Kind::Counter),
            "requests_total"
        );
        assert_eq!(
            metric_name("speed", "m/s", Kind::Gauge),
            "speed_meters_per_second"
        );
        assert_eq!(metric_name("2xx", "", Kind::Gauge), "_2xx");
        assert_eq!(label_name("http.method"), "http_method");
        assert_eq!(label_name("0day"), "key_0day");
    }
}
