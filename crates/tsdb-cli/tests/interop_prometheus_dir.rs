//! A real Prometheus data directory, opened as it is. Debian's `prometheus` (2.42) scrapes itself and
//! `prometheus-node-exporter` every second with 10 s blocks until the directory has blocks, a WAL checkpoint
//! (`wal/checkpoint.NNNNNNNN`) and head chunk files (`chunks_head/`), and is then killed with SIGKILL, as a
//! crash leaves it. Then:
//! - `tsdb-cli dump` prints what `promtool tsdb dump` prints (compared as sorted lines), and `replay` reads
//!   the wlog with its checkpoint, without damage;
//! - `dump`, `analyze`, `replay` and `ls` change nothing: a checksum of every file is the same after them;
//! - `tsdb-cli append` on a copy takes it over in wlog mode (detected): its samples land after
//!   Prometheus's, and promtool still reads the copy, with them.
//!
//! Needs `prometheus`, `promtool` (and `prometheus-node-exporter`, else only Prometheus scrapes itself)
//! on PATH; without them the test is skipped with a note, unless `TSDB_INTEROP=require`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::prom::*;
use common::*;

/// How long Prometheus may take to have blocks, a checkpoint and head chunk files.
const CAPTURE_BOUND: Duration = Duration::from_secs(90);

