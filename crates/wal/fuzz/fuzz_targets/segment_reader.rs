//! The streaming reader over one segment file of arbitrary content (after a valid header): it ends cleanly
//! or with a corruption, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_wal::segment::encode_header;
use tsdb_wal::WalReader;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("tsdb-wal-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut bytes = encode_header(0).to_vec();
    bytes.extend_from_slice(data);
    if std::fs::write(dir.join("000001"), &bytes).is_err() {
        return;
    }
    let Ok(mut r) = WalReader::open(&dir) else { return };
    while let Ok(Some(_)) = r.next() {}
});
