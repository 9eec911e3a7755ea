//! Go-compatible variable-length integers (`encoding/binary`'s Uvarint and zig-zag Varint) and a
//! bounds-checked cursor over a byte slice. Decoding never panics: short or overlong input is an error.

/// Appends `v` as an unsigned LEB128 varint.
#[inline]
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zig-zag encoded, as Go's `binary.PutVarint`.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// A read cursor over a payload. Every accessor returns `None` when the input is too short or malformed.
pub struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Cursor { b }
    }

    /// Bytes not yet consumed.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.b.len()
    }

    /// Reads a big-endian u64.
    #[inline]
    pub fn be64(&mut self) -> Option<u64> {
        let (h, t) = self.b.split_first_chunk::<8>()?;
        self.b = t;
        Some(u64::from_be_bytes(*h))
    }

    /// Reads an unsigned varint; rejects encodings longer than 10 bytes or overflowing 64 bits, like Go.
    #[inline]
    pub fn uvarint(&mut self) -> Option<u64> {
        let b = self.b;
        if let Some(&first) = b.first() {
            if first < 0x80 {
                self.b = &b[1..];
                return Some(first as u64);
            }
        }
        let mut x: u64 = 0;
        let mut s: u32 = 0;
        for (i, &c) in b.iter().enumerate() {
            if i == 10 {
                return None;
            }
            if c < 0x80 {
                if i == 9 && c > 1 {
                    return None;
                }
                self.b = &b[i + 1..];
                return Some(x | (c as u64) << s);
            }
            x |= ((c & 0x7f) as u64) << s;
            s += 7;
        }
        None
    }

    /// Reads a zig-zag varint.
    #[inline]
    pub fn varint(&mut self) -> Option<i64> {
        let u = self.uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// Reads `n` raw bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.b.len() {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }

    /// Reads a uvarint length followed by that many bytes of UTF-8.
    #[inline]
    pub fn uvarint_str(&mut self) -> Option<&'a str> {
        let n = self.uvarint()?;
        let n = usize::try_from(n).ok()?;
        std::str::from_utf8(self.bytes(n)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings_match_go() {
        let mut b = Vec::new();
        put_uvarint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
        b.clear();
        put_varint(&mut b, -1);
        assert_eq!(b, [0x01]);
        b.clear();
        put_varint(&mut b, i64::MIN);
        assert_eq!(
            b,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn rejects_overlong_and_overflow() {
        assert_eq!(Cursor::new(&[0xff; 11]).uvarint(), None);
        assert_eq!(
            Cursor::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).uvarint(),
            None
        );
        assert_eq!(Cursor::new(&[0x80]).uvarint(), None);
        assert_eq!(Cursor::new(&[1, 2, 3]).be64(), None);
        assert_eq!(Cursor::new(&[5, b'a']).uvarint_str(), None);
        assert_eq!(Cursor::new(&[2, 0xff, 0xfe]).uvarint_str(), None);
    }

    proptest! {
        #[test]
        fn round_trip(u in any::<u64>(), i in any::<i64>()) {
            let mut b = Vec::new();
            put_uvarint(&mut b, u);
            put_varint(&mut b, i);
            let mut c = Cursor::new(&b);
            prop_assert_eq!(c.uvarint(), Some(u));
            prop_assert_eq!(c.varint(), Some(i));
            prop_assert_eq!(c.remaining(), 0);
        }
    }
}
