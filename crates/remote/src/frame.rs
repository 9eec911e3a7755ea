//! Framing of streamed remote read responses: each message is preceded by its length as an unsigned varint
//! and the big-endian CRC32 (Castagnoli) of its bytes.

use crate::error::RemoteError;

/// Appends one frame holding `message` to `out`.
pub fn write_frame(message: &[u8], out: &mut Vec<u8>) {
    let mut n = message.len() as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(&crc32c::crc32c(message).to_be_bytes());
    out.extend_from_slice(message);
}

/// Splits a whole stream into its messages, checking every CRC. Frames larger than `max_frame` bytes fail.
pub fn read_frames(mut b: &[u8], max_frame: usize) -> Result<Vec<&[u8]>, RemoteError> {
    let total = b.len();
    let mut out = Vec::new();
    while !b.is_empty() {
        let offset = total - b.len();
        let err = |reason: String| RemoteError::Frame { offset, reason };
        let mut len: u64 = 0;
        let mut i = 0;
        loop {
            let byte = *b.get(i).ok_or_else(|| err("truncated length".into()))?;
            if i >= 9 {
                return Err(err("length varint too long".into()));
            }
            len |= u64::from(byte & 0x7f) << (7 * i);
            i += 1;
            if byte < 0x80 {
                break;
            }
        }
        if len > max_frame as u64 {
            return Err(err(format!("frame of {len} bytes exceeds {max_frame}")));
        }
        let len = len as usize;
        let rest = &b[i..];
        if rest.len() < 4 + len {
            return Err(err("truncated frame".into()));
        }
        let want = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let msg = &rest[4..4 + len];
        let got = crc32c::crc32c(msg);
        if got != want {
            return Err(err(format!("CRC {got:08x}, frame says {want:08x}")));
        }
        out.push(msg);
        b = &rest[4 + len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_detect_damage() {
        let mut s = Vec::new();
        write_frame(b"abc", &mut s);
        let big = vec![7u8; 300];
        write_frame(&big, &mut s);
        assert_eq!(s[0], 3);
        let f = read_frames(&s, 1000).unwrap();
        assert_eq!(f, vec![&b"abc"[..], &big[..]]);
        s[6] ^= 1;
        assert!(read_frames(&s, 1000).is_err());
        assert!(read_frames(&s[..5], 1000).is_err());
    }
}
