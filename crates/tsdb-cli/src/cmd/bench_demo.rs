//! `bench demo-data`: a deterministic, realistic data set for PromQL tests and benchmarks, written as
//! OpenMetrics text (`promtool tsdb create-blocks-from openmetrics` and `tsdb-cli import` read it).
//!
//! The series imitate a small fleet of instances of a demo service: CPU counters by mode, memory gauges
//! by type, request-duration histograms (classic buckets, `_sum`, `_count`) by method, path and status,
//! a shipped-items counter that resets when its instance restarts, a batch-job timestamp gauge, a disk
//! gauge of one instance that stops reporting halfway, and a gauge that sometimes reports NaN. Values
//! come from a fixed-seed generator, so the same arguments give the same bytes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::timefmt::positive_duration_ms;

/// Arguments of `bench demo-data`.
#[derive(Debug, Args)]
#[command(
    long_about = "Write a deterministic demo data set as OpenMetrics text, for PromQL tests and \
        benchmarks.\n\n\
        Series named demo_* (CPU counters by mode, memory gauges, request-duration histograms with \
        classic buckets by method, path and status, a counter with resets, a gauge that stops \
        halfway, a gauge with NaNs) for --instances instances, one sample every --interval over \
        --hours hours ending at --end (Unix seconds). The same arguments always give the same file.",
    after_help = "Examples:\n  \
        tsdb-cli bench demo-data --hours 4 --out demo.om\n  \
        promtool tsdb create-blocks-from openmetrics demo.om prom-data\n  \
        tsdb-cli import --data-dir data demo.om"
)]
pub struct BenchDemoArgs {
    /// Hours of data.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub hours: u32,

    /// Time between two samples of a series (`15s`, `1m`).
    #[arg(long, default_value = "15s", value_name = "DURATION", value_parser = positive_duration_ms)]
    pub interval: i64,

    /// Instances of the demo service.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub instances: u32,

    /// Unix seconds of the last sample.
    #[arg(long, default_value_t = 1_700_000_000, value_name = "SECONDS")]
    pub end: i64,

    /// The file to write (`-` for standard output).
    #[arg(long, default_value = "-", value_name = "FILE")]
    pub out: PathBuf,
}

/// A small, fixed-seed generator (splitmix64): the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One series: its label text and its values at each step (`None`: no sample).
struct Series {
    labels: String,
    values: Vec<Option<f64>>,
}

const BUCKETS: [&str; 9] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf",
];

