//! The remote write decode path on arbitrary bytes: snappy, then the 1.0 or 2.0 message (picked by the
//! first byte), symbol references and label checks. Must return an error, never panic or allocate past the
//! limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_server::write::{decode_body, Protocol};

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let proto = if first & 1 == 0 { Protocol::V1 } else { Protocol::V2 };
    // Raw bytes as the body, and the same bytes snappy-compressed (to reach the protobuf decoders).
    let _ = decode_body(proto, rest, 1 << 20);
    let compressed = snap::raw::Encoder::new().compress_vec(rest).unwrap_or_default();
    let _ = decode_body(proto, &compressed, 1 << 20);
});
