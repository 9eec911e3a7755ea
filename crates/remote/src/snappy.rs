//! The snappy block format (not the framed stream format) that remote write and read bodies use.

use crate::error::RemoteError;

/// Decompresses a snappy block, refusing before any allocation one whose header declares more than `limit`
/// decoded bytes (a length bomb).
pub fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, RemoteError> {
    let declared = snap::raw::decompress_len(input)?;
    if declared > limit {
        return Err(RemoteError::TooLarge { declared, limit });
    }
    Ok(snap::raw::Decoder::new().decompress_vec(input)?)
}

/// [`decompress`] into a buffer the caller reuses: `out` is grown as needed (never shrunk) and the
/// decoded bytes are `out[..n]` for the `n` returned; the same length-bomb check comes first.
pub fn decompress_into(
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<usize, RemoteError> {
    let declared = snap::raw::decompress_len(input)?;
    if declared > limit {
        return Err(RemoteError::TooLarge { declared, limit });
    }
    if out.len() < declared {
        out.resize(declared, 0);
    }
    Ok(snap::raw::Decoder::new().decompress(input, &mut out[..declared])?)
}

/// Compresses `input` as a snappy block.
pub fn compress(input: &[u8]) -> Vec<u8> {
    // Compression of an in-memory buffer fails only for inputs over 4 GiB, which no caller builds.
    snap::raw::Encoder::new()
        .compress_vec(input)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bomb() {
        let data = b"hello hello hello hello".repeat(100);
        let c = compress(&data);
        assert_eq!(decompress(&c, 1 << 20).unwrap(), data);
        assert!(matches!(
            decompress(&c, 10),
            Err(RemoteError::TooLarge { limit: 10, .. })
        ));
        // A header declaring 4 GiB - 1 followed by nothing.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(
            decompress(&bomb, 1 << 20),
            Err(RemoteError::TooLarge { .. })
        ));
        assert!(decompress(b"\x05garbage", 1 << 20).is_err());
        let mut buf = vec![7u8; 10_000];
        let n = decompress_into(&c, 1 << 20, &mut buf).unwrap();
        assert_eq!(&buf[..n], &data[..]);
        assert!(matches!(
            decompress_into(&bomb, 1 << 20, &mut buf),
            Err(RemoteError::TooLarge { .. })
        ));
    }
}
