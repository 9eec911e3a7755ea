//! The PromQL conformance suite: the scripts in `testdata/conformance/*.test` (series loaded over time,
//! then instant and range evals) are evaluated by our engine and compared with Prometheus 2.42's answers
//! recorded beside each script in `<script>.expected.json`.
//!
//! * Offline (the default, what CI runs): each data set is loaded into a fresh `tsdb::Db`, each eval run
//!   by `tsdb_promql::Engine`, and its answer compared with the recorded one (see `compare.rs`). The test
//!   fails if any case differs that `testdata/conformance/KNOWN_DIFFERENCES` does not list, or if a
//!   script has no recorded answers.
//! * Recording: `TSDB_PROMQL_RECORD=1 cargo test -p tsdb-promql --test conformance -- --nocapture` loads
//!   every data set into a real `prometheus` (`prometheus` and `promtool` on PATH) and rewrites the
//!   expected files, then runs the offline check.
//!
//! `TSDB_PROMQL_CONFORMANCE_ONLY=<text>` limits both modes to scripts whose file name contains the text.

#[path = "conformance/compare.rs"]
mod compare;
#[path = "conformance/record.rs"]
mod record;
#[path = "conformance/script.rs"]
mod script;

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tsdb_labels::Labels;
use tsdb_promql::{Engine, QueryOptions};

use compare::{compare, from_engine, from_json, show, Answer, Outcome};
use script::{DataSet, EvalKind, Script};

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/conformance")
}

fn expected_path(script: &Path) -> PathBuf {
    let mut p = script.as_os_str().to_owned();
    p.push(".expected.json");
    PathBuf::from(p)
}

/// The scripts of the suite, sorted by name, limited by `TSDB_PROMQL_CONFORMANCE_ONLY`.
fn scripts() -> Vec<PathBuf> {
    let only = std::env::var("TSDB_PROMQL_CONFORMANCE_ONLY").unwrap_or_default();
    let mut v: Vec<PathBuf> = std::fs::read_dir(suite_dir())
        .expect("read testdata/conformance")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(&only))
        })
        .collect();
    v.sort();
    v
}

/// `KNOWN_DIFFERENCES`: `file:line query — reason` per line; `#` comments. Keyed by `file:line`, with
/// the query and the reason.
fn known_differences() -> BTreeMap<String, (String, String)> {
    let path = suite_dir().join("KNOWN_DIFFERENCES");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (case, reason) = line.split_once(" — ").unwrap_or_else(|| {
            panic!(
                "KNOWN_DIFFERENCES:{}: expected `file:line query — reason`",
                i + 1
            )
        });
        let (key, query) = case.split_once(' ').unwrap_or((case, ""));
        out.insert(
            key.to_owned(),
            (query.trim().to_owned(), reason.trim().to_owned()),
        );
    }
    out
}

/// A fresh database under a temporary directory holding the data set's samples, appended in time
/// order across series.
fn load_db(ds: &DataSet) -> (tempfile::TempDir, tsdb::Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = tsdb::Db::open(dir.path(), tsdb::Options::default()).expect("open db");
    let labels: Vec<Labels> = ds
        .series
        .iter()
        .map(|s| {
            Labels::new(s.labels.iter().map(|(n, v)| (n, v)))
                .unwrap_or_else(|e| panic!("{}: bad labels: {e}", s.origin))
        })
        .collect();
    let mut all: Vec<(i64, usize, f64)> = ds
        .series
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.samples.iter().map(move |&(t, v)| (t, i, v)))
        .collect();
    all.sort_by_key(|&(t, i, _)| (t, i));
    let mut app = db.appender();
    for (t, i, v) in all {
        app.append(&labels[i], t, v)
            .unwrap_or_else(|e| panic!("{}: append at {t} ms: {e}", ds.series[i].origin));
    }
    app.commit().expect("commit");
    (dir, db)
}

