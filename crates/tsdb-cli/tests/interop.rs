//! `tsdb-cli` against `promtool` (Prometheus 2.42) on the same blocks: `dump` prints what `promtool tsdb
//! dump` prints (compared after sorting lines), `ls` what `promtool tsdb list` prints, `analyze` the
//! figures of `promtool tsdb analyze`, and `import openmetrics` the blocks of `promtool tsdb
//! create-blocks-from openmetrics`. Blocks come from promtool (testdata/block/promtool, and made on the
//! fly) and from us (imported, and flushed from a database filled by `append`).
//!
//! Needs `promtool` on PATH; without it each test prints a note and passes, unless
//! `TSDB_INTEROP=require` (as CI runs them), which makes a missing promtool a failure.

mod common;

use std::path::Path;

use common::*;

/// Compares `tsdb-cli dump` and `promtool tsdb dump` on `dir` (blocks and an empty wal/), with and
/// without a selector and a time range.
fn same_dump(promtool: &Path, dir: &Path) {
    let d = dir.to_str().unwrap();
    let cases: [(&[&str], &[&str]); 3] = [
        (&[], &[]),
        (
            &["--match", "{job=~\"j1|node|api\"}"],
            &["--match={job=~\"j1|node|api\"}"],
        ),
        (
            &["--min-time", "1700003500000", "--max-time", "1700006450000"],
            &["--min-time=1700003500000", "--max-time=1700006450000"],
        ),
    ];
    for (ours, theirs) in cases {
        let mut a = vec!["dump", "-d", d];
        a.extend_from_slice(ours);
        let mine = ok(&a);
        let mut b = vec!["tsdb", "dump"];
        b.extend_from_slice(theirs);
        b.push(d);
        let reference = run_promtool(promtool, &b);
        let (m, r) = (sorted_lines(&mine), sorted_lines(&reference));
        assert_eq!(m.len(), r.len(), "{ours:?}: line counts differ on {d}");
        for (x, y) in m.iter().zip(&r) {
            assert_eq!(x, y, "{ours:?}: first differing line on {d}");
        }
    }
    assert!(!ok(["dump", "-d", d]).is_empty(), "no samples in {d}");
}

/// Compares `tsdb-cli ls` and `promtool tsdb list` on `dir`, byte for byte, with and without `-r`.
fn same_list(promtool: &Path, dir: &Path) {
    let d = dir.to_str().unwrap();
    assert_eq!(
        ok(["ls", "-d", d]),
        run_promtool(promtool, ["tsdb", "list", d])
    );
    assert_eq!(
        ok(["ls", "-r", "-d", d]),
        run_promtool(promtool, ["tsdb", "list", "-r", d])
    );
}

/// A database written by `append` (awkward values and labels, two 2 h ranges), flushed to blocks, the
/// blocks copied into `to` with an empty `wal/`.
fn our_flushed_blocks(tmp: &Path, to: &Path) {
    let data = tmp.join("ours-db");
    let text = awkward_prom_text(24, 300, 1_700_003_000_000, 15_000);
    let o = cli_in(
        None,
        [
            "append",
            "-d",
            data.to_str().unwrap(),
            "--batch",
            "1000000",
            "-",
        ],
        text.as_bytes(),
    );
    assert_code(&o, 0);
    assert_eq!(field(&stdout(&o), "samples appended"), "7200");
    let out = ok(["flush", "-d", data.to_str().unwrap()]);
    assert!(out.starts_with("wrote 2 blocks"), "{out}");
    copy_blocks(&data, to);
}

#[test]
fn dump_and_ls_match_promtool_on_promtool_blocks() {
    let Some(pt) = promtool("dump_and_ls_match_promtool_on_promtool_blocks") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    copy_blocks(&testdata("block/promtool"), &dir);
    same_dump(&pt, &dir);
    same_list(&pt, &dir);
}

