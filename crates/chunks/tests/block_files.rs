//! Block chunk segment files: writing, cutting, reading by ref and in order, and damage.

mod common;
use common::*;

use std::path::Path;

use proptest::prelude::*;
use tsdb_chunks::{
    BlockChunkReader, BlockChunkRef, BlockChunkWriter, ChunkError, Corruption, Encoding, XorChunk,
};

fn sample_chunk(seed: u64, n: usize) -> Vec<u8> {
    let mut c = XorChunk::new();
    for i in 0..n as i64 {
        c.append(
            1_700_000_000_000 + i * 15_000 + (seed as i64 % 7),
            (seed as f64) * 0.25 + i as f64,
        )
        .unwrap();
    }
    c.into_bytes()
}

fn write_all(dir: &Path, seg_size: u64, chunks: &[Vec<u8>]) -> Vec<BlockChunkRef> {
    let mut w = BlockChunkWriter::with_segment_size(dir, seg_size).unwrap();
    let refs = chunks
        .iter()
        .map(|c| w.write_chunk(Encoding::XOR, c).unwrap())
        .collect();
    w.finish().unwrap();
    refs
}

#[test]
fn header_and_layout_are_prometheus() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("chunks");
    let refs = write_all(&dir, 1 << 20, &[vec![0, 1, 2, 3]]);
    assert_eq!(refs, vec![BlockChunkRef::new(0, 8)]);
    let b = std::fs::read(dir.join("000001")).unwrap();
    let crc = crc_of(&[1, 0, 1, 2, 3]);
    let mut want = vec![0x85, 0xbd, 0x40, 0xdd, 1, 0, 0, 0, 4, 1, 0, 1, 2, 3];
    want.extend_from_slice(&crc.to_be_bytes());
    assert_eq!(b, want);
}

/// CRC32-Castagnoli, bit by bit, independent of the crate's dependency.
fn crc_of(b: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &x in b {
        crc ^= x as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn cuts_segments_and_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("chunks");
    let chunks: Vec<Vec<u8>> = (0..200)
        .map(|i| sample_chunk(i, 1 + (i as usize % 120)))
        .collect();
    let refs = write_all(&dir, 2048, &chunks);
    let r = BlockChunkReader::open(&dir).unwrap();
    assert!(r.segment_count() > 8, "{}", r.segment_count());
    for f in std::fs::read_dir(&dir).unwrap() {
        let len = f.unwrap().metadata().unwrap().len();
        assert!(len <= 2048 && len > 8, "segment of {len} bytes");
    }
    for (r_, c) in refs.iter().zip(&chunks) {
        let got = r.chunk(*r_).unwrap();
        assert_eq!(got.encoding, Encoding::XOR);
        assert_eq!(got.data, &c[..]);
    }
    let walked: Vec<_> = r.iter().map(|x| x.unwrap()).collect();
    assert_eq!(walked.len(), chunks.len());
    for ((wr, wc), (r_, c)) in walked.iter().zip(refs.iter().zip(&chunks)) {
        assert_eq!(wr, r_);
        assert_eq!(wc.data, &c[..]);
    }
}

#[test]
fn oversized_chunk_gets_its_own_segment_and_no_empty_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("chunks");
    let big = sample_chunk(1, 2000);
    let refs = write_all(
        &dir,
        64,
        &[sample_chunk(2, 1), big.clone(), sample_chunk(3, 1)],
    );
    assert_eq!(
        refs,
        vec![
            BlockChunkRef::new(0, 8),
            BlockChunkRef::new(1, 8),
            BlockChunkRef::new(2, 8)
        ]
    );
    let r = BlockChunkReader::open(&dir).unwrap();
    assert_eq!(r.chunk(refs[1]).unwrap().data, &big[..]);
}

#[test]
fn no_chunks_no_files_and_existing_segments_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("chunks");
    assert_eq!(BlockChunkWriter::create(&dir).unwrap().finish().unwrap(), 0);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    write_all(&dir, 1 << 20, &[vec![0, 0]]);
    assert!(matches!(
        BlockChunkWriter::create(&dir),
        Err(ChunkError::InvalidArgument { .. })
    ));
}