/// The expected file's text: the header fields, then one case per line (diffs stay readable).
fn expected_text(doc: &Json) -> String {
    let mut out = String::from("{\n");
    if let Some(obj) = doc.as_object() {
        for (k, v) in obj.iter().filter(|(k, _)| *k != "cases") {
            out.push_str(&format!("  {}: {},\n", Json::from(k.as_str()), v));
        }
    }
    out.push_str("  \"cases\": [\n");
    let cases = doc["cases"].as_array().cloned().unwrap_or_default();
    for (i, c) in cases.iter().enumerate() {
        let sep = if i + 1 < cases.len() { "," } else { "" };
        out.push_str(&format!("    {c}{sep}\n"));
    }
    out.push_str("  ]\n}\n");
    out
}

/// The recorded answers of a script, by `(line, query)`.
fn load_expected(path: &Path) -> Result<HashMap<(usize, String), Json>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: Json =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let cases = doc["cases"]
        .as_array()
        .ok_or_else(|| format!("{}: no cases", path.display()))?;
    Ok(cases
        .iter()
        .filter_map(|c| {
            Some((
                (
                    c["line"].as_u64()? as usize,
                    c["query"].as_str()?.to_owned(),
                ),
                c["response"].clone(),
            ))
        })
        .collect())
}

#[derive(Default)]
struct Tally {
    scripts: usize,
    cases: usize,
    passed: usize,
    message_only: Vec<String>,
    known: Vec<String>,
    known_fixed: Vec<String>,
    failed: Vec<String>,
}

fn run_script(script: &Script, expected: &HashMap<(usize, String), Json>, tally: &mut Tally) {
    let known = known_differences();
    let engine = Engine::default();
    let opts = QueryOptions::default();
    for ds in &script.datasets {
        let (_dir, db) = load_db(ds);
        for e in &ds.evals {
            tally.cases += 1;
            let key = format!("{}:{}", script.name, e.line);
            let Some(json) = expected.get(&(e.line, e.query.clone())) else {
                tally.failed.push(format!(
                    "{key} {}\n    no recorded answer: re-record (TSDB_PROMQL_RECORD=1)",
                    e.query
                ));
                continue;
            };
            let theirs = match from_json(json) {
                Ok(a) => a,
                Err(m) => {
                    tally
                        .failed
                        .push(format!("{key} {}\n    bad recorded answer: {m}", e.query));
                    continue;
                }
            };
            let got = std::panic::catch_unwind(AssertUnwindSafe(|| match e.kind {
                EvalKind::Instant { t } => engine.instant(&db, &e.query, t, &opts),
                EvalKind::Range { start, end, step } => {
                    engine.range(&db, &e.query, start, end, step, &opts)
                }
            }));
            let ours = match got {
                Ok(r) => from_engine(r),
                Err(p) => Answer::Error {
                    error_type: "panic".into(),
                    message: p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default(),
                },
            };
            match compare(&e.query, &ours, &theirs) {
                Outcome::Pass => {
                    tally.passed += 1;
                    if known.contains_key(&key) {
                        tally.known_fixed.push(format!("{key} {}", e.query));
                    }
                }
                Outcome::MessageOnly { ours, theirs } => {
                    tally.passed += 1;
                    tally.message_only.push(format!(
                        "{key} {}\n    ours:   {ours}\n    theirs: {theirs}",
                        e.query
                    ));
                }
                Outcome::Fail(why) => {
                    let report = format!(
                        "{key} [{}] {}\n    {why}\n    expected: {}\n    got:      {}",
                        e.describe(),
                        e.query,
                        show(&theirs),
                        show(&ours)
                    );
                    match known.get(&key) {
                        Some((q, reason)) if q == &e.query => {
                            tally.known.push(format!("{key} {} — {reason}", e.query))
                        }
                        _ => tally.failed.push(report),
                    }
                }
            }
        }
    }
}

