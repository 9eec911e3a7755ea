//! XOR codec speed on realistic 120-sample chunks: append (into a chunk sized like the series'
//! previous one, as the head does, and unsized) and full decode (sample by sample with
//! `advance`/`at`, and a batch at a time with `next_batch`), per input shape.
//! Prints bytes/sample per shape first. Kept short: 20 samples of 2 s per benchmark.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tsdb_chunks::{XorChunk, XorIter};

const PER_CHUNK: usize = 120;
const CHUNKS: usize = 64;

/// Small deterministic generator (xorshift64*), so the bench needs no extra dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

type Series = Vec<(i64, f64)>;

/// Counter scraped every `interval` ms with ±2 ms jitter, growing by 0..99 per scrape.
fn counter(r: &mut Rng, interval: i64) -> Series {
    let mut t = 1_700_000_000_000 + r.below(interval as u64) as i64;
    let mut v = r.below(1_000_000) as f64;
    (0..PER_CHUNK)
        .map(|_| {
            t += interval;
            v += r.below(100) as f64;
            (t + r.below(5) as i64 - 2, v)
        })
        .collect()
}

/// Gauge: random walk rounded to 2 decimals, scraped every 15 s.
fn gauge(r: &mut Rng) -> Series {
    let mut t = 1_700_000_000_000;
    let mut v = (r.unit() * 1000.0 * 100.0).round() / 100.0;
    (0..PER_CHUNK)
        .map(|_| {
            t += 15_000;
            v = ((v + (r.unit() - 0.5) * 4.0) * 100.0).round() / 100.0;
            (t, v)
        })
        .collect()
}

/// Constant value scraped every 15 s.
fn constant(r: &mut Rng) -> Series {
    let v = r.below(100) as f64;
    (0..PER_CHUNK as i64)
        .map(|i| (1_700_000_000_000 + i * 15_000, v))
        .collect()
}

/// Irregular timestamps (event-driven pushes: gaps from 1 ms to 2 minutes) carrying a 2-decimal
/// gauge.
fn irregular(r: &mut Rng) -> Series {
    let mut t = 1_700_000_000_000;
    let mut v = (r.unit() * 1000.0 * 100.0).round() / 100.0;
    (0..PER_CHUNK)
        .map(|_| {
            t += 1 + r.below(120_000) as i64;
            v = ((v + (r.unit() - 0.5) * 4.0) * 100.0).round() / 100.0;
            (t, v)
        })
        .collect()
}

fn shapes() -> Vec<(&'static str, Vec<Series>)> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut make = |f: &mut dyn FnMut(&mut Rng) -> Series| (0..CHUNKS).map(|_| f(&mut r)).collect();
    vec![
        ("counter_15s", make(&mut |r| counter(r, 15_000))),
        ("counter_30s", make(&mut |r| counter(r, 30_000))),
        ("gauge_2dp", make(&mut gauge)),
        ("constant", make(&mut constant)),
        ("irregular", make(&mut irregular)),
    ]
}

fn encode(s: &Series) -> XorChunk {
    encode_into(XorChunk::new(), s)
}

fn encode_into(mut c: XorChunk, s: &Series) -> XorChunk {
    for &(t, v) in s {
        let _ = c.append(t, v);
    }
    c
}

/// Decodes every sample of a chunk through the per-sample interface, folding them into a sum.
#[inline(never)]
fn decode_sum(ch: &[u8]) -> i64 {
    let mut sum = 0i64;
    let Ok(mut it) = XorIter::new(ch) else {
        return 0;
    };
    while let Ok(true) = it.advance() {
        let (t, v) = it.at();
        sum = sum.wrapping_add(t ^ v.to_bits() as i64);
    }
    sum
}

/// Decodes every sample of a chunk a batch at a time, as the engine reads whole chunks.
#[inline(never)]
fn decode_sum_batches(ch: &[u8]) -> i64 {
    let mut sum = 0i64;
    let Ok(mut it) = XorIter::new(ch) else {
        return 0;
    };
    while let Ok(Some(batch)) = it.next_batch() {
        for &(t, v) in batch {
            sum = sum.wrapping_add(t ^ v.to_bits() as i64);
        }
    }
    sum
}

fn bench(c: &mut Criterion) {
    let shapes = shapes();
    for (name, series) in &shapes {
        let bytes: usize = series.iter().map(|s| encode(s).bytes().len()).sum();
        eprintln!(
            "{name}: {:.3} bytes/sample ({} chunks of {PER_CHUNK} samples)",
            bytes as f64 / (CHUNKS * PER_CHUNK) as f64,
            CHUNKS
        );
    }
    let mut g = c.benchmark_group("xor");
    g.throughput(Throughput::Elements((CHUNKS * PER_CHUNK) as u64));
    for (name, series) in &shapes {
        // As the head does: a new chunk sized like the series' previous one (here: the same
        // samples encoded once before).
        let hints: Vec<usize> = series.iter().map(|s| encode(s).bytes().len()).collect();
        g.bench_function(format!("append/{name}"), |b| {
            b.iter(|| {
                for (s, &hint) in series.iter().zip(&hints) {
                    black_box(encode_into(XorChunk::with_capacity(hint), black_box(s)));
                }
            })
        });
        // A chunk with no size hint, growing from the default buffer.
        g.bench_function(format!("append_unsized/{name}"), |b| {
            b.iter(|| {
                for s in series {
                    black_box(encode(black_box(s)));
                }
            })
        });
        let chunks: Vec<Vec<u8>> = series.iter().map(|s| encode(s).into_bytes()).collect();
        g.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                let mut sum = 0i64;
                for ch in &chunks {
                    sum = sum.wrapping_add(decode_sum(black_box(ch)));
                }
                black_box(sum)
            })
        });
        g.bench_function(format!("decode_batch/{name}"), |b| {
            b.iter(|| {
                let mut sum = 0i64;
                for ch in &chunks {
                    sum = sum.wrapping_add(decode_sum_batches(black_box(ch)));
                }
                black_box(sum)
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
