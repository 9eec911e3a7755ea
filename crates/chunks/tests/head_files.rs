//! Head chunk files: write and read back (buffered and flushed), file cuts, replay, torn tails,
//! damage, truncation, concurrency and the on-disk layout.

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use tsdb_chunks::{
    ChunkError, Corruption, Encoding, HeadChunkFiles, HeadChunkRef, HeadFilesOptions, XorChunk,
};

fn opts(max_file_size: u64, write_buffer_size: usize) -> HeadFilesOptions {
    HeadFilesOptions {
        max_file_size,
        write_buffer_size,
        read_only: false,
    }
}

fn chunk(seed: u64, n: usize) -> XorChunk {
    let mut c = XorChunk::new();
    for i in 0..n as i64 {
        c.append(
            seed as i64 * 1_000_000 + i * 15_000,
            (seed + i as u64) as f64 * 1.5,
        )
        .unwrap();
    }
    c
}

#[derive(Debug, Clone, PartialEq)]
struct Written {
    series_ref: u64,
    mint: i64,
    maxt: i64,
    r: HeadChunkRef,
    data: Vec<u8>,
}

fn write_many(h: &HeadChunkFiles, n: u64, series: u64) -> Vec<Written> {
    (0..n)
        .map(|i| {
            let c = chunk(i, 1 + (i as usize * 13) % 120);
            let series_ref = 1 + i % series;
            let (mint, maxt) = (i as i64 * 100, i as i64 * 100 + 99);
            let r = h.write_xor(series_ref, mint, maxt, &c).unwrap();
            Written {
                series_ref,
                mint,
                maxt,
                r,
                data: c.bytes().to_vec(),
            }
        })
        .collect()
}

fn replay_all(h: &HeadChunkFiles) -> (Vec<Written>, tsdb_chunks::ReplayReport) {
    let mut got = Vec::new();
    let report = h
        .replay(|c| {
            assert_eq!(c.encoding, Encoding::XOR);
            got.push(Written {
                series_ref: c.series_ref,
                mint: c.mint,
                maxt: c.maxt,
                r: c.chunk_ref,
                data: c.data.to_vec(),
            })
        })
        .unwrap();
    (got, report)
}

