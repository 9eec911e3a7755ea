//! Golden test against Prometheus: `testdata/chunks/block/` was made by
//! `promtool tsdb create-blocks-from openmetrics` from `testdata/chunks/input.om` (see the README
//! there). Every chunk of the block must decode to exactly a run of one input series, all input
//! samples must be covered exactly once, re-encoding must reproduce the chunk bytes, and writing
//! the chunks again must reproduce Prometheus's segment file byte for byte.

mod common;
use common::*;

use std::collections::HashMap;
use std::path::PathBuf;

use tsdb_chunks::{BlockChunkReader, BlockChunkRef, BlockChunkWriter, Encoding};

/// Go's `math.NaN()`, which `strconv.ParseFloat("NaN")` returns.
const GO_NAN: u64 = 0x7ff8_0000_0000_0001;

/// Parses the OpenMetrics input the way Prometheus's parser does for what it contains: series
/// text, float value, timestamp in seconds turned into `int64(ts * 1000)`.
fn parse_input() -> HashMap<String, Bits> {
    let text = std::fs::read_to_string(testdata().join("input.om")).expect("input.om");
    let mut series: HashMap<String, Bits> = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut f = line.rsplitn(3, ' ');
        let ts = f.next().expect("timestamp");
        let val = f.next().expect("value");
        let name = f.next().expect("series");
        let t = (ts.parse::<f64>().expect("ts") * 1000.0) as i64;
        let v = match val {
            "NaN" => GO_NAN,
            other => other.parse::<f64>().expect("value").to_bits(),
        };
        series.entry(name.to_string()).or_default().push((t, v));
    }
    series
}

fn block_dir() -> PathBuf {
    let root = testdata().join("block");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("block dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("chunks").is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "exactly one block under {}", root.display());
    dirs.pop().expect("one block")
}

#[test]
fn promtool_block_decodes_to_input_and_reencodes_identically() {
    let input = parse_input();
    let total_input: usize = input.values().map(Vec::len).sum();
    assert!(total_input >= 50_000, "input has {total_input} samples");

    // Where each (t, v) first sample of a run can start: series name and index.
    let mut starts: HashMap<(i64, u64), Vec<(&str, usize)>> = HashMap::new();
    for (name, s) in &input {
        for (i, &x) in s.iter().enumerate() {
            starts.entry(x).or_default().push((name, i));
        }
    }
    let mut covered: HashMap<&str, Vec<u8>> = input
        .iter()
        .map(|(k, v)| (k.as_str(), vec![0u8; v.len()]))
        .collect();

    let dir = block_dir();
    let reader = BlockChunkReader::open(dir.join("chunks")).expect("open");
    let mut chunks = Vec::new();
    let mut decoded_total = 0;
    for item in reader.iter() {
        let (r, c) = item.expect("chunk");
        assert_eq!(c.encoding, Encoding::XOR);
        assert_eq!(reader.chunk(r).expect("by ref"), c);
        let samples = decode(c.data);
        assert!(!samples.is_empty());
        assert_eq!(encode(&samples), c.data, "re-encoding chunk at {r:?}");

        // Find the series run this chunk is.
        let cands = starts
            .get(&samples[0])
            .expect("first sample is an input sample");
        let (name, at) = cands
            .iter()
            .copied()
            .find(|&(name, at)| input[name].get(at..at + samples.len()) == Some(&samples[..]))
            .unwrap_or_else(|| panic!("chunk at {r:?} is no run of any input series"));
        for c in &mut covered.get_mut(name).expect("series")[at..at + samples.len()] {
            *c += 1;
        }
        decoded_total += samples.len();
        chunks.push((r, c.data.to_vec()));
    }
    assert_eq!(decoded_total, total_input);
    for (name, c) in &covered {
        assert!(
            c.iter().all(|&n| n == 1),
            "series {name} not covered exactly once"
        );
    }
    // The odd values made it through: NaN, both infinities, negative zero.
    let all: Vec<u64> = input.values().flatten().map(|&(_, v)| v).collect();
    for special in [
        GO_NAN,
        f64::INFINITY.to_bits(),
        f64::NEG_INFINITY.to_bits(),
        (-0.0f64).to_bits(),
    ] {
        assert!(all.contains(&special), "input lacks {special:#x}");
    }

    // Our writer lays the same chunks out exactly as Prometheus did.
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut w = BlockChunkWriter::create(tmp.path().join("chunks")).expect("writer");
    for (r, data) in &chunks {
        assert_eq!(w.write_chunk(Encoding::XOR, data).expect("write"), *r);
    }
    assert_eq!(w.finish().expect("finish"), 1);
    let ours = std::fs::read(tmp.path().join("chunks/000001")).expect("ours");
    let theirs = std::fs::read(dir.join("chunks/000001")).expect("theirs");
    assert!(ours == theirs, "segment files differ");
    assert_eq!(BlockChunkRef::new(0, 8), chunks[0].0);
}
