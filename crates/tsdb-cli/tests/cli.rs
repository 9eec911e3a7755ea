//! Every command of `tsdb-cli`, run as a user runs it: the built binary on temporary directories. Good
//! input and bad (a missing directory, a locked one, a malformed line, an unknown flag): each bad case
//! gives a clear message, a non-zero exit status and writes nothing.

mod common;

use std::path::Path;

use common::*;
use tsdb::{Db, Options};

const PROM: &str = "input/prometheus.prom";

fn locked_db(dir: &Path) -> Db {
    Db::open(
        dir,
        Options {
            background: false,
            ..Options::default()
        },
    )
    .unwrap()
}

#[test]
fn append_then_replay_the_bundled_fixture_and_again() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let input = testdata(PROM);
    let out = ok([
        "append".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        input.as_os_str(),
    ]);
    assert_eq!(field(&out, "format"), "prometheus (detected)");
    assert_eq!(field(&out, "samples appended"), "15");
    assert_eq!(field(&out, "bad lines"), "0");
    assert_eq!(field(&out, "new series"), "15");
    assert_eq!(field(&out, "min time"), "-3982045");
    let rep = ok(["replay".as_ref(), "--data-dir".as_ref(), data.as_os_str()]);
    assert_eq!(field(&rep, "series"), "15");
    assert_eq!(field(&rep, "samples"), "15");
    assert_eq!(field(&rep, "min time"), "-3982045");
    assert_eq!(field(&rep, "wal corruption"), "none");
    let secs: f64 = field(&rep, "replay seconds").parse().unwrap();
    assert!(secs >= 0.0);
    assert_eq!(field(&rep, "forward"), "none");

    // Again: the samples with timestamps are in the database already, the others get a new "now".
    let out = ok([
        "append".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        input.as_os_str(),
    ]);
    assert_eq!(field(&out, "samples already stored"), "4");
    assert_eq!(field(&out, "samples appended"), "11");
    assert_eq!(field(&out, "samples rejected"), "0");
    let rep = ok(["replay".as_ref(), "--data-dir".as_ref(), data.as_os_str()]);
    assert_eq!(field(&rep, "series"), "15");
    assert_eq!(field(&rep, "samples"), "26");
}

#[test]
fn append_every_format_detected_or_given() {
    let tmp = tempfile::tempdir().unwrap();
    for (file, format, samples) in [
        ("input/openmetrics.om", "openmetrics", 16),
        ("input/influx.lp", "influx", 12),
        (PROM, "prometheus", 15),
    ] {
        for given in [false, true] {
            let data = tmp.path().join(format!("{format}-{given}"));
            let input = testdata(file);
            let mut args = vec![
                "append".to_string(),
                "-d".into(),
                data.display().to_string(),
                "--timestamp".into(),
                "2023-11-14T22:13:20Z".into(),
            ];
            if given {
                args.extend(["--format".into(), format.into()]);
            }
            args.push(input.display().to_string());
            let out = ok(&args);
            let how = if given { "given" } else { "detected" };
            assert_eq!(field(&out, "format"), format!("{format} ({how})"), "{file}");
            assert_eq!(
                field(&out, "samples appended"),
                samples.to_string(),
                "{file}"
            );
        }
    }
    // Influx fields are series of their own; lines without a timestamp take --timestamp.
    let data = tmp.path().join("influx-false");
    let dump = ok(["dump".as_ref(), "-d".as_ref(), data.as_os_str()]);
    assert!(dump.contains(
        "{__name__=\"cpu_usage_idle\", host=\"server01\", region=\"us-west\"} 92.5 1700000000000\n"
    ));
    assert!(dump.contains("{__name__=\"weather_humidity\"} 0.82 1700000000000\n"));
}

