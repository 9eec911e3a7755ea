//! Prometheus 2.42 as the referee of our PromQL: the same blocks (made by promtool from `tsdb-cli bench
//! demo-data`) served by `prometheus` and by `tsdb-cli serve`, every query of
//! `tests/promql/referee-queries.txt` asked of both as a range query (and an instant query), the answers
//! compared result by result: the same status and error type, result type, label sets and timestamps,
//! values equal at a relative tolerance of 1e-5 (NaN equal to NaN). A report of every query goes to
//! `promql-referee-report.txt` in Cargo's test temporary directory. A second test runs `promtool query
//! instant|range|series|labels` against both servers and compares what it prints.
//!
//! Needs `prometheus` and `promtool` on PATH; without them each test prints a note and passes, unless
//! `TSDB_INTEROP=require`, which makes their absence a failure. Servers listen on free ports of
//! 127.0.0.1, every wait is bounded, and both are killed when the test ends, passing or not.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::prom::{free_port, http_get, start_prometheus, start_serve, tool, url_encode, Server};
use common::*;

/// The data: 4 hours ending here (Unix seconds), one sample every 15 s.
const END: i64 = 1_700_000_000;
/// The range queries: from 55 minutes into the data to 10 minutes past its end (so that 1-hour windows
/// are nearly full at the start and staleness after the last samples is covered), every minute.
const RANGE: (i64, i64, i64) = (END - 4 * 3600 + 3300, END + 600, 60);
/// Instant queries are asked at these times (seconds): inside the data, on a sample, past the end.
const INSTANTS: [&str; 3] = ["1699995000.5", "1700000000", "1700000200"];
/// Relative tolerance of value comparisons.
const TOLERANCE: f64 = 1e-5;

/// Both servers on the same data, stopped when dropped.
struct Servers {
    _dir: tempfile::TempDir,
    prometheus: (Server, u16),
    ours: (Server, u16),
}

/// Writes the demo data, makes blocks of it with promtool, and starts Prometheus and `tsdb-cli serve`
/// on copies of them. `None` when the tools are missing (and not required).
fn servers(test: &str) -> Option<Servers> {
    let prom = tool(test, "prometheus")?;
    let promtool = tool(test, "promtool")?;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let om = root.join("demo.om");
    ok([
        "bench",
        "demo-data",
        "--hours",
        "4",
        "--end",
        &END.to_string(),
        "--out",
        om.to_str().expect("utf-8 path"),
    ]);
    let pdata = root.join("prom-data");
    run_promtool(
        &promtool,
        [
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            om.to_str().expect("utf-8 path"),
            pdata.to_str().expect("utf-8 path"),
        ],
    );
    let ours = root.join("ours");
    copy_dir(&pdata, &ours);
    let pport = free_port();
    let p = start_prometheus(&prom, root, &pdata, pport, "global: {}\n", &[]);
    let oport = free_port();
    let o = start_serve(root, &ours, oport, &[]);
    Some(Servers {
        _dir: dir,
        prometheus: (p, pport),
        ours: (o, oport),
    })
}

/// The queries of the file, each `{name}` placeholder expanded to every value of its `# @name:` list
/// (every combination where a line has several).
fn queries(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut lists: Vec<(String, Vec<String>)> = Vec::new();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(def) = line.strip_prefix("# @") {
            let (name, values) = def
                .split_once(':')
                .unwrap_or_else(|| panic!("{}:{}: `# @name: values`", file.display(), n + 1));
            lists.push((
                name.trim().to_owned(),
                values.split_whitespace().map(str::to_owned).collect(),
            ));
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut expanded = vec![line.to_owned()];
        for (name, values) in &lists {
            let key = format!("{{{name}}}");
            if !line.contains(&key) {
                continue;
            }
            expanded = expanded
                .iter()
                .flat_map(|q| {
                    values
                        .iter()
                        .map(|v| q.replace(&key, v))
                        .collect::<Vec<_>>()
                })
                .collect();
        }
        if let Some(q) = expanded.iter().find(|q| {
            q.contains("{") && q.contains("}") && {
                // An unexpanded placeholder is `{word}` with no `=`, `~` or `"` inside.
                q.split('{').skip(1).any(|rest| {
                    rest.split('}')
                        .next()
                        .is_some_and(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
                })
            }
        }) {
            panic!("{}:{}: unknown placeholder in {q}", file.display(), n + 1);
        }
        out.extend(expanded);
    }
    out
}

/// What a server answered, parsed.
#[derive(Debug)]
enum Answer {
    Error {
        status: u16,
        error_type: String,
        error: String,
    },
    Success {
        result_type: String,
        /// Label sets (as canonical JSON) and their points; in the server's order.
        series: Vec<(String, Vec<(f64, String)>)>,
    },
}

fn ask(server: &(Server, u16), path: &str) -> Answer {
    let (status, body) = http_get(server.1, path)
        .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", server.0.log_tail()));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "GET {path}: not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&body),
            server.0.log_tail()
        )
    });
    if v["status"] != "success" {
        return Answer::Error {
            status,
            error_type: v["errorType"].as_str().unwrap_or("").to_owned(),
            error: v["error"].as_str().unwrap_or("").to_owned(),
        };
    }
    let data = &v["data"];
    let result_type = data["resultType"].as_str().unwrap_or("").to_owned();
    let point = |p: &serde_json::Value| -> (f64, String) {
        (
            p[0].as_f64().unwrap_or(f64::NAN),
            p[1].as_str().unwrap_or("?").to_owned(),
        )
    };
    let series = match result_type.as_str() {
        "scalar" | "string" => vec![(String::new(), vec![point(&data["result"])])],
        _ => data["result"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        let points = match (s.get("values"), s.get("value")) {
                            (Some(vals), _) => vals
                                .as_array()
                                .map(|ps| ps.iter().map(point).collect())
                                .unwrap_or_default(),
                            (None, Some(p)) => vec![point(p)],
                            _ => Vec::new(),
                        };
                        (s["metric"].to_string(), points)
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    Answer::Success {
        result_type,
        series,
    }
}

fn value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= TOLERANCE * a.abs().max(b.abs())
}

