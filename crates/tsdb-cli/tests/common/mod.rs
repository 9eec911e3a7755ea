//! Helpers of the command-line tests: running the built binary, fixtures, directory snapshots, and
//! `promtool` (gated by `TSDB_INTEROP`).
#![allow(dead_code)]

pub mod prom;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository's `testdata/`.
pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

/// Runs `tsdb-cli` with `args` (stdin empty).
pub fn cli<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    cli_in(None, args, b"")
}

/// Runs `tsdb-cli` with `args` in `cwd` (if given), feeding `stdin`.
pub fn cli_in<I, S>(cwd: Option<&Path>, args: I, stdin: &[u8]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tsdb-cli"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().expect("run tsdb-cli");
    {
        let mut si = child.stdin.take().expect("stdin");
        // The command may exit before reading it all: ignore EPIPE.
        let _ = si.write_all(stdin);
    }
    child.wait_with_output().expect("wait for tsdb-cli")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("stderr is UTF-8")
}

/// Asserts the exit status, showing the output otherwise.
#[track_caller]
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit status\n--- stdout\n{}\n--- stderr\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Runs `tsdb-cli` and asserts success; returns stdout.
#[track_caller]
pub fn ok<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let o = cli(args);
    assert_code(&o, 0);
    stdout(&o)
}

/// The value of a `key: value` line.
#[track_caller]
pub fn field(out: &str, key: &str) -> String {
    let prefix = format!("{key}: ");
    out.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key:?} line in\n{out}"))
        .to_string()
}

/// Every file under `dir` with its bytes (empty map for a missing directory).
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, d: &Path, m: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                m.insert(
                    format!("{}/", p.strip_prefix(base).unwrap().display()),
                    Vec::new(),
                );
                walk(base, &p, m);
            } else {
                m.insert(
                    p.strip_prefix(base).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut m = BTreeMap::new();
    walk(dir, dir, &mut m);
    m
}

/// Copies the block directories of `from` into `to` (created) and adds an empty `wal/`, which
/// `promtool tsdb dump` needs.
pub fn copy_blocks(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("wal")).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if p.is_dir() && name.len() == 26 && p.join("meta.json").is_file() {
            copy_dir(&p, &to.join(&name));
        }
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dst = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dst);
        } else {
            std::fs::copy(&p, &dst).unwrap();
        }
    }
}

/// `promtool` if it is on PATH. When it is missing: panics under `TSDB_INTEROP=require`, else prints a
/// note and returns `None` (the test then passes without checking).
pub fn promtool(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("TSDB_INTEROP").as_deref() == Ok("require") {
            panic!("{test}: promtool is not on PATH and TSDB_INTEROP=require (apt-get install prometheus)");
        }
        eprintln!(
            "{test}: skipped, promtool is not on PATH (set TSDB_INTEROP=require to fail instead)"
        );
    }
    found
}

/// Runs promtool and returns its stdout; panics with its stderr on failure.
#[track_caller]
pub fn run_promtool<I, S>(promtool: &Path, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let o = Command::new(promtool)
        .args(args)
        .output()
        .expect("run promtool");
    assert!(
        o.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("promtool output is UTF-8")
}

/// The lines of `s`, sorted.
pub fn sorted_lines(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.lines().collect();
    v.sort_unstable();
    v
}

/// A Prometheus text file with awkward values and labels: `series` series of `samples` samples each,
/// `step` ms apart from `t0`.
pub fn awkward_prom_text(series: usize, samples: usize, t0: i64, step: i64) -> String {
    let values = [
        0.0,
        -0.0,
        1.0,
        -1.5,
        0.1 + 0.2,
        1e6,
        1.234567e-7,
        f64::MAX,
        5e-324,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        123456789.0,
        1e21,
    ];
    let mut s = String::new();
    for i in 0..series {
        let name = format!("metric_{}", i % 5);
        let label = match i % 4 {
            0 => format!("plain-{i}"),
            1 => format!("quote \\\"{i}\\\" and \\\\ backslash"),
            2 => format!("new\\nline {i}"),
            _ => format!("ünïcode 🦀 {i}"),
        };
        for k in 0..samples {
            let v = values[(i * 7 + k) % values.len()] + if k % 3 == 0 { k as f64 } else { 0.0 };
            let v = if v.is_nan() {
                "NaN".to_string()
            } else if v == f64::INFINITY {
                "+Inf".to_string()
            } else if v == f64::NEG_INFINITY {
                "-Inf".to_string()
            } else {
                format!("{v:e}")
            };
            s.push_str(&format!(
                "{name}{{job=\"j{}\",label=\"{label}\"}} {v} {}\n",
                i % 3,
                t0 + k as i64 * step
            ));
        }
    }
    s
}