/// Builds every series of the data set.
fn build(a: &BenchDemoArgs) -> Vec<Series> {
    let steps = (i64::from(a.hours) * 3_600_000 / a.interval.max(1)) as usize + 1;
    let dt = a.interval as f64 / 1000.0;
    let mut rng = Rng(0x005e_ed0f_de30);
    let mut out = Vec::new();
    for i in 0..a.instances {
        let inst = format!("instance=\"demo-service-{i}:10000\",job=\"demo\"");
        // CPU seconds by mode: counters whose rate wanders.
        for (m, mode) in ["idle", "user", "system", "iowait"].iter().enumerate() {
            let base = [3.2, 0.5, 0.2, 0.05][m] * (1.0 + f64::from(i) * 0.1);
            let mut v = 1000.0 * f64::from(i + 1);
            let values = (0..steps)
                .map(|k| {
                    let wave = 1.0 + 0.5 * ((k as f64) / 40.0 + f64::from(i)).sin();
                    v += base * wave * dt * (0.8 + 0.4 * rng.unit());
                    Some(v)
                })
                .collect();
            out.push(Series {
                labels: format!("demo_cpu_usage_seconds_total{{{inst},mode=\"{mode}\"}}"),
                values,
            });
        }
        // Memory by type: gauges.
        for (m, ty) in ["buffers", "cached", "free", "used"].iter().enumerate() {
            let base = [1.2e8, 5.0e8, 2.0e9, 1.5e9][m];
            let values = (0..steps)
                .map(|k| {
                    let wave = ((k as f64) / (25.0 + m as f64 * 7.0)).cos();
                    Some((base * (1.0 + 0.2 * wave + 0.05 * rng.unit())).round())
                })
                .collect();
            out.push(Series {
                labels: format!("demo_memory_usage_bytes{{{inst},type=\"{ty}\"}}"),
                values,
            });
        }
        out.push(Series {
            labels: format!("demo_num_cpus{{{inst}}}"),
            values: vec![Some(f64::from(4 + 2 * (i % 3))); steps],
        });
        // Request durations: classic histograms with their _sum and _count.
        for method in ["GET", "POST"] {
            for path in ["/api/foo", "/api/bar", "/api/nop"] {
                for status in ["200", "500"] {
                    let l =
                        format!("{inst},method=\"{method}\",path=\"{path}\",status=\"{status}\"");
                    let scale = if status == "500" { 0.05 } else { 1.0 };
                    let speed = if path == "/api/bar" { 2.5 } else { 1.0 };
                    let mut counts = [0.0f64; 9];
                    let mut sum = 0.0;
                    let mut bucket_vals: Vec<Vec<Option<f64>>> = vec![Vec::new(); 9];
                    let mut sums = Vec::with_capacity(steps);
                    for _ in 0..steps {
                        let n = (20.0 * scale * dt * (0.5 + rng.unit())).round();
                        for _ in 0..(n as usize).min(64) {
                            let d = 0.004 * speed * (-(rng.unit().max(1e-9)).ln()) * 8.0;
                            sum += d;
                            for (b, le) in BUCKETS.iter().enumerate() {
                                let bound: f64 = le.parse().unwrap_or(f64::INFINITY);
                                if d <= bound {
                                    counts[b] += 1.0;
                                }
                            }
                        }
                        for b in 0..9 {
                            bucket_vals[b].push(Some(counts[b]));
                        }
                        sums.push(Some(sum));
                    }
                    for (b, le) in BUCKETS.iter().enumerate() {
                        out.push(Series {
                            labels: format!(
                                "demo_api_request_duration_seconds_bucket{{{l},le=\"{le}\"}}"
                            ),
                            values: std::mem::take(&mut bucket_vals[b]),
                        });
                    }
                    out.push(Series {
                        labels: format!("demo_api_request_duration_seconds_sum{{{l}}}"),
                        values: sums,
                    });
                    let count: Vec<Option<f64>> = out[out.len() - 2].values.clone();
                    out.push(Series {
                        labels: format!("demo_api_request_duration_seconds_count{{{l}}}"),
                        values: count,
                    });
                }
            }
        }
        // Items shipped: a counter reset every time the instance restarts (each 50 minutes, shifted).
        let restart = (3_000_000 / a.interval.max(1)) as usize;
        let mut shipped = 0.0;
        let values = (0..steps)
            .map(|k| {
                if restart > 0 && (k + i as usize * 37).is_multiple_of(restart) && k > 0 {
                    shipped = 0.0;
                }
                shipped += (5.0 * rng.unit()).floor();
                Some(shipped)
            })
            .collect();
        out.push(Series {
            labels: format!("demo_items_shipped_total{{{inst}}}"),
            values,
        });
        // The last success of a batch job: a Unix time that jumps every ~20 minutes.
        let mut last = (a.end - i64::from(a.hours) * 3600) as f64;
        let every = (1_200_000 / a.interval.max(1)).max(1) as usize;
        let values = (0..steps)
            .map(|k| {
                if k % every == every / 2 {
                    last = (a.end - i64::from(a.hours) * 3600) as f64 + k as f64 * dt;
                }
                Some(last)
            })
            .collect();
        out.push(Series {
            labels: format!("demo_batch_last_success_timestamp_seconds{{{inst}}}"),
            values,
        });
        // Disk usage: instance 0 stops reporting halfway (its series goes away after the lookback).
        let values = (0..steps)
            .map(|k| {
                if i == 0 && k > steps / 2 {
                    None
                } else {
                    Some(4.0e10 + 1.0e6 * k as f64 + 1.0e5 * f64::from(i))
                }
            })
            .collect();
        out.push(Series {
            labels: format!("demo_disk_usage_bytes{{{inst}}}"),
            values,
        });
        // A temperature gauge with an occasional NaN reading.
        let values = (0..steps)
            .map(|k| {
                if (k + i as usize).is_multiple_of(97) {
                    Some(f64::NAN)
                } else {
                    Some(40.0 + 10.0 * ((k as f64) / 30.0).sin() + rng.unit())
                }
            })
            .collect();
        out.push(Series {
            labels: format!("demo_temperature_celsius{{{inst}}}"),
            values,
        });
    }
    out
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

/// Writes the data set.
pub fn run(a: &BenchDemoArgs) -> Result<()> {
    let series = build(a);
    let start_ms = a.end * 1000 - i64::from(a.hours) * 3_600_000;
    let sink: Box<dyn Write> = if a.out.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(File::create(&a.out).with_context(|| format!("create {}", a.out.display()))?)
    };
    let mut w = BufWriter::with_capacity(1 << 20, sink);
    let mut samples = 0u64;
    for s in &series {
        for (k, v) in s.values.iter().enumerate() {
            if let Some(v) = v {
                let t = start_ms + k as i64 * a.interval;
                writeln!(
                    w,
                    "{} {} {}.{:03}",
                    s.labels,
                    fmt_value(*v),
                    t / 1000,
                    t % 1000
                )?;
                samples += 1;
            }
        }
    }
    writeln!(w, "# EOF")?;
    w.flush().context("write the data set")?;
    if a.out.as_os_str() != "-" {
        eprintln!(
            "wrote {} series, {samples} samples to {}",
            series.len(),
            a.out.display()
        );
    }
    Ok(())
}