#[test]
fn append_reads_stdin_and_commits_in_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut text = String::new();
    for i in 0..250 {
        text.push_str(&format!(
            "m{{i=\"{}\"}} {i} {}\n",
            i % 10,
            1_700_000_000_000i64 + i
        ));
    }
    let o = cli_in(
        None,
        [
            "append".as_ref(),
            "--data-dir".as_ref(),
            data.as_os_str(),
            "--batch".as_ref(),
            "100".as_ref(),
            "-".as_ref(),
        ],
        text.as_bytes(),
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    assert_eq!(field(&out, "input"), "<stdin>");
    assert_eq!(field(&out, "samples appended"), "250");
    assert_eq!(field(&out, "commits"), "3");
    assert_eq!(field(&out, "new series"), "10");
    assert_eq!(field(&out, "max time"), "1700000000249");
}

#[test]
fn a_malformed_line_is_reported_skipped_and_fails_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let input = tmp.path().join("bad.prom");
    std::fs::write(
        &input,
        "up{job=\"a\"} 1 1700000000000\nup{job=\"b\" 2 1700000000000\nup{job=\"c\"} 3 1700000000000\n",
    )
    .unwrap();
    let o = cli([
        "append".as_ref(),
        "-d".as_ref(),
        data.as_os_str(),
        input.as_os_str(),
    ]);
    assert_code(&o, 3);
    let err = stderr(&o);
    let shown = format!("{}:2:", input.display());
    assert!(err.contains(&shown), "{err}");
    assert!(
        err.contains("1 bad line and 0 rejected samples; the rest of the input was appended"),
        "{err}"
    );
    let out = stdout(&o);
    assert_eq!(field(&out, "bad lines"), "1");
    assert_eq!(field(&out, "samples appended"), "2");
    let dump = ok(["dump".as_ref(), "-d".as_ref(), data.as_os_str()]);
    assert_eq!(
        dump,
        "{__name__=\"up\", job=\"a\"} 1 1700000000000\n{__name__=\"up\", job=\"c\"} 3 1700000000000\n"
    );

    // Nothing but bad lines: no sample is written (the directory is created and locked when the command
    // starts, before the input is read, so that no other writer takes it meanwhile).
    let data = tmp.path().join("untouched");
    std::fs::write(&input, "this is not a sample\n").unwrap();
    let o = cli([
        "append".as_ref(),
        "-d".as_ref(),
        data.as_os_str(),
        input.as_os_str(),
    ]);
    assert_code(&o, 3);
    assert!(stderr(&o).contains(&format!("{}:1:", input.display())));
    assert_eq!(ok(["dump".as_ref(), "-d".as_ref(), data.as_os_str()]), "");
}

#[test]
fn rejected_samples_are_reported_with_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let input = tmp.path().join("x.prom");
    std::fs::write(&input, "a 1 1700000000000\n").unwrap();
    ok([
        "append".as_ref(),
        "-d".as_ref(),
        data.as_os_str(),
        input.as_os_str(),
    ]);
    // A different value for a stored timestamp, and a sample far older than the newest one.
    std::fs::write(
        &input,
        "a 2 1700000000000\na 1 1600000000000\na 3 1700000001000\n",
    )
    .unwrap();
    let o = cli([
        "append".as_ref(),
        "-d".as_ref(),
        data.as_os_str(),
        input.as_os_str(),
    ]);
    assert_code(&o, 3);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}:1: duplicate sample", input.display())),
        "{err}"
    );
    assert!(err.contains(&format!("{}:2: ", input.display())), "{err}");
    assert!(err.contains("hint: a live database"), "{err}");
    assert_eq!(field(&stdout(&o), "samples appended"), "1");
    assert_eq!(field(&stdout(&o), "samples rejected"), "2");
}

