//! Prometheus's own tools as referee (acceptance 1, 2, 5 of the blocks issue).
//!
//! Needs `promtool` on PATH; without it the tests print a skip note, or fail under
//! `TSDB_INTEROP=require` (as CI runs them).

mod common;

use std::path::Path;

use common::*;
use tsdb_block::*;
use tsdb_labels::Labels;

/// Our block passes `promtool tsdb list`, `analyze` and `dump`, and the dump holds exactly the
/// samples written.
#[test]
fn promtool_reads_our_blocks() {
    let Some(pt) = promtool("promtool_reads_our_blocks") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut data = gen_data(11, 120, 400, 1_600_000_000_000, 15_000);
    let special = Labels::new([("__name__", "special"), ("quote", "a\"b\\c\nd")]).unwrap();
    data.push((
        special,
        vec![
            (1_600_000_000_000, f64::NAN),
            (1_600_000_001_000, f64::INFINITY),
            (1_600_000_002_000, f64::NEG_INFINITY),
            (1_600_000_003_000, 1e-300),
            (1_600_000_004_000, -2.5e300),
        ],
    ));
    let mint = 1_600_000_000_000 / DEFAULT_BLOCK_RANGE * DEFAULT_BLOCK_RANGE;
    let meta = write_block(
        dir.path(),
        &data,
        mint,
        mint + 3 * DEFAULT_BLOCK_RANGE,
        &WriteOptions::default(),
    )
    .unwrap()
    .unwrap();
    let d = dir.path().to_str().unwrap();

    let list = run(&pt, &["tsdb", "list", d]);
    assert!(list.contains(&meta.ulid.to_string()), "{list}");
    assert!(list.contains(&meta.stats.num_samples.to_string()), "{list}");

    let analyze = run(&pt, &["tsdb", "analyze", d]);
    assert!(
        analyze.contains(&format!("Block ID: {}", meta.ulid)),
        "{analyze}"
    );
    assert!(
        analyze.contains(&format!("Series: {}", meta.stats.num_series)),
        "{analyze}"
    );

    // `promtool tsdb dump` opens the directory as a database and wants a (here empty) WAL.
    std::fs::create_dir(dir.path().join("wal")).unwrap();
    let dump = run(&pt, &["tsdb", "dump", d]);
    let got = parse_dump(&dump);
    let want = model(&data, &[], i64::MIN, i64::MAX, &no_deletes);
    assert_same(&got, &want);
    println!(
        "promtool read our block: {} series, {} samples",
        got.len(),
        got.values().map(Vec::len).sum::<usize>()
    );
}

/// The committed fixture: `testdata/block/promtool/` was made by `promtool tsdb
/// create-blocks-from openmetrics` from the file `examples/gen_openmetrics.rs` prints.
fn fixture_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/block/promtool")
}

#[path = "../examples/gen_openmetrics.rs"]
#[allow(dead_code)]
mod gen;

#[test]
fn we_read_promtool_blocks_exactly() {
    let data = gen::series();
    let total: usize = data.iter().map(|(_, s)| s.len()).sum();
    assert!(total >= 100_000 && data.len() >= 500);
    let dirs = block_dirs(&fixture_dir()).unwrap();
    assert!(!dirs.is_empty(), "fixture blocks missing");
    let blocks: Vec<Block> = dirs.iter().map(|d| Block::open(d).unwrap()).collect();
    use tsdb_labels::{MatchOp::*, Matcher};
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    let sets = vec![
        vec![],
        vec![m(Equal, "__name__", "node_cpu_seconds_total")],
        vec![
            m(RegexMatch, "instance", "host-1.*"),
            m(NotEqual, "mode", "idle"),
        ],
        vec![m(Equal, "mode", "")],
        vec![
            m(RegexNoMatch, "job", "api|db"),
            m(RegexMatch, "__name__", ".+_bytes"),
        ],
        vec![m(Equal, "job", "nope")],
    ];
    for ms in sets {
        let mut got = std::collections::BTreeMap::new();
        for b in &blocks {
            for (l, s) in query(b, &ms, i64::MIN, i64::MAX) {
                got.entry(l).or_insert_with(Vec::new).extend(s);
            }
        }
        assert_same(&got, &model(&data, &ms, i64::MIN, i64::MAX, &no_deletes));
    }
}

/// Acceptance 5 (size): on the same input our block is no larger than promtool's.
#[test]
fn our_blocks_are_no_larger_than_promtools() {
    let Some(pt) = promtool("our_blocks_are_no_larger_than_promtools") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let om = dir.path().join("input.om");
    std::fs::write(&om, gen::openmetrics()).unwrap();
    let theirs = dir.path().join("theirs");
    run(
        &pt,
        &[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            om.to_str().unwrap(),
            theirs.to_str().unwrap(),
        ],
    );
    let ours = dir.path().join("ours");
    std::fs::create_dir(&ours).unwrap();
    let data = gen::series();
    let samples: u64 = data.iter().map(|(_, s)| s.len() as u64).sum();
    let series = data.len() as u64;

    let their_dirs = block_dirs(&theirs).unwrap();
    for d in &their_dirs {
        let m = read_meta(d).unwrap();
        write_block(
            &ours,
            &data,
            m.min_time,
            m.max_time,
            &WriteOptions::default(),
        )
        .unwrap();
    }
    let sizes = |root: &Path| {
        let (mut total, mut index) = (0u64, 0u64);
        for d in block_dirs(root).unwrap() {
            let b = Block::open(&d).unwrap();
            total += b.size_bytes().unwrap();
            index += b.index().size();
        }
        (total, index)
    };
    let (t_total, t_index) = sizes(&theirs);
    let (o_total, o_index) = sizes(&ours);
    println!(
        "promtool: {} blocks, {t_total} bytes, {:.3} bytes/sample, index {:.1} bytes/series",
        their_dirs.len(),
        t_total as f64 / samples as f64,
        t_index as f64 / series as f64
    );
    println!(
        "ours:     {t} bytes, {:.3} bytes/sample, index {:.1} bytes/series",
        o_total as f64 / samples as f64,
        o_index as f64 / series as f64,
        t = o_total
    );
    assert!(o_total <= t_total, "ours {o_total} > promtool's {t_total}");
    // In fact the files are byte for byte those promtool writes (only the ULIDs differ).
    for (t, o) in their_dirs.iter().zip(block_dirs(&ours).unwrap()) {
        for f in ["index", "chunks/000001", "tombstones"] {
            assert!(
                std::fs::read(t.join(f)).unwrap() == std::fs::read(o.join(f)).unwrap(),
                "{f} differs from promtool's"
            );
        }
    }
}
