//! The wlog mode: round trips through our writer and reader (records larger than a page and than several
//! pages, segment cuts, reopening), damage anywhere in segments and checkpoints, checkpoints, and records of
//! other writers (skipped types, zstd).

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::{assert_prefix, batch_records, read_all, Rec};
use proptest::prelude::*;
use tsdb_labels::Labels;
use tsdb_wal::wlog::checkpoint::{checkpoint_until, CrashPoint};
use tsdb_wal::wlog::fragment::{frame_record, FLAG_SNAPPY, FLAG_ZSTD};
use tsdb_wal::wlog::reader::Kind;
use tsdb_wal::wlog::{self, PAGE_SIZE};
use tsdb_wal::{
    detect, repair, Batch, Delete, RefSample, RefSeries, SyncPolicy, Wal, WalError, WalFormat,
    WalMode, WalOptions, WalReader,
};

const SEG: u64 = 4 * PAGE_SIZE;

fn opts(segment_size: u64) -> WalOptions {
    WalOptions {
        mode: WalMode::Wlog,
        segment_size,
        sync: SyncPolicy::Never,
        ..WalOptions::default()
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied()).expect("valid labels")
}

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Every regular file under `dir` (checkpoints included) with its size, sorted.
fn files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(files(&e.path()));
        } else {
            out.push((e.path(), e.metadata().unwrap().len()));
        }
    }
    out.sort();
    out
}

/// Deterministic pseudo-random bits (xorshift), so that test records do not compress away.
fn noise(seed: u64) -> impl Iterator<Item = u64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    std::iter::repeat_with(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    })
}

/// An incompressible string of `n` printable characters.
fn noisy_string(seed: u64, n: usize) -> String {
    noise(seed)
        .take(n)
        .map(|x| char::from(b'!' + (x % 90) as u8))
        .collect()
}

