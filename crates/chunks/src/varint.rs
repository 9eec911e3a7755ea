//! Go's `encoding/binary` variable-length integers (LEB128, zig-zag for signed), as Prometheus uses them.

/// Longest encoding of a 64-bit varint.
pub(crate) const MAX_LEN_64: usize = 10;
/// Longest encoding of a 32-bit varint (Prometheus reserves this much for chunk lengths).
pub(crate) const MAX_LEN_32: usize = 5;

/// Encodes `v` into `buf`, returning the number of bytes used (1..=10).
#[inline]
pub(crate) fn put_uvarint(buf: &mut [u8; MAX_LEN_64], mut v: u64) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        buf[i] = v as u8 | 0x80;
        v >>= 7;
        i += 1;
    }
    buf[i] = v as u8;
    i + 1
}

/// Zig-zag encodes `v` into `buf`, returning the number of bytes used.
#[inline]
pub(crate) fn put_varint(buf: &mut [u8; MAX_LEN_64], v: i64) -> usize {
    put_uvarint(buf, zigzag(v))
}

/// Zig-zag mapping of a signed integer, as Go's `binary.PutVarint`.
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v as u64) << 1) ^ ((v >> 63) as u64)
}

/// Inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Outcome of decoding a uvarint from a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Uvarint {
    /// Value and number of bytes it took.
    Ok(u64, usize),
    /// The slice ends inside the varint.
    Short,
    /// More than 10 bytes, or the value overflows 64 bits.
    Overflow,
}

/// Decodes a uvarint at the start of `b` with Go's `binary.Uvarint` rules.
#[inline]
pub(crate) fn uvarint(b: &[u8]) -> Uvarint {
    let mut x = 0u64;
    let mut shift = 0u32;
    for (i, &byte) in b.iter().enumerate() {
        if i == MAX_LEN_64 {
            return Uvarint::Overflow;
        }
        if byte < 0x80 {
            if i == MAX_LEN_64 - 1 && byte > 1 {
                return Uvarint::Overflow;
            }
            return Uvarint::Ok(x | (byte as u64) << shift, i + 1);
        }
        x |= ((byte & 0x7f) as u64) << shift;
        shift += 7;
    }
    Uvarint::Short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_lengths() {
        let mut buf = [0u8; MAX_LEN_64];
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX - 1, u64::MAX] {
            let n = put_uvarint(&mut buf, v);
            assert_eq!(uvarint(&buf[..n]), Uvarint::Ok(v, n));
            assert_eq!(uvarint(&buf[..n - 1]), Uvarint::Short);
        }
        for v in [0i64, -1, 1, -64, 64, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn overflow() {
        let mut b = [0xffu8; 11];
        assert_eq!(uvarint(&b), Uvarint::Overflow);
        b[9] = 0x02;
        assert_eq!(uvarint(&b), Uvarint::Overflow);
        b[9] = 0x01;
        assert_eq!(uvarint(&b), Uvarint::Ok(u64::MAX, 10));
    }
}
