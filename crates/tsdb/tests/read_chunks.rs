//! `SelectedSeries::chunks_into`: stored chunks come out byte for byte, only chunks at the range's ends,
//! over deletes or merged from several sources are encoded again, and the chunks always hold exactly the
//! samples `samples_into` gives.

use tsdb::{ChunkOrigin, Db, EncodedChunk, Options};
use tsdb_labels::{Labels, Matcher};

const STEP: i64 = 15_000;

fn t0() -> i64 {
    1_700_000_000_000 - 1_700_000_000_000 % 7_200_000
}

fn decode(chunks: &[EncodedChunk]) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    for c in chunks {
        let mut it = tsdb_chunks::XorIter::new(&c.data).unwrap();
        let mut first = None;
        let mut last = None;
        while it.advance().unwrap() {
            let s = it.at();
            first.get_or_insert(s.0);
            last = Some(s.0);
            out.push(s);
        }
        assert_eq!(
            (first, last),
            (Some(c.min_time), Some(c.max_time)),
            "a chunk's range is its samples'"
        );
    }
    out
}

/// Reads every series of `db` over `[mint, maxt]` both ways; returns the origins, checking the samples.
fn read_both(db: &Db, mint: i64, maxt: i64) -> Vec<(Labels, ChunkOrigin, Vec<EncodedChunk>)> {
    let q = db.querier(mint, maxt);
    let (mut chunks, mut scratch, mut samples) = (Vec::new(), Vec::new(), Vec::new());
    let mut out = Vec::new();
    for s in q.select(&[]).unwrap() {
        let s = s.unwrap();
        let origin = s.chunks_into(&mut chunks, &mut scratch).unwrap();
        s.samples_into(&mut samples).unwrap();
        let bits = |v: &[(i64, f64)]| v.iter().map(|&(t, v)| (t, v.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&decode(&chunks)), bits(&samples), "{}", s.labels());
        assert_eq!(origin.copied + origin.encoded, chunks.len());
        out.push((s.labels().clone(), origin, chunks.clone()));
    }
    out
}

#[test]
fn stored_chunks_are_copied_and_only_the_edges_are_encoded() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(
        dir.path(),
        Options {
            background: false,
            compaction: false,
            ..Options::default()
        },
    )
    .unwrap();
    let labels: Vec<Labels> = (0..3)
        .map(|i| Labels::new([("__name__", "m"), ("i", &i.to_string())]).unwrap())
        .collect();
    // 4 h of 15 s samples, chunks of 120 (30 min); then persist the first 2 h as a block.
    let n = 4 * 240;
    for j in 0..n {
        let mut app = db.appender();
        for (k, l) in labels.iter().enumerate() {
            let v = if j % 7 == 0 {
                f64::NAN
            } else {
                j as f64 * 0.25 + k as f64
            };
            app.append(l, t0() + j * STEP, v).unwrap();
        }
        app.commit().unwrap();
    }
    db.delete(
        &[Matcher::equal("i", "2")],
        t0() + 10 * STEP,
        t0() + 12 * STEP,
    )
    .unwrap();
    let persisted = db.maintain().unwrap().persisted;
    assert_eq!(persisted.len(), 1, "the first 2 h range is a block");
    let block_end = t0() + 7_200_000;
    // A delete now is a tombstone in the block.
    db.delete(
        &[Matcher::equal("i", "2")],
        t0() + 10 * STEP,
        t0() + 12 * STEP,
    )
    .unwrap();

    // The block alone, whole chunks only: series 0 and 1 copied (4 chunks of 30 min each), series 2 with
    // its deleted samples encoded.
    let got = read_both(&db, t0(), block_end - 1);
    assert_eq!(got.len(), 3);
    for (l, origin, chunks) in &got[..2] {
        assert_eq!(
            *origin,
            ChunkOrigin {
                copied: 4,
                encoded: 0
            },
            "{l}"
        );
        // Byte for byte what the block stores.
        let b = tsdb_block::Block::open(dir.path().join(db.blocks()[0].ulid.to_string())).unwrap();
        let s = b
            .select(
                &[Matcher::equal("i", l.get("i").unwrap())],
                t0(),
                block_end - 1,
            )
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let stored: Vec<Vec<u8>> = s
            .chunks()
            .iter()
            .map(|m| b.chunk(m.chunk_ref).unwrap().data.to_vec())
            .collect();
        let sent: Vec<Vec<u8>> = chunks.iter().map(|c| c.data.clone()).collect();
        assert_eq!(sent, stored, "{l}");
    }
    assert_eq!(got[2].1.copied, 0, "deleted samples force encoding");

    // A range cutting chunks at both ends: the inner chunks copied, the two edges encoded.
    let got = read_both(&db, t0() + 60 * STEP, t0() + 420 * STEP);
    let (_, origin, _) = &got[0];
    assert!(origin.copied >= 1 && origin.encoded >= 2, "{origin:?}");

    // The head alone (its full chunks and the open one): copied.
    let got = read_both(&db, block_end, i64::MAX);
    for (l, origin, _) in &got {
        assert_eq!(origin.encoded, 0, "{l}: {origin:?}");
        assert_eq!(origin.copied, 4, "{l}: {origin:?}");
    }

    // Block and head together: merged from two sources, so encoded; samples still equal.
    let got = read_both(&db, i64::MIN, i64::MAX);
    assert!(got.iter().all(|(_, o, _)| o.copied == 0 && o.encoded > 0));
    db.close().unwrap();
}
