//! The tombstones decoder over arbitrary bytes (with and without a valid header and CRC):
//! a value or a corruption error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_block::{Tombstones, TOMBSTONES_MAGIC};

fuzz_target!(|data: &[u8]| {
    let _ = Tombstones::decode(data, std::path::Path::new("fuzz/tombstones"));
    let mut b = TOMBSTONES_MAGIC.to_be_bytes().to_vec();
    b.push(1);
    b.extend_from_slice(data);
    let crc = crc32c::crc32c(&b[5..]);
    b.extend_from_slice(&crc.to_be_bytes());
    if let Ok(t) = Tombstones::decode(&b, std::path::Path::new("fuzz/tombstones")) {
        let again = Tombstones::decode(&t.encode(), std::path::Path::new("x")).expect("round trip");
        assert_eq!(again, t);
    }
});
