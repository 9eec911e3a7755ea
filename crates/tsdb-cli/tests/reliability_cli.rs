//! Broken promises of the read and admin commands found by review, one test each: damaged or odd blocks
//! are reported and the rest is read, writers lock the directory before reading input, `wal repair` never
//! runs beside a writer, and messages say what is true.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const OLD: &str = "01M80NJ7TNHPMA6JXYJXV4GEPP";
const NEW: &str = "01M80NJ7WZ8WATXR4MMX26RSG0";

/// A data directory holding the two promtool blocks.
fn two_blocks(tmp: &Path) -> PathBuf {
    let data = tmp.join("data");
    copy_blocks(&testdata("block/promtool"), &data);
    data
}

fn run(args: &[&str], data: &Path) -> std::process::Output {
    let mut v: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    v.push("-d".as_ref());
    v.push(data.as_os_str());
    cli(v)
}

fn dump_lines(o: &std::process::Output) -> usize {
    stdout(o).lines().count()
}

#[test]
fn a_block_without_meta_json_is_reported_and_the_rest_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let data = two_blocks(tmp.path());
    let full = ok(["dump", "-d", data.to_str().unwrap()]).lines().count();
    let only_new = ok([
        "dump",
        "-d",
        data.to_str().unwrap(),
        "--min-time",
        "1700006400000",
    ])
    .lines()
    .count();
    std::fs::remove_file(data.join(OLD).join("meta.json")).unwrap();

    for cmd in [&["ls"][..], &["dump"], &["analyze", NEW], &["replay"]] {
        let o = run(cmd, &data);
        assert_code(&o, 1);
        let err = stderr(&o);
        assert!(
            err.contains(&format!("block {}", data.join(OLD).display()))
                && err.contains("meta.json"),
            "{cmd:?}: {err}"
        );
        if cmd == ["dump"] {
            assert_eq!(
                dump_lines(&o),
                only_new,
                "dump still prints the other block"
            );
            assert!(only_new < full);
        }
        if cmd == ["ls"] {
            let out = stdout(&o);
            assert!(out.contains(NEW) && !out.contains(OLD), "{out}");
        }
    }
}

#[test]
fn an_inverted_time_range_or_a_copied_block_is_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let data = two_blocks(tmp.path());
    let meta = data.join(OLD).join("meta.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    let bad = text.replace("\"maxTime\": 1700006399001", "\"maxTime\": 1699996400000");
    assert_ne!(bad, text);
    std::fs::write(&meta, bad).unwrap();
    let o = run(&["ls"], &data);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("inverted"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("-2h"), "{}", stdout(&o));
    std::fs::write(&meta, text).unwrap();

    // A copy of a block under another block's name is not listed twice.
    let copy = "01M80NJ7TNHPMA6JXYJXV4GEPQ";
    copy_dir(&data.join(OLD), &data.join(copy));
    let o = run(&["ls"], &data);
    assert_code(&o, 1);
    assert_eq!(stdout(&o).matches(OLD).count(), 1, "{}", stdout(&o));
    assert!(stderr(&o).contains(copy), "{}", stderr(&o));
}

#[test]
fn a_damaged_block_is_reported_with_file_and_offset_and_the_rest_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let data = two_blocks(tmp.path());
    let only_new = ok([
        "dump",
        "-d",
        data.to_str().unwrap(),
        "--min-time",
        "1700006400000",
    ])
    .lines()
    .count();
    // Damage the old block's chunk file in the middle: its chunks fail their checksums when read.
    let chunks = data.join(OLD).join("chunks").join("000001");
    let mut bytes = std::fs::read(&chunks).unwrap();
    for b in &mut bytes[1000..300_000] {
        *b ^= 0x5a;
    }
    std::fs::write(&chunks, &bytes).unwrap();

    let o = run(&["dump"], &data);
    assert_code(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains(&chunks.display().to_string()) && err.contains("offset"),
        "{err}"
    );
    assert!(!err.contains("Checksum {"), "debug text in {err}");
    assert!(
        dump_lines(&o) >= only_new,
        "the intact block's samples are printed"
    );

    // Damage the new block's index: it cannot be opened; ls lists the other one.
    let index = data.join(NEW).join("index");
    let mut ix = std::fs::read(&index).unwrap();
    let n = ix.len();
    for b in &mut ix[n - 52..n - 4] {
        *b ^= 0xff;
    }
    std::fs::write(&index, &ix).unwrap();
    let o = run(&["ls"], &data);
    assert_code(&o, 1);
    assert!(stdout(&o).contains(OLD), "{}", stdout(&o));
    assert!(
        stderr(&o).contains(&index.display().to_string()),
        "{}",
        stderr(&o)
    );
}

