//! Writing blocks and reading them back: matchers, ranges, tombstones, label lookups.

mod common;

use common::*;
use tsdb_block::*;
use tsdb_chunks::{Encoding, XorChunk};
use tsdb_labels::{Labels, MatchOp, Matcher};

fn matcher(op: MatchOp, n: &str, v: &str) -> Matcher {
    Matcher::new(op, n, v).unwrap()
}

fn matcher_sets() -> Vec<Vec<Matcher>> {
    use MatchOp::*;
    vec![
        vec![],
        vec![matcher(Equal, "__name__", "metric_1")],
        vec![
            matcher(Equal, "job", "api"),
            matcher(Equal, "__name__", "metric_3"),
        ],
        vec![matcher(RegexMatch, "job", "api|db")],
        vec![matcher(RegexMatch, "instance", "host-1.*")],
        vec![matcher(NotEqual, "job", "api")],
        vec![matcher(Equal, "zone", "")],
        vec![matcher(NotEqual, "zone", "")],
        vec![matcher(RegexMatch, "zone", "z1|")],
        vec![
            matcher(RegexNoMatch, "zone", "z[0-2]"),
            matcher(RegexMatch, "__name__", "metric_[0-3]"),
        ],
        vec![matcher(Equal, "job", "nope")],
        vec![matcher(Equal, "nolabel", "")],
        vec![
            matcher(RegexMatch, "job", ".+"),
            matcher(NotEqual, "job", "db"),
        ],
    ]
}

#[test]
fn written_blocks_read_back_under_matchers_and_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let data = gen_data(1, 60, 300, 1_000_000, 15_000);
    let (mint, maxt) = (0, 10_000_000);
    let meta = write_block(dir.path(), &data, mint, maxt, &WriteOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(meta.stats.num_series, 60);
    assert_eq!(meta.stats.num_samples, 60 * 300);
    assert_eq!((meta.min_time, meta.max_time), (mint, maxt));
    let bdir = dir.path().join(meta.ulid.to_string());
    assert!(bdir.join("index").is_file() && bdir.join("chunks/000001").is_file());
    assert!(!dir.path().join(format!("{}.tmp", meta.ulid)).exists());
    assert_eq!(block_dirs(dir.path()).unwrap(), vec![bdir.clone()]);

    let b = Block::open(&bdir).unwrap();
    assert_eq!(b.meta(), meta);
    assert_eq!(read_meta(&bdir).unwrap(), meta);
    for ms in matcher_sets() {
        for (lo, hi) in [
            (i64::MIN, i64::MAX),
            (1_500_000, 3_000_000),
            (2_000_000, 2_000_000),
            (9, 8),
        ] {
            let got = query(&b, &ms, lo, hi);
            let want = model(&data, &ms, lo, hi, &no_deletes);
            assert_same(&got, &want);
        }
    }
    assert_eq!(b.label_names(), vec!["__name__", "instance", "job", "zone"]);
    assert_eq!(
        b.label_values("job").unwrap(),
        vec!["api", "cache", "db", "web"]
    );
    assert!(b.label_values("nope").unwrap().is_empty());
    assert!(b.size_bytes().unwrap() > 0);
}

#[test]
fn samples_outside_the_block_range_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let l = Labels::new([("__name__", "x")]).unwrap();
    let data = vec![(
        l.clone(),
        (0..100).map(|i| (i * 10, i as f64)).collect::<Vec<_>>(),
    )];
    let meta = write_block(dir.path(), &data, 200, 500, &WriteOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(meta.stats.num_samples, 30);
    let b = Block::open(dir.path().join(meta.ulid.to_string())).unwrap();
    let got = query(&b, &[], i64::MIN, i64::MAX);
    assert_eq!(got[&l].first().unwrap().0, 200);
    assert_eq!(got[&l].last().unwrap().0, 490);
    // Nothing in range: no block.
    assert!(
        write_block(dir.path(), &data, 5000, 6000, &WriteOptions::default())
            .unwrap()
            .is_none()
    );
    assert_eq!(block_dirs(dir.path()).unwrap().len(), 1);
}

#[test]
fn unsorted_and_duplicate_input_is_normalized() {
    let dir = tempfile::tempdir().unwrap();
    let a = Labels::new([("__name__", "a")]).unwrap();
    let b = Labels::new([("__name__", "b")]).unwrap();
    let data = vec![
        (b.clone(), vec![(3, 3.0), (1, 1.0)]),
        (a.clone(), vec![(1, 1.0)]),
        (b.clone(), vec![(2, 2.0), (1, 9.0)]),
    ];
    let meta = write_block(dir.path(), &data, 0, 10, &WriteOptions::default())
        .unwrap()
        .unwrap();
    let blk = Block::open(dir.path().join(meta.ulid.to_string())).unwrap();
    let got = query(&blk, &[], 0, 10);
    assert_eq!(got[&a], vec![(1, 1.0)]);
    assert_eq!(got[&b], vec![(1, 1.0), (2, 2.0), (3, 3.0)]);
}

/// A source handing over ready chunks, as the head does.
struct ChunkSource(Vec<(Labels, Vec<XorChunk>)>);

impl BlockSource for ChunkSource {
    fn for_each_series(&self, _: i64, _: i64, sink: &mut dyn SeriesSink) -> Result<()> {
        for (l, chunks) in &self.0 {
            let src: Vec<SourceChunk<'_>> = chunks
                .iter()
                .map(|c| {
                    let mut it = c.iter();
                    let mut ts = Vec::new();
                    while it.advance().unwrap() {
                        ts.push(it.at().0);
                    }
                    SourceChunk {
                        min_time: ts[0],
                        max_time: *ts.last().unwrap(),
                        encoding: Encoding::XOR,
                        data: c.bytes(),
                    }
                })
                .collect();
            sink.add_chunks(l, &src)?;
        }
        Ok(())
    }
}

