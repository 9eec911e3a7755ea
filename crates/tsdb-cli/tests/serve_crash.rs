//! Crash: `tsdb-cli serve --sync always` is SIGKILLed while a sender pushes remote write requests; opened
//! again, the database holds every sample of every request that got a 2xx.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tsdb_labels::parse_selector;
use tsdb_remote::v1::{Label, Sample, TimeSeries, WriteRequest};
use tsdb_remote::{snappy, Message};

const T0: i64 = 1_700_000_000_000;
const SERIES: usize = 5;
const PER_REQUEST: i64 = 20;

fn request(w: i64, i: i64) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: (0..SERIES)
            .map(|s| TimeSeries {
                labels: vec![
                    Label::new("__name__", "crash_test"),
                    Label::new("shard", s.to_string()),
                    Label::new("worker", w.to_string()),
                ],
                samples: (0..PER_REQUEST)
                    .map(|k| Sample {
                        value: (i * 1000 + k) as f64,
                        timestamp: T0 + i * PER_REQUEST + k,
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
    };
    snappy::compress(&req.encode_to_vec())
}

/// POSTs one request; its status, or an error when the connection broke.
fn post(port: u16, body: &[u8]) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "POST /api/v1/write HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n\
         Content-Encoding: snappy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let line = String::from_utf8_lossy(&resp);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))
}

#[test]
fn every_acknowledged_request_survives_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("db");
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_tsdb-cli"))
        .args(["serve", "-d", data.to_str().unwrap(), "--sync", "always"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "serve did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = &mut child;
    let guard = Kill(child);
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..2i64)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                // Each worker writes its own series (label worker), in time order, as a shard does.
                let mut acked = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) && i < 100_000 {
                    match post(port, &request(w, i)) {
                        Ok(204) => acked.push((w, i)),
                        Ok(code) => panic!("request {i}: status {code}"),
                        Err(_) => break,
                    }
                    i += 1;
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    drop(guard); // SIGKILL while requests are in flight
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(i64, i64)> = senders
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert!(
        acked.len() > 10,
        "only {} requests acknowledged",
        acked.len()
    );

    let db = tsdb::Db::open(
        &data,
        tsdb::Options {
            background: false,
            ..Default::default()
        },
    )
    .unwrap();
    let q = db.querier(i64::MIN, i64::MAX);
    let stored = q
        .select_all(&parse_selector("crash_test").unwrap())
        .unwrap();
    assert_eq!(stored.len(), 2 * SERIES);
    for s in &stored {
        let have: std::collections::HashMap<i64, f64> = s.samples.iter().copied().collect();
        let w: i64 = s.labels.get("worker").unwrap().parse().unwrap();
        for &(_, i) in acked.iter().filter(|a| a.0 == w) {
            for k in 0..PER_REQUEST {
                assert_eq!(
                    have.get(&(T0 + i * PER_REQUEST + k)),
                    Some(&((i * 1000 + k) as f64)),
                    "{}: acknowledged request {i} sample {k} lost",
                    s.labels
                );
            }
        }
    }
    drop(q);
    db.close().unwrap();
}
