//! The wlog page and record decoder on arbitrary bytes: a segment of arbitrary content reads to its end or
//! to a corruption, never a panic, and every record it returns lies inside the segment; arbitrary bytes inside
//! valid fragments (plain, snappy, zstd) decode or fail cleanly; and records framed by our writer's framing,
//! at any mix of sizes (several pages included), read back exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_labels::Labels;
use tsdb_wal::wlog::fragment::frame_record;
use tsdb_wal::{Encoder, Record, RefSeries, WalMode, WalReader};

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("tsdb-wal-fuzz-wlog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }

    // 1. Arbitrary bytes as segment 00000000.
    if std::fs::write(dir.join("00000000"), data).is_err() {
        return;
    }
    if let Ok(mut r) = WalReader::open(&dir) {
        while let Ok(Some(e)) = r.next() {
            assert!(e.offset + e.len <= data.len() as u64);
        }
    }

    // 2. The input as the content of one correctly framed record (compression flag from its first byte):
    //    decompression and record decoding see arbitrary bytes behind valid fragments.
    if let Some((&f, body)) = data.split_first() {
        let mut seg = Vec::new();
        frame_record(&mut seg, 0, body, f & 0x18);
        let p = dir.join("00000000");
        if std::fs::write(&p, &seg).is_ok() {
            if let Ok(mut r) = WalReader::open(&dir) {
                while let Ok(Some(_)) = r.next() {}
            }
        }
    }

    // 3. Series records whose label values are pieces of the input (a piece's length is its first byte
    //    times 300, so records span pages), framed one after the other, read back exactly.
    let mut want = Vec::new();
    let mut enc = Encoder::new(WalMode::Wlog);
    let mut rest = data;
    let mut i = 0u64;
    while let Some((&n, tail)) = rest.split_first() {
        let take = (n as usize * 300).min(tail.len());
        let (piece, tail) = tail.split_at(take);
        rest = tail;
        let value = String::from_utf8_lossy(piece).into_owned();
        let Ok(labels) = Labels::new([("__name__", "fuzz"), ("v", value.as_str())]) else {
            continue;
        };
        let s = vec![RefSeries { series: i, labels }];
        i += 1;
        if enc.series_simple(&s).is_ok() {
            want.push(s);
        }
    }
    let mut seg = Vec::new();
    let mut off = 0;
    for (rec, flag) in enc.wlog_records() {
        off = frame_record(&mut seg, off, rec, flag);
    }
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_err() || std::fs::write(dir.join("00000000"), &seg).is_err()
    {
        return;
    }
    let mut r = WalReader::open(&dir).expect("open");
    let mut got = Vec::new();
    while let Some(e) = r.next().expect("framed records read back") {
        if let Record::Series(s) = e.record {
            got.push(s.to_vec());
        }
    }
    assert!(got == want, "framed records read back differently");
    let _ = std::fs::remove_dir_all(&dir);
});
