//! `tsdb-cli serve` against Debian's `prometheus` (2.42) as a real client: as a remote-write sender
//! (scraping itself every second, every sample it stored must reach us bit for bit, and nothing else), and
//! as a remote-read client (a Prometheus with an empty TSDB reading our data answers range queries as a
//! Prometheus holding the same blocks locally), and as a sender over HTTPS with a bearer token.
//!
//! Needs `prometheus` and `promtool` on PATH; without them each test prints a note and passes, unless
//! `TSDB_INTEROP=require`, which makes their absence a failure. Servers listen on free ports of 127.0.0.1,
//! every wait is bounded, and every process started is killed when the test ends, passing or not.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::prom::{free_port, http_get, tool, Server};
use common::*;

const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// `prometheus` and `promtool`, or `None` (with a note) when missing; a panic under `TSDB_INTEROP=require`.
fn prometheus(test: &str) -> Option<(PathBuf, PathBuf)> {
    Some((tool(test, "prometheus")?, tool(test, "promtool")?))
}

fn start_serve(root: &Path, data: &Path, port: u16) -> Server {
    common::prom::start_serve(root, data, port, &["--sync", "always"])
}

fn start_prometheus(
    bin: &Path,
    root: &Path,
    name: &str,
    config: &str,
    data: &Path,
    port: u16,
) -> Server {
    let cfg = root.join(format!("{name}.yml"));
    std::fs::write(&cfg, config).expect("write config");
    let mut g = Server::start(
        "prometheus",
        Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=100y"),
        root.join(format!("{name}.log")),
    );
    g.wait_ready(port, "/-/ready", READY_TIMEOUT);
    g
}

fn dump_lines(s: &str) -> BTreeSet<String> {
    s.lines().map(str::to_owned).collect()
}

fn timestamp(line: &str) -> i64 {
    line.rsplit(' ')
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or(i64::MIN)
}

#[test]
fn prometheus_remote_write_reaches_serve_bit_for_bit() {
    let Some((prom, pt)) = prometheus("prometheus_remote_write_reaches_serve_bit_for_bit") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ours = root.join("ours");
    let (sport, pport) = (free_port(), free_port());
    let mut serve = start_serve(root, &ours, sport);
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{pport}']\n\
         remote_write:\n  - url: http://127.0.0.1:{sport}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n"
    );
    let pdata = root.join("prom-data");
    let mut p = start_prometheus(&prom, root, "sender", &config, &pdata, pport);
    std::thread::sleep(Duration::from_secs(32));
    assert_eq!(p.terminate(), Some(0), "{}", p.log_tail());
    assert_eq!(serve.terminate(), Some(0), "{}", serve.log_tail());

    let theirs = dump_lines(&run_promtool(
        &pt,
        ["tsdb", "dump", pdata.to_str().unwrap()],
    ));
    let mine = dump_lines(&ok(["dump", "-d", ours.to_str().unwrap()]));
    assert!(
        theirs.len() > 1000,
        "prometheus stored only {} samples",
        theirs.len()
    );
    let last = theirs.iter().map(|l| timestamp(l)).max().unwrap();
    let missing: Vec<&String> = theirs
        .iter()
        .filter(|l| timestamp(l) <= last - 10_000 && !mine.contains(*l))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} samples of prometheus missing from ours, first {:?}",
        missing.len(),
        theirs.len(),
        missing.first()
    );
    let extra: Vec<&String> = mine.difference(&theirs).collect();
    assert!(
        extra.is_empty(),
        "{} samples we hold that prometheus does not, first {:?}",
        extra.len(),
        extra.first()
    );
}

