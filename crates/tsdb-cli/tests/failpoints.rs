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

/// Samples of 8 series every 60 s over 10 h, in time order, as Prometheus text with timestamps.
fn input() -> String {
    let mut s = String::new();
    for i in 0..10 * 60 {
        let t = T0 + i * 60_000;
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

/// Three databases filled by `append`: one with 10 h in its head (for flush); one with 7 h flushed into
/// blocks and 3 h more in its head and WAL (for truncate and delete); one with the blocks of 0–4 h (and of the
/// one sample at 4 h) and a head of 4–8 h (for compact: it persists 4–6 h from the head, then merges it
/// with the older blocks of its 6 h range and removes them).
fn fixtures(root: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let head_only = root.join("head-only");
    let file = root.join("in.prom");
    let all = input();
    let lines: Vec<&str> = all.lines().collect();
    let cut = lines.len() * 7 / 10;
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
    let compactable = root.join("compactable");
    let per_hour = lines.len() / 10;
    append(
        &compactable,
        &file,
        &(lines[..4 * per_hour + 8].join("\n") + "\n"),
    );
    let o = run(&["flush", "-d", compactable.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    append(
        &compactable,
        &file,
        &(lines[4 * per_hour + 8..8 * per_hour].join("\n") + "\n"),
    );
    (head_only, mixed, compactable)
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

/// The first sample's time: aligned to 6 h, so that three 2 h blocks from it make one compaction range.
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 21_600_000;

/// Runs `case` on a copy of `fixture` once with the trace, then once per chosen point with a crash there,
/// checking each recovery; returns the summary line.
fn crash_at_every_point(tmp: &Path, case: &Case, fixture: &Path) -> String {
    let before = dump(fixture);
    // The uninterrupted run: its points and its result.
    let clean = tmp.join(format!("{}-clean", case.name));
    copy_dir(fixture, &clean);
    let trace = tmp.join(format!("{}.trace", case.name));
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
    for k in ks {
        let dir = tmp.join(format!("{}-{k}", case.name));
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
    let line = format!(
        "{}: {} crash points passed, crashed at {} of them ({}), all recovered",
        case.name,
        points.len(),
        chosen(&points).len(),
        kinds.join(" ")
    );
    println!("{line}");
    line
}

fn case(name: &'static str, args: &[String]) -> Case {
    Case {
        name,
        args: std::iter::once(name.to_string())
            .chain(args.iter().cloned())
            .collect(),
    }
}

#[test]
fn flush_recovers_from_a_crash_at_every_point() {
    let tmp = tempfile::tempdir().unwrap();
    let (head_only, _, _) = fixtures(tmp.path());
    crash_at_every_point(tmp.path(), &case("flush", &[]), &head_only);
}

#[test]
fn compact_recovers_from_a_crash_at_every_point() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, compactable) = fixtures(tmp.path());
    let line = crash_at_every_point(tmp.path(), &case("compact", &[]), &compactable);
    assert!(
        line.contains("block.delete.rename"),
        "compact merged no block: {line}"
    );
}

#[test]
fn truncate_recovers_from_a_crash_at_every_point() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, mixed, _) = fixtures(tmp.path());
    let cut = (T0 + 5 * 3_600_000 + 30 * 60_000).to_string();
    crash_at_every_point(
        tmp.path(),
        &case("truncate", &["--before".into(), cut]),
        &mixed,
    );
}

#[test]
fn delete_recovers_from_a_crash_at_every_point() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, mixed, _) = fixtures(tmp.path());
    let args = [
        "--match".to_string(),
        "fp_total{k=~\"[1-3]\"}".into(),
        "--min-time".into(),
        (T0 + 3_600_000).to_string(),
        "--max-time".into(),
        (T0 + 8 * 3_600_000).to_string(),
    ];
    crash_at_every_point(tmp.path(), &case("delete", &args), &mixed);
}
