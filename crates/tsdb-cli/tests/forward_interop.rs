//! Forwarding (`--forward-to`, `Options::forward`) to a real receiver: Debian's `prometheus` (2.42) with
//! `--web.enable-remote-write-receiver`. What it holds afterwards (`promtool tsdb dump`) must equal what we
//! hold (`tsdb-cli dump`), line for line, after appending the bundled inputs and a generated
//! 1,000,000-sample file (acceptance 1 of issue 18), and after the receiver was stopped (SIGSTOP) for more
//! than 20 s while we kept appending (acceptance 2), after 20 SIGKILLs of a forwarding `append`
//! (acceptance 3), and from `serve --agent`, which keeps nothing but forwards what it is sent
//! (acceptance 5).
//!
//! Needs `prometheus` and `promtool` on PATH; without them each test prints a note and passes, unless
//! `TSDB_INTEROP=require`. The receiver listens on a free port of 127.0.0.1, every wait is bounded, and it
//! is killed when the test ends, passing or not (`common::prom::Server`'s Drop).
//!
//! Prometheus refuses samples older than its head's appendable window (an hour behind its newest) as out
//! of bounds, as we do: every timestamp here is within the last half hour, and the explicit timestamps of
//! the bundled inputs (2014, 2023) are moved to now.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::prom::{free_port, http_get, http_post, start_prometheus, start_serve, tool, Server};
use common::*;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn receiver(test: &str, root: &Path) -> Option<(Server, u16, PathBuf, PathBuf)> {
    let prom = tool(test, "prometheus")?;
    let pt = tool(test, "promtool")?;
    let port = free_port();
    let data = root.join("receiver");
    let s = start_prometheus(
        &prom,
        root,
        &data,
        port,
        "global:\n  scrape_interval: 1h\n",
        &["--web.enable-remote-write-receiver"],
    );
    Some((s, port, data, pt))
}

fn signal(s: &Server, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &s.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(st.success(), "kill {sig}");
}

/// The bundled inputs with their explicit timestamps moved to the last minute (see the module's note).
fn bundled_inputs_now(root: &Path) -> Vec<PathBuf> {
    let now = now_ms();
    let (ms, s) = (now - 60_000, (now - 60_000) / 1000);
    let read = |n: &str| std::fs::read_to_string(testdata(&format!("input/{n}"))).unwrap();
    let prom = read("prometheus.prom")
        .replace("1395066363000", &ms.to_string())
        .replace("-3982045", &(ms - 1000).to_string());
    let om = read("openmetrics.om")
        .replace(" -0.001", &format!(" {}.002", s - 5))
        .replace("1700000000", &s.to_string());
    let influx = read("influx.lp").replace("1700000000", &s.to_string());
    let mut out = Vec::new();
    for (name, text) in [
        ("prometheus.prom", prom),
        ("openmetrics.om", om),
        ("influx.lp", influx),
    ] {
        let p = root.join(name);
        std::fs::write(&p, text).unwrap();
        out.push(p);
    }
    out
}

fn compare_dumps(pt: &Path, receiver: &Path, ours: &Path) -> usize {
    let theirs = run_promtool(pt, ["tsdb", "dump", receiver.to_str().unwrap()]);
    let mine = ok(["dump", "-d", ours.to_str().unwrap()]);
    let (theirs, mine) = (sorted_lines(&theirs), sorted_lines(&mine));
    if theirs != mine {
        let missing: Vec<&&str> = mine
            .iter()
            .filter(|l| theirs.binary_search(l).is_err())
            .take(3)
            .collect();
        let extra: Vec<&&str> = theirs
            .iter()
            .filter(|l| mine.binary_search(l).is_err())
            .take(3)
            .collect();
        panic!(
            "receiver holds {} lines, we hold {}; first missing at the receiver {missing:?}, first extra {extra:?}",
            theirs.len(),
            mine.len()
        );
    }
    mine.len()
}