/// `Ok(summary)` when the answers agree, else `Err(the first difference)`.
fn compare(query: &str, want: &Answer, got: &Answer) -> Result<String, String> {
    match (want, got) {
        (
            Answer::Error {
                status: s1,
                error_type: t1,
                error: e1,
            },
            Answer::Error {
                status: s2,
                error_type: t2,
                error: e2,
            },
        ) => {
            if s1 != s2 || t1 != t2 {
                return Err(format!(
                    "error {s1} {t1} ({e1}) from Prometheus, {s2} {t2} ({e2}) from us"
                ));
            }
            Ok(format!("error {s1} {t1}"))
        }
        (
            Answer::Success {
                result_type: r1,
                series: a,
            },
            Answer::Success {
                result_type: r2,
                series: b,
            },
        ) => {
            if r1 != r2 {
                return Err(format!("result type {r1} from Prometheus, {r2} from us"));
            }
            let ordered = query.contains("sort");
            let (mut a, mut b) = (a.clone(), b.clone());
            if !ordered {
                a.sort_by(|x, y| x.0.cmp(&y.0));
                b.sort_by(|x, y| x.0.cmp(&y.0));
            }
            if a.len() != b.len() || a.iter().zip(&b).any(|(x, y)| x.0 != y.0) {
                let names = |v: &[(String, Vec<(f64, String)>)]| {
                    v.iter().map(|s| s.0.clone()).collect::<Vec<_>>().join(" ")
                };
                return Err(format!(
                    "series differ: Prometheus [{}], us [{}]",
                    names(&a),
                    names(&b)
                ));
            }
            let mut points = 0;
            for ((labels, pa), (_, pb)) in a.iter().zip(&b) {
                if pa.len() != pb.len() {
                    return Err(format!(
                        "{labels}: {} points from Prometheus, {} from us (first {:?} / {:?})",
                        pa.len(),
                        pb.len(),
                        pa.first(),
                        pb.first()
                    ));
                }
                for (x, y) in pa.iter().zip(pb) {
                    let ok = x.0 == y.0
                        && match (value(&x.1), value(&y.1)) {
                            (Some(u), Some(v)) => close(u, v),
                            _ => x.1 == y.1,
                        };
                    if !ok {
                        return Err(format!("{labels}: Prometheus {:?}, us {:?}", x, y));
                    }
                }
                points += pa.len();
            }
            Ok(format!("{} series, {points} points", a.len()))
        }
        _ => Err(format!("Prometheus answered {want:?}, we answered {got:?}")),
    }
}

fn report_path() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("promql-referee-report.txt")
}

