//! Pages and fragments: `header u8 | length u16 BE | CRC32-Castagnoli u32 BE of the data | data`.
//!
//! The header byte holds the fragment type in its low three bits ([`PAGE_TERM`], [`FULL`], [`FIRST`],
//! [`MIDDLE`], [`LAST`]) and the record's compression in bits 3 ([`FLAG_SNAPPY`]) and 4 ([`FLAG_ZSTD`]); the
//! top three bits are zero. Framing follows Prometheus's writer exactly: a record is split where its page ends,
//! and a page whose rest is shorter than a fragment header is padded with zeros.

use super::PAGE_SIZE;

/// Length of a fragment header.
pub const HEADER_LEN: usize = 7;
/// Fragment type 0: the rest of the page is zero padding.
pub const PAGE_TERM: u8 = 0;
/// Fragment type 1: a whole record.
pub const FULL: u8 = 1;
/// Fragment type 2: the first fragment of a record.
pub const FIRST: u8 = 2;
/// Fragment type 3: a middle fragment.
pub const MIDDLE: u8 = 3;
/// Fragment type 4: the last fragment.
pub const LAST: u8 = 4;
/// Mask of the type bits.
pub const TYPE_MASK: u8 = 0x07;
/// Header flag: the record is snappy-compressed (block format).
pub const FLAG_SNAPPY: u8 = 0x08;
/// Header flag: the record is zstd-compressed (one frame; Prometheus 3.x).
pub const FLAG_ZSTD: u8 = 0x10;

const PAGE: usize = PAGE_SIZE as usize;

/// Name of a fragment type, for messages.
pub fn type_name(t: u8) -> &'static str {
    match t {
        PAGE_TERM => "page padding",
        FULL => "full",
        FIRST => "first",
        MIDDLE => "middle",
        LAST => "last",
        _ => "invalid",
    }
}

/// The segment offset just past a record of `len` bytes framed from segment offset `off`, padding included
/// when it leaves less than a header's room in its page.
pub fn framed_end(off: u64, len: usize) -> u64 {
    let mut pos = (off % PAGE_SIZE) as usize;
    let mut end = off - pos as u64;
    if PAGE - pos < HEADER_LEN {
        end += PAGE_SIZE;
        pos = 0;
    }
    let mut left = len;
    let mut first = true;
    while first || left > 0 {
        first = false;
        let l = left.min(PAGE - pos - HEADER_LEN);
        pos += HEADER_LEN + l;
        left -= l;
        if PAGE - pos < HEADER_LEN {
            end += PAGE_SIZE;
            pos = 0;
        }
    }
    end + pos as u64
}

/// Appends the fragments of record `rec` to `out`, whose end is at segment offset `off`; `flag` is
/// [`FLAG_SNAPPY`], [`FLAG_ZSTD`] or 0. Returns the new segment offset ([`framed_end`] of the same arguments).
pub fn frame_record(out: &mut Vec<u8>, off: u64, rec: &[u8], flag: u8) -> u64 {
    let mut pos = (off % PAGE_SIZE) as usize;
    let mut off = off;
    if PAGE - pos < HEADER_LEN {
        out.resize(out.len() + PAGE - pos, 0);
        off += (PAGE - pos) as u64;
        pos = 0;
    }
    let mut rest = rec;
    let mut i = 0;
    while i == 0 || !rest.is_empty() {
        let l = rest.len().min(PAGE - pos - HEADER_LEN);
        let (part, tail) = rest.split_at(l);
        let typ = match (i == 0, tail.is_empty()) {
            (true, true) => FULL,
            (true, false) => FIRST,
            (false, true) => LAST,
            (false, false) => MIDDLE,
        };
        out.push(typ | flag);
        out.extend_from_slice(&(l as u16).to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(part).to_be_bytes());
        out.extend_from_slice(part);
        pos += HEADER_LEN + l;
        off += (HEADER_LEN + l) as u64;
        if PAGE - pos < HEADER_LEN {
            out.resize(out.len() + PAGE - pos, 0);
            off += (PAGE - pos) as u64;
            pos = 0;
        }
        rest = tail;
        i += 1;
    }
    off
}