#[test]
fn forwarded_bundled_inputs_and_a_million_samples_equal_at_the_receiver() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let Some((mut recv, port, rdata, pt)) = receiver(
        "forwarded_bundled_inputs_and_a_million_samples_equal_at_the_receiver",
        root,
    ) else {
        return;
    };
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let ours = root.join("ours");
    for input in bundled_inputs_now(root) {
        let o = cli([
            "append",
            "-d",
            ours.to_str().unwrap(),
            "--forward-to",
            &url,
            input.to_str().unwrap(),
        ]);
        assert!(
            o.status.code() == Some(0) || o.status.code() == Some(3),
            "{}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("forward to"), "{}", stderr(&o));
    }
    // 1,000 series × 1,000 samples, one second apart, ending a minute ago.
    let t0 = now_ms() - 1_060_000;
    let big = root.join("million.prom");
    std::fs::write(&big, awkward_prom_text(1000, 1000, t0, 1000)).unwrap();
    let start = Instant::now();
    let o = cli([
        "append",
        "-d",
        ours.to_str().unwrap(),
        "--forward-to",
        &url,
        big.to_str().unwrap(),
    ]);
    let took = start.elapsed();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("forward to"), "{}", stderr(&o));
    eprintln!(
        "appended and forwarded 1,000,000 samples in {took:?} ({:.0} samples/s, debug build, append included)",
        1e6 / took.as_secs_f64()
    );
    recv.terminate();
    let n = compare_dumps(&pt, &rdata, &ours);
    assert!(n > 1_000_000, "{n} lines");
    eprintln!("receiver and we hold the same {n} samples");
}

/// Appends one sample to each of `series` series at `t` through the library and commits.
fn append_tick(db: &tsdb::Db, series: &[tsdb_labels::Labels], t: i64, k: i64) {
    let mut app = db.appender();
    for (i, l) in series.iter().enumerate() {
        app.append(l, t, (k * 1000 + i as i64) as f64)
            .expect("append");
    }
    app.commit().expect("commit");
}

#[test]
fn receiver_stopped_then_killed_while_appending_gets_every_sample_once() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let Some((mut recv, port, rdata, pt)) = receiver(
        "receiver_stopped_then_killed_while_appending_gets_every_sample_once",
        root,
    ) else {
        return;
    };
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let ours = root.join("ours");
    let db = tsdb::Db::open(
        &ours,
        tsdb::Options {
            forward: vec![tsdb::Destination::new(url.clone())],
            forward_options: tsdb::ForwardOptions {
                request_timeout: Duration::from_secs(3),
                max_backoff: Duration::from_secs(1),
                ..Default::default()
            },
            forward_drain: Duration::from_secs(120),
            ..Default::default()
        },
    )
    .unwrap();
    let series: Vec<tsdb_labels::Labels> = (0..200)
        .map(|i| {
            tsdb_labels::Labels::new([("__name__", "outage_test"), ("i", &i.to_string())]).unwrap()
        })
        .collect();
    let mut k = 0i64;
    let mut tick = |db: &tsdb::Db, k: &mut i64| {
        append_tick(db, &series, now_ms(), *k);
        *k += 1;
        std::thread::sleep(Duration::from_millis(100));
    };
    let run =
        |db: &tsdb::Db, k: &mut i64, tick: &mut dyn FnMut(&tsdb::Db, &mut i64), d: Duration| {
            let s = Instant::now();
            while s.elapsed() < d {
                tick(db, k);
            }
        };
    run(&db, &mut k, &mut tick, Duration::from_secs(4));
    signal(&recv, "-STOP");
    run(&db, &mut k, &mut tick, Duration::from_secs(22));
    let during = db.forward_metrics()[0].clone();
    // Then killed outright and started again on the same directory and port.
    signal(&recv, "-CONT");
    recv.kill();
    let prom = tool("outage", "prometheus").unwrap();
    run(&db, &mut k, &mut tick, Duration::from_secs(3));
    let mut recv = start_prometheus(
        &prom,
        root,
        &rdata,
        port,
        "global:\n  scrape_interval: 1h\n",
        &["--web.enable-remote-write-receiver"],
    );
    run(&db, &mut k, &mut tick, Duration::from_secs(4));
    let before_close = db.forward_metrics()[0].clone();
    db.close().unwrap();
    recv.terminate();
    let n = compare_dumps(&pt, &rdata, &ours);
    assert_eq!(n as i64, k * 200);
    assert!(during.samples_retried > 0, "{during:?}");
    assert!(
        during.samples_pending > 0 || during.lag_bytes > 0,
        "{during:?}"
    );
    eprintln!(
        "{n} samples at the receiver and here after a 22 s stop and a kill; during the stop {during:?}; before close {before_close:?}"
    );
}

