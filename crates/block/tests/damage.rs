//! Damaged files (acceptance 4): byte flips and truncations of the index, chunks, tombstones and
//! meta give typed errors naming the file (and offset), never a panic, never wrong data.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use tsdb_block::*;
use tsdb_labels::{Labels, MatchOp, Matcher};

type Result2 = std::result::Result<BTreeMap<Labels, Vec<(i64, f64)>>, BlockError>;

/// Opens and reads everything: every series' samples, every label's values, a matcher query.
fn read_all(dir: &Path) -> Result2 {
    let b = Block::open(dir)?;
    for n in b.label_names() {
        b.label_values(&n)?;
    }
    let m = Matcher::new(MatchOp::RegexMatch, "job", "api|db").unwrap();
    for s in b.select(&[m], i64::MIN, i64::MAX)? {
        s?.collect_samples()?;
    }
    let mut out = BTreeMap::new();
    for s in b.select(&[], i64::MIN, i64::MAX)? {
        let s = s?;
        out.insert(s.labels().clone(), s.collect_samples()?);
    }
    Ok(out)
}

/// `read_all`, then the full check.
fn read_and_verify(dir: &Path) -> Result2 {
    let out = read_all(dir)?;
    Block::open(dir)?.verify()?;
    Ok(out)
}