/// The script format's value notation, checked on its own.
#[test]
fn script_values() {
    let s = script::parse(
        "t.test",
        "load 1m\n  m{a=\"x\"} 1+2x2 _ 5-1x1 _x2 stale 3x1 NaN -Inf 1e3\neval instant at 1m30s m\n",
    )
    .expect("parses");
    let ds = &s.datasets[0];
    let got: Vec<(i64, String)> = ds.series[0]
        .samples
        .iter()
        .map(|&(t, v)| {
            let v = if v.to_bits() == script::STALE_NAN_BITS {
                "stale".to_owned()
            } else {
                v.to_string()
            };
            (t / 60_000, v)
        })
        .collect();
    let want: Vec<(i64, &str)> = vec![
        (0, "1"),
        (1, "3"),
        (2, "5"),
        (4, "5"),
        (5, "4"),
        (8, "stale"),
        (9, "3"),
        (10, "3"),
        (11, "NaN"),
        (12, "-inf"),
        (13, "1000"),
    ];
    assert_eq!(
        got,
        want.into_iter()
            .map(|(t, v)| (t, v.to_owned()))
            .collect::<Vec<_>>()
    );
    assert_eq!(ds.evals[0].kind, EvalKind::Instant { t: 90_000 });
    assert_eq!(script::parse_time("1h30m"), Ok(5_400_000));
    assert_eq!(script::parse_time("-90s"), Ok(-90_000));
    assert_eq!(script::parse_time("2.5"), Ok(2_500));
    let err = script::parse("t.test", "load 1m\n  m 1 zz\n").unwrap_err();
    assert!(err.starts_with("t.test:2:"), "{err}");
    let err =
        script::parse("t.test", "load 1m\n  m 1\neval instant at 0 m\nload 1m\n").unwrap_err();
    assert!(err.starts_with("t.test:4:"), "{err}");
}

#[test]
fn conformance() {
    let paths = scripts();
    assert!(!paths.is_empty(), "no scripts in {}", suite_dir().display());
    let parsed: Vec<(PathBuf, Script)> = paths
        .iter()
        .map(|p| {
            let s = script::parse_file(p).unwrap_or_else(|e| panic!("{e}"));
            (p.clone(), s)
        })
        .collect();

    if std::env::var("TSDB_PROMQL_RECORD").is_ok_and(|v| !v.is_empty() && v != "0") {
        for (p, s) in &parsed {
            let n: usize = s.datasets.iter().map(|d| d.evals.len()).sum();
            eprintln!("recording {} ({n} evals) with prometheus…", s.name);
            let doc = record::record(s);
            let text = expected_text(&doc);
            std::fs::write(expected_path(p), text)
                .unwrap_or_else(|e| panic!("write {}: {e}", expected_path(p).display()));
        }
    }

    let mut tally = Tally::default();
    for (p, s) in &parsed {
        tally.scripts += 1;
        match load_expected(&expected_path(p)) {
            Ok(expected) => run_script(s, &expected, &mut tally),
            Err(e) => {
                let n: usize = s.datasets.iter().map(|d| d.evals.len()).sum();
                tally.cases += n;
                tally.failed.push(format!(
                    "{}: {n} cases without recorded answers: {e} (record with TSDB_PROMQL_RECORD=1)",
                    s.name
                ));
            }
        }
    }

    if !tally.message_only.is_empty() {
        eprintln!(
            "\n=== same error type, different message ({}) ===",
            tally.message_only.len()
        );
        for m in &tally.message_only {
            eprintln!("{m}");
        }
    }
    if !tally.known.is_empty() {
        eprintln!("\n=== known differences ({}) ===", tally.known.len());
        for m in &tally.known {
            eprintln!("{m}");
        }
    }
    if !tally.known_fixed.is_empty() {
        eprintln!(
            "\n=== listed in KNOWN_DIFFERENCES but now passing ({}) ===",
            tally.known_fixed.len()
        );
        for m in &tally.known_fixed {
            eprintln!("{m}");
        }
    }
    if !tally.failed.is_empty() {
        eprintln!("\n=== failures ({}) ===", tally.failed.len());
        for m in &tally.failed {
            eprintln!("{m}");
        }
    }
    eprintln!(
        "\nconformance: {} scripts, {} cases, {} passed ({} with a different error message), {} known differences, {} failed",
        tally.scripts,
        tally.cases,
        tally.passed,
        tally.message_only.len(),
        tally.known.len(),
        tally.failed.len()
    );
    assert!(
        tally.failed.is_empty(),
        "{} conformance cases failed (see above)",
        tally.failed.len()
    );
}
