//! Arbitrary bytes as a block chunk segment file and as a head chunk file: opening, reading by
//! reference, walking and replaying must never panic, only return errors.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tsdb_chunks::{
    BlockChunkReader, BlockChunkRef, HeadChunkFiles, HeadChunkRef, HeadFilesOptions, XorIter,
};

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("tsdb-chunks-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(d.join("chunks")).expect("scratch dir");
        std::fs::create_dir_all(d.join("chunks_head")).expect("scratch dir");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch();

    // As a block segment file, with a valid header in front half of the time.
    let mut file = data.to_vec();
    if data.first().is_some_and(|b| b & 1 == 0) {
        let mut h = vec![0x85, 0xbd, 0x40, 0xdd, 1, 0, 0, 0];
        h.extend_from_slice(&data[1..]);
        file = h;
    }
    let chunks = dir.join("chunks");
    std::fs::write(chunks.join("000001"), &file).expect("write");
    if let Ok(r) = BlockChunkReader::open(&chunks) {
        for item in r.iter() {
            match item {
                Ok((_, c)) => {
                    if let Ok(it) = XorIter::new(c.data) {
                        for _ in it {}
                    }
                }
                Err(_) => break,
            }
        }
        for off in [0u32, 8, 9, 100, u32::MAX] {
            let _ = r.chunk(BlockChunkRef::new(0, off));
        }
    }

    // As a head chunk file.
    let head = dir.join("chunks_head");
    let mut file = data.to_vec();
    if data.first().is_some_and(|b| b & 1 == 0) {
        let mut h = vec![0x01, 0x30, 0xbc, 0x91, 1, 0, 0, 0];
        h.extend_from_slice(&data[1..]);
        file = h;
    }
    std::fs::write(head.join("000001"), &file).expect("write");
    if let Ok(h) = HeadChunkFiles::open(&head, HeadFilesOptions::default()) {
        let mut refs = Vec::new();
        let _ = h.replay(|c| refs.push(c.chunk_ref));
        for r in refs {
            let _ = h.chunk(r);
        }
        let _ = h.chunk(HeadChunkRef::new(1, 8));
    }
    // Replay may have repaired (truncated) or removed the file; start afresh next time.
    let _ = std::fs::remove_file(head.join("000001"));
});