struct Fixture {
    _tmp: tempfile::TempDir,
    good: PathBuf,
    work: PathBuf,
    want: BTreeMap<Labels, Vec<(i64, f64)>>,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let data = gen_data(21, 12, 150, 0, 15_000);
    let m = write_block(tmp.path(), &data, 0, 7_200_000, &WriteOptions::default())
        .unwrap()
        .unwrap();
    let good = tmp.path().join(m.ulid.to_string());
    let b = Block::open(&good).unwrap();
    b.delete(
        &[Matcher::new(MatchOp::Equal, "job", "db").unwrap()],
        100_000,
        900_000,
    )
    .unwrap();
    let want = read_all(&good).unwrap();
    let work = tmp.path().join("work");
    copy_dir(&good, &work);
    Fixture {
        _tmp: tmp,
        good,
        work,
        want,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("chunks")).unwrap();
    for f in ["meta.json", "index", "tombstones", "chunks/000001"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
}

/// The outcome of reading a damaged copy: the right data, or a corruption error naming `file`.
fn check(fx: &Fixture, file: &str, what: &str) -> bool {
    let res = read_and_verify(&fx.work);
    let failed = res.is_err();
    match res {
        Ok(got) => assert_eq!(
            got, fx.want,
            "{file} {what}: read wrong data without an error"
        ),
        Err(e) => {
            assert!(
                e.is_corruption(),
                "{file} {what}: not a corruption error: {e}"
            );
            let msg = e.to_string();
            assert!(
                msg.contains(fx.work.to_str().unwrap()),
                "{file} {what}: error names no file of the block: {msg}"
            );
            match &e {
                BlockError::Corrupt { path, .. } => assert!(path.starts_with(&fx.work), "{msg}"),
                BlockError::Chunks(tsdb_chunks::ChunkError::Corrupt { path, .. }) => {
                    assert!(path.starts_with(&fx.work), "{msg}")
                }
                BlockError::Chunks(tsdb_chunks::ChunkError::UnknownFile { .. })
                | BlockError::Meta { .. } => {}
                other => panic!("{file} {what}: unexpected error {other}"),
            }
        }
    }
    failed
}

/// Flips bytes and truncates `file`; returns the flipped positions that went unnoticed (the
/// data read was right, as `check` asserts).
fn damage_file(fx: &Fixture, file: &str, flip_step: usize, cut_step: usize) -> Vec<usize> {
    let orig = std::fs::read(fx.good.join(file)).unwrap();
    let path = fx.work.join(file);
    let mut unnoticed = Vec::new();
    for i in (0..orig.len()).step_by(flip_step) {
        let mut b = orig.clone();
        b[i] ^= 0xff;
        std::fs::write(&path, &b).unwrap();
        if !check(fx, file, &format!("byte {i} flipped")) {
            unnoticed.push(i);
        }
    }
    for n in (0..orig.len()).step_by(cut_step) {
        std::fs::write(&path, &orig[..n]).unwrap();
        assert!(
            check(fx, file, &format!("truncated to {n}")),
            "{file} truncated to {n} bytes reads without error"
        );
    }
    std::fs::write(&path, &orig).unwrap();
    unnoticed
}

#[test]
fn damaged_index_gives_typed_errors() {
    let fx = fixture();
    let orig = std::fs::read(fx.good.join("index")).unwrap();
    let unnoticed = damage_file(&fx, "index", 1, 3);
    // Only padding bytes (zeros between sections) are outside every checksum.
    for i in unnoticed {
        assert_eq!(orig[i], 0, "flip of byte {i} went unnoticed");
    }
}

#[test]
fn damaged_chunks_give_typed_errors() {
    let fx = fixture();
    // Only the header's three padding bytes are not checked.
    let unnoticed = damage_file(&fx, "chunks/000001", 1, 11);
    assert!(
        unnoticed.iter().all(|i| (5..8).contains(i)),
        "{unnoticed:?}"
    );
    // The error names the segment file and the chunk's offset.
    let orig = std::fs::read(fx.good.join("chunks/000001")).unwrap();
    let mut b = orig.clone();
    b[100] ^= 1;
    std::fs::write(fx.work.join("chunks/000001"), &b).unwrap();
    let e = read_all(&fx.work).unwrap_err();
    match e {
        BlockError::Chunks(tsdb_chunks::ChunkError::Corrupt { path, offset, .. }) => {
            assert!(path.ends_with("chunks/000001"));
            assert!(offset <= 100);
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn damaged_tombstones_give_typed_errors() {
    let fx = fixture();
    assert_eq!(damage_file(&fx, "tombstones", 1, 1), Vec::<usize>::new());
    std::fs::write(fx.work.join("tombstones"), b"garbage!!").unwrap();
    match Block::open(&fx.work).unwrap_err() {
        BlockError::Corrupt {
            path,
            offset,
            reason,
        } => {
            assert!(path.ends_with("tombstones"));
            assert_eq!(offset, 0);
            assert!(matches!(reason, Corruption::BadMagic { .. }));
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn damaged_meta_gives_typed_errors() {
    let fx = fixture();
    let orig = std::fs::read(fx.good.join("meta.json")).unwrap();
    for n in (0..orig.len()).step_by(7) {
        std::fs::write(fx.work.join("meta.json"), &orig[..n]).unwrap();
        assert!(matches!(
            Block::open(&fx.work),
            Err(BlockError::Meta { .. })
        ));
    }
}

#[test]
fn index_errors_name_file_and_offset() {
    let fx = fixture();
    let orig = std::fs::read(fx.good.join("index")).unwrap();
    let mut b = orig.clone();
    b[0] = 0;
    std::fs::write(fx.work.join("index"), &b).unwrap();
    match Block::open(&fx.work).unwrap_err() {
        BlockError::Corrupt {
            path,
            offset: 0,
            reason: Corruption::BadMagic { .. },
        } => {
            assert!(path.ends_with("index"))
        }
        other => panic!("unexpected {other}"),
    }
    // A flipped byte in the first series entry: found when the series is read.
    let ir = IndexReader::from_bytes(orig.clone(), "index").unwrap();
    let first = ir.all_postings().unwrap().iter().next().unwrap() as u64 * 16;
    let mut b = orig.clone();
    b[first as usize + 3] ^= 0x10;
    std::fs::write(fx.work.join("index"), &b).unwrap();
    let blk = Block::open(&fx.work).unwrap();
    let err = blk
        .select(&[], i64::MIN, i64::MAX)
        .unwrap()
        .find_map(|s| s.err())
        .expect("an error");
    match err {
        BlockError::Corrupt {
            path,
            offset,
            reason: Corruption::Checksum { .. },
        } => {
            assert!(path.ends_with("index"));
            assert_eq!(offset, first);
        }
        other => panic!("unexpected {other}"),
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    #[test]
    fn random_bytes_never_panic_the_index_reader(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        if let Ok(r) = IndexReader::from_bytes(bytes, "fuzz") {
            for n in r.label_names() {
                let _ = r.label_values(n);
            }
            let _ = r.symbols().count();
            let mut chunks = Vec::new();
            for i in 0..40 {
                let _ = r.series(i, &mut chunks);
            }
        }
    }
}