#[test]
fn range_and_instant_queries_answer_as_prometheus_does() {
    let Some(s) = servers("promql_referee") else {
        return;
    };
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promql/referee-queries.txt");
    let qs = queries(&file);
    assert!(qs.len() >= 300, "only {} queries", qs.len());
    let mut report = String::new();
    let mut failures = Vec::new();
    let (start, end, step) = RANGE;
    let mut asked = |kind: &str, q: &str, path: String| {
        let want = ask(&s.prometheus, &path);
        let got = ask(&s.ours, &path);
        match compare(q, &want, &got) {
            Ok(summary) => {
                let _ = writeln!(report, "match  {kind:<7} {q}  ({summary})");
            }
            Err(why) => {
                let _ = writeln!(report, "DIFFER {kind:<7} {q}  {why}");
                failures.push(format!("{kind} {q}: {why}"));
            }
        }
    };
    for q in &qs {
        let path = format!(
            "/api/v1/query_range?query={}&start={start}&end={end}&step={step}",
            url_encode(q)
        );
        asked("range", q, path);
    }
    for q in &qs {
        for t in INSTANTS {
            let path = format!("/api/v1/query?query={}&time={t}", url_encode(q));
            asked("instant", q, path);
        }
    }
    // Range vectors, which only instant queries may return.
    for q in [
        "demo_memory_usage_bytes[1m]",
        "demo_cpu_usage_seconds_total{mode=\"user\"}[2m] offset 1m",
        "demo_disk_usage_bytes[10m] @ 1699995000",
        "rate(demo_cpu_usage_seconds_total[5m])[10m:1m]",
        "demo_memory_usage_bytes[5m:]",
    ] {
        for t in INSTANTS {
            let path = format!("/api/v1/query?query={}&time={t}", url_encode(q));
            asked("instant", q, path);
        }
    }
    let total = qs.len() * (1 + INSTANTS.len()) + 5 * INSTANTS.len();
    let summary = format!(
        "{} of {total} answers match ({} range queries, {} instant)\n",
        total - failures.len(),
        qs.len(),
        total - qs.len()
    );
    std::fs::write(report_path(), format!("{summary}{report}")).expect("write report");
    eprintln!("{summary}report: {}", report_path().display());
    assert!(
        failures.is_empty(),
        "{} answers differ from Prometheus's (report {}):\n{}",
        failures.len(),
        report_path().display(),
        failures
            .iter()
            .take(40)
            .map(|f| f.chars().take(600).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// `promtool query …` against `port`; its exit code and standard output.
fn promtool_query(promtool: &Path, port: u16, args: &[&str]) -> (Option<i32>, String) {
    let (cmd, rest) = args.split_first().expect("a subcommand");
    let out = Command::new(promtool)
        .arg("query")
        .arg(cmd)
        .args(rest.iter().filter(|a| a.starts_with("--")))
        .arg(format!("http://127.0.0.1:{port}"))
        .args(rest.iter().filter(|a| !a.starts_with("--")))
        .output()
        .expect("run promtool");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn promtool_queries_print_what_they_print_against_prometheus() {
    let Some(s) = servers("promql_referee_promtool") else {
        return;
    };
    let promtool = tool("promql_referee_promtool", "promtool").expect("promtool");
    let (start, end) = (RANGE.0.to_string(), RANGE.1.to_string());
    let start_flag = format!("--start={start}");
    let end_flag = format!("--end={end}");
    let calls: Vec<Vec<&str>> = vec![
        vec!["instant", "--time=1699995000", "demo_memory_usage_bytes"],
        vec!["instant", "--time=1700000000", "sum by (instance) (rate(demo_cpu_usage_seconds_total[5m]))"],
        vec!["instant", "--time=1700000000", "scalar(sum(demo_num_cpus))"],
        vec!["instant", "--time=1700000000", "histogram_quantile(0.9, sum by (le) (rate(demo_api_request_duration_seconds_bucket[5m])))"],
        vec!["instant", "--time=1700000000", "demo_num_cpus[1m]"],
        vec!["range", &start_flag, &end_flag, "--step=5m", "demo_num_cpus"],
        vec!["range", &start_flag, &end_flag, "--step=10m", "avg by (mode) (rate(demo_cpu_usage_seconds_total[5m]))"],
        vec!["range", &start_flag, &end_flag, "--step=1h", "demo_disk_usage_bytes"],
        vec!["series", "--match=demo_num_cpus", &start_flag, &end_flag],
        vec![
            "series",
            "--match=demo_memory_usage_bytes{type=\"free\"}",
            "--match=up",
            &start_flag,
            &end_flag,
        ],
        vec!["labels", &start_flag, &end_flag, "instance"],
        vec!["labels", &start_flag, &end_flag, "__name__"],
        vec!["labels", &start_flag, &end_flag, "mode"],
        vec!["instant", "--time=1700000000", "sum("],
    ];
    let mut failures = Vec::new();
    for c in &calls {
        let want = promtool_query(&promtool, s.prometheus.1, c);
        let got = promtool_query(&promtool, s.ours.1, c);
        if want != got {
            failures.push(format!(
                "promtool query {}:\n--- against Prometheus (exit {:?}) ---\n{}\n--- against us (exit {:?}) ---\n{}",
                c.join(" "),
                want.0,
                want.1.chars().take(1500).collect::<String>(),
                got.0,
                got.1.chars().take(1500).collect::<String>()
            ));
        } else {
            assert!(
                c.last() == Some(&"sum(") || !want.1.trim().is_empty(),
                "promtool query {} printed nothing",
                c.join(" ")
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