#[test]
fn append_missing_input_or_unknown_flag_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let o = cli(["append", "-d", data.to_str().unwrap(), "/no/such/file.prom"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("/no/such/file.prom: no such file"),
        "{}",
        stderr(&o)
    );
    assert!(!data.exists());

    // An unknown flag, run where the default ./data would go.
    let o = cli_in(Some(tmp.path()), ["append", "--bogus", "x.prom"], b"");
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("unexpected argument '--bogus'"),
        "{}",
        stderr(&o)
    );
    let o = cli_in(Some(tmp.path()), ["dump", "--no-such-flag"], b"");
    assert_code(&o, 2);
    let o = cli_in(Some(tmp.path()), ["append", "--format", "csv", "x"], b"");
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("unknown input format"),
        "{}",
        stderr(&o)
    );
    let o = cli_in(Some(tmp.path()), ["dump", "--min-time", "yesterday"], b"");
    assert_code(&o, 2);
    assert!(stderr(&o).contains("is not a time"), "{}", stderr(&o));
    // Agent mode forwards: without a destination it has nowhere to keep samples.
    let o = cli_in(Some(tmp.path()), ["serve", "--agent"], b"");
    assert_code(&o, 2);
    assert!(stderr(&o).contains("--forward-to"), "{}", stderr(&o));
    assert!(
        snapshot(tmp.path()).is_empty(),
        "{:?}",
        snapshot(tmp.path()).keys()
    );
}

#[test]
fn a_missing_directory_is_a_usage_error_for_every_reader_and_maintainer() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let m = missing.to_str().unwrap();
    for args in [
        vec!["replay", "-d", m],
        vec!["ls", "-d", m],
        vec!["dump", "-d", m],
        vec!["analyze", "-d", m],
        vec!["compact", "-d", m],
        vec!["flush", "-d", m],
        vec!["truncate", "-d", m, "--before", "0"],
        vec!["delete", "-d", m, "--match", "up"],
    ] {
        let o = cli(&args);
        assert_code(&o, 2);
        let err = stderr(&o);
        assert!(
            err.contains(&format!("error: {m}: no such directory")),
            "{args:?}: {err}"
        );
        assert!(err.contains("hint: "), "{args:?}: {err}");
        assert!(!missing.exists(), "{args:?} created the directory");
    }
    // A directory of other files is not a database.
    std::fs::write(tmp.path().join("notes.txt"), "x").unwrap();
    let d = tmp.path().to_str().unwrap();
    for args in [
        vec!["ls", "-d", d],
        vec!["append", "-d", d, "-"],
        vec!["compact", "-d", d],
    ] {
        let o = cli_in(None, &args, b"up 1\n");
        assert_code(&o, 2);
        assert!(
            stderr(&o).contains("not a tsdb data directory"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    assert_eq!(snapshot(tmp.path()).len(), 1);
}

#[test]
fn a_locked_database_is_refused_by_writers_and_read_beside_by_readers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let input = testdata(PROM);
    ok([
        "append".as_ref(),
        "-d".as_ref(),
        data.as_os_str(),
        input.as_os_str(),
    ]);
    ok(["flush".as_ref(), "-d".as_ref(), data.as_os_str()]);
    ok([
        "append".as_ref(),
        "-d".as_ref(),
        data.as_os_str(),
        input.as_os_str(),
    ]);
    let db = locked_db(&data);
    let before = snapshot(&data);
    let d = data.to_str().unwrap();
    let p = input.to_str().unwrap();
    for args in [
        vec!["append", "-d", d, p],
        vec!["compact", "-d", d],
        vec!["flush", "-d", d],
        vec!["truncate", "-d", d, "--before", "0"],
        vec!["delete", "-d", d, "--match", "up"],
    ] {
        let o = cli(&args);
        assert_code(&o, 1);
        let err = stderr(&o);
        assert!(err.contains("the database is locked"), "{args:?}: {err}");
        assert!(err.contains("hint: stop the process"), "{args:?}: {err}");
    }
    // Readers: blocks only, with a warning; replay refuses.
    let o = cli(["dump", "-d", d]);
    assert_code(&o, 0);
    assert!(
        stderr(&o).contains("is open in another process"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o).lines().count(), 15);
    let o = cli(["ls", "-d", d]);
    assert_code(&o, 0);
    let o = cli(["replay", "-d", d]);
    assert_code(&o, 1);
    assert!(
        stderr(&o).contains("open in another process"),
        "{}",
        stderr(&o)
    );
    assert_eq!(snapshot(&data), before, "something was written");
    db.close().unwrap();
    // Once closed, dump sees the head too.
    let o = cli(["dump", "-d", d]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o).lines().count(), 26);
}

