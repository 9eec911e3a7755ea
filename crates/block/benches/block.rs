//! Block benchmarks: writing a block of 20,000 series × 240 samples, and reading every sample
//! of it back on one thread (acceptance: ≥ 30 million samples/s).
//!
//! `cargo bench -p tsdb-block`

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use tsdb_block::{write_block, Block, WriteOptions, DEFAULT_BLOCK_RANGE};
use tsdb_labels::Labels;

const SERIES: usize = 20_000;
const SAMPLES: usize = 240;

fn data() -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut seed = 42u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..SERIES)
        .map(|i| {
            let labels = Labels::new([
                ("__name__", format!("metric_{}", i % 100)),
                ("instance", format!("host-{}:9100", i / 100)),
                ("job", format!("job-{}", i % 10)),
            ])
            .expect("labels");
            let mut v = 0.0;
            let samples = (0..SAMPLES)
                .map(|k| {
                    v += (rnd() % 1000) as f64;
                    (k as i64 * 15_000 + (i % 15) as i64 * 1000, v)
                })
                .collect();
            (labels, samples)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = data();
    let opts = WriteOptions::default();

    let start = Instant::now();
    let meta = write_block(dir.path(), &data, 0, DEFAULT_BLOCK_RANGE, &opts)
        .expect("write")
        .expect("block");
    let took = start.elapsed();
    let block = Block::open(dir.path().join(meta.ulid.to_string())).expect("open");
    eprintln!(
        "wrote a block of {} series x {} samples in {:.1} ms ({:.1} M samples/s); {} bytes, {:.3} bytes/sample, index {:.1} bytes/series",
        SERIES,
        SAMPLES,
        took.as_secs_f64() * 1e3,
        (SERIES * SAMPLES) as f64 / took.as_secs_f64() / 1e6,
        block.size_bytes().expect("size"),
        block.size_bytes().expect("size") as f64 / (SERIES * SAMPLES) as f64,
        block.index().size() as f64 / SERIES as f64,
    );

    let mut g = c.benchmark_group("block");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements((SERIES * SAMPLES) as u64));
    g.bench_function("read_all_samples_20k_x_240", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let mut sum = 0.0;
            for s in block.select(&[], i64::MIN, i64::MAX).expect("select") {
                for r in s.expect("series").into_samples() {
                    let (_, v) = r.expect("sample");
                    sum += v;
                    n += 1;
                }
            }
            assert_eq!(n as usize, SERIES * SAMPLES);
            std::hint::black_box(sum)
        })
    });
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("write_block_20k_x_240", |b| {
        b.iter(|| {
            let out = tempfile::tempdir().expect("tempdir");
            write_block(out.path(), &data, 0, DEFAULT_BLOCK_RANGE, &opts)
                .expect("write")
                .expect("block")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