#[test]
fn bad_headers_and_refs_are_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("chunks");
    let refs = write_all(&dir, 1 << 20, &[sample_chunk(1, 10)]);
    let r = BlockChunkReader::open(&dir).unwrap();
    assert!(matches!(
        r.chunk(BlockChunkRef::new(1, 8)),
        Err(ChunkError::UnknownFile { file: 1, .. })
    ));
    assert!(matches!(
        r.chunk(BlockChunkRef::new(0, 3)),
        Err(ChunkError::Corrupt {
            reason: Corruption::InsideHeader,
            offset: 3,
            ..
        })
    ));
    assert!(matches!(
        r.chunk(BlockChunkRef::new(0, 1 << 20)),
        Err(ChunkError::Corrupt {
            reason: Corruption::Truncated { .. },
            ..
        })
    ));
    assert!(r.chunk(refs[0]).is_ok());
    drop(r);

    let file = dir.join("000001");
    let mut b = std::fs::read(&file).unwrap();
    b[0] ^= 1;
    std::fs::write(&file, &b).unwrap();
    match BlockChunkReader::open(&dir) {
        Err(ChunkError::Corrupt {
            path,
            offset: 0,
            reason: Corruption::BadMagic { .. },
        }) => {
            assert_eq!(path, file)
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    std::fs::write(&file, [0x85, 0xbd, 0x40]).unwrap();
    assert!(matches!(
        BlockChunkReader::open(&dir),
        Err(ChunkError::Corrupt {
            reason: Corruption::ShortHeader { len: 3 },
            ..
        })
    ));
    b[0] ^= 1;
    b[4] = 2;
    std::fs::write(&file, &b).unwrap();
    assert!(matches!(
        BlockChunkReader::open(&dir),
        Err(ChunkError::Corrupt {
            reason: Corruption::BadVersion(2),
            offset: 4,
            ..
        })
    ));
}

#[test]
fn flipped_byte_gives_checksum_error_naming_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("chunks");
    let chunks: Vec<Vec<u8>> = (0..3).map(|i| sample_chunk(i, 50)).collect();
    let refs = write_all(&dir, 1 << 20, &chunks);
    let file = dir.join("000001");
    let mut b = std::fs::read(&file).unwrap();
    let mid = refs[1].offset() as usize + 20;
    b[mid] ^= 0x10;
    std::fs::write(&file, &b).unwrap();
    let r = BlockChunkReader::open(&dir).unwrap();
    assert!(r.chunk(refs[0]).is_ok());
    assert!(r.chunk(refs[2]).is_ok());
    let err = r.chunk(refs[1]).unwrap_err();
    let msg = err.to_string();
    match err {
        ChunkError::Corrupt {
            path,
            offset,
            reason: Corruption::Checksum { .. },
        } => {
            assert_eq!(path, file);
            assert_eq!(offset, refs[1].offset() as u64);
        }
        other => panic!("{other:?}"),
    }
    assert!(msg.contains("000001") && msg.contains("checksum"), "{msg}");
    let walked: Vec<_> = r.iter().collect();
    assert_eq!(walked.len(), 2);
    assert!(walked[0].is_ok() && walked[1].is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Flipped bytes and truncation never panic, and nothing that passes its CRC differs from
    /// what was written at that reference.
    #[test]
    fn damage_is_detected_never_invented(
        n in 1usize..30,
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..4),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("chunks");
        let chunks: Vec<Vec<u8>> = (0..n).map(|i| sample_chunk(i as u64, 1 + i * 7 % 120)).collect();
        let refs = write_all(&dir, 2048, &chunks);
        let files: Vec<_> = {
            let mut v: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
            v.sort();
            v
        };
        let target = &files[files.len() / 2];
        let mut b = std::fs::read(target).unwrap();
        for (i, x) in flips {
            let i = i.index(b.len());
            b[i] ^= x;
        }
        if let Some(c) = cut {
            b.truncate(c.index(b.len()));
        }
        std::fs::write(target, &b).unwrap();

        let original = |r: BlockChunkRef| refs.iter().position(|x| *x == r).map(|i| &chunks[i]);
        let Ok(reader) = BlockChunkReader::open(&dir) else { return Ok(()) };
        for (r, c) in refs.iter().zip(&chunks) {
            if let Ok(got) = reader.chunk(*r) {
                prop_assert_eq!(got.data, &c[..]);
            }
        }
        for item in reader.iter() {
            match item {
                Ok((r, got)) => prop_assert_eq!(Some(&got.data.to_vec()), original(r)),
                Err(e) => prop_assert!(matches!(e, ChunkError::Corrupt { .. }), "{:?}", e),
            }
        }
        for item in reader.iter().flatten() {
            let _ = decode(item.1.data);
        }
    }
}
