//! Bounds-checked decoding and plain encoding of the integers the index and tombstones use:
//! big-endian fixed-width integers, Go-style uvarints and zig-zag varints, length-prefixed strings.
//!
//! A [`Decbuf`] reads a slice that starts at a known offset of a file, so every failure is a
//! [`Fault`] carrying the absolute offset, turned into an [`crate::Error`] once the file is known.

use std::path::Path;

use crate::error::{BlockError, Corruption};

/// A decoding failure at an absolute file offset; the file is added by [`Fault::at`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub offset: u64,
    pub reason: Corruption,
}

impl Fault {
    pub(crate) fn new(offset: u64, reason: Corruption) -> Self {
        Fault { offset, reason }
    }

    /// The error naming `path`.
    pub(crate) fn at(self, path: &Path) -> BlockError {
        BlockError::corrupt(path, self.offset, self.reason)
    }
}

pub(crate) type DResult<T> = std::result::Result<T, Fault>;

/// A cursor over bytes that lie at `base` in their file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decbuf<'a> {
    b: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Decbuf<'a> {
    /// A cursor over `b`, whose first byte is at file offset `base`.
    pub(crate) fn new(b: &'a [u8], base: u64) -> Self {
        Decbuf { b, pos: 0, base }
    }

    /// Absolute file offset of the next byte to read.
    #[inline]
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes left.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    #[inline]
    fn short(&self, needed: usize) -> Fault {
        Fault::new(
            self.offset(),
            Corruption::OutOfBounds {
                needed: needed as u64,
                available: self.remaining() as u64,
            },
        )
    }

    /// The next `n` bytes.
    #[inline]
    pub(crate) fn bytes(&mut self, n: usize) -> DResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.short(n));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> DResult<u8> {
        Ok(self.bytes(1)?[0])
    }

    #[inline]
    pub(crate) fn be32(&mut self) -> DResult<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[inline]
    pub(crate) fn be64(&mut self) -> DResult<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A Go `binary.Uvarint`: at most 10 bytes, no overflow.
    #[inline]
    pub(crate) fn uvarint(&mut self) -> DResult<u64> {
        let start = self.offset();
        let mut x = 0u64;
        let mut shift = 0u32;
        for i in 0..10 {
            let Some(&byte) = self.b.get(self.pos + i) else {
                return Err(self.short(i + 1));
            };
            if byte < 0x80 {
                if i == 9 && byte > 1 {
                    return Err(Fault::new(start, Corruption::BadVarint));
                }
                self.pos += i + 1;
                return Ok(x | (byte as u64) << shift);
            }
            x |= ((byte & 0x7f) as u64) << shift;
            shift += 7;
        }
        Err(Fault::new(start, Corruption::BadVarint))
    }

    /// A uvarint that must fit 32 bits.
    #[inline]
    pub(crate) fn uvarint32(&mut self) -> DResult<u32> {
        let start = self.offset();
        let v = self.uvarint()?;
        u32::try_from(v).map_err(|_| Fault::new(start, Corruption::BadVarint))
    }

    /// A uvarint used as a length or count (fits `usize`).
    #[inline]
    pub(crate) fn uvarint_len(&mut self) -> DResult<usize> {
        let start = self.offset();
        let v = self.uvarint()?;
        usize::try_from(v).map_err(|_| Fault::new(start, Corruption::BadVarint))
    }

    /// A zig-zag encoded Go `binary.Varint`.
    #[inline]
    pub(crate) fn varint(&mut self) -> DResult<i64> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A uvarint-length-prefixed byte string.
    #[inline]
    pub(crate) fn uvarint_bytes(&mut self) -> DResult<&'a [u8]> {
        let n = self.uvarint_len()?;
        self.bytes(n)
    }

    /// A uvarint-length-prefixed UTF-8 string.
    #[inline]
    pub(crate) fn uvarint_str(&mut self) -> DResult<&'a str> {
        let start = self.offset();
        let b = self.uvarint_bytes()?;
        std::str::from_utf8(b).map_err(|_| Fault::new(start, Corruption::InvalidUtf8))
    }
}

/// `b[off .. off + len]`, or the fault of a range past the end of `b` (offsets absolute, as `b`
/// is a whole file).
#[inline]
pub(crate) fn range(b: &[u8], off: u64, len: u64) -> DResult<&[u8]> {
    let available = (b.len() as u64).saturating_sub(off);
    if off > b.len() as u64 || len > available {
        return Err(Fault::new(
            off,
            Corruption::OutOfBounds {
                needed: len,
                available,
            },
        ));
    }
    Ok(&b[off as usize..(off + len) as usize])
}

/// Checks a big-endian CRC32-Castagnoli stored right after `data` (which starts at `off`).
#[inline]
pub(crate) fn check_crc(data: &[u8], stored: u32, off: u64) -> DResult<()> {
    let computed = crc32c::crc32c(data);
    if computed != stored {
        return Err(Fault::new(off, Corruption::Checksum { stored, computed }));
    }
    Ok(())
}

/// Appends a Go-style uvarint.
#[inline]
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push(x as u8 | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// Appends a zig-zag varint.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, x: i64) {
    put_uvarint(out, ((x << 1) ^ (x >> 63)) as u64);
}

/// Appends a uvarint-length-prefixed string.
#[inline]
pub(crate) fn put_uvarint_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Number of bytes [`put_uvarint`] writes for `x`.
#[inline]
pub(crate) fn uvarint_size(x: u64) -> usize {
    let bits = 64 - (x | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for &x in &[0i64, 1, -1, 63, -64, 64, 1 << 40, i64::MIN, i64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, x);
            let mut d = Decbuf::new(&b, 0);
            assert_eq!(d.varint().unwrap(), x);
            assert_eq!(d.remaining(), 0);
        }
        for &x in &[0u64, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, x);
            assert_eq!(b.len(), uvarint_size(x));
            assert_eq!(Decbuf::new(&b, 0).uvarint().unwrap(), x);
        }
    }

    #[test]
    fn malformed_inputs_are_faults() {
        assert!(Decbuf::new(&[0x80, 0x80], 7).uvarint().is_err());
        assert!(Decbuf::new(&[0xff; 11], 0).uvarint().is_err());
        let mut ten = vec![0xffu8; 9];
        ten.push(0x02);
        assert!(Decbuf::new(&ten, 0).uvarint().is_err());
        let e = Decbuf::new(&[1, 2], 10).be32().unwrap_err();
        assert_eq!(e.offset, 10);
        assert!(range(&[0u8; 4], 2, 3).is_err());
        assert!(range(&[0u8; 4], 9, 0).is_err());
        assert_eq!(range(&[0u8; 4], 4, 0).unwrap(), &[] as &[u8]);
    }
}