/// Rounds a segment offset up to the next page boundary.
pub fn page_align(off: u64) -> u64 {
    off.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

/// Creates a new, empty wlog segment file (no header), its size set to `prealloc` bytes if that is non-zero:
/// the zero tail reads as page padding.
pub fn create_segment(
    path: &std::path::Path,
    prealloc: u64,
) -> crate::error::Result<std::fs::File> {
    use crate::error::WalError;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| WalError::io("create", path, e))?;
    if prealloc > 0 {
        f.set_len(prealloc)
            .map_err(|e| WalError::io("preallocate", path, e))?;
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_record_is_one_full_fragment() {
        let mut out = Vec::new();
        let end = frame_record(&mut out, 0, b"abc", FLAG_SNAPPY);
        assert_eq!(end, 10);
        assert_eq!(out[0], FULL | FLAG_SNAPPY);
        assert_eq!(&out[1..3], &[0, 3]);
        assert_eq!(&out[3..7], &crc32c::crc32c(b"abc").to_be_bytes());
        assert_eq!(&out[7..], b"abc");
    }

    #[test]
    fn record_crossing_pages_is_split_at_page_ends() {
        let rec: Vec<u8> = (0..PAGE * 2 + 100).map(|i| i as u8).collect();
        let mut out = vec![0u8; 100];
        let end = frame_record(&mut out, 100, &rec, 0);
        assert_eq!(end as usize, 100 + out.len() - 100);
        assert_eq!(framed_end(100, rec.len()), end);
        assert_eq!(out[100] & TYPE_MASK, FIRST);
        let first_len = PAGE - 100 - HEADER_LEN;
        assert_eq!(u16::from_be_bytes([out[101], out[102]]) as usize, first_len);
        assert_eq!(out[PAGE] & TYPE_MASK, MIDDLE);
        assert_eq!(out[2 * PAGE] & TYPE_MASK, LAST);
        let last_len = rec.len() - first_len - (PAGE - HEADER_LEN);
        assert_eq!(end as usize, 2 * PAGE + HEADER_LEN + last_len);
    }

    #[test]
    fn short_page_tail_is_padded() {
        // A record that leaves 3 bytes in its page: the page is padded, the next record starts a new page.
        let len = PAGE - HEADER_LEN - 3;
        let mut out = Vec::new();
        let end = frame_record(&mut out, 0, &vec![1u8; len], 0);
        assert_eq!(end, PAGE_SIZE);
        assert_eq!(out.len(), PAGE);
        assert!(out[PAGE - 3..].iter().all(|&b| b == 0));
        // Exactly a header's room left: a zero-length first fragment, as Prometheus writes it.
        let mut out = Vec::new();
        frame_record(&mut out, (PAGE - HEADER_LEN) as u64, b"xy", 0);
        assert_eq!(out[0], FIRST);
        assert_eq!(&out[1..3], &[0, 0]);
        assert_eq!(out[HEADER_LEN], LAST);
    }

    #[test]
    fn framed_end_matches_framing_everywhere() {
        for off in [
            0u64,
            1,
            7,
            100,
            PAGE_SIZE - 8,
            PAGE_SIZE - 7,
            PAGE_SIZE - 6,
            PAGE_SIZE - 1,
        ] {
            for len in [0usize, 1, 50, PAGE - 14, PAGE - 7, PAGE, 3 * PAGE + 11] {
                let mut out = Vec::new();
                let end = frame_record(&mut out, off, &vec![7u8; len], 0);
                assert_eq!(end, off + out.len() as u64, "off {off} len {len}");
                assert_eq!(framed_end(off, len), end, "off {off} len {len}");
            }
        }
        assert_eq!(page_align(0), 0);
        assert_eq!(page_align(1), PAGE_SIZE);
        assert_eq!(page_align(PAGE_SIZE), PAGE_SIZE);
    }
}