#[test]
fn sigkilled_twenty_times_while_forwarding_the_receiver_ends_with_every_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let Some((mut recv, port, rdata, pt)) = receiver(
        "sigkilled_twenty_times_while_forwarding_the_receiver_ends_with_every_sample",
        root,
    ) else {
        return;
    };
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let ours = root.join("ours");
    let input = root.join("input.prom");
    std::fs::write(
        &input,
        awkward_prom_text(200, 1500, now_ms() - 1_600_000, 1000),
    )
    .unwrap();
    let args = [
        "append",
        "-d",
        ours.to_str().unwrap(),
        "--forward-to",
        &url,
        input.to_str().unwrap(),
    ];
    // Random moments from a seed printed for reproduction.
    let mut seed = now_ms() as u64 | 1;
    eprintln!("seed {seed}");
    let mut kills = 0;
    for _ in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let after = Duration::from_millis(150 + seed % 1500);
        let mut c = Server::start(
            "tsdb-cli append",
            Command::new(env!("CARGO_BIN_EXE_tsdb-cli")).args(args),
            root.join("append.log"),
        );
        std::thread::sleep(after);
        if c.child.try_wait().ok().flatten().is_none() {
            kills += 1;
        }
        c.kill();
    }
    // The last run goes to the end: the input (appended again, harmlessly) and the forwarding of all of it.
    let o = cli(args);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(3),
        "{}",
        stderr(&o)
    );
    recv.terminate();
    // replay's status line: the destination is caught up.
    let rep = cli(["replay", "-d", ours.to_str().unwrap()]);
    let rep = String::from_utf8_lossy(&rep.stdout).to_string();
    let line = field(&rep, "forward");
    assert!(
        line.starts_with(&format!("{url} 0 bytes behind (at segment ")),
        "{rep}"
    );
    let n = compare_dumps(&pt, &rdata, &ours);
    assert_eq!(n, 300_000);
    eprintln!("{kills} of 20 runs killed while running; receiver and we hold the same {n} samples");
}

#[test]
fn an_agent_forwards_what_it_is_sent_and_answers_queries_as_prometheus_agent_does() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let Some((mut recv, rport, rdata, pt)) = receiver(
        "an_agent_forwards_what_it_is_sent_and_answers_queries_as_prometheus_agent_does",
        root,
    ) else {
        return;
    };
    let url = format!("http://127.0.0.1:{rport}/api/v1/write");
    let agent = root.join("agent");
    let port = free_port();
    let mut ours = start_serve(
        root,
        &agent,
        port,
        &["--agent", "--forward-to", &url, "--sync", "always"],
    );
    // 100 series × 300 samples, posted in three parts.
    let t0 = now_ms() - 400_000;
    let text = awkward_prom_text(100, 300, t0, 1000);
    let lines: Vec<&str> = text.lines().collect();
    for part in lines.chunks(lines.len().div_ceil(3)) {
        let body = format!("{}\n", part.join("\n"));
        let (code, resp) = http_post(port, "/api/v1/import/prometheus", body.as_bytes()).unwrap();
        assert!(
            (200..300).contains(&code),
            "{code} {}",
            String::from_utf8_lossy(&resp)
        );
    }
    // What reads samples answers as Prometheus 2.42's agent does.
    for path in [
        "/api/v1/query?query=up",
        "/api/v1/query_range?query=up&start=1&end=2&step=1",
        "/api/v1/series?match[]=up",
        "/api/v1/labels",
        "/api/v1/label/job/values",
        "/api/v1/status/tsdb",
    ] {
        let (code, body) = http_get(port, path).unwrap();
        let got: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let want = serde_json::json!({"status": "error", "errorType": "execution", "error": "unavailable with Prometheus Agent"});
        assert_eq!((code, got), (422, want), "{path}");
    }
    let (code, _) = http_get(port, "/-/ready").unwrap();
    assert_eq!(code, 200);
    assert_eq!(ours.terminate(), Some(0), "{}", ours.log_tail());
    assert!(
        ours.log_tail().contains("agent (no chunks or blocks kept"),
        "{}",
        ours.log_tail()
    );
    recv.terminate();
    let rep = cli(["replay", "-d", agent.to_str().unwrap()]);
    let rep = String::from_utf8_lossy(&rep.stdout).to_string();
    assert!(
        field(&rep, "forward").starts_with(&format!("{url} 0 bytes behind")),
        "{rep}"
    );
    // The receiver holds what a full database given the same input holds.
    let full = root.join("full");
    let input = root.join("input.prom");
    std::fs::write(&input, &text).unwrap();
    ok([
        "append",
        "-d",
        full.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    let n = compare_dumps(&pt, &rdata, &full);
    assert_eq!(n, 30_000);
    assert!(
        !agent
            .read_dir()
            .unwrap()
            .flatten()
            .any(|e| e.file_name().len() == 26),
        "the agent wrote a block"
    );
}
