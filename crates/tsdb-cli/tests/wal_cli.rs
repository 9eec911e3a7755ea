//! `tsdb-cli wal dump` and `tsdb-cli wal repair`, run as a user runs them: the built binary on WAL
//! directories written by `tsdb-wal`.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tsdb_labels::Labels;
use tsdb_wal::segment::list_segments;
use tsdb_wal::{
    Batch, Delete, RefSample, RefSeries, SyncPolicy, Wal, WalError, WalMode, WalOptions, WalReader,
};

const T0: i64 = 1_700_000_000_000;
const STEP: i64 = 15_000;
const BATCHES: usize = 20;

fn tsdb_cli<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_tsdb-cli"))
        .args(args)
        .output()
        .expect("run tsdb-cli")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

/// What a fixture log holds.
struct Written {
    series: Vec<RefSeries>,
    samples: usize,
    deletes: usize,
    min_t: i64,
    max_t: i64,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied()).unwrap()
}

/// The value of series `r` in batch `i`; series 3 has NaN, +Inf and -Inf in batches 5, 6 and 7.
fn value(r: u64, i: usize) -> f64 {
    match (r, i) {
        (3, 5) => f64::NAN,
        (3, 6) => f64::INFINITY,
        (3, 7) => f64::NEG_INFINITY,
        _ => r as f64 * 0.5 + i as f64,
    }
}

/// Writes a small log of several segments into `wal`: three series, `BATCHES` batches of one sample per
/// series, and one delete.
fn write_wal(wal: &Path, mode: WalMode) -> Written {
    let series = vec![
        RefSeries {
            series: 1,
            labels: labels(&[("__name__", "up"), ("job", "node"), ("instance", "a")]),
        },
        RefSeries {
            series: 2,
            labels: labels(&[("__name__", "up"), ("job", "node"), ("instance", "b")]),
        },
        RefSeries {
            series: 3,
            labels: labels(&[("__name__", "temp"), ("room", "say \"hi\"")]),
        },
    ];
    let opts = WalOptions {
        mode,
        segment_size: 512,
        sync: SyncPolicy::Never,
        ..WalOptions::default()
    };
    let w = Wal::open(wal, opts).unwrap();
    let mut samples = 0;
    for i in 0..BATCHES {
        let new = if i == 0 {
            &series[..2]
        } else if i == 3 {
            &series[2..]
        } else {
            &[][..]
        };
        let xs: Vec<RefSample> = (1..=3u64)
            .filter(|r| *r != 3 || i >= 3)
            .map(|r| RefSample {
                series: r,
                t: T0 + i as i64 * STEP,
                v: value(r, i),
            })
            .collect();
        let deletes = if i == 10 {
            vec![Delete {
                series: 2,
                mint: T0,
                maxt: T0 + 2 * STEP,
            }]
        } else {
            vec![]
        };
        samples += xs.len();
        w.log(Batch {
            series: new,
            samples: &xs,
            deletes: &deletes,
        })
        .unwrap();
    }
    w.close().unwrap();
    Written {
        series,
        samples,
        deletes: 1,
        min_t: T0,
        max_t: T0 + (BATCHES as i64 - 1) * STEP,
    }
}