#[test]
fn dump_selects_by_matcher_and_time() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let input = tmp.path().join("x.prom");
    std::fs::write(
        &input,
        "up{job=\"a\"} 1 1000\nup{job=\"a\"} 2 2000\nup{job=\"b\"} 3 2000\ndown{job=\"a\"} 4 3000\n",
    )
    .unwrap();
    ok([
        "append".as_ref(),
        "-d".as_ref(),
        data.as_os_str(),
        input.as_os_str(),
    ]);
    let d = data.to_str().unwrap();
    let dump = |extra: &[&str]| {
        let mut args = vec!["dump", "-d", d];
        args.extend_from_slice(extra);
        ok(&args)
    };
    assert_eq!(dump(&[]).lines().count(), 4);
    assert_eq!(
        dump(&["--match", "up{job=\"a\"}"]),
        "{__name__=\"up\", job=\"a\"} 1 1000\n{__name__=\"up\", job=\"a\"} 2 2000\n"
    );
    assert_eq!(
        dump(&[
            "--match",
            "{job=~\"a|b\"}",
            "--min-time",
            "2000",
            "--max-time",
            "2000"
        ])
        .lines()
        .count(),
        2
    );
    assert_eq!(dump(&["--match", "{__name__=~\".*\"}"]).lines().count(), 4);
    assert_eq!(dump(&["--match", "{job=\"\"}"]), "");
    assert_eq!(
        dump(&["--min-time", "1970-01-01T00:00:02.5Z"]),
        "{__name__=\"down\", job=\"a\"} 4 3000\n"
    );
    let o = cli(["dump", "-d", d, "--match", "up{"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("--match \"up{\": invalid selector"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn compact_flush_truncate_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    // Five hours of one sample a minute for three series, in one batch.
    let h = 3_600_000i64;
    let t0 = 1_700_000_000_000i64 / (2 * h) * (2 * h);
    let mut text = String::new();
    for k in 0..300 {
        for s in ["a", "b", "c"] {
            text.push_str(&format!("m{{s=\"{s}\"}} {k} {}\n", t0 + k * 60_000));
        }
    }
    let o = cli_in(
        None,
        [
            "append", "-d", d, "--batch", "100000", "--sync", "never", "-",
        ],
        text.as_bytes(),
    );
    assert_code(&o, 0);
    let out = ok(["compact", "-d", d]);
    assert!(
        out.starts_with("persisted 1 block from the head:\nBLOCK ULID"),
        "{out}"
    );
    assert!(
        out.contains(&format!("  {t0}  {}  2h0m0s  ", t0 + 2 * h)),
        "{out}"
    );
    let out = ok(["compact", "-d", d]);
    assert!(out.starts_with("nothing to do"), "{out}");
    let out = ok(["flush", "-d", d, "--wal-mode", "prometheus"]);
    assert!(out.starts_with("wrote 2 blocks from the head:"), "{out}");
    let ls = ok(["ls", "-d", d]);
    assert_eq!(ls.lines().count(), 4, "{ls}");
    assert_eq!(ok(["dump", "-d", d]).lines().count(), 900);
    let out = ok(["flush", "-d", d]);
    assert_eq!(out, "nothing to do: the head is empty\n");

    // Truncate in the middle of the second block: the first goes, the second is rewritten.
    let cut = t0 + 2 * h + 30 * 60_000;
    let out = ok(["truncate", "-d", d, "--before", &cut.to_string()]);
    assert!(
        out.contains("blocks removed: 1\nblocks rewritten: 1\nblocks now: 2\n"),
        "{out}"
    );
    let dump = ok(["dump", "-d", d]);
    assert_eq!(dump.lines().count(), 3 * (300 - 150));
    assert!(dump
        .lines()
        .all(|l| l.rsplit(' ').next().unwrap().parse::<i64>().unwrap() >= cut));

    // Delete one series in a range.
    let out = ok([
        "delete",
        "-d",
        d,
        "--match",
        "m{s=\"b\"}",
        "--min-time",
        &cut.to_string(),
        "--max-time",
        &(cut + 9 * 60_000).to_string(),
    ]);
    assert!(
        out.starts_with(&format!(
            "deleted [{cut}, {}] of 1 series",
            cut + 9 * 60_000
        )),
        "{out}"
    );
    assert_eq!(
        ok(["dump", "-d", d, "--match", "m{s=\"b\"}"])
            .lines()
            .count(),
        140
    );
    let o = cli(["delete", "-d", d, "--match", "{s=~\".*\"}"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("at least one non-empty matcher"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn analyze_a_block_and_the_head() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let mut text = String::new();
    for k in 0..10 {
        for i in 0..4 {
            text.push_str(&format!(
                "req{{code=\"{}\",path=\"/p{i}\"}} {k} {}\n",
                200 + i % 2,
                1000 + k * 1000
            ));
        }
    }
    let o = cli_in(None, ["append", "-d", d, "-"], text.as_bytes());
    assert_code(&o, 0);
    let out = ok(["analyze", "-d", d]);
    assert!(
        out.starts_with("Block ID: head\nDuration: 9s\nSeries: 4\nLabel names: 3\n"),
        "{out}"
    );
    assert!(
        out.contains("\nHighest cardinality labels:\n4 path\n2 code\n1 __name__\n"),
        "{out}"
    );
    assert!(
        out.contains("\nHighest cardinality metric names:\n4 req\n"),
        "{out}"
    );
    ok(["flush", "-d", d]);
    let out = ok(["analyze", "-d", d, "--limit", "1", "--extended"]);
    assert!(out.starts_with("Block ID: 01"), "{out}");
    assert!(out.contains("Duration: 10.001s\n"), "{out}");
    assert!(
        out.contains("\nMost common label pairs:\n4 __name__=req\n\n"),
        "{out}"
    );
    assert!(out.contains("     10%: ####################################################################################################\n"), "{out}");
    let o = cli(["analyze", "-d", d, "01ARZ3NDEKTSV4RRFFQ69G5FAV"]);
    assert_code(&o, 2);
    assert!(
        stderr(&o).contains("block 01ARZ3NDEKTSV4RRFFQ69G5FAV not found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn import_openmetrics_makes_aligned_blocks_and_rejects_bad_input_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let input = tmp.path().join("in.om");
    let h = 3_600_000i64;
    let mut text = String::new();
    for k in 0..50i64 {
        // 50 samples every 10 minutes: from 22:13:20 to 06:23:20, five 2 h windows.
        let t = 1_700_000_000_000 + k * 600_000;
        text.push_str(&format!(
            "x_total{{a=\"1\"}} {k} {}.{:03}\n",
            t / 1000,
            t % 1000
        ));
    }
    text.push_str("# EOF\n");
    std::fs::write(&input, &text).unwrap();
    let out = ok([
        "import".as_ref(),
        "openmetrics".as_ref(),
        input.as_os_str(),
        out_dir.as_os_str(),
    ]);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 6, "{out}");
    assert!(rows[0].starts_with("BLOCK ULID"));
    for r in &rows[1..] {
        let cols: Vec<&str> = r.split_whitespace().collect();
        let (min, max): (i64, i64) = (cols[1].parse().unwrap(), cols[2].parse().unwrap());
        assert_eq!(min.div_euclid(2 * h), (max - 1).div_euclid(2 * h), "{r}");
    }
    let total: u64 = rows[1..]
        .iter()
        .map(|r| r.split_whitespace().nth(4).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 50);
    assert_eq!(
        ok(["dump".as_ref(), "-d".as_ref(), out_dir.as_os_str()])
            .lines()
            .count(),
        50
    );

    // A bad line, a sample without timestamp, an out-of-order sample, a missing # EOF: nothing written.
    let fresh = tmp.path().join("fresh");
    std::fs::write(&input, "a 1 10\nb{ 1 10\nc 1\na 2 5\n").unwrap();
    let o = cli([
        "import".as_ref(),
        "openmetrics".as_ref(),
        input.as_os_str(),
        fresh.as_os_str(),
    ]);
    assert_code(&o, 2);
    let err = stderr(&o);
    for l in [2, 3, 4, 5] {
        assert!(
            err.contains(&format!("{}:{l}:", input.display())),
            "line {l}: {err}"
        );
    }
    assert!(
        err.contains("expected timestamp for series {__name__=\"c\"}"),
        "{err}"
    );
    assert!(err.contains("out of order sample"), "{err}");
    assert!(err.contains("4 bad lines: nothing written"), "{err}");
    assert!(!fresh.exists());
    let o = cli([
        "import",
        "openmetrics",
        "/no/such.om",
        fresh.to_str().unwrap(),
    ]);
    assert_code(&o, 2);
    assert!(!fresh.exists());
}

#[test]
fn bench_write_runs_promtools_workload() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("series.jsonl");
    let mut s = String::new();
    for i in 0..1200 {
        // Duplicates are read once.
        s.push_str(&format!(
            "{{\"__name__\":\"m{}\",\"instance\":\"i{}\"}}\n",
            i % 7,
            i % 1100
        ));
    }
    std::fs::write(&file, s).unwrap();
    let out_dir = tmp.path().join("bench");
    let out = ok([
        "bench".as_ref(),
        "write".as_ref(),
        "--out".as_ref(),
        out_dir.as_os_str(),
        "--metrics".as_ref(),
        "1050".as_ref(),
        "--scrapes".as_ref(),
        "100".as_ref(),
        file.as_os_str(),
    ]);
    assert!(out.contains(">> start stage=ingestScrapes\n"), "{out}");
    assert!(out.contains("ingestion completed\n"), "{out}");
    assert!(out.contains("\n > total samples: 105000\n"), "{out}");
    let rate = out
        .lines()
        .find_map(|l| l.strip_prefix(" > samples/sec: "))
        .unwrap();
    assert!(rate.parse::<f64>().unwrap() > 0.0, "{rate}");
    let rep = ok([
        "replay".as_ref(),
        "-d".as_ref(),
        out_dir.join("storage").as_os_str(),
    ]);
    assert_eq!(field(&rep, "series"), "1050");
    assert_eq!(field(&rep, "samples"), "105000");
    let o = cli([
        "bench",
        "write",
        "--out",
        out_dir.to_str().unwrap(),
        "/no/such.jsonl",
    ]);
    assert_code(&o, 2);
}

#[test]
fn replay_reports_a_damaged_wal_and_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let input = testdata(PROM);
    ok([
        "append".as_ref(),
        "-d".as_ref(),
        data.as_os_str(),
        input.as_os_str(),
    ]);
    let seg = data.join("wal/000001");
    let mut bytes = std::fs::read(&seg).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let before = snapshot(&data);
    let o = cli(["replay".as_ref(), "-d".as_ref(), data.as_os_str()]);
    assert_code(&o, 1);
    let out = stdout(&o);
    assert!(
        field(&out, "wal corruption").starts_with("segment 000001 at offset "),
        "{out}"
    );
    assert!(out.contains("replay seconds: "));
    assert!(stderr(&o).contains("wal repair"), "{}", stderr(&o));
    assert_eq!(snapshot(&data), before);
}

#[test]
fn every_command_has_help_with_examples() {
    for cmd in [
        vec!["append"],
        vec!["replay"],
        vec!["ls"],
        vec!["dump"],
        vec!["analyze"],
        vec!["compact"],
        vec!["flush"],
        vec!["truncate"],
        vec!["delete"],
        vec!["import", "openmetrics"],
        vec!["bench", "write"],
        vec!["wal", "dump"],
        vec!["wal", "repair"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let out = ok(&args);
        assert!(out.contains("Examples:"), "{cmd:?}: {out}");
    }
    let out = ok(["--help"]);
    assert!(out.contains("Exit status: 0 on success"), "{out}");
}

#[test]
fn invalid_utf8_is_reported_at_its_column() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let input = tmp.path().join("bad.prom");
    // The bad byte is the 7th character (after the 2-byte `ü`).
    std::fs::write(&input, b"up 1 5\nx{a=\"\xc3\xbc\xff\"} 1 5\n".as_slice()).unwrap();
    let o = cli([
        "append".as_ref(),
        "-d".as_ref(),
        data.as_os_str(),
        input.as_os_str(),
    ]);
    assert_code(&o, 3);
    let err = stderr(&o);
    let want = format!("{}:2:7: the line is not valid UTF-8\n", input.display());
    assert!(err.contains(&want), "{err}");
    assert_eq!(field(&stdout(&o), "samples appended"), "1");
}

#[test]
fn missing_eof_is_reported_after_the_last_line_even_a_bad_one() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.om");
    // Lines 2 and 3 are not UTF-8; the input ends without `# EOF` after line 3.
    std::fs::write(&input, b"a 1 10\nb \xff 10\n\xfe\n".as_slice()).unwrap();
    let fresh = tmp.path().join("fresh");
    let o = cli([
        "import".as_ref(),
        "openmetrics".as_ref(),
        input.as_os_str(),
        fresh.as_os_str(),
    ]);
    assert_code(&o, 2);
    let err = stderr(&o);
    let name = input.display();
    for want in [
        format!("{name}:2:3: the line is not valid UTF-8\n"),
        format!("{name}:3:1: the line is not valid UTF-8\n"),
        format!("{name}:4: unexpected end of input: OpenMetrics input must end with \"# EOF\"\n"),
    ] {
        assert!(err.contains(&want), "{want:?} not in {err}");
    }
    assert!(err.contains("3 bad lines: nothing written"), "{err}");

    // `append` reports it at the same line.
    let o = cli([
        "append".as_ref(),
        "-d".as_ref(),
        tmp.path().join("data").as_os_str(),
        "--format".as_ref(),
        "openmetrics".as_ref(),
        input.as_os_str(),
    ]);
    assert_code(&o, 3);
    assert!(
        stderr(&o).contains(&format!("{name}:4: unexpected end of input")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn import_reads_values_and_timestamps_as_promtool() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.om");
    // Prometheus 2.42 refuses `p`, `P` and `_` in values and timestamps.
    for (line, col) in [
        ("a 0x1p3 10", 3),
        ("a 1_0 10", 3),
        ("a 1 0x1p3", 5),
        ("a 1 1_0", 5),
    ] {
        std::fs::write(&input, format!("{line}\n# EOF\n")).unwrap();
        let out = tmp.path().join("refused");
        let o = cli([
            "import".as_ref(),
            "openmetrics".as_ref(),
            input.as_os_str(),
            out.as_os_str(),
        ]);
        assert_code(&o, 2);
        let err = stderr(&o);
        assert!(
            err.contains(&format!("{}:1:{col}: invalid ", input.display())),
            "{line}: {err}"
        );
        assert!(!out.exists(), "{line}");
    }

    // Sub-millisecond timestamps are truncated toward zero, as promtool does.
    std::fs::write(
        &input,
        "a 1 1700000000.9999\nb 2 -0.0005\nc 3 1700000000.1235\n# EOF\n",
    )
    .unwrap();
    let out = tmp.path().join("blocks");
    ok([
        "import".as_ref(),
        "openmetrics".as_ref(),
        "-q".as_ref(),
        input.as_os_str(),
        out.as_os_str(),
    ]);
    let dump = ok(["dump".as_ref(), "-d".as_ref(), out.as_os_str()]);
    let mut lines: Vec<&str> = dump.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "{__name__=\"a\"} 1 1700000000999",
            "{__name__=\"b\"} 2 0",
            "{__name__=\"c\"} 3 1700000000123",
        ]
    );
}
