//! The server over real HTTP on 127.0.0.1 (port 0): requests sent with hyper's client, results checked
//! through the `Db`.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tsdb::{Db, Options};
use tsdb_labels::{parse_selector, Labels};
use tsdb_remote::read::{
    ChunkedReadResponse, LabelMatcher, MatchType, Query, ReadRequest, ReadResponse,
};
use tsdb_remote::v1::{Label, Sample, TimeSeries, WriteRequest};
use tsdb_remote::{frame, snappy, v2, Message};
use tsdb_server::{Config, Server};

const STALE: u64 = 0x7ff0000000000002;
const T0: i64 = 1_700_000_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    db: Arc<Db>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Fixture {
    async fn start(cfg: Config) -> Fixture {
        Fixture::start_with(cfg, Options::default()).await
    }

    async fn start_with(cfg: Config, opts: Options) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            background: false,
            ..opts
        };
        let db = Arc::new(Db::open(dir.path(), opts).unwrap());
        let server = Server::bind(db.clone(), "127.0.0.1:0".parse().unwrap(), cfg)
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Fixture {
            _dir: dir,
            db,
            addr,
            stop: Some(tx),
            task: Some(task),
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, hyper::HeaderMap, Vec<u8>) {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = tx
            .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, h, body)
    }

    async fn write_v1(&self, req: &WriteRequest) -> (u16, String) {
        let (code, _, body) = self
            .send(
                "POST",
                "/api/v1/write",
                &[
                    ("content-type", "application/x-protobuf"),
                    ("content-encoding", "snappy"),
                    ("x-prometheus-remote-write-version", "0.1.0"),
                ],
                snappy::compress(&req.encode_to_vec()),
            )
            .await;
        (code, String::from_utf8_lossy(&body).into_owned())
    }

    fn stored(&self, sel: &str) -> Vec<(Labels, Vec<(i64, u64)>)> {
        let q = self.db.querier(i64::MIN, i64::MAX);
        q.select_all(&parse_selector(sel).unwrap())
            .unwrap()
            .into_iter()
            .map(|s| {
                (
                    s.labels,
                    s.samples.iter().map(|&(t, v)| (t, v.to_bits())).collect(),
                )
            })
            .collect()
    }
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels.iter().map(|(n, v)| Label::new(*n, *v)).collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
        ..Default::default()
    }
}