#[test]
fn chunk_sources_are_copied_or_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let l = Labels::new([("__name__", "c")]).unwrap();
    let mut chunks = Vec::new();
    for k in 0..3 {
        let mut c = XorChunk::new();
        for i in 0..50 {
            let t = k * 1000 + i * 10;
            c.append(t, t as f64).unwrap();
        }
        chunks.push(c);
    }
    let src = ChunkSource(vec![(l.clone(), chunks)]);
    // Range cuts into the first and last chunk.
    let meta = write_block(dir.path(), &src, 200, 2200, &WriteOptions::default())
        .unwrap()
        .unwrap();
    let b = Block::open(dir.path().join(meta.ulid.to_string())).unwrap();
    let got = query(&b, &[], i64::MIN, i64::MAX);
    let want: Vec<(i64, f64)> = (0..3)
        .flat_map(|k| (0..50).map(move |i| k * 1000 + i * 10))
        .filter(|t| (200..2200).contains(t))
        .map(|t| (t, t as f64))
        .collect();
    assert_eq!(got[&l], want);
    assert_eq!(meta.stats.num_samples, want.len() as u64);
    assert_eq!(meta.stats.num_chunks, 3);
}

#[test]
fn out_of_order_sources_are_rejected_and_leave_nothing() {
    struct Bad;
    impl BlockSource for Bad {
        fn for_each_series(&self, _: i64, _: i64, sink: &mut dyn SeriesSink) -> Result<()> {
            let b = Labels::new([("a", "2")]).unwrap();
            let a = Labels::new([("a", "1")]).unwrap();
            sink.add_samples(&b, &mut [(1, 1.0)].into_iter())?;
            sink.add_samples(&a, &mut [(1, 1.0)].into_iter())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let err = write_block(dir.path(), &Bad, 0, 10, &WriteOptions::default()).unwrap_err();
    assert!(matches!(err, BlockError::SeriesOutOfOrder { .. }), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    struct BadSamples;
    impl BlockSource for BadSamples {
        fn for_each_series(&self, _: i64, _: i64, sink: &mut dyn SeriesSink) -> Result<()> {
            let a = Labels::new([("a", "1")]).unwrap();
            sink.add_samples(&a, &mut [(2, 1.0), (2, 1.0)].into_iter())
        }
    }
    let err = write_block(dir.path(), &BadSamples, 0, 10, &WriteOptions::default()).unwrap_err();
    assert!(matches!(err, BlockError::SampleOutOfOrder { .. }), "{err}");
}

#[test]
fn deletes_add_tombstones_that_queries_apply() {
    let dir = tempfile::tempdir().unwrap();
    let data = gen_data(7, 30, 200, 0, 10_000);
    let meta = write_block(dir.path(), &data, 0, 7_200_000, &WriteOptions::default())
        .unwrap()
        .unwrap();
    let bdir = dir.path().join(meta.ulid.to_string());
    let b = Block::open(&bdir).unwrap();
    let del = vec![matcher(MatchOp::Equal, "job", "db")];
    let n = b.delete(&del, 100_000, 500_000).unwrap();
    assert!(n > 0);
    // A second, overlapping delete on another selection.
    let del2 = vec![matcher(MatchOp::Equal, "__name__", "metric_2")];
    b.delete(&del2, 1_000_000, i64::MAX).unwrap();
    let deleted = |l: &Labels| {
        let mut ivs = Intervals::new();
        if del.iter().all(|m| m.matches_labels(l)) {
            ivs.add(Interval::new(100_000, 500_000));
        }
        if del2.iter().all(|m| m.matches_labels(l)) {
            ivs.add(Interval::new(1_000_000, i64::MAX));
        }
        ivs
    };
    for ms in matcher_sets() {
        assert_same(
            &query(&b, &ms, i64::MIN, i64::MAX),
            &model(&data, &ms, i64::MIN, i64::MAX, &deleted),
        );
    }
    // Persisted: reopen and see the same; meta counts the intervals.
    let b2 = Block::open(&bdir).unwrap();
    assert_eq!(b2.meta().stats.num_tombstones, b.tombstones().total());
    assert!(b2.meta().stats.num_tombstones > 0);
    assert_same(
        &query(&b2, &[], 0, i64::MAX),
        &model(&data, &[], 0, i64::MAX, &deleted),
    );
    assert!(!bdir.join("tombstones.tmp").exists() && !bdir.join("meta.json.tmp").exists());
    // Deleting everything hides every series.
    b2.delete(&[], i64::MIN, i64::MAX).unwrap();
    assert!(query(&b2, &[], i64::MIN, i64::MAX).is_empty());
}

#[test]
fn sample_iterators_stream_per_series() {
    let dir = tempfile::tempdir().unwrap();
    let data = gen_data(3, 5, 1000, 0, 1000);
    let meta = write_block(dir.path(), &data, 0, 7_200_000, &WriteOptions::default())
        .unwrap()
        .unwrap();
    let b = Block::open(dir.path().join(meta.ulid.to_string())).unwrap();
    let mut total = 0;
    for s in b.select(&[], 0, i64::MAX).unwrap() {
        let s = s.unwrap();
        assert!(s.chunks().len() >= 4);
        for r in s.into_samples() {
            r.unwrap();
            total += 1;
        }
    }
    assert_eq!(total, 5000);
}
