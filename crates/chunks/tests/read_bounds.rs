//! The decoder reads nothing past the end of the chunk bytes it is given.
//!
//! Each chunk (and each of its truncations) is placed so that it ends exactly where a file
//! mapping stops being backed by the file: touching any byte after it raises SIGBUS and kills
//! the test. The batch decoders (portable and x86-64 assembly, each run on its own) read 16 bytes
//! at a time, so this is the check that they never overshoot near the end of the data.

use std::io::Write;

use tsdb_chunks::{DecodePath, XorChunk, XorIter};

/// Bytes of the file: a multiple of every page size in use (4 KiB to 64 KiB).
const FILE: usize = 64 * 1024;

/// Decodes `bytes` with `path`'s decoders both ways (sample by sample and in batches) into
/// bit-exact samples and the error, if any.
fn decode_with(bytes: &[u8], path: DecodePath) -> (Vec<(i64, u64)>, Option<String>) {
    let new = || XorIter::with_path(bytes, path).expect("available");
    let Ok(mut it) = new() else {
        return (Vec::new(), Some("header".into()));
    };
    let mut one = Vec::new();
    let err = loop {
        match it.advance() {
            Ok(true) => {
                let (t, v) = it.at();
                one.push((t, v.to_bits()));
            }
            Ok(false) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    let mut it = new().expect("header read once already");
    let mut batched = Vec::new();
    let batch_err = loop {
        match it.next_batch() {
            Ok(Some(b)) => batched.extend(b.iter().map(|&(t, v)| (t, v.to_bits()))),
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        }
    };
    assert_eq!(one, batched, "{path:?}: advance and next_batch disagree");
    assert_eq!(err, batch_err, "{path:?}: advance and next_batch disagree");
    (one, err)
}

/// Decodes `bytes` with every decoder this build and CPU can run, checking that they agree.
fn decode_all(bytes: &[u8]) -> (Vec<(i64, u64)>, Option<String>) {
    let want = decode_with(bytes, DecodePath::BitByBit);
    for path in DecodePath::available() {
        assert_eq!(
            decode_with(bytes, path),
            want,
            "{path:?} and the bit-by-bit decoder disagree"
        );
    }
    want
}

fn chunks() -> Vec<Vec<u8>> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut out = Vec::new();
    for shape in 0..4 {
        for n in [1usize, 2, 3, 17, 120, 240] {
            let mut c = XorChunk::new();
            let (mut t, mut v) = (1_700_000_000_000i64, 1000.0f64);
            for _ in 0..n {
                match shape {
                    // Counter with jitter.
                    0 => {
                        t += 15_000 + (rnd() % 5) as i64 - 2;
                        v += (rnd() % 100) as f64;
                    }
                    // Constant: 2 bits a sample, so many samples start in the last bytes.
                    1 => t += 15_000,
                    // Irregular timestamps, random-walk gauge.
                    2 => {
                        t += 1 + (rnd() % 120_000) as i64;
                        v = ((v + (rnd() % 400) as f64 / 100.0 - 2.0) * 100.0).round() / 100.0;
                    }
                    // Random value bits: wide windows.
                    _ => {
                        t += 1 + (rnd() % 1_000) as i64;
                        v = f64::from_bits(rnd());
                    }
                }
                c.append(t, v).expect("room");
            }
            out.push(c.into_bytes());
        }
    }
    out
}

#[test]
fn decoding_reads_nothing_after_the_chunk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chunks");
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(&vec![0u8; FILE]).expect("write");
    drop(f);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .expect("open");
    // SAFETY: the file is private to this test and not resized while mapped. The mapping is
    // twice the file: its second half lies past the end of the file, and touching it raises
    // SIGBUS.
    let mut map = unsafe {
        memmap2::MmapOptions::new()
            .len(2 * FILE)
            .map_mut(&file)
            .expect("map")
    };
    let mut checked = 0;
    for chunk in chunks() {
        for len in 0..=chunk.len() {
            let bytes = &chunk[..len];
            let at = FILE - len;
            map[at..FILE].copy_from_slice(bytes);
            let expected = decode_all(bytes);
            let at_the_edge = decode_all(&map[at..FILE]);
            assert_eq!(
                at_the_edge,
                expected,
                "chunk of {} bytes cut at {len}",
                chunk.len()
            );
            checked += 1;
        }
    }
    assert!(checked > 1000, "only {checked} byte strings checked");
}