/// A data directory `data/` with its `wal/` written in `mode`.
fn data_dir(mode: WalMode) -> (tempfile::TempDir, PathBuf, Written) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let w = write_wal(&data.join("wal"), mode);
    (tmp, data, w)
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn human_dump_shows_series_samples_and_deletes() {
    for mode in [WalMode::Native, WalMode::Prometheus] {
        let (_tmp, data, w) = data_dir(mode);
        let o = tsdb_cli([
            OsStr::new("wal"),
            OsStr::new("dump"),
            data.join("wal").as_os_str(),
        ]);
        let out = stdout(&o);
        assert!(o.status.success(), "{mode:?}: {}", stderr(&o));
        for s in &w.series {
            let line = format!("  ref={} {}", s.series, s.labels);
            assert!(
                out.lines().any(|l| l == line),
                "{mode:?}: no {line:?} in\n{out}"
            );
        }
        assert!(out.contains(r#"{__name__="temp", room="say \"hi\""}"#));
        for want in [
            format!("  ref=1 t={T0} v=0.5"),
            format!("  ref=2 t={} v=2", T0 + STEP),
            format!("  ref=3 t={} v=NaN", T0 + 5 * STEP),
            format!("  ref=3 t={} v=+Inf", T0 + 6 * STEP),
            format!("  ref=3 t={} v=-Inf", T0 + 7 * STEP),
            format!("  ref=2 [{T0}, {}]", T0 + 2 * STEP),
        ] {
            assert!(
                out.lines().any(|l| l == want),
                "{mode:?}: no {want:?} in\n{out}"
            );
        }
        let headers: Vec<&str> = out.lines().filter(|l| l.starts_with("segment ")).collect();
        assert!(
            headers[0].starts_with("segment 000001 offset 8: "),
            "{}",
            headers[0]
        );
        assert!(headers.iter().any(|h| h.contains(": deletes (1) [")));
        match mode {
            WalMode::Native => {
                assert!(headers.iter().any(|h| h.contains(": symbols 0..")));
                assert!(headers.iter().any(|h| h.contains(": series (2) [symbolic")));
            }
            WalMode::Prometheus => {
                assert!(headers.iter().all(|h| h.ends_with(" [simple]")), "{out}");
            }
            WalMode::Wlog => unreachable!("this test writes the SegmentWAL modes only"),
        }
    }
}

#[test]
fn json_dump_is_one_object_per_record() {
    for mode in [WalMode::Native, WalMode::Prometheus] {
        let (_tmp, data, w) = data_dir(mode);
        let o = tsdb_cli([
            OsStr::new("wal"),
            OsStr::new("dump"),
            OsStr::new("--json"),
            data.as_os_str(),
        ]);
        assert!(o.status.success(), "{mode:?}: {}", stderr(&o));
        let recs = json_lines(&stdout(&o));
        let mut samples = 0;
        let mut series = Vec::new();
        let mut specials = Vec::new();
        for r in &recs {
            for k in ["segment", "offset", "len", "flag"] {
                assert!(r[k].is_u64(), "{k} in {r}");
            }
            assert!(r["flags"].is_array(), "{r}");
            match r["type"].as_str().unwrap() {
                "samples" => {
                    for s in r["samples"].as_array().unwrap() {
                        samples += 1;
                        assert!(s["ref"].is_u64() && s["t"].is_i64(), "{s}");
                        if let Some(v) = s["v"].as_str() {
                            specials.push((
                                s["ref"].as_u64().unwrap(),
                                s["t"].as_i64().unwrap(),
                                v.to_string(),
                            ));
                        } else {
                            assert!(s["v"].is_f64() || s["v"].is_i64(), "{s}");
                        }
                    }
                }
                "series" => {
                    for s in r["series"].as_array().unwrap() {
                        series.push((s["ref"].as_u64().unwrap(), s["labels"].clone()));
                    }
                }
                "deletes" => {
                    assert_eq!(
                        r["deletes"],
                        serde_json::json!([{"ref": 2, "mint": T0, "maxt": T0 + 2 * STEP}])
                    );
                }
                "symbols" => {
                    assert_eq!(mode, WalMode::Native);
                    assert!(r["first"].is_u64() && r["count"].is_u64(), "{r}");
                }
                t => panic!("unexpected type {t}"),
            }
            if mode == WalMode::Prometheus {
                assert_eq!(r["flag"], 1);
                assert_eq!(r["flags"], serde_json::json!(["simple"]));
            }
        }
        assert_eq!(samples, w.samples, "{mode:?}");
        assert_eq!(
            specials,
            vec![
                (3, T0 + 5 * STEP, "NaN".to_string()),
                (3, T0 + 6 * STEP, "+Inf".to_string()),
                (3, T0 + 7 * STEP, "-Inf".to_string()),
            ]
        );
        let want: Vec<(u64, Value)> = w
            .series
            .iter()
            .map(|s| {
                let m: serde_json::Map<String, Value> = s
                    .labels
                    .iter()
                    .map(|(n, v)| (n.to_string(), Value::from(v)))
                    .collect();
                (s.series, Value::Object(m))
            })
            .collect();
        assert_eq!(series, want, "{mode:?}");
        assert_eq!(series[2].1["room"], "say \"hi\"");
    }
}

#[test]
fn summary_gives_exact_numbers_for_data_dir_and_wal_dir() {
    for mode in [WalMode::Native, WalMode::Prometheus] {
        let (_tmp, data, w) = data_dir(mode);
        let wal = data.join("wal");
        let segments = list_segments(&wal).unwrap().len();
        assert!(
            segments > 2,
            "the fixture should span several segments, has {segments}"
        );
        let symbols = match mode {
            WalMode::Prometheus | WalMode::Wlog => 0,
            WalMode::Native => w
                .series
                .iter()
                .flat_map(|s| {
                    s.labels
                        .iter()
                        .flat_map(|(n, v)| [n.to_string(), v.to_string()])
                })
                .collect::<BTreeSet<_>>()
                .len(),
        };
        let want = format!(
            "segments: {segments}\nseries: {}\nsamples: {}\ndeletes: {}\nsymbols: {symbols}\n\
             min time: {}\nmax time: {}\nformat: {}\ncheckpoint: -\nskipped records: none\n",
            w.series.len(),
            w.samples,
            w.deletes,
            w.min_t,
            w.max_t,
            match mode {
                WalMode::Native => "native",
                _ => "prometheus (SegmentWAL)",
            }
        );
        for dir in [&data, &wal] {
            let o = tsdb_cli([
                OsStr::new("wal"),
                OsStr::new("dump"),
                OsStr::new("--summary"),
                dir.as_os_str(),
            ]);
            assert!(o.status.success(), "{mode:?}: {}", stderr(&o));
            assert_eq!(stdout(&o), want, "{mode:?} {}", dir.display());
            assert_eq!(stderr(&o), "");
        }
        // The human dump reads the same log through either directory.
        let a = tsdb_cli([OsStr::new("wal"), OsStr::new("dump"), data.as_os_str()]);
        let b = tsdb_cli([OsStr::new("wal"), OsStr::new("dump"), wal.as_os_str()]);
        assert!(a.status.success() && b.status.success());
        assert_eq!(a.stdout, b.stdout);
    }
}

#[test]
fn empty_wal_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let o = tsdb_cli([
        OsStr::new("wal"),
        OsStr::new("dump"),
        OsStr::new("--summary"),
        tmp.path().as_os_str(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "segments: 0\nseries: 0\nsamples: 0\ndeletes: 0\nsymbols: 0\nmin time: -\nmax time: -\n\
         format: empty\ncheckpoint: -\nskipped records: none\n"
    );
}

/// Flips one byte in the middle of the written data of the last segment; returns its sequence number.
fn damage_last_segment(wal: &Path) -> u64 {
    let mut r = WalReader::open(wal).unwrap();
    while r.next().unwrap().is_some() {}
    let last = *r.segment_stats().last().unwrap();
    assert!(
        last.data_end > 8 + 64,
        "last segment too small to damage: {last:?}"
    );
    let at = (8 + last.data_end) / 2;
    let path = wal.join(format!("{:06}", last.seq));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    b[0] ^= 0x5a;
    f.write_all_at(&b, at).unwrap();
    last.seq
}

/// Parses `error: WAL corruption in segment NNNNNN at offset X: ...` from stderr.
fn corruption_at(err: &str) -> (String, u64) {
    let line = err.lines().next().unwrap_or_default();
    let rest = line
        .strip_prefix("error: WAL corruption in segment ")
        .unwrap_or_else(|| panic!("unexpected stderr: {err}"));
    let (seg, rest) = rest.split_once(" at offset ").unwrap();
    let (off, reason) = rest.split_once(": ").unwrap();
    assert!(!reason.is_empty());
    (seg.to_string(), off.parse().unwrap())
}

#[test]
fn corrupt_wal_dump_fails_then_repair_keeps_the_intact_prefix() {
    for mode in [WalMode::Native, WalMode::Prometheus] {
        let (_tmp, data, _w) = data_dir(mode);
        let wal = data.join("wal");
        let seq = damage_last_segment(&wal);
        // What the library reads before the damage.
        let (entries_before, want) = {
            let mut r = WalReader::open(&wal).unwrap();
            let mut n = 0u64;
            loop {
                match r.next() {
                    Ok(Some(_)) => n += 1,
                    Err(WalError::Corruption(c)) => break (n, c),
                    other => panic!("{mode:?}: expected corruption, got {other:?}"),
                }
            }
        };
        assert_eq!(want.segment, seq);

        let o = tsdb_cli([OsStr::new("wal"), OsStr::new("dump"), data.as_os_str()]);
        assert_eq!(o.status.code(), Some(1), "{mode:?}");
        let err = stderr(&o);
        let (seg, off) = corruption_at(&err);
        assert_eq!(
            (seg.as_str(), off),
            (format!("{seq:06}").as_str(), want.offset),
            "{err}"
        );
        let hint = format!(
            "hint: run \"tsdb-cli wal repair {}\" to cut the log at the last intact entry",
            data.display()
        );
        assert!(err.lines().any(|l| l == hint), "{err}");
        let out = stdout(&o);
        assert!(out.starts_with("segment 000001 offset 8: "), "{out}");
        assert!(out.contains(&format!("  ref=1 t={T0} v=0.5")));
        let headers = out.lines().filter(|l| l.starts_with("segment ")).count() as u64;
        assert_eq!(
            headers, entries_before,
            "{mode:?}: every intact entry is printed"
        );

        let json = tsdb_cli([
            OsStr::new("wal"),
            OsStr::new("dump"),
            OsStr::new("--json"),
            wal.as_os_str(),
        ]);
        assert_eq!(json.status.code(), Some(1));
        assert_eq!(json_lines(&stdout(&json)).len() as u64, entries_before);
        let summary = tsdb_cli([
            OsStr::new("wal"),
            OsStr::new("dump"),
            OsStr::new("--summary"),
            wal.as_os_str(),
        ]);
        assert_eq!(summary.status.code(), Some(1));
        assert!(stdout(&summary).starts_with("segments: "));
        assert!(stderr(&summary).starts_with("error: WAL corruption in segment "));

        let rep = tsdb_cli([OsStr::new("wal"), OsStr::new("repair"), data.as_os_str()]);
        assert!(rep.status.success(), "{mode:?}: {}", stderr(&rep));
        let report = stdout(&rep);
        assert!(
            report.starts_with(&format!("repaired WAL {}\n", wal.display())),
            "{report}"
        );
        assert!(
            report.contains(&format!(
                "  damage:        segment {seq:06} at offset {}: ",
                want.offset
            )),
            "{report}"
        );
        assert!(
            report.contains(&format!("  entries kept:  {entries_before}\n")),
            "{report}"
        );
        let dropped: u64 = report
            .lines()
            .find_map(|l| l.strip_prefix("  bytes dropped: "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(dropped > 0, "{report}");

        let after = tsdb_cli([OsStr::new("wal"), OsStr::new("dump"), data.as_os_str()]);
        assert!(after.status.success(), "{mode:?}: {}", stderr(&after));
        assert_eq!(
            stdout(&after),
            out,
            "{mode:?}: the intact prefix is what was shown before"
        );
        let after_json = tsdb_cli([
            OsStr::new("wal"),
            OsStr::new("dump"),
            OsStr::new("--json"),
            wal.as_os_str(),
        ]);
        assert!(after_json.status.success());
        assert_eq!(after_json.stdout, json.stdout);

        let again = tsdb_cli([OsStr::new("wal"), OsStr::new("repair"), wal.as_os_str()]);
        assert!(again.status.success(), "{}", stderr(&again));
        let again = stdout(&again);
        assert!(again.contains(" is intact "), "{again}");
        assert!(again.contains("nothing to repair"), "{again}");
    }
}

#[test]
fn missing_directory_and_bad_usage() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-dir");
    for cmd in ["dump", "repair"] {
        let o = tsdb_cli([OsStr::new("wal"), OsStr::new(cmd), missing.as_os_str()]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        assert_eq!(
            stderr(&o),
            format!("error: {}: no such directory\n", missing.display())
        );
        assert!(o.stdout.is_empty());
    }
    let o = tsdb_cli(["wal", "dump", "--no-such-flag", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--no-such-flag"), "{}", stderr(&o));
    let o = tsdb_cli(["wal", "dump", "--json", "--summary", "x"]);
    assert_eq!(o.status.code(), Some(2));
    let o = tsdb_cli(["wal", "dump"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn help_explains_the_tool_and_gives_examples() {
    let o = tsdb_cli(["--help"]);
    assert!(o.status.success());
    let top = stdout(&o);
    assert!(
        top.contains("write-ahead log") && top.contains("wal"),
        "{top}"
    );
    let o = tsdb_cli(["wal", "dump", "--help"]);
    assert!(o.status.success());
    let h = stdout(&o);
    for want in [
        "--json",
        "--summary",
        "`-` when there are no samples",
        "tsdb-cli wal dump --summary data/wal",
    ] {
        assert!(h.contains(want), "no {want:?} in\n{h}");
    }
}

#[test]
fn closed_pipe_is_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = tmp.path().join("wal");
    let w = Wal::open(
        &wal,
        WalOptions {
            sync: SyncPolicy::Never,
            ..WalOptions::default()
        },
    )
    .unwrap();
    let series: Vec<RefSeries> = (0..100)
        .map(|i| RefSeries {
            series: i,
            labels: labels(&[("__name__", "m"), ("i", &i.to_string())]),
        })
        .collect();
    let samples: Vec<RefSample> = (0..20_000)
        .map(|i| RefSample {
            series: i % 100,
            t: T0 + i as i64,
            v: i as f64,
        })
        .collect();
    w.log(Batch {
        series: &series,
        samples: &samples,
        deletes: &[],
    })
    .unwrap();
    w.close().unwrap();

    // Far more output than a pipe buffers: the writes after the reader has gone fail with EPIPE.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tsdb-cli"))
        .args([OsStr::new("wal"), OsStr::new("dump"), wal.as_os_str()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("segment 000001 offset 8: "), "{first}");
    // The reader is dropped here, closing the pipe.
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(0), "{err}");
}

/// A wlog of several 32 KiB segments and a checkpoint: `wal dump` names the checkpoint's segment
/// `checkpoint.NNNNNNNN/NNNNNNNN` and the others `NNNNNNNN` (human and JSON), and `--summary` says the
/// format and the checkpoint.
#[test]
fn wlog_dump_names_the_checkpoint_and_the_format() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = tmp.path().join("data").join("wal");
    let opts = WalOptions {
        mode: WalMode::Wlog,
        segment_size: 32 * 1024,
        sync: SyncPolicy::Never,
        ..WalOptions::default()
    };
    let w = Wal::open(&wal, opts).unwrap();
    let series: Vec<RefSeries> = (1..=3u64)
        .map(|r| RefSeries {
            series: r,
            labels: labels(&[("__name__", "m"), ("i", &r.to_string())]),
        })
        .collect();
    w.log_series(&series).unwrap();
    let batches = 4000i64;
    for i in 0..batches {
        let xs: Vec<RefSample> = (1..=3u64)
            .map(|r| RefSample {
                series: r,
                t: T0 + i * STEP,
                v: (i as f64).sqrt() * r as f64,
            })
            .collect();
        w.log_samples(&xs).unwrap();
    }
    let rep = w.truncate(T0 + (batches / 2) * STEP, |_| true).unwrap();
    assert!(!rep.segments.is_empty(), "{rep:?}");
    w.close().unwrap();
    let cp = tsdb_wal::wlog::list(&wal).unwrap();
    let cp = cp.last_checkpoint().expect("a checkpoint").index;
    let cp_name = format!("checkpoint.{cp:08}");

    let summary = tsdb_cli([
        OsStr::new("wal"),
        OsStr::new("dump"),
        OsStr::new("--summary"),
        wal.as_os_str(),
    ]);
    assert!(summary.status.success(), "{}", stderr(&summary));
    let out = stdout(&summary);
    assert!(
        out.contains("\nformat: wlog (Prometheus's current WAL)\n"),
        "{out}"
    );
    assert!(out.contains(&format!("\ncheckpoint: {cp_name}\n")), "{out}");
    assert!(
        out.contains("\nseries: 3\n"),
        "the checkpoint keeps the three series: {out}"
    );

    let human = tsdb_cli([OsStr::new("wal"), OsStr::new("dump"), wal.as_os_str()]);
    assert!(human.status.success(), "{}", stderr(&human));
    let out = stdout(&human);
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("segment {cp_name}/00000000 offset 0: series (3)")),
        "{first}"
    );
    let later = format!("segment {:08} offset ", cp + 1);
    assert!(
        out.lines().any(|l| l.starts_with(&later)),
        "no {later:?} line"
    );
    assert!(
        stderr(&human).contains(&format!(
            "note: format wlog (Prometheus's current WAL): checkpoint {cp_name}"
        )),
        "{}",
        stderr(&human)
    );

    let json = tsdb_cli([
        OsStr::new("wal"),
        OsStr::new("dump"),
        OsStr::new("--json"),
        wal.as_os_str(),
    ]);
    assert!(json.status.success(), "{}", stderr(&json));
    let recs = json_lines(&stdout(&json));
    assert_eq!(
        recs[0]["file"],
        format!("{cp_name}/00000000"),
        "{}",
        recs[0]
    );
    assert_eq!(recs[0]["checkpoint"], cp, "{}", recs[0]);
    assert!(recs
        .iter()
        .any(|r| r["file"] == format!("{:08}", cp + 1) && r["checkpoint"].is_null()));
    let samples: usize = recs
        .iter()
        .filter(|r| r["type"] == "samples")
        .map(|r| r["samples"].as_array().unwrap().len())
        .sum();
    assert!(samples > 0 && samples < 3 * batches as usize, "{samples}");
}