#[test]
fn dump_and_ls_match_promtool_on_our_blocks() {
    let Some(pt) = promtool("dump_and_ls_match_promtool_on_our_blocks") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("flushed");
    our_flushed_blocks(tmp.path(), &dir);
    same_dump(&pt, &dir);
    same_list(&pt, &dir);

    let imported = tmp.path().join("imported");
    ok([
        "import".as_ref(),
        "openmetrics".as_ref(),
        "-q".as_ref(),
        testdata("chunks/input.om").as_os_str(),
        imported.as_os_str(),
    ]);
    std::fs::create_dir(imported.join("wal")).unwrap();
    same_dump(&pt, &imported);
    same_list(&pt, &imported);
}

/// The figures of a block table row but its ULID and size.
fn figures(table: &str) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = table
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("BLOCK ULID"))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(6)
                .map(String::from)
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn import_openmetrics_makes_the_blocks_promtool_makes() {
    let Some(pt) = promtool("import_openmetrics_makes_the_blocks_promtool_makes") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // The chunk fixture (one block) and a longer file crossing several 2 h boundaries, with gaps.
    let long = tmp.path().join("long.om");
    let mut text = String::new();
    for s in 0..5 {
        for k in 0..400i64 {
            if s == 2 && (100..250).contains(&k) {
                continue;
            }
            let t = 1_699_990_000_000 + k * 61_000 + s * 7;
            text.push_str(&format!(
                "m_total{{s=\"{s}\"}} {} {}.{:03}\n",
                k * s,
                t / 1000,
                t % 1000
            ));
        }
    }
    text.push_str("# EOF\n");
    std::fs::write(&long, text).unwrap();
    for input in [testdata("chunks/input.om"), long] {
        let ours = tmp.path().join("ours");
        let theirs = tmp.path().join("theirs");
        let _ = std::fs::remove_dir_all(&ours);
        let _ = std::fs::remove_dir_all(&theirs);
        let mine = ok([
            "import".as_ref(),
            "openmetrics".as_ref(),
            input.as_os_str(),
            ours.as_os_str(),
        ]);
        let reference = run_promtool(
            &pt,
            [
                "tsdb".as_ref(),
                "create-blocks-from".as_ref(),
                "openmetrics".as_ref(),
                input.as_os_str(),
                theirs.as_os_str(),
            ],
        );
        assert_eq!(figures(&mine), figures(&reference), "{}", input.display());
        assert!(!figures(&mine).is_empty());
        std::fs::create_dir(ours.join("wal")).unwrap();
        std::fs::create_dir(theirs.join("wal")).unwrap();
        assert_eq!(
            sorted_lines(&ok(["dump", "-d", ours.to_str().unwrap()])),
            sorted_lines(&run_promtool(
                &pt,
                ["tsdb", "dump", theirs.to_str().unwrap()]
            )),
        );
    }
}

/// The lines of each section of an analysis, sorted (ties are ordered differently).
fn sections(s: &str) -> Vec<Vec<String>> {
    s.split("\n\n")
        .map(|sec| {
            let mut v: Vec<String> = sec.lines().map(String::from).collect();
            v.sort();
            v
        })
        .collect()
}

#[test]
fn analyze_matches_promtool() {
    let Some(pt) = promtool("analyze_matches_promtool") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let promtools = tmp.path().join("promtool");
    copy_blocks(&testdata("block/promtool"), &promtools);
    let ours = tmp.path().join("ours");
    our_flushed_blocks(tmp.path(), &ours);
    for dir in [&promtools, &ours] {
        let d = dir.to_str().unwrap();
        let blocks = ok(["ls", "-d", d]);
        for ulid in blocks.lines().skip(1).map(|l| &l[..26]) {
            let mine = ok(["analyze", "-d", d, "--limit", "100000", "--extended", ulid]);
            let reference = run_promtool(
                &pt,
                ["tsdb", "analyze", "--limit=100000", "--extended", d, ulid],
            );
            assert_eq!(sections(&mine), sections(&reference), "{d} {ulid}");
        }
    }
}

