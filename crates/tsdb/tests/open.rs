//! Opening: the lock, directories that are not databases, damaged blocks, and that a failed open changes
//! nothing on disk.

use std::collections::BTreeMap;
use std::path::Path;

use tsdb::{Db, DbError, Options};
use tsdb_labels::Labels;

fn opts() -> Options {
    Options {
        background: false,
        ..Options::default()
    }
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    fn walk(base: &Path, d: &Path, m: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, m);
            } else {
                m.insert(
                    p.strip_prefix(base).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    walk(dir, dir, &mut m);
    m
}

fn fill_and_flush(dir: &Path) {
    let db = Db::open(dir, opts()).unwrap();
    let mut app = db.appender();
    for i in 0..50 {
        let l = Labels::new([("__name__", "m"), ("i", &i.to_string())]).unwrap();
        app.append(&l, 1_000, i as f64).unwrap();
    }
    app.commit().unwrap();
    assert_eq!(db.flush().unwrap().len(), 1);
    db.close().unwrap();
}

#[test]
fn a_second_open_fails_while_the_first_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let e = Db::open(dir.path(), opts())
        .err()
        .expect("second open must fail");
    assert!(matches!(e, DbError::Locked { .. }), "{e}");
    assert!(e.to_string().contains("locked"), "{e}");
    db.close().unwrap();
    Db::open(dir.path(), opts()).unwrap().close().unwrap();
}

#[test]
fn not_a_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    let before = snapshot(dir.path());
    let e = Db::open(dir.path(), opts()).err().unwrap();
    assert!(matches!(e, DbError::NotADatabase { .. }), "{e}");
    assert!(e.to_string().contains("notes.txt"), "{e}");
    assert_eq!(snapshot(dir.path()), before);
    let file = dir.path().join("notes.txt");
    let e = Db::open(&file, opts()).err().unwrap();
    assert!(matches!(e, DbError::NotADatabase { .. }), "{e}");
}

#[test]
fn a_damaged_block_stops_open_naming_it_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    fill_and_flush(dir.path());
    let block = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("meta.json").exists())
        .unwrap();
    // Damage the index's table of contents.
    let index = block.join("index");
    let mut bytes = std::fs::read(&index).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0xff;
    std::fs::write(&index, &bytes).unwrap();
    let before = snapshot(dir.path());
    let e = Db::open(dir.path(), opts()).err().unwrap();
    let name = block.file_name().unwrap().to_string_lossy().to_string();
    assert!(matches!(e, DbError::Block { .. }), "{e}");
    assert!(e.to_string().contains(&name), "{e}");
    assert_eq!(snapshot(dir.path()), before, "a failed open changed files");
    let db = Db::open(
        dir.path(),
        Options {
            skip_damaged_blocks: true,
            ..opts()
        },
    )
    .unwrap();
    assert!(db.warnings().iter().any(|w| w.contains(&name)));
    db.close().unwrap();
}

#[test]
fn a_torn_wal_tail_is_repaired_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let l = Labels::new([("__name__", "m")]).unwrap();
    for t in 0..10 {
        let mut app = db.appender();
        app.append(&l, t, t as f64).unwrap();
        app.commit().unwrap();
    }
    db.close().unwrap();
    let seg = tsdb_wal::segment::list_segments(&dir.path().join("wal"))
        .unwrap()
        .pop()
        .unwrap();
    let len = std::fs::metadata(&seg.path).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg.path)
        .unwrap();
    f.set_len(len - 3).unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    assert!(
        db.warnings().iter().any(|w| w.contains("repaired the WAL")),
        "{:?}",
        db.warnings()
    );
    let q = db.querier(i64::MIN, i64::MAX);
    assert_eq!(q.select_all(&[]).unwrap()[0].samples.len(), 9);
}