fn batch() -> WriteRequest {
    WriteRequest {
        timeseries: vec![
            series(
                &[("__name__", "up"), ("job", "a")],
                &[
                    (T0, 1.0),
                    (T0 + 1000, 0.0),
                    (T0 + 2000, f64::from_bits(STALE)),
                ],
            ),
            series(
                &[("__name__", "temp"), ("room", "k")],
                &[(T0, 20.5), (T0 + 1000, 21.0)],
            ),
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_forwards_to_another_and_reports_it_in_metrics() {
    let b = Fixture::start(Config::default()).await;
    let url = format!("http://{}/api/v1/write", b.addr);
    let a = Fixture::start_with(
        Config::default(),
        Options {
            forward: vec![tsdb::Destination::new(url.clone())],
            ..Options::default()
        },
    )
    .await;
    assert_eq!(a.write_v1(&batch()).await, (204, String::new()));
    let t0 = std::time::Instant::now();
    while b
        .stored("{__name__=~\".+\"}")
        .iter()
        .map(|s| s.1.len())
        .sum::<usize>()
        < 5
    {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "not forwarded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        b.stored("{__name__=~\".+\"}"),
        a.stored("{__name__=~\".+\"}"),
        "bit for bit, stale marker included"
    );
    let (code, _, body) = a.send("GET", "/metrics", &[], vec![]).await;
    assert_eq!(code, 200);
    let text = String::from_utf8(body).unwrap();
    for line in [
        format!("tsdb_forward_samples_total{{url=\"{url}\"}} 5\n"),
        format!("tsdb_forward_samples_failed_total{{url=\"{url}\"}} 0\n"),
        format!(
            "tsdb_forward_queue_highest_sent_timestamp_seconds{{url=\"{url}\"}} {}\n",
            (T0 + 2000) as f64 / 1000.0
        ),
    ] {
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    // Shards start at 4 and shrink towards 1 once caught up (autoscaling): any of those.
    let shards = format!("tsdb_forward_shards{{url=\"{url}\"}} ");
    let n: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(shards.as_str()))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{shards} in\n{text}"));
    assert!((1..=4).contains(&n), "{n} shards");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_v1_stores_bit_exact_and_retries_are_idempotent() {
    let f = Fixture::start(Config::default()).await;
    assert_eq!(f.write_v1(&batch()).await, (204, String::new()));
    let up = f.stored("up");
    assert_eq!(up.len(), 1);
    assert_eq!(
        up[0].1,
        vec![(T0, 1f64.to_bits()), (T0 + 1000, 0), (T0 + 2000, STALE)]
    );
    // The sender retries the same batch (its first answer was lost): accepted, nothing stored twice.
    assert_eq!(f.write_v1(&batch()).await, (204, String::new()));
    assert_eq!(f.stored("up"), up);
    assert_eq!(f.stored("temp")[0].1.len(), 2);
    f.stop().await;
}

/// The 1.0 fast path (series found by the hash of their raw label pairs): a label with an empty value
/// names the same series as without it, a series' later requests and retries land on it, and a bad name
/// is reported with its place while the rest is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_v1_fast_path_finds_the_same_series() {
    let f = Fixture::start(Config::default()).await;
    assert_eq!(f.write_v1(&batch()).await.0, 204);
    let next = WriteRequest {
        timeseries: vec![
            series(
                &[("__name__", "up"), ("job", "a"), ("zone", "")],
                &[(T0 + 3000, 3.0), (T0 + 4000, 4.0)],
            ),
            series(&[("__name__", "temp"), ("room", "k")], &[(T0 + 2000, 22.0)]),
        ],
    };
    assert_eq!(f.write_v1(&next).await, (204, String::new()));
    // A retry of both requests, whole: accepted, nothing stored twice.
    assert_eq!(f.write_v1(&next).await, (204, String::new()));
    assert_eq!(f.write_v1(&batch()).await, (204, String::new()));
    let up = f.stored("up");
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(
        up[0].1,
        vec![
            (T0, 1f64.to_bits()),
            (T0 + 1000, 0),
            (T0 + 2000, STALE),
            (T0 + 3000, 3f64.to_bits()),
            (T0 + 4000, 4f64.to_bits())
        ]
    );
    assert_eq!(f.stored("temp")[0].1.len(), 3);
    let bad = WriteRequest {
        timeseries: vec![
            series(&[("__name__", "temp"), ("room", "k")], &[(T0 + 3000, 23.0)]),
            series(
                &[("0bad", "x"), ("__name__", "up")],
                &[(T0, 1.0), (T0 + 1, 1.0)],
            ),
        ],
    };
    let (code, body) = f.write_v1(&bad).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("2 of 3 samples rejected"), "{body}");
    assert!(
        body.contains("timeseries[1]") && body.contains("0bad"),
        "{body}"
    );
    assert_eq!(f.stored("temp")[0].1.len(), 4);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_samples_get_400_while_valid_ones_are_stored() {
    let f = Fixture::start(Config::default()).await;
    assert_eq!(f.write_v1(&batch()).await.0, 204);
    let mut req = WriteRequest {
        timeseries: vec![
            // Another value at a stored timestamp, and an older sample never stored.
            series(
                &[("__name__", "up"), ("job", "a")],
                &[(T0 + 1000, 5.0), (T0 - 10, 1.0)],
            ),
            series(&[("__name__", "new"), ("x", "y")], &[(T0, 7.0)]),
            // Unsorted labels, an empty name: rejected whole.
            series(&[("job", "b"), ("__name__", "up")], &[(T0, 1.0)]),
            series(&[("", "v"), ("__name__", "up")], &[(T0, 1.0)]),
        ],
    };
    let (code, body) = f.write_v1(&req).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("4 of 5 samples rejected"), "{body}");
    assert!(
        body.contains("timeseries[2]") && body.contains("not sorted"),
        "{body}"
    );
    assert!(
        body.contains("timeseries[3]") && body.contains("empty label name"),
        "{body}"
    );
    assert!(body.contains("duplicate sample"), "{body}");
    assert_eq!(f.stored("new")[0].1, vec![(T0, 7f64.to_bits())]);
    assert_eq!(f.stored("up").len(), 1);
    // Only bad ones: nothing stored.
    req.timeseries.drain(0..2);
    assert_eq!(f.write_v1(&req).await.0, 400);
    assert_eq!(f.stored("up").len(), 1);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_v2_with_written_headers() {
    let f = Fixture::start(Config::default()).await;
    let req = v2::Request {
        symbols: ["", "__name__", "up", "job", "v2"]
            .map(String::from)
            .to_vec(),
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![1, 2, 3, 4],
            samples: vec![
                v2::Sample {
                    value: 1.0,
                    timestamp: T0,
                    start_timestamp: 0,
                },
                v2::Sample {
                    value: f64::from_bits(STALE),
                    timestamp: T0 + 1,
                    start_timestamp: 0,
                },
            ],
            ..Default::default()
        }],
    };
    let body = snappy::compress(&req.encode_to_vec());
    let ct = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
    let h = [("content-type", ct), ("content-encoding", "snappy")];
    let (code, headers, _) = f.send("POST", "/api/v1/write", &h, body.clone()).await;
    assert_eq!(code, 204);
    assert_eq!(headers["x-prometheus-remote-write-samples-written"], "2");
    assert_eq!(headers["x-prometheus-remote-write-histograms-written"], "0");
    assert_eq!(headers["x-prometheus-remote-write-exemplars-written"], "0");
    assert_eq!(
        f.stored(r#"up{job="v2"}"#)[0].1,
        vec![(T0, 1f64.to_bits()), (T0 + 1, STALE)]
    );
    // The same 2.0 body sent as 1.0: refused, nothing stored.
    let (code, _, msg) = f
        .send(
            "POST",
            "/api/v1/write",
            &[("content-type", "application/x-protobuf")],
            body,
        )
        .await;
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&msg));
    // A reference outside the symbols table.
    let mut bad = req.clone();
    bad.timeseries[0].labels_refs = vec![1, 99];
    let (code, _, _) = f
        .send(
            "POST",
            "/api/v1/write",
            &h,
            snappy::compress(&bad.encode_to_vec()),
        )
        .await;
    assert_eq!(code, 400);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_and_store_nothing() {
    let cfg = Config {
        max_body_bytes: 64 * 1024,
        max_decoded_bytes: 1 << 20,
        ..Config::default()
    };
    let f = Fixture::start(cfg).await;
    let pb = [
        ("content-type", "application/x-protobuf"),
        ("content-encoding", "snappy"),
    ];
    // Garbage.
    let (code, _, _) = f
        .send("POST", "/api/v1/write", &pb, b"\x00\x01garbage".to_vec())
        .await;
    assert_eq!(code, 400);
    let (code, _, _) = f
        .send(
            "POST",
            "/api/v1/write",
            &pb,
            snappy::compress(b"\x0a\x05\x00"),
        )
        .await;
    assert_eq!(code, 400);
    // Wrong content type, wrong encoding.
    let good = snappy::compress(&batch().encode_to_vec());
    let (code, _, _) = f
        .send(
            "POST",
            "/api/v1/write",
            &[("content-type", "application/json")],
            good.clone(),
        )
        .await;
    assert_eq!(code, 415);
    let (code, _, _) = f
        .send(
            "POST",
            "/api/v1/write",
            &[
                ("content-type", "application/x-protobuf"),
                ("content-encoding", "gzip"),
            ],
            good,
        )
        .await;
    assert_eq!(code, 415);
    // A snappy header declaring 4 GiB.
    let (code, _, _) = f
        .send(
            "POST",
            "/api/v1/write",
            &pb,
            vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0],
        )
        .await;
    assert_eq!(code, 413);
    // Over the body limit.
    let (code, _, _) = f
        .send("POST", "/api/v1/write", &pb, vec![0u8; 100 * 1024])
        .await;
    assert_eq!(code, 413);
    assert!(f.stored(r#"{__name__=~".+"}"#).is_empty());
    // The server is still there.
    let (code, _, body) = f.send("GET", "/-/healthy", &[], vec![]).await;
    assert_eq!((code, &body[..]), (200, &b"tsdb-server is Healthy.\n"[..]));
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_is_required() {
    let cfg = Config {
        auth_token: Some("s3cret".into()),
        ..Config::default()
    };
    let f = Fixture::start(cfg).await;
    let body = snappy::compress(&batch().encode_to_vec());
    let (code, _, _) = f.send("POST", "/api/v1/write", &[], body.clone()).await;
    assert_eq!(code, 401);
    let (code, _, _) = f
        .send(
            "POST",
            "/api/v1/write",
            &[("authorization", "Bearer nope")],
            body.clone(),
        )
        .await;
    assert_eq!(code, 403);
    assert!(f.stored("up").is_empty());
    assert_eq!(f.send("GET", "/-/ready", &[], vec![]).await.0, 200);
    assert_eq!(f.send("GET", "/api/v1/labels", &[], vec![]).await.0, 401);
    let (code, _, _) = f
        .send(
            "POST",
            "/api/v1/write",
            &[("authorization", "Bearer s3cret")],
            body,
        )
        .await;
    assert_eq!(code, 204);
    f.stop().await;
}

fn read_request(types: Vec<i32>) -> Vec<u8> {
    let req = ReadRequest {
        queries: vec![
            Query {
                start_timestamp_ms: T0,
                end_timestamp_ms: T0 + 1000,
                matchers: vec![LabelMatcher {
                    r#type: MatchType::Re as i32,
                    name: "__name__".into(),
                    value: "up|temp".into(),
                }],
            },
            Query {
                start_timestamp_ms: 0,
                end_timestamp_ms: i64::MAX,
                matchers: vec![
                    LabelMatcher {
                        r#type: MatchType::Eq as i32,
                        name: "__name__".into(),
                        value: "up".into(),
                    },
                    LabelMatcher {
                        r#type: MatchType::Nre as i32,
                        name: "job".into(),
                        value: "b".into(),
                    },
                ],
            },
        ],
        accepted_response_types: types,
    };
    snappy::compress(&req.encode_to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_read_samples_and_streamed_chunks() {
    let f = Fixture::start(Config::default()).await;
    assert_eq!(f.write_v1(&batch()).await.0, 204);
    let h = [
        ("content-type", "application/x-protobuf"),
        ("content-encoding", "snappy"),
    ];
    let (code, headers, body) = f
        .send("POST", "/api/v1/read", &h, read_request(vec![0]))
        .await;
    assert_eq!(code, 200);
    assert_eq!(headers["content-encoding"], "snappy");
    let resp = ReadResponse::decode(&snappy::decompress(&body, 1 << 20).unwrap()[..]).unwrap();
    assert_eq!(resp.results.len(), 2);
    let names: Vec<&str> = resp.results[0]
        .timeseries
        .iter()
        .map(|t| t.labels[0].value.as_str())
        .collect();
    assert_eq!(names, ["temp", "up"]);
    assert_eq!(resp.results[0].timeseries[1].samples.len(), 2);
    let up = &resp.results[1].timeseries[0];
    assert_eq!(up.samples[2].value.to_bits(), STALE);

    let (code, headers, body) = f
        .send("POST", "/api/v1/read", &h, read_request(vec![1, 0]))
        .await;
    assert_eq!(code, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/x-streamed-protobuf"));
    let frames = frame::read_frames(&body, 1 << 24).unwrap();
    assert_eq!(frames.len(), 3);
    let last = ChunkedReadResponse::decode(frames[2]).unwrap();
    assert_eq!(last.query_index, 1);
    let c = &last.chunked_series[0].chunks[0];
    assert_eq!((c.min_time_ms, c.max_time_ms), (T0, T0 + 2000));
    let chunk = tsdb_chunks::XorChunk::from_bytes(&c.data).unwrap();
    let got: Vec<(i64, u64)> = chunk
        .iter()
        .map(|x| {
            let (t, v) = x.unwrap();
            (t, v.to_bits())
        })
        .collect();
    assert_eq!(got, f.stored("up")[0].1);
    // A bad regular expression.
    let bad = ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: 0,
            end_timestamp_ms: 1,
            matchers: vec![LabelMatcher {
                r#type: 2,
                name: "a".into(),
                value: "(".into(),
            }],
        }],
        accepted_response_types: vec![],
    };
    let (code, _, _) = f
        .send(
            "POST",
            "/api/v1/read",
            &h,
            snappy::compress(&bad.encode_to_vec()),
        )
        .await;
    assert_eq!(code, 400);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_api_metrics_and_health() {
    let f = Fixture::start(Config::default()).await;
    assert_eq!(f.write_v1(&batch()).await.0, 204);
    let json = |b: Vec<u8>| serde_json::from_slice::<serde_json::Value>(&b).unwrap();
    let (code, _, b) = f.send("GET", "/api/v1/labels", &[], vec![]).await;
    assert_eq!(code, 200);
    assert_eq!(
        json(b),
        serde_json::json!({"status":"success","data":["__name__","job","room"]})
    );
    let (_, _, b) = f
        .send("GET", "/api/v1/labels?match%5B%5D=up", &[], vec![])
        .await;
    assert_eq!(json(b)["data"], serde_json::json!(["__name__", "job"]));
    let (_, _, b) = f
        .send("GET", "/api/v1/label/__name__/values", &[], vec![])
        .await;
    assert_eq!(json(b)["data"], serde_json::json!(["temp", "up"]));
    let (_, _, b) = f
        .send(
            "GET",
            "/api/v1/label/job/values?match[]=%7Broom%3D%22k%22%7D",
            &[],
            vec![],
        )
        .await;
    assert_eq!(json(b)["data"], serde_json::json!([]));
    let (_, _, b) = f
        .send(
            "POST",
            "/api/v1/series",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"match[]=up&match[]=temp&start=1700000000&end=1700000001.5".to_vec(),
        )
        .await;
    assert_eq!(
        json(b)["data"],
        serde_json::json!([{"__name__":"temp","room":"k"},{"__name__":"up","job":"a"}])
    );
    let (code, _, b) = f.send("GET", "/api/v1/series", &[], vec![]).await;
    assert_eq!(code, 400);
    assert_eq!(json(b)["errorType"], "bad_data");
    let (code, _, b) = f
        .send("GET", "/api/v1/series?match[]=%7B", &[], vec![])
        .await;
    assert_eq!(
        (code, json(b)["status"].clone()),
        (400, serde_json::json!("error"))
    );
    let (code, _, b) = f.send("GET", "/metrics", &[], vec![]).await;
    assert_eq!(code, 200);
    let text = String::from_utf8(b).unwrap();
    assert!(
        text.contains("tsdb_remote_write_samples_written_total 5\n"),
        "{text}"
    );
    assert!(text.contains("tsdb_head_series 2\n"), "{text}");
    assert!(
        text.contains(r#"tsdb_http_requests_total{code="204",handler="/api/v1/write"} 1"#),
        "{text}"
    );
    assert_eq!(f.send("GET", "/-/ready", &[], vec![]).await.0, 200);
    let (code, _, b) = f
        .send("GET", "/api/v1/status/tsdb?limit=1", &[], vec![])
        .await;
    assert_eq!(code, 200);
    let v = json(b);
    assert_eq!(v["data"]["headStats"]["numSeries"], 2);
    // Two series, each with one open chunk.
    assert_eq!(v["data"]["headStats"]["chunkCount"], 2);
    assert_eq!(
        v["data"]["seriesCountByMetricName"],
        serde_json::json!([{"name": "temp", "value": 1}])
    );
    assert_eq!(
        v["data"]["labelValueCountByLabelName"][0]["name"],
        "__name__"
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_import_reports_bad_lines_and_stores_the_rest() {
    let f = Fixture::start(Config::default()).await;
    let body =
        b"# TYPE a gauge\na{x=\"1\"} 1 1700000000000\nbad line here\na{x=\"1\"} 2 1700000001000\n"
            .to_vec();
    let (code, _, msg) = f
        .send("POST", "/api/v1/import/prometheus", &[], body.clone())
        .await;
    let msg = String::from_utf8(msg).unwrap();
    assert_eq!(code, 400, "{msg}");
    assert!(msg.contains("line 3:"), "{msg}");
    assert_eq!(
        f.stored("a")[0].1,
        vec![(T0, 1f64.to_bits()), (T0 + 1000, 2f64.to_bits())]
    );
    // Resent: the same bad line, nothing stored twice.
    let (code, _, msg) = f.send("POST", "/api/v1/import/prometheus", &[], body).await;
    assert!(String::from_utf8(msg)
        .unwrap()
        .starts_with("1 of 3 samples rejected (0 stored, 2 already stored)"));
    assert_eq!(code, 400);
    let (code, _, _) = f
        .send(
            "POST",
            "/api/v1/import/prometheus?format=influx",
            &[],
            b"weather,city=x temp=1.5 1700000002000000000\n".to_vec(),
        )
        .await;
    assert_eq!(code, 204);
    assert_eq!(
        f.stored("weather_temp")[0].1,
        vec![(T0 + 2000, 1.5f64.to_bits())]
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_api_answers_and_fails_as_prometheus_does() {
    let f = Fixture::start(Config {
        max_query_samples: 3,
        ..Config::default()
    })
    .await;
    assert_eq!(f.write_v1(&batch()).await.0, 204);
    let json = |b: Vec<u8>| serde_json::from_slice::<serde_json::Value>(&b).unwrap();
    let get = |q: &str| format!("/api/v1/query?{q}");

    let (code, h, b) = f
        .send("GET", &get("query=up&time=1700000001"), &[], vec![])
        .await;
    assert_eq!(code, 200);
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(
        String::from_utf8(b).unwrap(),
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[1700000001,"0"]}]}}"#
    );
    // After the stale marker the series is gone.
    let (_, _, b) = f
        .send("GET", &get("query=up&time=1700000002.5"), &[], vec![])
        .await;
    assert_eq!(json(b)["data"]["result"], serde_json::json!([]));
    // Form POST, a range query, durations as steps.
    let (code, _, b) = f
        .send(
            "POST",
            "/api/v1/query_range",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"query=sum%28temp%29+*+2&start=1700000000&end=1700000001&step=1s".to_vec(),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        json(b)["data"],
        serde_json::json!({"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"41"],[1700000001,"42"]]}]})
    );
    let (_, _, b) = f
        .send("GET", &get("query=1%2F0&time=1.5"), &[], vec![])
        .await;
    assert_eq!(json(b)["data"]["result"], serde_json::json!([1.5, "+Inf"]));

    // Each failure with Prometheus's status and errorType.
    let cases: &[(&str, u16, &str)] = &[
        ("/api/v1/query?query=sum%28", 400, "bad_data"),
        ("/api/v1/query?query=no_such_function%28up%29", 400, "bad_data"),
        ("/api/v1/query?query=rate%28up%5B5x%5D%29", 400, "bad_data"),
        ("/api/v1/query?query=up&time=yesterday", 400, "bad_data"),
        ("/api/v1/query?query=up&timeout=soon", 400, "bad_data"),
        ("/api/v1/query_range?query=up&start=0&end=100&step=abc", 400, "bad_data"),
        ("/api/v1/query_range?query=up&start=0&end=11001&step=1", 400, "bad_data"),
        ("/api/v1/query_range?query=up&start=10&end=0&step=1", 400, "bad_data"),
        ("/api/v1/query_range?query=up%5B1m%5D&start=0&end=10&step=1", 400, "bad_data"),
        // Four samples of temp and up held at once, over the limit of three.
        ("/api/v1/query?query=%7B__name__%3D~%22.%2B%22%7D%5B1h%5D&time=1700000002", 422, "execution"),
        ("/api/v1/query?query=up%20%2B%20on%28%29%20group_left%20%7B__name__%3D~%22.%2B%22%7D&time=1700000001", 422, "execution"),
        ("/api/v1/query?query=up&timeout=0", 503, "timeout"),
    ];
    for (path, want_code, want_type) in cases {
        let (code, h, b) = f.send("GET", path, &[], vec![]).await;
        let v = json(b);
        assert_eq!(
            (code, v["errorType"].as_str().unwrap_or("")),
            (*want_code, *want_type),
            "{path}: {v}"
        );
        assert_eq!(v["status"], "error");
        assert_eq!(h["content-type"], "application/json");
        assert!(!v["error"].as_str().unwrap_or("").is_empty(), "{path}: {v}");
    }
    let (_, _, b) = f
        .send(
            "GET",
            "/api/v1/query?query=%7B__name__%3D~%22.%2B%22%7D%5B1h%5D&time=1700000002",
            &[],
            vec![],
        )
        .await;
    assert_eq!(
        json(b)["error"],
        "query processing would load too many samples into memory in query execution"
    );
    let (_, _, b) = f
        .send(
            "GET",
            "/api/v1/query_range?query=up&start=0&end=11001&step=1",
            &[],
            vec![],
        )
        .await;
    assert_eq!(
        json(b)["error"],
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );
    let (code, _, b) = f
        .send(
            "GET",
            "/api/v1/query_exemplars?query=up&start=0&end=10",
            &[],
            vec![],
        )
        .await;
    assert_eq!(
        (code, json(b)),
        (200, serde_json::json!({"status":"success","data":[]}))
    );
    f.stop().await;
}