#[test]
fn prometheus_data_directory_is_read_as_promtool_reads_it_and_taken_over() {
    let test = "prometheus_data_directory_is_read_as_promtool_reads_it_and_taken_over";
    let (Some(prometheus), Some(promtool)) = (tool(test, "prometheus"), tool(test, "promtool"))
    else {
        return;
    };
    let exporter = tool(test, "prometheus-node-exporter");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();

    // node_exporter first (if there), then Prometheus scraping both every second.
    let mut targets = format!(
        "  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    );
    let _node = exporter.map(|bin| {
        let np = free_port();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--web.listen-address=127.0.0.1:{np}"));
        let mut s = Server::start("node_exporter", &mut cmd, tmp.path().join("node.log"));
        s.wait_ready(np, "/metrics", Duration::from_secs(30));
        targets.push_str(&format!(
            "  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{np}']\n"
        ));
        s
    });
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{targets}"
    );
    let started = Instant::now();
    let mut server = start_prometheus(
        &prometheus,
        tmp.path(),
        &data,
        port,
        &config,
        // Hidden flags, accepted: 10 s blocks, so that the head is compacted and the WAL checkpointed
        // within a minute.
        &[
            "--storage.tsdb.min-block-duration=10s",
            "--storage.tsdb.max-block-duration=10s",
        ],
    );
    let has = |dir: &str, pred: &dyn Fn(&str) -> bool| {
        std::fs::read_dir(data.join(dir)).is_ok_and(|rd| {
            rd.filter_map(|e| e.ok())
                .any(|e| pred(&e.file_name().to_string_lossy()))
        })
    };
    loop {
        let blocks = has("", &|n| n.len() == 26 && !n.contains('.'));
        let checkpoint = has("wal", &|n| {
            n.starts_with("checkpoint.") && !n.ends_with(".tmp")
        });
        let head_chunks = std::fs::read_dir(data.join("chunks_head")).is_ok_and(|rd| {
            rd.filter_map(|e| e.ok())
                .any(|e| e.metadata().is_ok_and(|m| m.len() > 8))
        });
        if blocks && checkpoint && head_chunks {
            break;
        }
        assert!(
            started.elapsed() < CAPTURE_BOUND,
            "after {CAPTURE_BOUND:?}: blocks {blocks}, checkpoint {checkpoint}, head chunks {head_chunks}\n{}",
            server.log_tail()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // A few more scrapes into the segments after the checkpoint, then the crash.
    std::thread::sleep(Duration::from_secs(3));
    server.kill();
    drop(_node);
    eprintln!("captured after {:.1?}", started.elapsed());
    let d = data.to_str().unwrap();

    // Read-only commands change nothing.
    let before = checksums(&data);
    let mine = ok(["dump", "-d", d]);
    let replay = ok(["replay", "-d", d]);
    let listing = ok(["ls", "-d", d]);
    ok(["analyze", "-d", d]);
    ok(["analyze", "-d", d, "head"]);
    let after = checksums(&data);
    assert!(
        before == after,
        "read-only commands changed files: {:?}",
        before
            .iter()
            .filter(|(k, v)| after.get(*k) != Some(v))
            .map(|(k, _)| k)
            .chain(after.keys().filter(|k| !before.contains_key(*k)))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        field(&replay, "wal format"),
        "wlog (Prometheus's current WAL)"
    );
    assert_eq!(field(&replay, "wal corruption"), "none");
    assert_eq!(field(&replay, "missing records"), "none");
    assert!(listing.lines().count() > 1, "{listing}");

    // What promtool prints, on a copy (promtool is not ours to trust with the original).
    let theirs_dir = tmp.path().join("promtool-copy");
    copy_dir(&data, &theirs_dir);
    let theirs = run_promtool(&promtool, ["tsdb", "dump", theirs_dir.to_str().unwrap()]);
    let (m, t) = (sorted_lines(&mine), sorted_lines(&theirs));
    eprintln!(
        "tsdb-cli dump: {} lines, promtool tsdb dump: {} lines; replay: {} head samples, {} series",
        m.len(),
        t.len(),
        field(&replay, "samples"),
        field(&replay, "series")
    );
    assert!(!m.is_empty());
    assert_eq!(m.len(), t.len(), "line counts differ");
    if let Some((a, b)) = m.iter().zip(&t).find(|(a, b)| a != b) {
        panic!("first differing line: ours {a:?}, promtool's {b:?}");
    }
    let head_samples: u64 = field(&replay, "samples").parse().unwrap();
    assert!(head_samples > 0, "{replay}");

    // Take it over: appends land after Prometheus's samples, promtool reads the copy with them.
    let copy = tmp.path().join("copy");
    copy_dir(&data, &copy);
    let dump = parse_dump(&mine);
    let (_, newest) = time_range(&dump);
    let (up_labels, _) = dump
        .iter()
        .find(|(l, _)| l.get("__name__").is_some_and(|n| n == "up"))
        .expect("an up series");
    let up_sel = up_labels
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect::<Vec<_>>()
        .join(",");
    let mut text = String::new();
    for i in 1..=5i64 {
        text.push_str(&format!("up{{{up_sel}}} 1 {}\n", newest + i * 1000));
        text.push_str(&format!(
            "taken_over{{by=\"tsdb-cli\"}} {i} {}\n",
            newest + i * 1000
        ));
    }
    let input = tmp.path().join("more.prom");
    std::fs::write(&input, &text).unwrap();
    let out = ok([
        "append",
        "-d",
        copy.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(field(&out, "samples appended"), "10", "{out}");
    assert_eq!(
        field(&ok(["replay", "-d", copy.to_str().unwrap()]), "wal format"),
        "wlog (Prometheus's current WAL)",
        "continued in the directory's own format"
    );
    let ours_after = ok(["dump", "-d", copy.to_str().unwrap()]);
    let theirs_after = run_promtool(&promtool, ["tsdb", "dump", copy.to_str().unwrap()]);
    assert_eq!(sorted_lines(&ours_after), sorted_lines(&theirs_after));
    let after = parse_dump(&theirs_after);
    let up = &after[up_labels];
    assert_eq!(
        up.len(),
        dump[up_labels].len() + 5,
        "promtool sees the appended up samples"
    );
    assert!(up.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(up[up.len() - 5].0, newest + 1000);
    let taken: LabelMap = [("__name__", "taken_over"), ("by", "tsdb-cli")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(after[&taken].len(), 5);
    assert_eq!(
        after.values().map(Vec::len).sum::<usize>(),
        dump.values().map(Vec::len).sum::<usize>() + 10
    );
}
