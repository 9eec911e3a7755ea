//! Crash at every step: each writing command (flush, compact, truncate, delete — with the WAL checkpoints
//! and head chunk truncation they cause) is first run with `TSDB_FAILPOINT_TRACE` to learn how many crash
//! points (fsync, rename, directory sync, removal) it passes, then run once per point with the process
//! killed there (`TSDB_FAILPOINT=*#K`). After each crash the data must still read as before, and running the
//! command again must finish it: no leftover temporary file, and exactly the samples an uninterrupted run
//! leaves.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// Samples of 8 series every 60 s over 9 h, in time order, as Prometheus text with timestamps.
fn input() -> String {
    let t0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 7_200_000;
    let mut s = String::new();
    for i in 0..9 * 60 {
        let t = t0 + i * 60_000;
        for k in 0..8 {
            s.push_str(&format!("fp_total{{k=\"{k}\"}} {} {t}\n", i * (k + 1)));
        }
    }
    s
}

fn run(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tsdb-cli"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run tsdb-cli")
}

fn dump(dir: &Path) -> String {
    let o = run(&["dump", "-d", dir.to_str().unwrap()], &[]);
    assert!(
        o.status.success(),
        "dump of {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Names of temporary files or directories anywhere under `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.contains(".tmp") {
                out.push(p.display().to_string());
            }
            if p.is_dir() {
                walk(&p, out);
            }
        }
    }
    walk(dir, &mut out);
    out
}

struct Case {
    name: &'static str,
    args: Vec<String>,
}

fn append(dir: &Path, file: &Path, text: &str) {
    std::fs::write(file, text).unwrap();
    let o = run(
        &[
            "append",
            "-d",
            dir.to_str().unwrap(),
            "--batch",
            "400",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Two databases filled by `append`: one with 9 h in its head (for flush), one with those 9 h flushed
/// into blocks and 2 h more in its head and WAL (for compact, truncate and delete).
fn fixtures(root: &Path) -> (PathBuf, PathBuf) {
    let head_only = root.join("head-only");
    let file = root.join("in.prom");
    let all = input();
    let lines: Vec<&str> = all.lines().collect();
    let cut = lines.len() * 7 / 9;
    let (old, new) = (
        lines[..cut].join("\n") + "\n",
        lines[cut..].join("\n") + "\n",
    );
    append(&head_only, &file, &all);
    let mixed = root.join("mixed");
    append(&mixed, &file, &old);
    let o = run(&["flush", "-d", mixed.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    append(&mixed, &file, &new);
    (head_only, mixed)
}

/// The indices (1-based) of the first and the last time each point was reached: every kind of step of
/// the command is crashed at least once, at both ends of the command.
fn chosen(points: &[String]) -> Vec<usize> {
    let mut out = std::collections::BTreeSet::new();
    for name in points {
        let first = points.iter().position(|p| p == name).unwrap_or(0);
        let last = points.iter().rposition(|p| p == name).unwrap_or(0);
        out.insert(first + 1);
        out.insert(last + 1);
    }
    out.into_iter().collect()
}

#[test]
fn every_crash_point_of_every_writing_command_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let (head_only, mixed) = fixtures(tmp.path());
    let t0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 7_200_000;
    let cut = (t0 + 5 * 3_600_000 + 30 * 60_000).to_string();
    let del_from = (t0 + 3_600_000).to_string();
    let del_to = (t0 + 8 * 3_600_000).to_string();
    let cases = [
        Case {
            name: "flush",
            args: vec!["flush".into()],
        },
        Case {
            name: "compact",
            args: vec!["compact".into()],
        },
        Case {
            name: "truncate",
            args: vec!["truncate".into(), "--before".into(), cut],
        },
        Case {
            name: "delete",
            args: vec![
                "delete".into(),
                "--match".into(),
                "fp_total{k=~\"[1-3]\"}".into(),
                "--min-time".into(),
                del_from,
                "--max-time".into(),
                del_to,
            ],
        },
    ];
    let mut summary = Vec::new();
    let mut kills = 0;
    for case in &cases {
        let fixture = if case.name == "flush" {
            &head_only
        } else {
            &mixed
        };
        let before = dump(fixture);
        // The uninterrupted run: its points and its result.
        let clean = tmp.path().join(format!("{}-clean", case.name));
        copy_dir(fixture, &clean);
        let trace = tmp.path().join(format!("{}.trace", case.name));
        let mut args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        args.extend(["-d", clean.to_str().unwrap()]);
        let o = run(
            &args,
            &[("TSDB_FAILPOINT_TRACE", trace.display().to_string())],
        );
        assert!(
            o.status.success(),
            "{}: {}",
            case.name,
            String::from_utf8_lossy(&o.stderr)
        );
        let points: Vec<String> = std::fs::read_to_string(&trace)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        assert!(
            points.len() >= 2,
            "{}: only {} crash points: {points:?}",
            case.name,
            points.len()
        );
        let want = dump(&clean);
        assert!(leftovers(&clean).is_empty(), "{:?}", leftovers(&clean));

        let ks = chosen(&points);
        kills += ks.len();
        for k in ks {
            let dir = tmp.path().join(format!("{}-{k}", case.name));
            copy_dir(fixture, &dir);
            let mut args: Vec<&str> = case.args.iter().map(String::as_str).collect();
            args.extend(["-d", dir.to_str().unwrap()]);
            let o = run(&args, &[("TSDB_FAILPOINT", format!("*#{k}"))]);
            let at = &points[k - 1];
            assert!(
                o.status.code().is_none(),
                "{} did not crash at point {k} ({at}): {}",
                case.name,
                String::from_utf8_lossy(&o.stderr)
            );
            // Read-only, before any repair: every sample is still there, or the command's effect is
            // partly visible (what a delete or a truncate removes), and nothing else.
            let seen = dump(&dir);
            let seen_lines: std::collections::BTreeSet<&str> = seen.lines().collect();
            let before_lines: std::collections::BTreeSet<&str> = before.lines().collect();
            let want_lines: std::collections::BTreeSet<&str> = want.lines().collect();
            assert!(
                seen_lines.is_subset(&before_lines) && want_lines.is_subset(&seen_lines),
                "{} crashed at {k} ({at}): the data reads as neither before nor after",
                case.name
            );
            // The next run finishes the job.
            let o = run(&args, &[]);
            assert!(
                o.status.success(),
                "{} after a crash at {k} ({at}): {}",
                case.name,
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(
                leftovers(&dir).is_empty(),
                "{} after a crash at {k} ({at}) left {:?}",
                case.name,
                leftovers(&dir)
            );
            assert_eq!(
                dump(&dir),
                want,
                "{} after a crash at {k} ({at})",
                case.name
            );
            std::fs::remove_dir_all(&dir).unwrap();
        }
        let mut kinds: Vec<&str> = points.iter().map(String::as_str).collect();
        kinds.sort();
        kinds.dedup();
        summary.push(format!(
            "{}: {} crash points passed, crashed at {} of them ({}), all recovered",
            case.name,
            points.len(),
            chosen(&points).len(),
            kinds.join(" ")
        ));
    }
    for s in summary {
        println!("{s}");
    }
    println!("failpoint crashes: {kills}");
}