#[test]
fn prometheus_remote_writes_to_serve_over_https_with_a_bearer_token() {
    let Some((prom, pt)) =
        prometheus("prometheus_remote_writes_to_serve_over_https_with_a_bearer_token")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let (cert, key, token) = (
        root.join("cert.pem"),
        root.join("key.pem"),
        root.join("token"),
    );
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    std::fs::write(&token, "tls-interop-token\n").unwrap();
    let ours = root.join("ours");
    let (sport, pport) = (free_port(), free_port());
    let mut serve = Server::start(
        "tsdb-cli serve",
        Command::new(env!("CARGO_BIN_EXE_tsdb-cli")).args([
            "serve",
            "--data-dir",
            ours.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{sport}"),
            "--tls-cert-file",
            cert.to_str().unwrap(),
            "--tls-key-file",
            key.to_str().unwrap(),
            "--auth-token-file",
            token.to_str().unwrap(),
        ]),
        root.join("serve.log"),
    );
    serve.wait_for_log(&format!("serving https://127.0.0.1:{sport}"), READY_TIMEOUT);
    let config = format!(
        "global:\n  scrape_interval: 1s\n\
         scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{pport}']\n\
         remote_write:\n  - url: https://127.0.0.1:{sport}/api/v1/write\n    authorization:\n      credentials_file: {}\n    tls_config:\n      ca_file: {}\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n",
        token.display(),
        cert.display()
    );
    let pdata = root.join("prom-data");
    let mut p = start_prometheus(&prom, root, "tls-sender", &config, &pdata, pport);
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(p.terminate(), Some(0), "{}", p.log_tail());
    assert_eq!(serve.terminate(), Some(0), "{}", serve.log_tail());

    let theirs = dump_lines(&run_promtool(
        &pt,
        ["tsdb", "dump", pdata.to_str().unwrap()],
    ));
    let mine = dump_lines(&ok(["dump", "-d", ours.to_str().unwrap()]));
    let up = mine
        .iter()
        .filter(|l| l.starts_with("{__name__=\"up\""))
        .count();
    assert!(
        up >= 3 && mine.len() > 500,
        "only {} samples ({up} of up) arrived over HTTPS\n{}\n{}",
        mine.len(),
        p.log_tail(),
        serve.log_tail()
    );
    let extra: Vec<&String> = mine.difference(&theirs).collect();
    assert!(
        extra.is_empty(),
        "{} samples not in prometheus, first {:?}",
        extra.len(),
        extra.first()
    );
}

#[test]
fn prometheus_remote_read_from_serve_matches_local_data() {
    let Some((prom, pt)) = prometheus("prometheus_remote_read_from_serve_matches_local_data")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ours = root.join("ours");
    copy_blocks(&testdata("block/promtool"), &ours);
    let local = root.join("local");
    copy_blocks(&testdata("block/promtool"), &local);
    let (sport, rport, lport) = (free_port(), free_port(), free_port());
    let _serve = start_serve(root, &ours, sport);
    let reader_cfg = format!(
        "global: {{}}\nscrape_configs: []\nremote_read:\n  - url: http://127.0.0.1:{sport}/api/v1/read\n    read_recent: true\n"
    );
    let _reader = start_prometheus(
        &prom,
        root,
        "reader",
        &reader_cfg,
        &root.join("empty"),
        rport,
    );
    let _local = start_prometheus(
        &prom,
        root,
        "local",
        "global: {}\nscrape_configs: []\n",
        &local,
        lport,
    );
    let queries = [
        "http_requests_total",
        "node_cpu_seconds_total{mode!=\"idle\"}",
        "db_query_duration_seconds{quantile=~\"0.5|0.9\"}",
        "rate(http_requests_total[5m])",
        "sum by (job) (rate(node_cpu_seconds_total[2m]))",
        "sparse_events",
    ];
    for q in queries {
        let args = |port: u16| {
            vec![
                "query".to_owned(),
                "range".to_owned(),
                "--start=1700003000".to_owned(),
                "--end=1700006700".to_owned(),
                "--step=60s".to_owned(),
                format!("http://127.0.0.1:{port}"),
                q.to_owned(),
            ]
        };
        let remote = run_promtool(&pt, args(rport));
        let reference = run_promtool(&pt, args(lport));
        assert!(!reference.trim().is_empty(), "{q}: no data locally");
        assert_eq!(
            remote, reference,
            "{q}: remote read differs from local data"
        );
    }

    // The metadata API: our answers and the local Prometheus's, the same JSON once arrays are sorted.
    let paths = [
        "/api/v1/labels",
        "/api/v1/labels?match[]=http_requests_total",
        "/api/v1/label/job/values",
        "/api/v1/label/__name__/values",
        "/api/v1/label/instance/values?match[]=%7Bjob%3D%22db%22%7D",
        "/api/v1/series?match[]=http_requests_total&match[]=%7Bjob%3D%22db%22%7D",
        "/api/v1/series?match[]=node_memory_free_bytes&start=1700003000&end=1700006700",
        "/api/v1/series",
        "/api/v1/series?match[]=%7B",
    ];
    for path in paths {
        let get = |port| {
            let (code, body) = http_get(port, path).unwrap();
            let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
                panic!("{path}: not JSON ({e}): {}", String::from_utf8_lossy(&body))
            });
            if let Some(a) = v.get_mut("data").and_then(|d| d.as_array_mut()) {
                a.sort_by_key(|x| x.to_string());
            }
            if let Some(o) = v.as_object_mut() {
                // The wording of an error is Prometheus's own; its type and status are compared.
                o.remove("error");
            }
            (code, v)
        };
        let (ours, theirs) = (get(sport), get(lport));
        assert_eq!(ours, theirs, "{path}: ours differ from Prometheus's");
    }
    for args in [
        vec!["query", "labels", "URL", "job"],
        vec!["query", "series", "--match=http_requests_total", "URL"],
    ] {
        let with = |port: u16| {
            let a: Vec<String> = args
                .iter()
                .map(|x| {
                    if *x == "URL" {
                        format!("http://127.0.0.1:{port}")
                    } else {
                        x.to_string()
                    }
                })
                .collect();
            run_promtool(&pt, a)
        };
        assert_eq!(
            sorted_lines(&with(sport)),
            sorted_lines(&with(lport)),
            "promtool {args:?}"
        );
    }
}

