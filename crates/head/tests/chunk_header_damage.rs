//! A damaged or short head chunk file header: the writable open reports it (file, offset 0, reason),
//! removes the file and what follows and rebuilds the head from the WAL; the read-only replay reports
//! it, changes nothing and goes on with the WAL.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use tsdb_chunks::Corruption;
use tsdb_head::Head;
use tsdb_wal::{SyncPolicy, WalMode};

fn fill(head: &Head, rounds: i64, n: u64) -> Model {
    let mut m = Model::new();
    for round in 0..rounds {
        let mut app = head.appender();
        for i in 0..n {
            let t = 1_700_000_000_000 + round * 15_000 + i as i64;
            let v = round as f64 + i as f64 / 8.0;
            app.append(&series(i), t, v).unwrap();
            m.entry(series(i)).or_default().push((t, v.to_bits()));
        }
        app.commit().unwrap();
    }
    m
}

fn chunk_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("chunks_head"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn all_files(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut m = std::collections::BTreeMap::new();
    for sub in ["wal", "chunks_head"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            m.insert(p.clone(), std::fs::read(&p).unwrap());
        }
    }
    m
}

/// A kind of damage: its name, how to do it to a file, and whether a reason is the one replay must give.
type Damaging = (&'static str, fn(&Path), fn(&Corruption) -> bool);

/// The ways the first file's header is damaged, and the reason replay must give.
fn damages() -> Vec<Damaging> {
    vec![
        (
            "flipped magic byte",
            |p| {
                let mut b = std::fs::read(p).unwrap();
                b[1] ^= 0x40;
                std::fs::write(p, b).unwrap();
            },
            |c| matches!(c, Corruption::BadMagic { .. }),
        ),
        (
            "bad version",
            |p| {
                let mut b = std::fs::read(p).unwrap();
                b[4] = 7;
                std::fs::write(p, b).unwrap();
            },
            |c| matches!(c, Corruption::BadVersion(7)),
        ),
        (
            "empty",
            |p| std::fs::write(p, b"").unwrap(),
            |c| matches!(c, Corruption::ShortHeader { len: 0 }),
        ),
        (
            "3 bytes",
            |p| truncate(p, 3),
            |c| matches!(c, Corruption::ShortHeader { len: 3 }),
        ),
        (
            "half a header",
            |p| truncate(p, 4),
            |c| matches!(c, Corruption::ShortHeader { len: 4 }),
        ),
    ]
}

fn truncate(p: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .unwrap()
        .set_len(len)
        .unwrap();
}

#[test]
fn writable_open_repairs_a_damaged_header_from_the_wal() {
    let mut o = opts(WalMode::Native, SyncPolicy::Never);
    o.head_chunks.max_file_size = 4096;
    for (what, damage, reason_ok) in damages() {
        for which in [0usize, 1] {
            let dir = tempfile::tempdir().unwrap();
            let head = open(dir.path(), o.clone());
            let want = fill(&head, 600, 40);
            head.close().unwrap();
            let files = chunk_files(dir.path());
            assert!(files.len() >= 3, "{files:?}");
            // The first file, or the last one (a short last file is damage too, not a silent cut).
            let target = if which == 0 {
                files[0].clone()
            } else {
                files[files.len() - 1].clone()
            };
            damage(&target);
            let damaged = std::fs::read(&target).unwrap();
            let (head, rep) = Head::open(dir.path(), o.clone())
                .unwrap_or_else(|e| panic!("{what} in {}: open failed: {e}", target.display()));
            let d = rep
                .chunk_damage
                .clone()
                .unwrap_or_else(|| panic!("{what}: no damage reported: {rep:?}"));
            assert_eq!(d.path, target, "{what}");
            assert_eq!(d.offset, 0, "{what}");
            assert!(reason_ok(&d.reason), "{what}: {:?}", d.reason);
            // Removed (replay may have started a new file of that number since).
            assert!(
                std::fs::read(&target).map_or(true, |b| b != damaged),
                "{what}: the damaged file is still there"
            );
            assert_eq!(dump(&head), want, "{what}: samples lost");
            // More appends work, and the next open is clean.
            let mut app = head.appender();
            app.append(&series(0), 1_800_000_000_000, 1.0).unwrap();
            app.commit().unwrap();
            head.close().unwrap();
            let (head, rep) = Head::open(dir.path(), o.clone()).unwrap();
            assert!(rep.chunk_damage.is_none(), "{what}: {rep:?}");
            let mut want = want;
            want.get_mut(&series(0))
                .unwrap()
                .push((1_800_000_000_000, 1f64.to_bits()));
            assert_eq!(dump(&head), want, "{what}: after reopening");
            head.close().unwrap();
        }
    }
}

#[test]
fn read_only_replay_reports_a_damaged_header_and_changes_nothing() {
    let mut o = opts(WalMode::Native, SyncPolicy::Never);
    o.head_chunks.max_file_size = 4096;
    for (what, damage, reason_ok) in damages() {
        let dir = tempfile::tempdir().unwrap();
        let head = open(dir.path(), o.clone());
        let want = fill(&head, 600, 40);
        head.close().unwrap();
        let target = chunk_files(dir.path())[0].clone();
        damage(&target);
        let before = all_files(dir.path());
        let (head, rep) = Head::open_read_only(dir.path(), o.clone())
            .unwrap_or_else(|e| panic!("{what}: read-only open failed: {e}"));
        let d = rep.chunk_damage.clone().expect("damage reported");
        assert_eq!(
            (d.path.as_path(), d.offset),
            (target.as_path(), 0),
            "{what}"
        );
        assert!(reason_ok(&d.reason), "{what}: {:?}", d.reason);
        assert_eq!(
            dump(&head),
            want,
            "{what}: the WAL was not replayed in full"
        );
        drop(head);
        assert!(all_files(dir.path()) == before, "{what}: files changed");
    }
}