/// Starts `tsdb-cli append -d data` reading from a pipe we keep open.
fn slow_append(data: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tsdb-cli"))
        .args(["append", "-d"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Whether some process holds an flock on `data/lock`, read from /proc/locks without taking the lock
/// (a probe that took it, even briefly, could make the process under test fail to get it).
fn is_locked(data: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(md) = std::fs::metadata(data.join("lock")) else {
        return false;
    };
    let needle = format!(":{} ", md.ino());
    std::fs::read_to_string("/proc/locks")
        .map(|l| {
            l.lines()
                .any(|line| line.contains("FLOCK") && line.contains(&needle))
        })
        .unwrap_or(false)
}

/// Waits (bounded) until `data` is locked by another process.
fn wait_locked(data: &Path) {
    let start = Instant::now();
    while !is_locked(data) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the directory was never locked"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn append_takes_the_lock_before_it_reads_input_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut first = slow_append(&data);
    // Nothing was written to its stdin yet: it must hold the directory already.
    wait_locked(&data);
    let second = cli_in(
        None,
        ["append".as_ref(), "-d".as_ref(), data.as_os_str()],
        b"b 2 1700000000000\n",
    );
    assert_code(&second, 1);
    assert!(stderr(&second).contains("locked"), "{}", stderr(&second));
    {
        let mut stdin = first.stdin.take().unwrap();
        stdin.write_all(b"a 1 1700000000000\n").unwrap();
    }
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ok(["dump", "-d", data.to_str().unwrap()]),
        "{__name__=\"a\"} 1 1700000000000\n"
    );
}

#[test]
fn wal_repair_and_analyze_refuse_a_live_database_and_say_why() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let input = tmp.path().join("x.prom");
    std::fs::write(&input, "a 1 1700000000000\nb 2 1700000000000\n").unwrap();
    ok([
        "append",
        "-d",
        data.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    let mut live = slow_append(&data);
    wait_locked(&data);
    let before = snapshot(&data.join("wal"));

    let o = cli(["wal", "repair", data.to_str().unwrap()]);
    assert_code(&o, 1);
    assert!(
        stderr(&o).contains("open in another process"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        snapshot(&data.join("wal")),
        before,
        "repair changed the WAL"
    );

    let o = run(&["analyze", "head"], &data);
    assert_code(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("open in another process"), "{err}");
    assert!(!err.contains("empty head"), "{err}");

    // The locked-database hint names only the commands that do read beside a writer.
    let o = run(&["flush"], &data);
    let err = stderr(&o);
    assert!(err.contains("hint:") && !err.contains("replay"), "{err}");

    drop(live.stdin.take());
    assert!(live.wait().unwrap().success());
}

#[test]
fn delete_counts_each_series_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = two_blocks(tmp.path());
    let series = ok([
        "dump",
        "-d",
        data.to_str().unwrap(),
        "--match",
        "{__name__=~\".+\"}",
    ]);
    let first = series.lines().next().unwrap();
    let labels = &first[..first.rfind('}').unwrap() + 1];
    // The series is in both blocks: it is one series.
    let o = run(&["delete", "--match", labels], &data);
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("of 1 series"), "{out}");
}

#[test]
fn a_damaged_truncated_before_is_damage_not_usage() {
    let tmp = tempfile::tempdir().unwrap();
    let data = two_blocks(tmp.path());
    std::fs::write(data.join("truncated_before"), b"12ab").unwrap();
    for cmd in [&["dump"][..], &["flush"]] {
        let o = run(cmd, &data);
        assert_code(&o, 1);
        assert!(stderr(&o).contains("truncated_before"), "{}", stderr(&o));
    }
}

#[test]
fn replay_of_a_directory_that_is_no_database_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = run(&["replay"], &empty);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("not a tsdb data directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn errors_print_each_cause_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = two_blocks(tmp.path());
    std::fs::remove_file(data.join(OLD).join("index")).unwrap();
    // The writable open fails on the damaged block.
    let o = run(&["flush"], &data);
    assert_code(&o, 1);
    let err = stderr(&o);
    let path = data.join(OLD).join("index").display().to_string();
    assert_eq!(err.matches(&path).count(), 1, "{err}");
}
