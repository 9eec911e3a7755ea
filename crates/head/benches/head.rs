//! The head under `promtool tsdb bench write`'s workload: 20,000 series (from the optional
//! `../shared/bench/series-20k.jsonl` beside the checkout when present, synthetic label sets otherwise),
//! one commit per scrape of 1,000 series, WAL on (native mode, no fsync); one and two threads. Then replay of
//! a WAL holding 20 million samples, and memory per series and per sample (printed).
//!
//! `cargo bench -p tsdb-head`

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tsdb_head::{Head, HeadOptions, SeriesRef};
use tsdb_labels::Labels;
use tsdb_wal::{SyncPolicy, WalMode, WalOptions};

/// Counts heap bytes in use, for the memory figures.
struct Counting;
static IN_USE: AtomicIsize = AtomicIsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        IN_USE.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        IN_USE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        IN_USE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}
#[global_allocator]
static A: Counting = Counting;

const SCRAPE: usize = 1000;

fn load_series() -> Vec<Labels> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/series-20k.jsonl");
    match std::fs::read_to_string(&p) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let m: std::collections::BTreeMap<String, String> =
                    serde_json::from_str(l).expect("a JSON object of labels");
                Labels::new(m).expect("valid labels")
            })
            .collect(),
        Err(_) => {
            eprintln!("{} not found: using synthetic label sets", p.display());
            (0..20_000)
                .map(|i| {
                    Labels::new([
                        ("__name__", format!("metric_{}", i % 200)),
                        ("instance", format!("host-{}", i / 200)),
                        ("job", "node".to_string()),
                    ])
                    .unwrap()
                })
                .collect()
        }
    }
}

fn opts() -> HeadOptions {
    HeadOptions {
        wal: WalOptions {
            mode: WalMode::Native,
            sync: SyncPolicy::Never,
            ..WalOptions::default()
        },
        ..HeadOptions::default()
    }
}

/// Scrapes `series` once at `t` (values rising by 1,000 per scrape), one commit per 1,000 series.
fn scrape(head: &Head, refs: &[SeriesRef], t: i64, round: i64) {
    for chunk in refs.chunks(SCRAPE) {
        let mut app = head.appender();
        for (i, &r) in chunk.iter().enumerate() {
            app.append_ref(r, t, (round * 1000 + i as i64) as f64)
                .unwrap();
        }
        app.commit().unwrap();
    }
}

fn create(head: &Head, labels: &[Labels], t: i64) -> Vec<SeriesRef> {
    let mut refs = Vec::with_capacity(labels.len());
    for chunk in labels.chunks(SCRAPE) {
        let mut app = head.appender();
        for l in chunk {
            refs.push(app.append(l, t, 0.0).unwrap());
        }
        app.commit().unwrap();
    }
    refs
}

fn bench(c: &mut Criterion) {
    let labels = load_series();
    let n = labels.len() as u64;
    let mut g = c.benchmark_group("head");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));

    // Memory per series (labels excluded) and per sample, on the heap.
    {
        let dir = tempfile::tempdir().unwrap();
        let label_bytes: usize = labels
            .iter()
            .map(|l| l.encoded_size() + 2 * l.len() + 16)
            .sum();
        let before = IN_USE.load(Ordering::Relaxed);
        let (head, _) = Head::open(dir.path(), opts()).unwrap();
        let after_open = IN_USE.load(Ordering::Relaxed);
        let refs = create(&head, &labels, 0);
        let after_series = IN_USE.load(Ordering::Relaxed);
        for round in 1..=240 {
            scrape(&head, &refs, round * 30_000, round);
        }
        let after_samples = IN_USE.load(Ordering::Relaxed);
        let per_series =
            (after_series - after_open) as f64 / n as f64 - label_bytes as f64 / n as f64;
        let per_sample = (after_samples - after_series) as f64 / (240.0 * n as f64);
        eprintln!(
            "head memory: {per_series:.0} bytes/series (labels excluded; fixed overhead {} KiB), \
             {per_sample:.2} heap bytes/sample over 240 samples/series (full chunks live in chunks_head/)",
            (after_open - before) / 1024
        );
        head.close().unwrap();
    }

    g.throughput(Throughput::Elements(n));
    g.bench_function("append_1_thread_20k_series_scrape", |b| {
        let dir = tempfile::tempdir().unwrap();
        let (head, _) = Head::open(dir.path(), opts()).unwrap();
        let refs = create(&head, &labels, 0);
        let mut round = 0i64;
        b.iter(|| {
            round += 1;
            scrape(&head, &refs, round * 30_000, round);
        });
        head.close().unwrap();
    });

    // Two threads, each scraping its own half of the series; each runs all the iterations of a sample
    // (threads started once per sample, not per round).
    g.bench_function("append_2_threads_20k_series_scrape", |b| {
        let dir = tempfile::tempdir().unwrap();
        let (head, _) = Head::open(dir.path(), opts()).unwrap();
        let refs = create(&head, &labels, 0);
        let (a, z) = refs.split_at(refs.len() / 2);
        let mut round = 0i64;
        b.iter_custom(|iters| {
            let first = round + 1;
            round += iters as i64;
            let h = &head;
            let start = std::time::Instant::now();
            std::thread::scope(|s| {
                for part in [a, z] {
                    s.spawn(move || {
                        for r in first..first + iters as i64 {
                            scrape(h, part, r * 30_000, r);
                        }
                    });
                }
            });
            start.elapsed()
        });
        head.close().unwrap();
    });

    // Replay of a WAL holding 20 million samples (head chunk files removed: everything from the WAL).
    let dir = tempfile::tempdir().unwrap();
    let rounds = (20_000_000 / n) as i64;
    {
        let (head, _) = Head::open(dir.path(), opts()).unwrap();
        let refs = create(&head, &labels, 0);
        for round in 1..rounds {
            scrape(&head, &refs, round * 30_000, round);
        }
        head.close().unwrap();
        std::fs::remove_dir_all(dir.path().join("chunks_head")).unwrap();
    }
    let total = rounds as u64 * n;
    g.throughput(Throughput::Elements(total));
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.bench_function("replay_wal_20M_samples", |b| {
        b.iter(|| {
            let (head, rep) = Head::open_read_only(dir.path(), opts()).unwrap();
            assert_eq!(rep.samples, total);
            drop(head);
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