fn check_reads(h: &HeadChunkFiles, written: &[Written]) {
    for w in written {
        let c = h.chunk(w.r).unwrap();
        assert_eq!(
            (c.series_ref, c.mint, c.maxt, c.encoding, c.data()),
            (w.series_ref, w.mint, w.maxt, Encoding::XOR, &w.data[..]),
            "ref {:?}",
            w.r
        );
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn record_layout_is_prometheus() {
    let tmp = tempfile::tempdir().unwrap();
    let h = HeadChunkFiles::open(tmp.path(), HeadFilesOptions::default()).unwrap();
    let r = h
        .write_chunk(0x0102, -2, 0x0304, Encoding::XOR, &[0, 1, 0xaa])
        .unwrap();
    assert_eq!(r, HeadChunkRef::new(1, 8));
    h.close().unwrap();
    let b = std::fs::read(tmp.path().join("000001")).unwrap();
    let mut want = vec![0x01, 0x30, 0xbc, 0x91, 1, 0, 0, 0];
    want.extend_from_slice(&0x0102u64.to_be_bytes());
    want.extend_from_slice(&(-2i64).to_be_bytes());
    want.extend_from_slice(&0x0304u64.to_be_bytes());
    want.extend_from_slice(&[1, 3, 0, 1, 0xaa]);
    let crc = crc32c::crc32c(&want[8..]);
    want.extend_from_slice(&crc.to_be_bytes());
    assert_eq!(b, want);
}

#[test]
fn reads_pending_and_flushed_chunks_across_cuts() {
    let tmp = tempfile::tempdir().unwrap();
    let h = HeadChunkFiles::open(tmp.path(), opts(2048, 700)).unwrap();
    let written = write_many(&h, 300, 17);
    // Some chunks are still in the write buffer; all are readable.
    check_reads(&h, &written);
    let seqs = h.file_seqs();
    assert!(seqs.len() > 10, "{seqs:?}");
    assert_eq!(seqs, (1..=seqs.len() as u32).collect::<Vec<_>>());
    for w in &written {
        assert!(w.r.offset() >= 8 && (w.r.offset() as u64) < 2048);
    }
    h.flush().unwrap();
    check_reads(&h, &written);
    h.close().unwrap();
    assert!(matches!(
        h.chunk(written[0].r),
        Err(ChunkError::Closed { .. })
    ));
    assert!(matches!(
        h.write_chunk(1, 0, 0, Encoding::XOR, &[0, 0]),
        Err(ChunkError::Closed { .. })
    ));
    for name in files_in(tmp.path()) {
        let len = std::fs::metadata(tmp.path().join(&name)).unwrap().len();
        assert!(len <= 2048, "{name}: {len}");
    }
}

#[test]
fn replay_after_reopen_sees_everything_in_order_then_writes_go_to_a_new_file() {
    let tmp = tempfile::tempdir().unwrap();
    let written = {
        let h = HeadChunkFiles::open(tmp.path(), opts(4096, 1 << 16)).unwrap();
        write_many(&h, 200, 5)
        // Dropped without close: drop flushes and syncs.
    };
    let h = HeadChunkFiles::open(tmp.path(), opts(4096, 1 << 16)).unwrap();
    let (got, report) = replay_all(&h);
    assert_eq!(report.damage, None);
    assert_eq!(report.chunks, 200);
    assert_eq!(got, written);
    check_reads(&h, &written);
    let last = *h.file_seqs().last().unwrap();
    let more = write_many(&h, 3, 2);
    assert_eq!(more[0].r, HeadChunkRef::new(last + 1, 8));
    check_reads(&h, &written);
    check_reads(&h, &more);
    assert!(matches!(
        h.replay(|_| {}),
        Err(ChunkError::InvalidArgument { .. })
    ));
}

#[test]
fn torn_tail_stops_replay_cleanly_and_is_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    let written = {
        let h = HeadChunkFiles::open(tmp.path(), opts(4096, 1 << 16)).unwrap();
        write_many(&h, 100, 3)
    };
    let last = written.last().unwrap().r;
    let path = tmp.path().join(format!("{:06}", last.seq()));
    let len = std::fs::metadata(&path).unwrap().len();
    // Tear the last record in half.
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(last.offset() as u64 + 20).unwrap();
    drop(f);

    let h = HeadChunkFiles::open(tmp.path(), opts(4096, 1 << 16)).unwrap();
    let (got, report) = replay_all(&h);
    assert_eq!(got, written[..written.len() - 1]);
    let d = report.damage.expect("torn tail reported");
    assert_eq!((d.seq, d.offset), (last.seq(), last.offset() as u64));
    assert_eq!(d.path, path);
    assert!(
        matches!(d.reason, Corruption::Truncated { .. }),
        "{:?}",
        d.reason
    );
    assert_eq!(d.truncated_bytes, 20);
    assert!(d.removed_files.is_empty());
    assert!(len > last.offset() as u64 + 20);
    assert!(matches!(
        h.chunk(last),
        Err(ChunkError::Corrupt {
            reason: Corruption::Truncated { .. },
            ..
        })
    ));
    let more = write_many(&h, 2, 2);
    drop(h);

    let h = HeadChunkFiles::open(tmp.path(), opts(4096, 1 << 16)).unwrap();
    let (got2, report) = replay_all(&h);
    assert_eq!(report.damage, None);
    assert_eq!(got2.len(), written.len() - 1 + 2);
    assert_eq!(&got2[written.len() - 1..], &more[..]);
}

#[test]
fn damage_in_a_middle_file_drops_later_files() {
    let tmp = tempfile::tempdir().unwrap();
    let written = {
        let h = HeadChunkFiles::open(tmp.path(), opts(1024, 0)).unwrap();
        write_many(&h, 60, 3)
    };
    let victim = written.iter().find(|w| w.r.seq() == 2).unwrap().clone();
    let path = tmp.path().join("000002");
    let mut b = std::fs::read(&path).unwrap();
    b[victim.r.offset() as usize + 30] ^= 0xff;
    std::fs::write(&path, &b).unwrap();
    let n_files = files_in(tmp.path()).len();

    let h = HeadChunkFiles::open(tmp.path(), opts(1024, 0)).unwrap();
    match h.chunk(victim.r) {
        Err(ChunkError::Corrupt {
            path: p,
            offset,
            reason: Corruption::Checksum { .. },
        }) => {
            assert_eq!(p, path);
            assert_eq!(offset, victim.r.offset() as u64);
        }
        other => panic!("{other:?}"),
    }
    let (got, report) = replay_all(&h);
    let d = report.damage.unwrap();
    assert_eq!((d.seq, d.offset), (2, victim.r.offset() as u64));
    assert_eq!(d.removed_files.len(), n_files - 2);
    let before: Vec<_> = written
        .iter()
        .take_while(|w| w.r != victim.r)
        .cloned()
        .collect();
    assert_eq!(got, before);
    assert_eq!(files_in(tmp.path()), vec!["000001", "000002"]);
    let more = write_many(&h, 1, 1);
    assert_eq!(more[0].r.seq(), 3);
    drop(h);
    let h = HeadChunkFiles::open(tmp.path(), opts(1024, 0)).unwrap();
    let (got, report) = replay_all(&h);
    assert_eq!(report.damage, None);
    assert_eq!(got.len(), before.len() + 1);
}

#[test]
fn truncate_deletes_old_files_in_order_and_cuts_the_current_one() {
    let tmp = tempfile::tempdir().unwrap();
    let h = HeadChunkFiles::open(tmp.path(), opts(1024, 300)).unwrap();
    let written = write_many(&h, 80, 4);
    let seqs = h.file_seqs();
    let current = *seqs.last().unwrap();
    // Chunks of file 3 end before this time; file 4 holds a later chunk.
    let file3_max = written
        .iter()
        .filter(|w| w.r.seq() == 3)
        .map(|w| w.maxt)
        .max()
        .unwrap();
    let removed = h.truncate_before(file3_max + 1).unwrap();
    assert_eq!(removed, 3);
    assert_eq!(h.file_seqs()[0], 4);
    for w in &written {
        match h.chunk(w.r) {
            Ok(c) => {
                assert!(w.r.seq() >= 4);
                assert_eq!(c.data(), &w.data[..]);
            }
            Err(ChunkError::UnknownFile { file, .. }) => assert!(file < 4),
            Err(e) => panic!("{e}"),
        }
    }
    // Everything is old: all but the current file go, and the next write starts a new file.
    assert_eq!(h.truncate_before(i64::MAX).unwrap(), seqs.len() - 4);
    assert_eq!(h.file_seqs(), vec![current]);
    let more = write_many(&h, 1, 1);
    assert_eq!(more[0].r.seq(), current + 1);
    assert_eq!(h.truncate_before(i64::MAX).unwrap(), 1);
    assert_eq!(h.file_seqs(), vec![current + 1]);
    check_reads(&h, &more);
    drop(h);

    // Files whose maxt is unknown after reopening are scanned.
    let h = HeadChunkFiles::open(tmp.path(), opts(1024, 300)).unwrap();
    assert_eq!(h.truncate_before(i64::MIN).unwrap(), 0);
    assert_eq!(h.truncate_before(i64::MAX).unwrap(), 1);
    assert!(h.file_seqs().is_empty());
    let again = write_many(&h, 1, 1);
    assert_eq!(again[0].r.seq(), current + 2);
}

#[test]
fn open_checks_directory() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let h = HeadChunkFiles::open(tmp.path(), opts(512, 0)).unwrap();
        write_many(&h, 30, 2);
    }
    let n = files_in(tmp.path()).len();
    assert!(n >= 3);
    // A last file that never got its header is not mapped; replay reports it and removes it.
    let short = tmp.path().join(format!("{:06}", n + 1));
    std::fs::write(&short, [0u8; 2]).unwrap();
    let h = HeadChunkFiles::open(tmp.path(), opts(512, 0)).unwrap();
    assert_eq!(h.file_seqs().len(), n);
    let d = h
        .replay(|_| {})
        .unwrap()
        .damage
        .expect("short file reported");
    assert_eq!((d.path.as_path(), d.offset), (short.as_path(), 0));
    assert_eq!(d.reason, Corruption::ShortHeader { len: 2 });
    assert!(!short.exists());
    drop(h);
    // A gap is refused.
    std::fs::remove_file(tmp.path().join("000002")).unwrap();
    assert!(matches!(
        HeadChunkFiles::open(tmp.path(), opts(512, 0)),
        Err(ChunkError::NotSequential {
            prev: 1,
            next: 3,
            ..
        })
    ));
    std::fs::remove_file(tmp.path().join("000001")).unwrap();
    // A bad magic does not fail the open: replay reports it at offset 0 and removes the file and
    // every later one.
    std::fs::write(tmp.path().join("000003"), [1u8; 40]).unwrap();
    let h = HeadChunkFiles::open(tmp.path(), opts(512, 0)).unwrap();
    assert!(!h.file_seqs().contains(&3));
    let rep = h.replay(|_| {}).unwrap();
    let d = rep.damage.expect("bad magic reported");
    assert_eq!((d.seq, d.offset, d.truncated_bytes), (3, 0, 40));
    assert!(
        matches!(d.reason, Corruption::BadMagic { .. }),
        "{:?}",
        d.reason
    );
    assert!(!d.removed_files.is_empty());
    assert!(
        files_in(tmp.path()).is_empty(),
        "{:?}",
        files_in(tmp.path())
    );
    // The next file takes the freed number.
    let w = write_many(&h, 1, 1);
    assert_eq!(w[0].r.seq(), 3);
    drop(h);
    assert!(matches!(
        HeadChunkFiles::open(tmp.path(), opts(8, 0)),
        Err(ChunkError::InvalidArgument { .. })
    ));
}