/// Samples of series `first..first + n` at time `t` with incompressible values.
fn noisy_samples(first: u64, n: u64, t: i64) -> Vec<RefSample> {
    (first..first + n)
        .zip(noise(t as u64 ^ first))
        .map(|(series, x)| RefSample {
            series,
            t,
            v: f64::from_bits(x),
        })
        .collect()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn corruption_of(e: Option<WalError>) -> tsdb_wal::Corruption {
    match e {
        Some(WalError::Corruption(c)) => c,
        other => panic!("expected a corruption, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Round trips.

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        any::<u64>().prop_map(f64::from_bits),
    ]
}

fn label_set() -> impl Strategy<Value = Labels> {
    prop::collection::btree_map(
        "[a-zA-Z_][a-zA-Z0-9_]{0,12}",
        prop_oneof![
            4 => "\\PC{0,16}",
            1 => Just("日本語 ✓ \" \\ \n".to_string()),
            // Large values make records of more than a page, or of several pages (incompressible enough).
            1 => "\\PC{2000,12000}",
            1 => prop::collection::vec(any::<u8>(), 40_000..120_000).prop_map(|b| b.iter().map(|x| char::from(b'!' + x % 90)).collect()),
        ],
        0..5,
    )
    .prop_map(|m: BTreeMap<String, String>| Labels::new(m).expect("valid"))
}

#[derive(Debug, Clone)]
struct TestBatch {
    series: Vec<RefSeries>,
    samples: Vec<RefSample>,
    deletes: Vec<Delete>,
}

fn batch() -> impl Strategy<Value = TestBatch> {
    (
        prop::collection::vec((any::<u64>(), label_set()), 0..4),
        prop::collection::vec((any::<u64>(), any::<i64>(), value()), 0..300),
        prop::collection::vec((any::<u64>(), any::<i64>(), any::<i64>()), 0..3),
    )
        .prop_map(|(se, sa, de)| TestBatch {
            series: se
                .into_iter()
                .map(|(series, labels)| RefSeries { series, labels })
                .collect(),
            samples: sa
                .into_iter()
                .map(|(series, t, v)| RefSample { series, t, v })
                .collect(),
            deletes: de
                .into_iter()
                .map(|(series, mint, maxt)| Delete { series, mint, maxt })
                .collect(),
        })
}

fn write_batches(dir: &Path, o: WalOptions, batches: &[TestBatch]) -> Vec<Rec> {
    let wal = Wal::open(dir, o).unwrap();
    let mut want = Vec::new();
    for b in batches {
        wal.log(Batch {
            series: &b.series,
            samples: &b.samples,
            deletes: &b.deletes,
        })
        .unwrap();
        want.extend(batch_records(&b.series, &b.samples, &b.deletes));
    }
    wal.close().unwrap();
    want
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]

    /// Random records, some larger than a page or than several pages, in logs cut into several segments:
    /// read back exactly; segments are `%08d` from 00000000, page-aligned, and no larger than the segment
    /// size unless one batch alone is.
    #[test]
    fn random_records_round_trip(
        batches in prop::collection::vec(batch(), 1..12),
        pages in 1u64..6,
        prealloc in any::<bool>(),
        reopen_at in any::<prop::sample::Index>(),
    ) {
        let d = tempfile::tempdir().unwrap();
        let mut o = opts(pages * PAGE_SIZE);
        o.preallocate = prealloc;
        let split = reopen_at.index(batches.len() + 1);
        let mut want = write_batches(d.path(), o.clone(), &batches[..split]);
        want.extend(write_batches(d.path(), o.clone(), &batches[split..]));
        let (got, err) = read_all(d.path());
        prop_assert!(err.is_none(), "{err:?}");
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(detect(d.path()).unwrap(), WalFormat::Wlog);
        let segs = wlog::list(d.path()).unwrap().segments;
        prop_assert_eq!(segs[0].seq, 0);
        for (i, s) in segs.iter().enumerate() {
            prop_assert_eq!(s.seq, i as u64);
            prop_assert_eq!(s.path.file_name().unwrap().to_str().unwrap(), format!("{i:08}"));
            let len = std::fs::metadata(&s.path).unwrap().len();
            prop_assert_eq!(len % PAGE_SIZE, 0, "segment {} is {} bytes", i, len);
        }
        // Every record stays in one segment, and a segment exceeds the size only with one batch in it.
        let mut r = WalReader::open(d.path()).unwrap();
        let mut per_seg: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        while let Some(e) = r.next().unwrap() {
            let x = per_seg.entry(e.segment).or_default();
            x.0 += 1;
            x.1 = x.1.max(e.offset + e.len);
        }
        for (seg, (_, end)) in per_seg {
            if end > o.segment_size {
                // Only the records of one batch (at most 3) may overflow a segment.
                let n = read_seg_records(d.path(), seg);
                prop_assert!(n <= 3, "segment {} ends at {} with {} records", seg, end, n);
            }
        }
    }
}

fn read_seg_records(dir: &Path, seg: u64) -> usize {
    let mut r = WalReader::open(dir).unwrap();
    let mut n = 0;
    while let Some(e) = r.next().unwrap() {
        n += (e.segment == seg) as usize;
    }
    n
}

#[test]
fn records_of_several_pages_are_fragmented_and_snappy_when_smaller() {
    let d = tempfile::tempdir().unwrap();
    // Half noise, half repetition: snappy makes it smaller, and it still spans several pages.
    let big = noisy_string(1, 100_000) + &"a".repeat(100_000);
    let series = vec![RefSeries {
        series: 1,
        labels: labels(&[("__name__", "big"), ("v", &big)]),
    }];
    let samples: Vec<RefSample> = (0..5000)
        .map(|i| RefSample {
            series: 1,
            t: 1_700_000_000_000 + i * 15_000,
            v: i as f64,
        })
        .collect();
    let want = write_batches(
        d.path(),
        opts(wlog::DEFAULT_SEGMENT_SIZE),
        &[TestBatch {
            series,
            samples,
            deletes: vec![],
        }],
    );
    let (got, err) = read_all(d.path());
    assert!(err.is_none());
    assert_eq!(got, want);
    let seg = std::fs::read(d.path().join("00000000")).unwrap();
    // The series record spans several pages: first, middles, last, each in its own page, all flagged snappy.
    assert_eq!(seg[0], 2 | FLAG_SNAPPY, "first fragment, snappy");
    let p = PAGE_SIZE as usize;
    assert_eq!(seg[p] & 7, 3, "a middle fragment starts page 1");
    let mut r = WalReader::open(d.path()).unwrap();
    let e = r.next().unwrap().unwrap();
    assert_eq!((e.segment, e.offset, e.flag), (0, 0, FLAG_SNAPPY));
    assert!(e.len > 2 * PAGE_SIZE);
}

#[test]
fn incompressible_records_are_stored_plain() {
    let d = tempfile::tempdir().unwrap();
    let wal = Wal::open(d.path(), opts(SEG)).unwrap();
    wal.log_samples(&[RefSample {
        series: 0x0123_4567_89ab_cdef,
        t: 0x1122_3344_5566_7788,
        v: f64::from_bits(0x99aa_bbcc_ddee_ff10),
    }])
    .unwrap();
    wal.close().unwrap();
    let seg = std::fs::read(d.path().join("00000000")).unwrap();
    assert_eq!(seg[0], 1, "a full, uncompressed fragment");
    assert_eq!(seg[7], 2, "record type 2: samples");
    assert_eq!(seg.len() as u64, PAGE_SIZE);
}

#[test]
fn segment_size_must_be_pages_up_to_256_mib() {
    for bad in [0, 1000, PAGE_SIZE + 1, 256 * 1024 * 1024 + PAGE_SIZE] {
        let d = tempfile::tempdir().unwrap();
        match Wal::open(d.path(), opts(bad)) {
            Err(WalError::SegmentSize { size, .. }) => assert_eq!(size, bad),
            other => panic!("size {bad}: {:?}", other.map(|_| ())),
        }
    }
    let d = tempfile::tempdir().unwrap();
    Wal::open(d.path(), opts(256 * 1024 * 1024))
        .unwrap()
        .close()
        .unwrap();
}

#[test]
fn formats_are_not_mixed() {
    let native = tempfile::tempdir().unwrap();
    let w = Wal::open(native.path(), WalOptions::default()).unwrap();
    w.log_series(&common::make_series(0, 3)).unwrap();
    w.close().unwrap();
    match Wal::open(native.path(), opts(SEG)) {
        Err(WalError::FormatMismatch { found, wanted, .. }) => {
            assert_eq!(found, WalFormat::Native);
            assert_eq!(wanted, WalMode::Wlog);
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let wl = tempfile::tempdir().unwrap();
    let w = Wal::open(wl.path(), opts(SEG)).unwrap();
    w.log_series(&common::make_series(0, 3)).unwrap();
    w.close().unwrap();
    for mode in [WalMode::Native, WalMode::Prometheus] {
        let o = WalOptions {
            mode,
            ..WalOptions::default()
        };
        match Wal::open(wl.path(), o) {
            Err(WalError::FormatMismatch { found, .. }) => assert_eq!(found, WalFormat::Wlog),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn sync_policies_and_concurrent_writers() {
    for sync in [
        SyncPolicy::Always,
        SyncPolicy::Interval(std::time::Duration::from_millis(5)),
    ] {
        let d = tempfile::tempdir().unwrap();
        let o = WalOptions { sync, ..opts(SEG) };
        let wal = std::sync::Arc::new(Wal::open(d.path(), o).unwrap());
        let mut hs = Vec::new();
        for th in 0..4u64 {
            let wal = wal.clone();
            hs.push(std::thread::spawn(move || {
                for i in 0..200u64 {
                    let s = common::make_samples(th * 1000, 20, i as i64);
                    wal.log_samples(&s).unwrap();
                }
            }));
        }
        for h in hs {
            h.join().unwrap();
        }
        let m = wal.metrics();
        assert!(m.segments_created > 1, "{m:?}");
        if sync == SyncPolicy::Always {
            assert!(m.fsyncs > 0);
        }
        std::sync::Arc::try_unwrap(wal)
            .ok()
            .unwrap()
            .close()
            .unwrap();
        let (got, err) = read_all(d.path());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got.len(), 800);
        let mut per_thread = [0i64; 4];
        for r in got {
            let Rec::Samples(s) = r else { panic!() };
            let th = (s[0].series / 1000) as usize;
            assert_eq!(s[0].t, per_thread[th], "thread {th}'s batches in order");
            per_thread[th] += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Records other writers put there.

fn write_segment(dir: &Path, seq: u64, recs: &[(&[u8], u8)]) {
    let mut out = Vec::new();
    let mut off = 0;
    for (r, f) in recs {
        off = frame_record(&mut out, off, r, *f);
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(wlog::segment_path(dir, seq), out).unwrap();
}

fn series_rec(r: u64, name: &str) -> Vec<u8> {
    let mut v = vec![1u8];
    tsdb_wal::record::encode_series_simple(
        &mut v,
        &[RefSeries {
            series: r,
            labels: labels(&[("__name__", name)]),
        }],
    );
    v
}

#[test]
fn other_record_types_are_skipped_and_counted_zstd_is_read() {
    let d = tempfile::tempdir().unwrap();
    let s = series_rec(5, "up");
    let z = ruzstd::encoding::compress_to_vec(&s[..], ruzstd::encoding::CompressionLevel::Fastest);
    let mut samples = vec![2u8];
    tsdb_wal::record::encode_samples(
        &mut samples,
        &[RefSample {
            series: 5,
            t: 10,
            v: 1.0,
        }],
    );
    write_segment(
        d.path(),
        0,
        &[
            (&z, FLAG_ZSTD),
            (b"\x04exemplar bytes", 0),
            (b"\x06metadata", 0),
            (b"\x07histogram", 0),
            (b"\x0c histogram v2", 0),
            // SamplesV2: ref 5, t 10, no start time, value 2.0.
            (b"\x0b\x0a\x14\x00\x40\x00\x00\x00\x00\x00\x00\x00", 0),
            (&samples, 0),
        ],
    );
    let mut r = WalReader::open(d.path()).unwrap();
    assert!(r.is_wlog());
    let mut got = Vec::new();
    while let Some(e) = r.next().unwrap() {
        got.push(format!("{:?}", e.record));
    }
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[0].contains("up"), "{got:?}");
    assert!(got[1].contains("t: 10, v: 2.0"), "{got:?}");
    let sk = r.skipped();
    assert_eq!(sk.total(), 4);
    assert_eq!(
        (sk.count(4), sk.count(6), sk.count(7), sk.count(12)),
        (1, 1, 1, 1)
    );
    assert_eq!(sk.by_type()[0].1, "exemplars");

    // An unknown type is damage, reported where its record starts.
    let d = tempfile::tempdir().unwrap();
    write_segment(d.path(), 0, &[(&s, 0), (b"\xc8what", 0)]);
    let (got, err) = read_all(d.path());
    assert_eq!(got.len(), 1);
    let c = corruption_of(err);
    assert_eq!(
        (c.segment, c.offset, c.file.as_str()),
        (0, s.len() as u64 + 7, "00000000")
    );
    assert!(c.reason.contains("unknown record type 200"), "{}", c.reason);
}

// ---------------------------------------------------------------------------------------------------------
// Damage.

struct Base {
    dir: tempfile::TempDir,
    want: Vec<Rec>,
    files: Vec<(PathBuf, u64)>,
}

fn build(with_checkpoint: bool) -> Base {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::open(dir.path(), opts(2 * PAGE_SIZE)).unwrap();
    let mut want = Vec::new();
    let big = noisy_string(2, 3 * PAGE_SIZE as usize);
    for i in 0..30u64 {
        let series = if i % 6 == 0 {
            vec![RefSeries {
                series: 1000 + i,
                labels: labels(&[
                    ("__name__", "big"),
                    ("i", &i.to_string()),
                    ("v", &big[..(i as usize * 3000) % big.len()]),
                ]),
            }]
        } else {
            common::make_series(i * 10, 4)
        };
        let samples = noisy_samples(0, 30 + i * 7, 1_700_000_000_000 + i as i64 * 15_000);
        let deletes = if i % 7 == 3 {
            vec![Delete {
                series: i,
                mint: 0,
                maxt: 1_700_000_000_000 + i as i64 * 15_000,
            }]
        } else {
            vec![]
        };
        wal.log(Batch {
            series: &series,
            samples: &samples,
            deletes: &deletes,
        })
        .unwrap();
        want.extend(batch_records(&series, &samples, &deletes));
    }
    if with_checkpoint {
        // Every closed segment becomes a checkpoint that keeps every series and every sample.
        let last = wal.closed_segments().last().unwrap().seq;
        wal.close().unwrap();
        let rep = wlog::checkpoint::checkpoint(dir.path(), last, i64::MIN, &|_| true).unwrap();
        assert!(!rep.segments.is_empty(), "{rep:?}");
        let wal = Wal::open(dir.path(), opts(SEG)).unwrap();
        let tail = common::make_samples(0, 5, 1_800_000_000_000);
        wal.log_samples(&tail).unwrap();
        wal.close().unwrap();
        // The checkpoint rewrites records without their batches' grouping: compare what it holds.
        let (got, err) = read_all(dir.path());
        assert!(err.is_none(), "{err:?}");
        want = got;
        assert!(matches!(want.last(), Some(Rec::Samples(s)) if s[0].t == 1_800_000_000_000));
    } else {
        wal.close().unwrap();
    }
    let files = files(dir.path());
    Base { dir, want, files }
}

/// Repairs `dir`, then checks that it reads without error exactly as `got` did before.
fn repair_keeps(dir: &Path, got: &[Rec]) {
    repair(dir).unwrap().expect("a repair");
    let (again, err) = read_all(dir);
    assert!(err.is_none(), "after repair: {err:?}");
    assert_eq!(again, got, "repair kept a different prefix");
    assert!(repair(dir).unwrap().is_none(), "second repair found damage");
    // And the writer continues the repaired log.
    let wal = Wal::open(dir, opts(SEG)).unwrap();
    wal.log_samples(&common::make_samples(0, 2, 5)).unwrap();
    wal.close().unwrap();
    let (more, err) = read_all(dir);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(more.len(), got.len() + 1);
}

fn check_damage(b: &Base, d: &Path) {
    let (got, err) = read_all(d);
    assert_prefix(&got, &b.want);
    let c = corruption_of(err);
    // The report names an existing file (or a missing segment) and an offset inside it.
    let p = d.join(&c.file);
    if p.exists() {
        assert!(c.offset <= std::fs::metadata(&p).unwrap().len(), "{c}");
    }
    if c.checkpoint.is_some() {
        assert!(c.file.starts_with("checkpoint."), "{c}");
        assert!(matches!(repair(d), Err(WalError::Unrepairable { .. })));
    } else {
        repair_keeps(d, &got);
    }
}

#[test]
fn cut_anywhere_inside_the_last_record_is_torn() {
    let b = build(false);
    let mut r = WalReader::open(b.dir.path()).unwrap();
    let mut last = None;
    while let Some(e) = r.next().unwrap() {
        last = Some((e.segment, e.offset, e.len));
    }
    let (seg, off, len) = last.unwrap();
    let name = wlog::segment_name(seg);
    for cut in (off + 1..off + len).step_by(53).chain([off + len - 1]) {
        let d = tempfile::tempdir().unwrap();
        copy_tree(b.dir.path(), d.path());
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(d.path().join(&name))
            .unwrap();
        f.set_len(cut).unwrap();
        let (got, err) = read_all(d.path());
        assert_eq!(got, b.want[..b.want.len() - 1], "cut at {cut}");
        let c = corruption_of(err);
        assert_eq!((c.segment, c.offset), (seg, off), "cut at {cut}: {c}");
        assert!(c.reason.contains("torn"), "{}", c.reason);
        repair_keeps(d.path(), &got);
    }
}

#[test]
fn multi_page_record_cut_at_a_page_boundary_is_torn() {
    let b = build(false);
    let mut r = WalReader::open(b.dir.path()).unwrap();
    let mut multi = None;
    let mut n = 0;
    while let Some(e) = r.next().unwrap() {
        if e.len > 2 * PAGE_SIZE && multi.is_none() {
            multi = Some((e.segment, e.offset, n));
        }
        n += 1;
    }
    let (seg, off, idx) = multi.expect("a record of several pages");
    let d = tempfile::tempdir().unwrap();
    copy_tree(b.dir.path(), d.path());
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(d.path().join(wlog::segment_name(seg)))
        .unwrap();
    let cut = (off / PAGE_SIZE + 1) * PAGE_SIZE;
    f.set_len(cut).unwrap();
    let (got, err) = read_all(d.path());
    let c = corruption_of(err);
    assert_eq!((c.segment, c.offset), (seg, off), "{c}");
    assert_eq!(got, b.want[..idx]);
}

#[test]
fn missing_segment_is_reported() {
    let b = build(false);
    let segs = wlog::list(b.dir.path()).unwrap().segments;
    assert!(segs.len() >= 4);
    std::fs::remove_file(&segs[1].path).unwrap();
    let (got, err) = read_all(b.dir.path());
    assert_prefix(&got, &b.want);
    let c = corruption_of(err);
    assert_eq!((c.segment, c.offset), (1, 0));
    assert!(c.reason.contains("missing"), "{}", c.reason);
}

#[test]
fn damaged_checkpoint_is_reported_and_not_cut() {
    let b = build(true);
    let l = wlog::list(b.dir.path()).unwrap();
    let cp = l.last_checkpoint().unwrap().clone();
    let inner = cp.path.join("00000000");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&inner)
        .unwrap();
    let mut x = [0u8];
    f.read_exact_at(&mut x, 100).unwrap();
    f.write_all_at(&[x[0] ^ 0x40], 100).unwrap();
    let (got, err) = read_all(b.dir.path());
    assert_prefix(&got, &b.want);
    let c = corruption_of(err);
    assert_eq!(c.checkpoint, Some(cp.index));
    assert_eq!(c.file, format!("checkpoint.{:08}/00000000", cp.index));
    assert!(c.offset <= 100, "{c}");
    assert!(c.to_string().contains("checkpoint."), "{c}");
    assert!(matches!(
        repair(b.dir.path()),
        Err(WalError::Unrepairable { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Random byte flips in segments and checkpoints: never a panic, never an invented record; every flip
    /// is detected (every byte is a header, CRC-covered data, or padding that must be zero), with segment
    /// and offset; repair keeps exactly what was read.
    #[test]
    fn random_flips_are_detected(
        with_cp in any::<bool>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let b = build(with_cp);
        let d = tempfile::tempdir().unwrap();
        copy_tree(b.dir.path(), d.path());
        for (fi, off, x) in &flips {
            let (p, len) = &b.files[fi.index(b.files.len())];
            let p = d.path().join(p.strip_prefix(b.dir.path()).unwrap());
            let off = off.index(*len as usize) as u64;
            let f = std::fs::OpenOptions::new().read(true).write(true).open(&p).unwrap();
            let mut byte = [0u8];
            f.read_exact_at(&mut byte, off).unwrap();
            f.write_all_at(&[byte[0] ^ x], off).unwrap();
        }
        check_damage(&b, d.path());
    }

    /// Random truncation of any file, or garbage appended: never a panic, a prefix, damage reported (or a
    /// clean shorter read when the cut falls on a record boundary).
    #[test]
    fn random_truncation_and_garbage(
        with_cp in any::<bool>(),
        fi in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        garbage in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let b = build(with_cp);
        let d = tempfile::tempdir().unwrap();
        copy_tree(b.dir.path(), d.path());
        let (p, len) = &b.files[fi.index(b.files.len())];
        let p = d.path().join(p.strip_prefix(b.dir.path()).unwrap());
        let cut = at.index(*len as usize + 1) as u64;
        let f = std::fs::OpenOptions::new().read(true).write(true).open(&p).unwrap();
        f.set_len(cut).unwrap();
        f.write_all_at(&garbage, cut).unwrap();
        let (got, err) = read_all(d.path());
        assert_prefix(&got, &b.want);
        if err.is_some() {
            check_damage(&b, d.path());
        } else {
            prop_assert!(garbage.iter().all(|&g| g == 0) || garbage.is_empty(), "garbage read cleanly");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Checkpoints.

/// A log of 6+ segments: series 0..60 (ten per batch), samples at t = batch index.
fn checkpoint_log(dir: &Path) -> Wal {
    let wal = Wal::open(dir, opts(SEG)).unwrap();
    for i in 0..60i64 {
        let series = if i % 10 == 0 {
            common::make_series(i as u64, 10)
        } else {
            vec![]
        };
        let samples = common::make_samples(i as u64 / 10 * 10, 10, i);
        let deletes = [Delete {
            series: 3,
            mint: i,
            maxt: i,
        }];
        wal.log(Batch {
            series: &series,
            samples: &samples,
            deletes: &deletes,
        })
        .unwrap();
        // Make the samples big enough to cut segments.
        wal.log_samples(&noisy_samples(500, 1000, i)).unwrap();
    }
    wal
}

/// Every record with whether it came from a checkpoint and its segment.
fn located(dir: &Path) -> Vec<(bool, u64, Rec)> {
    let mut r = tsdb_wal::wlog::reader::WlogReader::open(dir).unwrap();
    let mut out = Vec::new();
    while let Some(l) = r.next().unwrap() {
        let rec = match l.kind {
            Kind::Series => Rec::Series(r.series().to_vec()),
            Kind::Samples => Rec::Samples(r.samples().to_vec()),
            Kind::Tombstones => Rec::Deletes(r.deletes().to_vec()),
        };
        out.push((l.checkpoint.is_some(), l.segment, rec));
    }
    out
}

/// Splits located records into (checkpoint, directory segments).
fn split(l: Vec<(bool, u64, Rec)>) -> (Vec<Rec>, Vec<Rec>) {
    let (a, b): (Vec<_>, Vec<_>) = l.into_iter().partition(|x| x.0);
    (
        a.into_iter().map(|x| x.2).collect(),
        b.into_iter().map(|x| x.2).collect(),
    )
}

fn flatten(recs: &[Rec]) -> (Vec<RefSeries>, Vec<RefSample>, Vec<Delete>) {
    let (mut a, mut b, mut c) = (vec![], vec![], vec![]);
    for r in recs {
        match r {
            Rec::Series(s) => a.extend(s.iter().cloned()),
            Rec::Samples(s) => b.extend(s.iter().copied()),
            Rec::Deletes(d) => c.extend(d.iter().copied()),
        }
    }
    (a, b, c)
}

#[test]
fn truncate_writes_a_prometheus_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    let wal = checkpoint_log(d.path());
    let closed = wal.closed_segments();
    assert!(closed.len() >= 4, "{closed:?}");
    let before_l = located(d.path());
    let keep = |r: u64| r.is_multiple_of(2);
    let mint = 30;
    let rep = wal.truncate(mint, keep).unwrap();
    // Only segments whose samples are all older than mint are covered.
    let covered: Vec<u64> = closed
        .iter()
        .filter(|c| c.max_t < mint)
        .map(|c| c.seq)
        .collect();
    assert!(!covered.is_empty());
    assert_eq!(rep.segments, covered);
    let last = *covered.last().unwrap();
    let mut expect_names: Vec<String> = vec![format!("checkpoint.{last:08}")];
    for s in wlog::list(d.path()).unwrap().segments {
        assert!(s.seq > last);
        expect_names.push(wlog::segment_name(s.seq));
    }
    expect_names.sort();
    assert_eq!(names(d.path()), expect_names);
    assert_eq!(
        names(&d.path().join(format!("checkpoint.{last:08}"))),
        vec!["00000000"]
    );

    // Expected: from the covered segments, kept series and samples/tombstones at or after mint; all the rest.
    let r = WalReader::open(d.path()).unwrap();
    assert_eq!(r.checkpoint().map(|c| c.index), Some(last));
    let (covered_recs, rest_before): (Vec<_>, Vec<_>) =
        before_l.into_iter().partition(|x| x.1 <= last);
    let (cp_recs, rest) = split(located(d.path()));
    assert_eq!(
        rest,
        rest_before.into_iter().map(|x| x.2).collect::<Vec<_>>()
    );
    let covered_recs: Vec<Rec> = covered_recs.into_iter().map(|x| x.2).collect();
    let (bs, bsa, bd) = flatten(&covered_recs);
    let (cs, csa, cd) = flatten(&cp_recs);
    let want_series: Vec<RefSeries> = bs.into_iter().filter(|s| keep(s.series)).collect();
    assert_eq!(cs, want_series);
    assert_eq!(
        csa,
        bsa.into_iter().filter(|s| s.t >= mint).collect::<Vec<_>>()
    );
    assert_eq!(
        cd,
        bd.into_iter()
            .filter(|d| d.maxt >= mint)
            .collect::<Vec<_>>()
    );
    assert_eq!(rep.series_kept, want_series.len() as u64);

    // A second truncation folds the checkpoint into a new one; the writer continues after it.
    wal.log_samples(&common::make_samples(0, 1, 1000)).unwrap();
    let rep2 = wal.truncate(61, |r| r.is_multiple_of(4)).unwrap();
    assert!(!rep2.segments.is_empty());
    let l = wlog::list(d.path()).unwrap();
    assert_eq!(l.checkpoints.len(), 1);
    assert!(l.checkpoints[0].index > last);
    wal.close().unwrap();
    let (after, err) = read_all(d.path());
    assert!(err.is_none(), "{err:?}");
    let (s2, sa2, _) = flatten(&after);
    assert!(s2
        .iter()
        .all(|s| s.series.is_multiple_of(4) || s.series >= 60));
    assert!(sa2.iter().any(|s| s.t == 1000));
    // Reopening keeps reading the same.
    let wal = Wal::open(d.path(), opts(SEG)).unwrap();
    wal.close().unwrap();
    assert_eq!(read_all(d.path()).0, after);
}

#[test]
fn checkpoint_keeps_samples_at_or_after_mint() {
    let d = tempfile::tempdir().unwrap();
    let wal = checkpoint_log(d.path());
    let last = wal.closed_segments().last().unwrap().seq;
    wal.close().unwrap();
    let before_l = located(d.path());
    let rep = wlog::checkpoint::checkpoint(d.path(), last, 30, &|_| true).unwrap();
    assert!(rep.samples_kept > 0 && rep.samples_dropped > 0, "{rep:?}");
    assert_eq!(rep.segments, (0..=last).collect::<Vec<_>>());
    let (covered, rest_before): (Vec<_>, Vec<_>) = before_l.into_iter().partition(|x| x.1 <= last);
    let (cp, rest) = split(located(d.path()));
    assert_eq!(
        rest,
        rest_before.into_iter().map(|x| x.2).collect::<Vec<_>>()
    );
    let covered: Vec<Rec> = covered.into_iter().map(|x| x.2).collect();
    let (bs, bsa, bd) = flatten(&covered);
    let (cs, csa, cd) = flatten(&cp);
    assert_eq!(cs, bs, "every series kept");
    let want: Vec<RefSample> = bsa.iter().copied().filter(|s| s.t >= 30).collect();
    assert_eq!(csa, want);
    assert_eq!(rep.samples_kept, want.len() as u64);
    assert_eq!(rep.samples_dropped, (bsa.len() - want.len()) as u64);
    assert_eq!(
        cd,
        bd.into_iter().filter(|x| x.maxt >= 30).collect::<Vec<_>>()
    );
    // Nothing left to do for the same range.
    let again = wlog::checkpoint::checkpoint(d.path(), last, 30, &|_| true).unwrap();
    assert!(again.checkpoint.is_none() && again.segments.is_empty());
}

#[test]
fn interrupted_checkpoint_reads_as_before_or_after() {
    for crash in [CrashPoint::BeforeRename, CrashPoint::AfterRename] {
        let d = tempfile::tempdir().unwrap();
        let wal = checkpoint_log(d.path());
        let last = wal.closed_segments()[2].seq;
        wal.close().unwrap();
        let (before, _) = read_all(d.path());
        let after_dir = tempfile::tempdir().unwrap();
        copy_tree(d.path(), after_dir.path());
        wlog::checkpoint::checkpoint(after_dir.path(), last, 0, &|_| true).unwrap();
        let (after, _) = read_all(after_dir.path());
        checkpoint_until(d.path(), last, 0, &|_| true, crash).unwrap();
        let (got, err) = read_all(d.path());
        assert!(err.is_none(), "{crash:?}: {err:?}");
        match crash {
            CrashPoint::BeforeRename => {
                assert_eq!(got, before);
                assert!(names(d.path()).iter().any(|n| n.ends_with(".tmp")));
            }
            CrashPoint::AfterRename => {
                assert_eq!(got, after);
                assert!(
                    d.path().join("00000000").exists(),
                    "covered segments still there"
                );
            }
        }
        // Opening the writer cleans up what the crash left.
        let wal = Wal::open(d.path(), opts(SEG)).unwrap();
        wal.close().unwrap();
        assert!(!names(d.path()).iter().any(|n| n.ends_with(".tmp")));
        if crash == CrashPoint::AfterRename {
            assert!(!d.path().join("00000000").exists());
        }
        assert_eq!(read_all(d.path()).0, got);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Detection.

#[test]
fn detection_of_every_format() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(detect(d.path()).unwrap(), WalFormat::Empty);
    assert_eq!(detect(&d.path().join("missing")).unwrap(), WalFormat::Empty);

    for (mode, want) in [
        (WalMode::Native, WalFormat::Native),
        (WalMode::Prometheus, WalFormat::SegmentWal),
        (WalMode::Wlog, WalFormat::Wlog),
    ] {
        let d = tempfile::tempdir().unwrap();
        let o = WalOptions {
            mode,
            segment_size: SEG,
            ..WalOptions::default()
        };
        let wal = Wal::open(d.path(), o).unwrap();
        wal.log_series(&common::make_series(0, 5)).unwrap();
        wal.log_samples(&common::make_samples(0, 5, 1)).unwrap();
        wal.close().unwrap();
        let f = detect(d.path()).unwrap();
        assert_eq!(f, want, "{mode:?}");
        assert_eq!(f.mode(), Some(mode));
        assert!(f.accepts(mode));
    }
    // Native without a series record: snappy-compressed samples still tell it apart.
    let d = tempfile::tempdir().unwrap();
    let wal = Wal::open(d.path(), WalOptions::default()).unwrap();
    wal.log_samples(&common::make_samples(0, 100, 1)).unwrap();
    wal.close().unwrap();
    assert_eq!(detect(d.path()).unwrap(), WalFormat::Native);

    // A fresh Prometheus wlog: one empty segment. Only a checkpoint: also wlog.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("00000000"), b"").unwrap();
    assert_eq!(detect(d.path()).unwrap(), WalFormat::Wlog);
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("checkpoint.00000003")).unwrap();
    assert_eq!(detect(d.path()).unwrap(), WalFormat::Wlog);

    // A SegmentWAL whose only segment was torn while it was created (empty, or part of the magic): still
    // SegmentWAL, for the reader to find the torn tail and a writable open to repair it.
    for torn in [&b""[..], &[0x43, 0xaf]] {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("000001"), torn).unwrap();
        assert_eq!(detect(d.path()).unwrap(), WalFormat::SegmentWal, "{torn:?}");
    }

    // Not recognised: a six-digit segment without the magic, mixed naming, SegmentWAL next to a checkpoint.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("000001"), b"\x01\x02\x03\x04\x05\x06\x07\x08").unwrap();
    let f = detect(d.path()).unwrap();
    assert!(
        matches!(&f, WalFormat::Unknown(why) if why.contains("000001")),
        "{f}"
    );
    assert!(f.to_string().starts_with("unrecognised"));
    assert_eq!(f.mode(), None);
    assert!(!f.accepts(WalMode::Wlog));

    let d = tempfile::tempdir().unwrap();
    let wal = Wal::open(d.path(), WalOptions::default()).unwrap();
    wal.close().unwrap();
    std::fs::write(d.path().join("00000002"), b"").unwrap();
    assert!(matches!(detect(d.path()).unwrap(), WalFormat::Unknown(_)));
    std::fs::remove_file(d.path().join("00000002")).unwrap();
    std::fs::create_dir(d.path().join("checkpoint.00000001")).unwrap();
    assert!(matches!(detect(d.path()).unwrap(), WalFormat::Unknown(_)));

    assert_eq!(WalFormat::Wlog.to_string(), "Prometheus wlog");
    assert_eq!(WalFormat::SegmentWal.to_string(), "Prometheus SegmentWAL");
}

#[test]
fn entries_name_their_checkpoint() {
    let b = build(true);
    let mut r = WalReader::open(b.dir.path()).unwrap();
    let cp = r.checkpoint().unwrap().index;
    let mut from_cp = 0;
    let mut names = BTreeMap::new();
    while let Some(e) = r.next().unwrap() {
        let seg = e.segment;
        let ck = r.entry_checkpoint();
        from_cp += ck.is_some() as u32;
        *names.entry(r.segment_file_name(seg, ck)).or_insert(0) += 1;
    }
    assert!(from_cp > 0);
    assert!(
        names.contains_key(&format!("checkpoint.{cp:08}/00000000")),
        "{names:?}"
    );
    assert!(names.contains_key(&format!("{:08}", cp + 1)), "{names:?}");
}

#[test]
fn crash_left_preallocated_segment_is_trimmed_and_continued() {
    let d = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    let mut o = opts(SEG);
    o.preallocate = true;
    let wal = Wal::open(d.path(), o.clone()).unwrap();
    let mut want = Vec::new();
    for i in 0..20 {
        let s = noisy_samples(0, 50, i);
        wal.log_samples(&s).unwrap();
        want.push(Rec::Samples(s));
    }
    wal.sync().unwrap();
    // What a crash leaves: the open segment still preallocated, its tail zeros.
    copy_tree(d.path(), crashed.path());
    wal.close().unwrap();
    let open_seg = wlog::list(crashed.path()).unwrap().segments.pop().unwrap();
    assert_eq!(std::fs::metadata(&open_seg.path).unwrap().len(), SEG);
    let (got, err) = read_all(crashed.path());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got, want);
    let wal = Wal::open(crashed.path(), o).unwrap();
    let len = std::fs::metadata(&open_seg.path).unwrap().len();
    assert!(
        len < SEG && len.is_multiple_of(PAGE_SIZE),
        "trimmed to its last page: {len}"
    );
    let more = noisy_samples(0, 5, 99);
    wal.log_samples(&more).unwrap();
    wal.close().unwrap();
    want.push(Rec::Samples(more));
    assert_eq!(read_all(crashed.path()).0, want);
}
