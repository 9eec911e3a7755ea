//! The index reader over arbitrary bytes: opening and every lookup end with a value or a
//! corruption error, never a panic.
//!
//! Each input is tried twice: as given, and with the checksums of the TOC, the symbol table and
//! the postings offset table recomputed, so mutations get past the CRC checks at open and reach
//! the decoders behind them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_block::IndexReader;

fn be32(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
}

fn be64(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    usize::try_from(u64::from_be_bytes(a)).ok()
}

/// Recomputes the CRC of the `len | body | crc` section at `off`, if it lies inside `b`.
fn fix_section(b: &mut [u8], off: usize) {
    let Some(len) = be32(b, off) else { return };
    let Some(body_end) = off.checked_add(4).and_then(|x| x.checked_add(len)) else { return };
    if body_end.checked_add(4).is_none_or(|end| end > b.len()) {
        return;
    }
    let crc = crc32c::crc32c(&b[off + 4..body_end]);
    b[body_end..body_end + 4].copy_from_slice(&crc.to_be_bytes());
}

fn fix_crcs(mut b: Vec<u8>) -> Vec<u8> {
    if b.len() < 52 {
        return b;
    }
    let toc = b.len() - 52;
    if let Some(sym) = be64(&b, toc) {
        fix_section(&mut b, sym);
    }
    if let Some(pt) = be64(&b, toc + 40) {
        fix_section(&mut b, pt);
    }
    let crc = crc32c::crc32c(&b[toc..toc + 48]);
    b[toc + 48..].copy_from_slice(&crc.to_be_bytes());
    b
}

fn exercise(bytes: Vec<u8>) {
    let Ok(r) = IndexReader::from_bytes(bytes, "fuzz/index") else {
        return;
    };
    for s in r.symbols() {
        let _ = s;
    }
    let mut chunks = Vec::new();
    for name in r.label_names() {
        if let Ok(values) = r.label_values(name) {
            for v in values {
                if let Ok(p) = r.postings(name, v) {
                    for s in p.iter().take(64) {
                        let _ = r.series(s, &mut chunks);
                    }
                }
            }
        }
    }
    if let Ok(all) = r.all_postings() {
        for s in all.iter().take(256) {
            let _ = r.series(s, &mut chunks);
        }
    }
    for s in 0..64 {
        let _ = r.series(s, &mut chunks);
    }
    let _ = r.verify();
}

fuzz_target!(|data: &[u8]| {
    exercise(data.to_vec());
    exercise(fix_crcs(data.to_vec()));
});