#[test]
fn series_ref_zero_and_unknown_refs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let h = HeadChunkFiles::open(tmp.path(), HeadFilesOptions::default()).unwrap();
    assert!(matches!(
        h.write_chunk(0, 1, 2, Encoding::XOR, &[0, 0]),
        Err(ChunkError::InvalidArgument { .. })
    ));
    assert!(matches!(
        h.chunk(HeadChunkRef::new(7, 8)),
        Err(ChunkError::UnknownFile { file: 7, .. })
    ));
    let w = write_many(&h, 1, 1);
    assert!(matches!(
        h.chunk(HeadChunkRef::new(1, 4)),
        Err(ChunkError::Corrupt {
            reason: Corruption::InsideHeader,
            ..
        })
    ));
    assert!(h.chunk(HeadChunkRef::new(1, w[0].r.offset() + 1)).is_err());
    assert!(matches!(
        h.chunk(HeadChunkRef::new(1, 100_000)),
        Err(ChunkError::Corrupt {
            reason: Corruption::Truncated { .. },
            ..
        })
    ));
}

#[test]
fn concurrent_writers_and_readers() {
    let tmp = tempfile::tempdir().unwrap();
    let h = Arc::new(HeadChunkFiles::open(tmp.path(), opts(8192, 1500)).unwrap());
    let writers: Vec<_> = (0..3u64)
        .map(|t| {
            let h = Arc::clone(&h);
            std::thread::spawn(move || {
                let mut out = Vec::new();
                for i in 0..150u64 {
                    let c = chunk(t * 1000 + i, 1 + (i as usize % 60));
                    let r = h.write_xor(t + 1, i as i64, i as i64, &c).unwrap();
                    // Read it straight back, and an earlier one.
                    assert_eq!(h.chunk(r).unwrap().data(), c.bytes());
                    out.push((r, c.into_bytes()));
                    let (r0, d0) = &out[i as usize / 2];
                    assert_eq!(h.chunk(*r0).unwrap().data(), &d0[..]);
                }
                out
            })
        })
        .collect();
    let all: Vec<_> = writers
        .into_iter()
        .flat_map(|j| j.join().unwrap())
        .collect();
    for (r, d) in &all {
        assert_eq!(h.chunk(*r).unwrap().data(), &d[..]);
    }
    let mut refs: Vec<_> = all.iter().map(|(r, _)| *r).collect();
    refs.sort();
    refs.dedup();
    assert_eq!(refs.len(), all.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Flipped bytes and truncation never panic; replay and reads hand out only original chunks.
    #[test]
    fn damaged_head_files_never_invent_chunks(
        n in 1u64..40,
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..4),
        cut in prop::option::of(any::<prop::sample::Index>()),
        which in any::<prop::sample::Index>(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let written = {
            let h = HeadChunkFiles::open(tmp.path(), opts(1500, 0)).unwrap();
            write_many(&h, n, 3)
        };
        let names = files_in(tmp.path());
        let target = tmp.path().join(&names[which.index(names.len())]);
        let mut b = std::fs::read(&target).unwrap();
        for (i, x) in flips {
            let i = i.index(b.len());
            b[i] ^= x;
        }
        if let Some(c) = cut {
            b.truncate(c.index(b.len() + 1));
        }
        std::fs::write(&target, &b).unwrap();

        let Ok(h) = HeadChunkFiles::open(tmp.path(), opts(1500, 0)) else { return Ok(()) };
        for w in &written {
            if let Ok(c) = h.chunk(w.r) {
                prop_assert_eq!(c.data(), &w.data[..]);
                prop_assert_eq!((c.series_ref, c.mint, c.maxt), (w.series_ref, w.mint, w.maxt));
            }
        }
        let mut got = Vec::new();
        let report = h.replay(|c| got.push((c.chunk_ref, c.data.to_vec(), c.series_ref))).unwrap();
        for (r, d, s) in &got {
            let w = written.iter().find(|w| w.r == *r);
            prop_assert!(w.is_some(), "invented chunk at {:?}", r);
            let w = w.unwrap();
            prop_assert_eq!((&w.data, w.series_ref), (d, *s));
        }
        // Replayed chunks come in write order. (A file cut exactly at a record boundary looks
        // complete, so the replayed chunks are a subsequence, not always a prefix.)
        prop_assert_eq!(got.len() as u64, report.chunks);
        prop_assert!(got.windows(2).all(|p| p[0].0 < p[1].0));
        // After the repair, a second open replays the same without damage.
        drop(h);
        let h = HeadChunkFiles::open(tmp.path(), opts(1500, 0)).unwrap();
        let mut again = 0;
        let report2 = h.replay(|_| again += 1).unwrap();
        prop_assert_eq!(report2.damage, None);
        prop_assert_eq!(again, got.len());
    }
}
