//! Replay restores exactly what was committed: with and without head chunk files, after truncation, and —
//! after the WAL is cut at any byte — exactly a prefix of the commits.

mod common;

use std::path::Path;

use common::{dump, open, opts, series, Model};
use proptest::prelude::*;
use tsdb_head::Head;
use tsdb_wal::segment::list_segments;
use tsdb_wal::{SyncPolicy, WalMode};

/// Commits `rounds` scrapes of `n` series, 15 s apart; returns the model.
fn fill(head: &Head, rounds: i64, n: u64, t0: i64) -> Model {
    let mut m = Model::new();
    for round in 0..rounds {
        let mut app = head.appender();
        for i in 0..n {
            let t = t0 + round * 15_000 + i as i64;
            let v = if i % 7 == 0 {
                f64::NAN
            } else {
                (round * 10) as f64 + i as f64 / 4.0
            };
            app.append(&series(i), t, v).unwrap();
            m.entry(series(i)).or_default().push((t, v.to_bits()));
        }
        app.commit().unwrap();
    }
    m
}

#[test]
fn replay_with_and_without_head_chunk_files() {
    for mode in [WalMode::Native, WalMode::Prometheus] {
        let dir = tempfile::tempdir().unwrap();
        let head = open(dir.path(), opts(mode, SyncPolicy::Never));
        let want = fill(&head, 400, 40, 1_700_000_000_000);
        assert!(dump(&head) == want);
        head.close().unwrap();
        // With chunk files: full chunks come from chunks_head, the rest from the WAL.
        let (head, rep) = Head::open(dir.path(), opts(mode, SyncPolicy::Never)).unwrap();
        assert!(rep.chunks > 0, "{rep:?}");
        assert!(
            rep.skipped > 0,
            "samples inside replayed chunks are skipped: {rep:?}"
        );
        assert_eq!(rep.samples, 400 * 40, "{rep:?}");
        assert_eq!(rep.series, 40);
        assert!(dump(&head) == want, "{mode:?} with chunk files");
        head.close().unwrap();
        // Without: everything from the WAL.
        std::fs::remove_dir_all(dir.path().join("chunks_head")).unwrap();
        let (head, rep) = Head::open(dir.path(), opts(mode, SyncPolicy::Never)).unwrap();
        assert_eq!(rep.chunks, 0);
        assert_eq!(rep.wal_samples, 400 * 40);
        assert!(dump(&head) == want, "{mode:?} without chunk files");
        // Appending continues where replay left off.
        let mut app = head.appender();
        app.append(&series(0), 1_800_000_000_000, 1.0).unwrap();
        app.commit().unwrap();
        head.close().unwrap();
    }
}

#[test]
fn replay_after_truncate_restores_the_truncated_state() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_700_000_000_000;
    let head = open(dir.path(), opts(WalMode::Native, SyncPolicy::Never));
    fill(&head, 600, 30, t0);
    let mint = t0 + 300 * 15_000;
    let rep = head.truncate(mint).unwrap();
    assert!(!rep.wal.segments.is_empty(), "{rep:?}");
    // A series with no sample left is removed.
    let mut app = head.appender();
    app.append(&series(999), mint + 10_000_000, 1.0).unwrap();
    app.commit().unwrap();
    let after = dump(&head);
    assert!(after.values().all(|s| s.iter().all(|&(t, _)| t >= mint)));
    assert_eq!(after.values().map(Vec::len).sum::<usize>(), 300 * 30 + 1);
    head.close().unwrap();
    let mut o = opts(WalMode::Native, SyncPolicy::Never);
    o.min_valid = mint;
    let head = open(dir.path(), o);
    assert!(dump(&head) == after);
    let e = head
        .appender()
        .append(&series(1), mint - 1, 1.0)
        .unwrap_err();
    assert!(matches!(e, tsdb_head::AppendError::OutOfBounds { .. }));
}

/// Cuts the WAL of `dir` at byte `at` of its segments laid end to end.
fn cut_wal(dir: &Path, at: u64) {
    let mut left = at;
    let mut cut = false;
    for s in list_segments(&dir.join("wal")).unwrap() {
        let len = std::fs::metadata(&s.path).unwrap().len();
        if cut {
            std::fs::remove_file(&s.path).unwrap();
        } else if left < len {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&s.path)
                .unwrap();
            f.set_len(left).unwrap();
            cut = true;
        } else {
            left -= len;
        }
    }
}

fn wal_len(dir: &Path) -> u64 {
    list_segments(&dir.join("wal"))
        .unwrap()
        .iter()
        .map(|s| std::fs::metadata(&s.path).unwrap().len())
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn a_wal_cut_anywhere_replays_a_prefix_of_the_commits(
        native in any::<bool>(),
        batches in prop::collection::vec(prop::collection::vec((0u64..30, any::<u32>()), 1..40), 1..25),
        cut in 0.0f64..1.0,
    ) {
        let mode = if native { WalMode::Native } else { WalMode::Prometheus };
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts(mode, SyncPolicy::Always);
        o.wal.segment_size = 4096;
        let head = open(dir.path(), o.clone());
        let mut models = vec![Model::new()];
        for (b, batch) in batches.iter().enumerate() {
            let mut m = models.last().unwrap().clone();
            let mut app = head.appender();
            for (k, &(i, v)) in batch.iter().enumerate() {
                let t = (b * 100 + k) as i64;
                let v = f64::from(v) / 3.0;
                if app.append(&series(i), t, v).is_ok() {
                    m.entry(series(i)).or_default().push((t, v.to_bits()));
                }
            }
            app.commit().unwrap();
            models.push(m);
        }
        head.close().unwrap();
        std::fs::remove_dir_all(dir.path().join("chunks_head")).unwrap();
        let total = wal_len(dir.path());
        cut_wal(dir.path(), (total as f64 * cut) as u64);
        let (head, _) = Head::open(dir.path(), o).unwrap();
        let got = dump(&head);
        prop_assert!(models.contains(&got), "replay is not a prefix of the commits");
    }
}

#[test]
fn read_only_replay_changes_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let head = open(dir.path(), opts(WalMode::Native, SyncPolicy::Never));
    fill(&head, 400, 40, 1_700_000_000_000);
    head.close().unwrap();
    // Damage the last head chunk file's tail and the WAL's last entry, and leave an unstarted file.
    let chunks = dir.path().join("chunks_head");
    let mut files: Vec<_> = std::fs::read_dir(&chunks)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let last = files.last().unwrap().clone();
    let len = std::fs::metadata(&last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let name = format!("{:06}", files.len() + 1);
    std::fs::write(chunks.join(name), b"").unwrap();
    let seg = list_segments(&dir.path().join("wal"))
        .unwrap()
        .pop()
        .unwrap();
    let wlen = std::fs::metadata(&seg.path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg.path)
        .unwrap()
        .set_len(wlen - 3)
        .unwrap();
    let before = snapshot(dir.path());
    let (head, rep) =
        Head::open_read_only(dir.path(), opts(WalMode::Native, SyncPolicy::Never)).unwrap();
    assert!(rep.chunk_damage.is_some(), "{rep:?}");
    assert!(
        rep.wal_corruption.is_some() && rep.wal_repair.is_none(),
        "{rep:?}"
    );
    assert!(!dump(&head).is_empty());
    drop(head);
    assert!(
        snapshot(dir.path()) == before,
        "a read-only replay changed files"
    );
}

fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut m = std::collections::BTreeMap::new();
    for sub in ["wal", "chunks_head"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            m.insert(p.display().to_string(), std::fs::read(&p).unwrap());
        }
    }
    m
}