/// The OpenTelemetry Python SDK (PyPI `opentelemetry-sdk`, `opentelemetry-exporter-otlp-proto-http`), or
/// `None` with a note; a panic under `TSDB_INTEROP=require`.
fn python_otel(test: &str) -> Option<()> {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.sdk.metrics, opentelemetry.exporter.otlp.proto.http.metric_exporter",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(());
    }
    if std::env::var("TSDB_INTEROP").as_deref() == Ok("require") {
        panic!("{test}: the OpenTelemetry Python SDK is missing and TSDB_INTEROP=require (pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http)");
    }
    eprintln!("{test}: skipped, the OpenTelemetry Python SDK is missing (set TSDB_INTEROP=require to fail instead)");
    None
}

const OTEL_SCRIPT: &str = r#"
import sys
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

exporter = OTLPMetricExporter(endpoint=sys.argv[1])
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3600000)
resource = Resource.create({"service.name": "shop", "service.namespace": "prod",
                            "service.instance.id": "i-1", "host.name": "box"})
provider = MeterProvider(resource=resource, metric_readers=[reader])
meter = provider.get_meter("interop")
counter = meter.create_counter("http.requests", unit="{request}")
counter.add(3, {"http.method": "GET"})
counter.add(2, {"http.method": "POST"})
gauge = meter.create_gauge("room.temperature", unit="Cel")
gauge.set(21.5, {"room": "kitchen"})
hist = meter.create_histogram("request.duration", unit="ms")
for v in (3, 7, 120):
    hist.record(v, {"route": "/a"})
provider.force_flush()
provider.shutdown()
"#;

#[test]
fn opentelemetry_python_sdk_exports_to_serve() {
    let test = "opentelemetry_python_sdk_exports_to_serve";
    if python_otel(test).is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let ours = root.join("ours");
    let port = free_port();
    let mut serve = start_serve(root, &ours, port);
    let script = root.join("export.py");
    std::fs::write(&script, OTEL_SCRIPT).unwrap();
    let o = Command::new("python3")
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}/api/v1/otlp/v1/metrics"))
        .output()
        .expect("run python3");
    assert!(
        o.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(serve.terminate(), Some(0), "{}", serve.log_tail());
    let dump = ok(["dump", "-d", ours.to_str().unwrap()]);
    let series: BTreeSet<String> = dump
        .lines()
        .map(|l| {
            let end = l.rfind('}').map_or(l.len(), |i| i + 1);
            let (labels, value) = (&l[..end], l[end..].split_whitespace().next().unwrap_or(""));
            format!("{labels} {value}")
        })
        .collect();
    let job = r#"instance="i-1", job="prod/shop""#;
    let want = [
        format!(r#"{{__name__="http_requests_total", http_method="GET", {job}}} 3"#),
        format!(r#"{{__name__="http_requests_total", http_method="POST", {job}}} 2"#),
        format!(r#"{{__name__="room_temperature_celsius", {job}, room="kitchen"}} 21.5"#),
        format!(
            r#"{{__name__="request_duration_milliseconds_bucket", {job}, le="5", route="/a"}} 1"#
        ),
        format!(
            r#"{{__name__="request_duration_milliseconds_bucket", {job}, le="10", route="/a"}} 2"#
        ),
        format!(
            r#"{{__name__="request_duration_milliseconds_bucket", {job}, le="+Inf", route="/a"}} 3"#
        ),
        format!(r#"{{__name__="request_duration_milliseconds_count", {job}, route="/a"}} 3"#),
        format!(r#"{{__name__="request_duration_milliseconds_sum", {job}, route="/a"}} 130"#),
    ];
    for w in &want {
        assert!(series.contains(w), "missing {w}\nhave:\n{dump}");
    }
    assert!(
        series
            .iter()
            .any(|s| s.starts_with(r#"{__name__="target_info", host_name="box", "#)),
        "no target_info:\n{dump}"
    );
}
