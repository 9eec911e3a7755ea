//! Entry framing and every record decoder on arbitrary bytes: no panic, and a decoded samples payload
//! re-encodes to a payload that decodes to the same samples.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tsdb_wal::entry::{parse, Parsed};
use tsdb_wal::record::{
    decode_deletes, decode_samples, decode_series_simple, decode_series_symbolic, decode_symbols,
    encode_samples,
};
use tsdb_wal::symbols::SymbolTable;

fuzz_target!(|data: &[u8]| {
    if let Parsed::Entry { payload, .. } = parse(data) {
        let _ = &data[payload];
    }
    let mut table = SymbolTable::new();
    let _ = decode_symbols(data, &mut table);
    let mut series = Vec::new();
    let _ = decode_series_simple(data, &mut series);
    let _ = decode_series_symbolic(data, &table, &mut series);
    let mut deletes = Vec::new();
    let _ = decode_deletes(data, &mut deletes);
    let mut samples = Vec::new();
    if decode_samples(data, &mut samples).is_ok() {
        let mut again = Vec::new();
        encode_samples(&mut again, &samples);
        let mut back = Vec::new();
        decode_samples(&again, &mut back).expect("re-encoded samples decode");
        assert!(back == samples);
    }
});
