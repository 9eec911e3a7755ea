//! WAL throughput: logging samples records in batches of 1,000 (no fsync) and reading them back, in both modes.
//! Also prints bytes per sample on disk for each mode.
//!
//! `cargo bench -p tsdb-wal`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tsdb_wal::{Record, RefSample, SyncPolicy, Wal, WalMode, WalOptions, WalReader};

const BATCH: usize = 1000;
const SERIES: u64 = 20_000;

/// Scrape-like batches: 1,000 consecutive series at one timestamp; counters rising by small integers and
/// gauges as random walks with two decimals (a fixed xorshift, so runs compare).
struct Scrapes {
    values: Vec<f64>,
    next_series: u64,
    t: i64,
    rng: u64,
}

impl Scrapes {
    fn new() -> Self {
        Scrapes {
            values: (0..SERIES).map(|i| (i * 37 % 1000) as f64).collect(),
            next_series: 0,
            t: 1_700_000_000_000,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn fill(&mut self, out: &mut Vec<RefSample>) {
        out.clear();
        for _ in 0..BATCH {
            let s = self.next_series;
            let r = self.rand();
            let v = &mut self.values[s as usize];
            if s.is_multiple_of(3) {
                *v = ((*v * 100.0).round() + (r % 201) as f64 - 100.0) / 100.0;
            } else {
                *v += (r % 100) as f64;
            }
            out.push(RefSample {
                series: s,
                t: self.t + (r % 50) as i64,
                v: *v,
            });
            self.next_series += 1;
            if self.next_series == SERIES {
                self.next_series = 0;
                self.t += 15_000;
            }
        }
    }
}

fn opts(mode: WalMode) -> WalOptions {
    WalOptions {
        mode,
        sync: SyncPolicy::Never,
        ..WalOptions::default()
    }
}

fn write_log(dir: &std::path::Path, mode: WalMode, batches: usize) -> u64 {
    let wal = Wal::open(dir, opts(mode)).unwrap();
    let mut gen = Scrapes::new();
    let mut buf = Vec::with_capacity(BATCH);
    for _ in 0..batches {
        gen.fill(&mut buf);
        wal.log_samples(&buf).unwrap();
    }
    wal.close().unwrap();
    tsdb_wal::segment::list_segments(dir)
        .unwrap()
        .iter()
        .map(|s| std::fs::metadata(&s.path).unwrap().len())
        .sum()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("wal");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));

    for mode in [WalMode::Native, WalMode::Prometheus] {
        let name = format!("{mode:?}").to_lowercase();
        // Bytes per sample on disk.
        let d = tempfile::tempdir().unwrap();
        let bytes = write_log(d.path(), mode, 2000);
        eprintln!(
            "wal {name}: {:.2} bytes/sample on disk ({} samples, {} bytes)",
            bytes as f64 / (2000 * BATCH) as f64,
            2000 * BATCH,
            bytes
        );

        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function(format!("log_samples_{name}_batch1000"), |b| {
            let dir = tempfile::tempdir().unwrap();
            let wal = Wal::open(dir.path(), opts(mode)).unwrap();
            let mut gen = Scrapes::new();
            let mut batches: Vec<Vec<RefSample>> = (0..64)
                .map(|_| {
                    let mut v = Vec::new();
                    gen.fill(&mut v);
                    v
                })
                .collect();
            let mut i = 0;
            b.iter(|| {
                wal.log_samples(&batches[i % 64]).unwrap();
                i += 1;
            });
            batches.clear();
        });

        let total = (2000 * BATCH) as u64;
        g.throughput(Throughput::Elements(total));
        g.bench_function(format!("read_{name}_2M_samples"), |b| {
            b.iter_batched(
                || (),
                |()| {
                    let mut r = WalReader::open(d.path()).unwrap();
                    let mut n = 0u64;
                    while let Some(e) = r.next().unwrap() {
                        if let Record::Samples(s) = e.record {
                            n += s.len() as u64;
                        }
                    }
                    assert_eq!(n, total);
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