/// The one block directory under `dir`.
fn only_block(dir: &Path) -> std::path::PathBuf {
    let blocks: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("meta.json").is_file())
        .collect();
    assert_eq!(blocks.len(), 1, "{}", dir.display());
    blocks[0].clone()
}

#[test]
fn import_stores_nan_with_promtools_bits() {
    let Some(pt) = promtool("import_stores_nan_with_promtools_bits") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("nan.om");
    // Every spelling of NaN is Prometheus's normal NaN: the chunk bytes are promtool's.
    std::fs::write(
        &input,
        "x 1 1700000000\nx NaN 1700000001\nx nan 1700000002\nx 2 1700000003\nx NAN 1700000004\n# EOF\n",
    )
    .unwrap();
    let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    ok([
        "import".as_ref(),
        "openmetrics".as_ref(),
        "-q".as_ref(),
        input.as_os_str(),
        ours.as_os_str(),
    ]);
    run_promtool(
        &pt,
        [
            "tsdb".as_ref(),
            "create-blocks-from".as_ref(),
            "openmetrics".as_ref(),
            input.as_os_str(),
            theirs.as_os_str(),
        ],
    );
    let (ours, theirs) = (only_block(&ours), only_block(&theirs));
    for file in ["chunks/000001", "index"] {
        assert!(
            std::fs::read(ours.join(file)).unwrap() == std::fs::read(theirs.join(file)).unwrap(),
            "{file} differs from promtool's"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// The wlog mode: what `append --wal-mode wlog` writes is Prometheus's own head, before and after a
// truncation that wrote a checkpoint.

/// The data directories of the wlog tests: each bundled input appended in wlog mode (lines without a
/// timestamp take 2023-11-14T22:13:20Z), and the awkward text (NaN, ±Inf, −0, unicode, quotes, newlines)
/// appended in three calls by time, so that it spans three WAL segments.
fn wlog_dirs(tmp: &Path) -> Vec<std::path::PathBuf> {
    let mut dirs = Vec::new();
    for file in [
        "input/prometheus.prom",
        "input/openmetrics.om",
        "input/influx.lp",
    ] {
        let dir = tmp.join(file.replace(['/', '.'], "-"));
        let out = ok([
            "append".as_ref(),
            "-d".as_ref(),
            dir.as_os_str(),
            "--wal-mode".as_ref(),
            "wlog".as_ref(),
            "--timestamp".as_ref(),
            "2023-11-14T22:13:20Z".as_ref(),
            testdata(file).as_os_str(),
        ]);
        assert_eq!(field(&out, "samples rejected"), "0", "{file}: {out}");
        dirs.push(dir);
    }
    let dir = tmp.join("awkward");
    let text = awkward_prom_text(24, 300, 1_700_003_000_000, 15_000);
    for part in 0..3 {
        let (lo, hi) = (
            1_700_003_000_000 + part * 100 * 15_000,
            1_700_003_000_000 + (part + 1) * 100 * 15_000,
        );
        let lines: String = text
            .lines()
            .filter(|l| {
                let t: i64 = l.rsplit(' ').next().unwrap().parse().unwrap();
                (lo..hi).contains(&t)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let o = cli_in(
            None,
            [
                "append",
                "-d",
                dir.to_str().unwrap(),
                "--wal-mode",
                "wlog",
                "-",
            ],
            lines.as_bytes(),
        );
        assert_code(&o, 0);
        assert_eq!(field(&stdout(&o), "samples appended"), "2400");
    }
    dirs.push(dir);
    dirs
}

/// `promtool tsdb dump` of `dir` equals `tsdb-cli dump` (sorted lines); returns our dump.
fn same_head_dump(promtool: &Path, dir: &Path) -> String {
    let d = dir.to_str().unwrap();
    let mine = ok(["dump", "-d", d]);
    let theirs = run_promtool(promtool, ["tsdb", "dump", d]);
    let (m, t) = (sorted_lines(&mine), sorted_lines(&theirs));
    eprintln!(
        "{d}: tsdb-cli dump {} lines, promtool {} lines",
        m.len(),
        t.len()
    );
    assert!(!m.is_empty(), "no samples in {d}");
    assert_eq!(m.len(), t.len(), "line counts differ on {d}");
    if let Some((a, b)) = m.iter().zip(&t).find(|(a, b)| a != b) {
        panic!("{d}: first differing line: ours {a:?}, promtool's {b:?}");
    }
    mine
}

/// Prometheus started on a copy of `dir` serves exactly the samples of `want` (a dump of ours).
fn prometheus_serves(prometheus: &Path, tmp: &Path, dir: &Path, want: &str) {
    use common::prom::*;
    let copy = tmp.join(format!(
        "served-{}",
        dir.file_name().unwrap().to_string_lossy()
    ));
    copy_dir(dir, &copy);
    let want = parse_dump(want);
    let (lo, hi) = time_range(&want);
    let port = free_port();
    let server = start_prometheus(
        prometheus,
        tmp,
        &copy,
        port,
        "global: {}\nscrape_configs: []\n",
        &[],
    );
    let got = query_all(&server, port, lo - 1, hi);
    assert_same(&format!("Prometheus on {}", dir.display()), &got, &want);
    eprintln!(
        "{}: Prometheus served {} series, {} samples",
        dir.display(),
        got.len(),
        got.values().map(Vec::len).sum::<usize>()
    );
}

#[test]
fn wlog_append_is_promtools_head_and_prometheus_serves_it() {
    let test = "wlog_append_is_promtools_head_and_prometheus_serves_it";
    let Some(pt) = promtool(test) else {
        return;
    };
    let Some(prometheus) = common::prom::tool(test, "prometheus") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for dir in wlog_dirs(tmp.path()) {
        let d = dir.to_str().unwrap();
        assert_eq!(ok(["ls", "-d", d]).lines().count(), 1, "head only: {d}");
        assert_eq!(
            field(&ok(["replay", "-d", d]), "wal format"),
            "wlog (Prometheus's current WAL)"
        );
        let mine = same_head_dump(&pt, &dir);
        prometheus_serves(&prometheus, tmp.path(), &dir, &mine);
    }
}

#[test]
fn wlog_after_truncation_with_a_checkpoint_is_read_by_promtool_and_prometheus() {
    let test = "wlog_after_truncation_with_a_checkpoint_is_read_by_promtool_and_prometheus";
    let Some(pt) = promtool(test) else {
        return;
    };
    let Some(prometheus) = common::prom::tool(test, "prometheus") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = wlog_dirs(tmp.path()).pop().unwrap();
    let d = dir.to_str().unwrap();
    let before = ok(["dump", "-d", d]);
    let cut = 1_700_003_000_000 + 150 * 15_000;
    ok(["truncate", "-d", d, "--before", &cut.to_string()]);
    let checkpoints: Vec<String> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("checkpoint."))
        .collect();
    assert_eq!(checkpoints.len(), 1, "the truncation wrote a checkpoint");
    assert!(
        std::fs::read_dir(dir.join("chunks_head")).unwrap().count() > 0,
        "head chunk files remain (with chunks older than the cut)"
    );
    let mine = same_head_dump(&pt, &dir);
    let want: Vec<&str> = sorted_lines(&before)
        .into_iter()
        .filter(|l| l.rsplit(' ').next().unwrap().parse::<i64>().unwrap() >= cut)
        .collect();
    assert_eq!(
        sorted_lines(&mine),
        want,
        "exactly the samples from the cut on"
    );
    prometheus_serves(&prometheus, tmp.path(), &dir, &mine);
}
