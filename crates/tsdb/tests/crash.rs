//! Crash test: a child process appends and commits in a loop and prints the id of each batch after
//! `commit()` returns; the parent kills it with SIGKILL at random moments — some while a block is being
//! persisted and the WAL truncated — reopens, and checks that every acknowledged batch is present with its
//! exact values and that nothing else appears. With fsync on every commit; then with the interval policy,
//! where what survives must be a prefix of the batches.
//!
//! The child is this same test binary, started with `TSDB_CRASH_CHILD` set (see `crash_child`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tsdb::{Db, Options, SyncPolicy};
use tsdb_labels::Labels;

const SERIES: u64 = 20;
const T0: i64 = 1_700_000_000_000;
const STEP: i64 = 1_000;

/// Reopenings whose head chunk files had a torn tail to cut.
static CHUNK_DAMAGE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn labels(s: u64) -> Labels {
    Labels::new([
        ("__name__", "crash_test"),
        ("series", &s.to_string()),
        ("zone", if s.is_multiple_of(2) { "a" } else { "b" }),
    ])
    .unwrap()
}

fn value(batch: u64, s: u64) -> f64 {
    (batch * 1000 + s) as f64 + 0.25
}

fn opts(sync: SyncPolicy) -> Options {
    Options {
        block_range: 60_000,
        sync,
        wal_segment_size: 64 * 1024,
        head_chunk_file_size: 32 * 1024,
        background: false,
        ..Options::default()
    }
}

fn sync_from_env() -> SyncPolicy {
    match std::env::var("TSDB_CRASH_SYNC").as_deref() {
        Ok("interval") => SyncPolicy::Interval(Duration::from_millis(20)),
        _ => SyncPolicy::Always,
    }
}

/// The child: appends batch after batch from `TSDB_CRASH_START`, acknowledging each on stdout; a second
/// thread persists, compacts and truncates the WAL as soon as there is something to do.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("TSDB_CRASH_CHILD") else {
        return; // Only runs as the child of `crash_*` below.
    };
    let start: u64 = std::env::var("TSDB_CRASH_START").unwrap().parse().unwrap();
    let db = Db::open(&dir, opts(sync_from_env())).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| loop {
            db.maintain().unwrap();
            std::thread::sleep(Duration::from_millis(2));
        });
        let mut batch = start;
        loop {
            let mut app = db.appender();
            let t = T0 + batch as i64 * STEP;
            for s in 0..SERIES {
                app.append(&labels(s), t, value(batch, s)).unwrap();
            }
            app.commit().unwrap();
            println!("ack {batch}");
            batch += 1;
        }
    });
}

/// Batch id → the series present with that batch's timestamp (values checked).
fn recovered(dir: &Path, sync: SyncPolicy) -> (BTreeMap<u64, u64>, Vec<String>) {
    let db = Db::open(dir, opts(sync)).unwrap();
    let warnings = db.warnings();
    if db.replay_report().chunk_damage.is_some() {
        CHUNK_DAMAGE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let mut present: BTreeMap<u64, u64> = BTreeMap::new();
    for s in db.querier(i64::MIN, i64::MAX).select_all(&[]).unwrap() {
        let sid: u64 = s.labels.get("series").unwrap().parse().unwrap();
        assert_eq!(s.labels, labels(sid), "unexpected series {}", s.labels);
        for (t, v) in s.samples {
            assert_eq!((t - T0) % STEP, 0, "{}: invented timestamp {t}", s.labels);
            let b = ((t - T0) / STEP) as u64;
            assert_eq!(
                v.to_bits(),
                value(b, sid).to_bits(),
                "{} batch {b}: wrong value",
                s.labels
            );
            *present.entry(b).or_default() += 1;
        }
    }
    db.close().unwrap();
    (present, warnings)
}

fn run(sync_name: &str, sync: SyncPolicy, kills: usize) {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut next = 0u64;
    let (mut tmp_blocks, mut tmp_wal) = (0, 0);
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut rand = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut round = 0;
    while round < kills || ((tmp_blocks == 0 || tmp_wal == 0) && round < kills * 4) {
        round += 1;
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("TSDB_CRASH_CHILD", dir.path())
            .env("TSDB_CRASH_START", next.to_string())
            .env("TSDB_CRASH_SYNC", sync_name)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        // Kill after a random number of acknowledgements; persistence and WAL truncation run all the time
        // in the child, so some kills land inside them (counted below from what they leave behind).
        let target_acks = 1 + rand(300);
        let mut acked: Option<u64> = None;
        let mut n = 0;
        for line in out.by_ref() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("ack ") {
                acked = Some(id.parse().unwrap());
                n += 1;
                if n >= target_acks {
                    break;
                }
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Acknowledgements printed before the kill and not read yet.
        for line in out.map_while(Result::ok) {
            if let Some(id) = line.strip_prefix("ack ") {
                acked = Some(id.parse().unwrap());
            }
        }
        // Evidence of where the kill landed: a block or a WAL checkpoint half written.
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().to_string();
            if name.ends_with(".tmp") || name.ends_with(".tmp-for-deletion") {
                tmp_blocks += 1;
            }
        }
        if dir.path().join("wal/compact.tmp").exists() {
            tmp_wal += 1;
        }
        let (present, warnings) = recovered(dir.path(), sync);
        let full = |b: u64| present.get(&b) == Some(&SERIES);
        // Batches before this round's start were verified before; they must all still be there.
        for b in 0..next {
            assert!(
                full(b),
                "round {round}: batch {b} acknowledged earlier is missing or partial"
            );
        }
        if let Some(a) = acked {
            for b in next..=a {
                assert!(full(b), "round {round}: acknowledged batch {b} is missing or partial ({sync_name}); warnings {warnings:?}");
            }
        }
        let last_acked = acked.unwrap_or(next.wrapping_sub(1));
        let mut expect_next = last_acked.wrapping_add(1);
        // The batch in flight at the kill may be there — whole, never partial — and nothing after it.
        if full(expect_next) {
            expect_next += 1;
        }
        for (&b, &count) in &present {
            assert!(b < expect_next, "round {round}: batch {b} ({count} series) appeared but was never committed before the kill");
        }
        next = expect_next;
    }
    eprintln!(
        "{sync_name}: {round} kills; {tmp_blocks} landed while a block was written (left a .tmp block \
         directory), {tmp_wal} during WAL truncation (left wal/compact.tmp); {next} batches survived; \
         head chunk files had a torn tail {} times",
        CHUNK_DAMAGE.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert!(
        tmp_blocks > 0 && tmp_wal > 0,
        "no kill landed during block persistence or WAL truncation"
    );
}

#[test]
fn crash_with_fsync_on_every_commit() {
    run("always", SyncPolicy::Always, 30);
}

#[test]
fn crash_with_interval_sync_leaves_a_prefix() {
    run(
        "interval",
        SyncPolicy::Interval(Duration::from_millis(20)),
        30,
    );
}
