//! Crash matrix through the command line: `tsdb-cli` is killed with SIGKILL at random moments of `append`
//! (with `--sync always` and with the default interval policy), `flush`, `compact`, `truncate`,
//! `delete` and `import openmetrics`, each on a fresh copy of a fixture database; then the next writable
//! open (`append` of nothing) must succeed and leave no `*.tmp` / `*.tmp-for-deletion` behind, and `dump`
//! must exit 0 and print what the command's contract allows:
//!
//! - everything the fixture held (written by commands that exited 0: acknowledged) is still there, with
//!   its value, unless the killed command was removing it (`truncate`, `delete`);
//! - nothing invented, nothing twice;
//! - `append`: of the killed command's input, whole commits in input order (a prefix of the input cut at
//!   a `--batch` boundary) — `append` prints nothing per commit, so what it acknowledged cannot be told
//!   from outside; the per-commit acknowledgement is checked at the library level by
//!   crates/tsdb/tests/crash.rs with both sync policies;
//! - `flush`, `compact`: exactly the fixture's samples;
//! - `truncate`, `delete`: every sample outside what they remove; of what they remove, any part;
//! - `import openmetrics`: each 2 h block of the import is there whole or not at all.
//!
//! Kill delays are drawn from a seeded RNG (the seed is printed with any failure; set
//! `TSDB_CRASH_MATRIX_SEED` to replay one) within the first 80 % of the command's runtime, measured
//! (median of three) without a kill; a run that ends before its kill is not counted as a kill. A summary
//! line per command is printed at the end (`cargo test -p tsdb-cli --test crash_matrix -- --nocapture`).
//! After each kill the next writable open must leave no leftover (`*.tmp`, `*.tmp-for-deletion`) anywhere.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;

const T0: i64 = 1_700_000_000_000;
const STEP: i64 = 30_000;
const SERIES: usize = 8;
/// Samples per commit of the killed `append`.
const BATCH: usize = 40;
/// Kills per command (7 commands).
const KILLS: usize = 30;
/// `truncate --before` of the matrix: in the middle of the fixture's second block.
const TRUNCATE_BEFORE: i64 = T0 + 3 * 3_600_000;
/// The matrix's `delete`: series `s="3"`, all time.
const DELETED: &str = "m{s=\"3\"}";

/// Prometheus text for samples `k0..k1` of every series, in time order.
fn prom_text(k0: i64, k1: i64) -> String {
    let mut s = String::new();
    for k in k0..k1 {
        for i in 0..SERIES {
            s.push_str(&format!(
                "m{{s=\"{i}\"}} {} {}\n",
                k as f64 + i as f64 / 8.0,
                T0 + k * STEP
            ));
        }
    }
    s
}

/// OpenMetrics text for the import: 8 h of every series (four 2 h blocks).
fn openmetrics_text() -> String {
    let mut s = String::from("# TYPE g gauge\n");
    for i in 0..SERIES {
        for k in 0..(8 * 120) {
            let t = T0 - 10 * 86_400_000 + k * STEP;
            s.push_str(&format!(
                "g{{s=\"{i}\"}} {} {}.{:03}\n",
                k + i as i64,
                t / 1000,
                t % 1000
            ));
        }
    }
    s.push_str("# EOF\n");
    s
}

/// `dump` parsed: series → timestamp → value text. Panics on a sample printed twice.
type Dump = BTreeMap<String, BTreeMap<i64, String>>;

fn parse_dump(out: &str) -> Result<Dump, String> {
    let mut d = Dump::new();
    for line in out.lines() {
        let (rest, t) = line.rsplit_once(' ').ok_or(format!("bad line {line}"))?;
        let (labels, v) = rest.rsplit_once(' ').ok_or(format!("bad line {line}"))?;
        let t: i64 = t.parse().map_err(|_| format!("bad line {line}"))?;
        if d.entry(labels.to_string())
            .or_default()
            .insert(t, v.to_string())
            .is_some()
        {
            return Err(format!("{labels} at {t} printed twice"));
        }
    }
    Ok(d)
}

/// Parses `prom_text`'s lines as `dump` would print them; returns them in input order.
fn input_order(text: &str) -> Vec<(String, i64)> {
    text.lines()
        .map(|l| {
            let (name, rest) = l.split_once('{').unwrap();
            let (labels, rest) = rest.split_once("} ").unwrap();
            let (_, t) = rest.split_once(' ').unwrap();
            let (k, v) = labels.split_once('=').unwrap();
            (
                format!("{{__name__=\"{name}\", {k}={v}}}"),
                t.parse().unwrap(),
            )
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cmd {
    AppendAlways,
    AppendInterval,
    Flush,
    Compact,
    Truncate,
    Delete,
    Import,
}

impl Cmd {
    const ALL: [Cmd; 7] = [
        Cmd::AppendAlways,
        Cmd::AppendInterval,
        Cmd::Flush,
        Cmd::Compact,
        Cmd::Truncate,
        Cmd::Delete,
        Cmd::Import,
    ];

    fn name(self) -> &'static str {
        match self {
            Cmd::AppendAlways => "append --sync always",
            Cmd::AppendInterval => "append --sync interval",
            Cmd::Flush => "flush",
            Cmd::Compact => "compact",
            Cmd::Truncate => "truncate",
            Cmd::Delete => "delete",
            Cmd::Import => "import openmetrics",
        }
    }
}

/// The fixture, its expected states, and the inputs.
struct Fixture {
    _tmp: tempfile::TempDir,
    /// Two blocks (0–4 h) and a head of 4–8 h: `compact` persists part of it, `flush` all of it.
    base: PathBuf,
    base_dump: Dump,
    /// Input of the killed `append` (8–10 h) and its samples in input order.
    append_input: PathBuf,
    append_order: Vec<(String, i64)>,
    append_values: Dump,
    om_input: PathBuf,
    /// `dump` of a complete import.
    import_dump: Dump,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let d = base.to_str().unwrap();
    let p1 = tmp.path().join("p1.prom");
    let p2 = tmp.path().join("p2.prom");
    std::fs::write(&p1, prom_text(0, 4 * 120 + 1)).unwrap();
    std::fs::write(&p2, prom_text(4 * 120 + 1, 8 * 120)).unwrap();
    ok(["append", "-d", d, p1.to_str().unwrap()]);
    ok(["flush", "-d", d]);
    ok(["append", "-d", d, p2.to_str().unwrap()]);
    let base_dump = parse_dump(&ok(["dump", "-d", d])).unwrap();

    let text = prom_text(8 * 120, 10 * 120);
    let append_input = tmp.path().join("p3.prom");
    std::fs::write(&append_input, &text).unwrap();
    let append_order = input_order(&text);

    let om_input = tmp.path().join("in.om");
    std::fs::write(&om_input, openmetrics_text()).unwrap();
    Fixture {
        _tmp: tmp,
        base,
        base_dump,
        append_input,
        append_order,
        // Filled in from an unkilled run: the values as `dump` prints them.
        append_values: Dump::new(),
        om_input,
        import_dump: Dump::new(),
    }
}

/// The command line of `cmd` on `data`.
fn command(f: &Fixture, cmd: Cmd, data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tsdb-cli"));
    match cmd {
        Cmd::AppendAlways | Cmd::AppendInterval => {
            c.args(["append", "--batch", &BATCH.to_string(), "--sync"])
                .arg(if cmd == Cmd::AppendAlways {
                    "always"
                } else {
                    "interval"
                })
                .arg("-d")
                .arg(data)
                .arg(&f.append_input);
        }
        Cmd::Flush => {
            c.arg("flush").arg("-d").arg(data);
        }
        Cmd::Compact => {
            c.arg("compact").arg("-d").arg(data);
        }
        Cmd::Truncate => {
            c.args(["truncate", "--before", &TRUNCATE_BEFORE.to_string(), "-d"])
                .arg(data);
        }
        Cmd::Delete => {
            c.args(["delete", "--match", DELETED, "-d"]).arg(data);
        }
        Cmd::Import => {
            c.args(["import", "openmetrics"]).arg(&f.om_input).arg(data);
        }
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// A fresh directory for one run of `cmd`: a copy of the fixture (the import starts from nothing).
fn prepare(f: &Fixture, cmd: Cmd, data: &Path) {
    if cmd != Cmd::Import {
        copy_dir(&f.base, data);
    }
}

/// Names under `dir` (recursively) that a writable open must have removed.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return v;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".tmp") || name.ends_with(".tmp-for-deletion") {
            v.push(p.display().to_string());
        }
        if p.is_dir() {
            v.extend(leftovers(&p));
        }
    }
    v
}

/// xorshift64*: small, seeded, good enough to spread kill delays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// Checks the state after a kill of `cmd` (the writable open done): `got` is `dump`'s output.
fn check(f: &Fixture, cmd: Cmd, got: &Dump) -> Result<(), String> {
    let base_has = |l: &str, t: i64| f.base_dump.get(l).and_then(|m| m.get(&t));
    match cmd {
        Cmd::Flush | Cmd::Compact => {
            if got != &f.base_dump {
                return Err(diff(&f.base_dump, got));
            }
        }
        Cmd::Truncate | Cmd::Delete => {
            let removable = |l: &str, t: i64| match cmd {
                Cmd::Truncate => t < TRUNCATE_BEFORE,
                _ => l == "{__name__=\"m\", s=\"3\"}",
            };
            for (l, m) in got {
                for (t, v) in m {
                    if base_has(l, *t) != Some(v) {
                        return Err(format!("invented {l} {v} {t}"));
                    }
                }
            }
            for (l, m) in &f.base_dump {
                for (t, v) in m {
                    if !removable(l, *t) && got.get(l).and_then(|g| g.get(t)) != Some(v) {
                        return Err(format!("lost {l} {v} {t}, which {} keeps", cmd.name()));
                    }
                }
            }
        }
        Cmd::AppendAlways | Cmd::AppendInterval => {
            // The fixture's samples are acknowledged: all there, unchanged.
            for (l, m) in &f.base_dump {
                for (t, v) in m {
                    if got.get(l).and_then(|g| g.get(t)) != Some(v) {
                        return Err(format!("acknowledged sample lost: {l} {v} {t}"));
                    }
                }
            }
            // Of the killed append's input: a prefix in input order, whole commits only.
            let new = |l: &str, t: i64| {
                got.get(l)
                    .and_then(|g| g.get(&t))
                    .filter(|_| base_has(l, t).is_none())
            };
            let n = f
                .append_order
                .iter()
                .take_while(|(l, t)| new(l, *t).is_some())
                .count();
            if let Some((l, t)) = f.append_order[n..]
                .iter()
                .find(|(l, t)| new(l, *t).is_some())
            {
                return Err(format!(
                    "not a prefix: {l} at {t} is there but sample {n} of the input is not"
                ));
            }
            if n % BATCH != 0 && n != f.append_order.len() {
                return Err(format!(
                    "{n} samples of the input are there: not whole commits of {BATCH}"
                ));
            }
            for (l, t) in &f.append_order[..n] {
                let want = f.append_values.get(l).and_then(|m| m.get(t));
                if new(l, *t) != want {
                    return Err(format!("{l} at {t}: value {:?}, want {want:?}", new(l, *t)));
                }
            }
            let total: usize = got.values().map(BTreeMap::len).sum();
            let base_total: usize = f.base_dump.values().map(BTreeMap::len).sum();
            if total != base_total + n {
                return Err(format!(
                    "{total} samples, want {base_total} acknowledged + {n} of the input: invented samples"
                ));
            }
        }
        Cmd::Import => {
            // Whole 2 h blocks of the complete import, nothing else.
            let range = |t: i64| t.div_euclid(7_200_000);
            let mut ranges: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
            for (l, m) in &f.import_dump {
                for (t, v) in m {
                    let e = ranges.entry(range(*t)).or_default();
                    e.0 += 1;
                    if got.get(l).and_then(|g| g.get(t)) == Some(v) {
                        e.1 += 1;
                    }
                }
            }
            for (r, (all, present)) in &ranges {
                if *present != 0 && present != all {
                    return Err(format!(
                        "block range {r}: {present} of {all} samples: a partial block"
                    ));
                }
            }
            for (l, m) in got {
                for (t, v) in m {
                    if f.import_dump.get(l).and_then(|g| g.get(t)) != Some(v) {
                        return Err(format!("invented {l} {v} {t}"));
                    }
                }
            }
        }
    }
    Ok(())
}

fn diff(want: &Dump, got: &Dump) -> String {
    for (l, m) in want {
        for (t, v) in m {
            if got.get(l).and_then(|g| g.get(t)) != Some(v) {
                return format!("lost {l} {v} {t}");
            }
        }
    }
    for (l, m) in got {
        for (t, v) in m {
            if want.get(l).and_then(|g| g.get(t)) != Some(v) {
                return format!("invented {l} {v} {t}");
            }
        }
    }
    "same samples".into()
}

/// The next writable open and the read-back: `append` of nothing, no leftovers, `dump`. Returns what
/// `dump` printed.
fn recover(data: &Path) -> Result<Dump, String> {
    let o = cli_in(
        None,
        [
            "append".as_ref(),
            "-d".as_ref(),
            data.as_os_str(),
            "-".as_ref(),
        ],
        b"",
    );
    if o.status.code() != Some(0) {
        return Err(format!(
            "the writable open after the kill failed ({:?}): {}",
            o.status.code(),
            stderr(&o)
        ));
    }
    let left = leftovers(data);
    if !left.is_empty() {
        return Err(format!("leftovers after the writable open: {left:?}"));
    }
    let o = cli(["dump".as_ref(), "-d".as_ref(), data.as_os_str()]);
    if o.status.code() != Some(0) || stderr(&o).contains("warning") {
        return Err(format!(
            "dump after the kill: exit {:?}: {}",
            o.status.code(),
            stderr(&o)
        ));
    }
    parse_dump(&stdout(&o))
}

/// One command's tally.
#[derive(Default)]
struct Tally {
    runtime: Duration,
    kills: usize,
    /// Runs that ended before the kill (counted apart; not kills).
    finished_first: usize,
    /// Kills that left `*.tmp` behind (the kill landed while a file or block was being written).
    tmp_left: usize,
    passed: usize,
    /// Wall time of the command's part of the matrix.
    elapsed: Duration,
    failures: Vec<String>,
}

/// Runs `cmd` once unkilled (its runtime; the import's complete result), then kills it `KILLS` times.
fn run_command(f: &Fixture, cmd: Cmd, work: &Path, seed: u64, counter: &AtomicUsize) -> Tally {
    let mut t = Tally::default();
    let started = Instant::now();
    let dir =
        |counter: &AtomicUsize| work.join(format!("d{}", counter.fetch_add(1, Ordering::Relaxed)));
    // Measure (median of three) and check the unkilled run.
    let mut times = Vec::new();
    for _ in 0..3 {
        let data = dir(counter);
        prepare(f, cmd, &data);
        let start = Instant::now();
        let o = command(f, cmd, &data).output().unwrap();
        times.push(start.elapsed());
        assert!(
            o.status.success(),
            "{} without a kill: {}",
            cmd.name(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    times.sort();
    t.runtime = times[1];
    let mut rng = Rng(seed ^ (cmd as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut attempts = 0;
    while t.kills < KILLS && attempts < KILLS * 3 {
        attempts += 1;
        let data = dir(counter);
        prepare(f, cmd, &data);
        // Within the first 80 % of the runtime: the end (closing, printing) is the same for all.
        let delay = Duration::from_micros(rng.below(t.runtime.as_micros() as u64 * 4 / 5));
        let mut child = command(f, cmd, &data).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        if out.status.signal() != Some(9) {
            t.finished_first += 1;
            assert!(
                out.status.success(),
                "{} failed unkilled: {}",
                cmd.name(),
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        }
        t.kills += 1;
        if !leftovers(&data).is_empty() {
            t.tmp_left += 1;
        }
        let r = recover(&data).and_then(|got| check(f, cmd, &got));
        match r {
            Ok(()) => t.passed += 1,
            Err(e) => t.failures.push(format!(
                "{} killed after {delay:?} (seed {seed}, kill {}): {e}",
                cmd.name(),
                t.kills
            )),
        }
        let _ = std::fs::remove_dir_all(&data);
    }
    t.elapsed = started.elapsed();
    t
}

/// Runs `cmd` on `data` unkilled and asserts it succeeds.
fn succeeds(f: &Fixture, cmd: Cmd, data: &Path) {
    let o = command(f, cmd, data).output().unwrap();
    assert!(
        o.status.success(),
        "{} without a kill: {:?}: {}",
        cmd.name(),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn sigkill_at_random_moments_of_every_writing_command() {
    let seed = std::env::var("TSDB_CRASH_MATRIX_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let mut f = fixture();
    let work = tempfile::tempdir().unwrap();
    let counter = AtomicUsize::new(0);

    // Expected results of the unkilled commands that have their own: the appended values, the import.
    let probe = work.path().join("probe-append");
    prepare(&f, Cmd::AppendAlways, &probe);
    succeeds(&f, Cmd::AppendAlways, &probe);
    let full = parse_dump(&ok(["dump", "-d", probe.to_str().unwrap()])).unwrap();
    for (l, t) in &f.append_order {
        let v = full[l][t].clone();
        f.append_values.entry(l.clone()).or_default().insert(*t, v);
    }
    let probe = work.path().join("probe-import");
    succeeds(&f, Cmd::Import, &probe);
    f.import_dump = parse_dump(&ok(["dump", "-d", probe.to_str().unwrap()])).unwrap();
    assert_eq!(
        f.import_dump.values().map(BTreeMap::len).sum::<usize>(),
        SERIES * 8 * 120
    );
    // The unkilled flush, compact, truncate and delete end where `check` says they may.
    for cmd in [Cmd::Flush, Cmd::Compact, Cmd::Truncate, Cmd::Delete] {
        let d = work.path().join(format!("probe-{}", cmd as u8));
        prepare(&f, cmd, &d);
        succeeds(&f, cmd, &d);
        let got = parse_dump(&ok(["dump", "-d", d.to_str().unwrap()])).unwrap();
        check(&f, cmd, &got).unwrap();
        if cmd == Cmd::Compact {
            let blocks = BTreeSet::from_iter(std::fs::read_dir(&d).unwrap().filter_map(|e| {
                let e = e.unwrap();
                e.path().join("meta.json").is_file().then(|| e.file_name())
            }));
            assert!(blocks.len() > 2, "compact persisted nothing: {blocks:?}");
        }
    }

    // Two workers, the commands dealt out alternately.
    let tallies: Vec<(Cmd, Tally)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|w| {
                let (f, work, counter) = (&f, work.path(), &counter);
                s.spawn(move || {
                    Cmd::ALL
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % 2 == w)
                        .map(|(_, &c)| (c, run_command(f, c, work, seed, counter)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });

    let mut failures = Vec::new();
    let mut kills = 0;
    for cmd in Cmd::ALL {
        let (_, t) = tallies.iter().find(|(c, _)| *c == cmd).unwrap();
        kills += t.kills;
        eprintln!(
            "crash matrix: {:<24} {:>3} kills, {:>3} checks passed ({} left *.tmp behind, all removed by \
             the next open; {} runs finished before their kill; runtime \
             {:.0?}; {:.1?} in all)",
            cmd.name(),
            t.kills,
            t.passed,
            t.tmp_left,
            t.finished_first,
            t.runtime,
            t.elapsed
        );
        if t.kills < KILLS {
            failures.push(format!(
                "{}: only {} of {KILLS} kills landed (seed {seed})",
                cmd.name(),
                t.kills
            ));
        }
        failures.extend(t.failures.iter().cloned());
    }
    eprintln!("crash matrix: {kills} kills in all, seed {seed}");
    assert!(
        failures.is_empty(),
        "{} failures (seed {seed}; TSDB_CRASH_MATRIX_SEED={seed} replays it):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `compact` that persists blocks from the head and merges them with older blocks in the same run lists
/// what it did and succeeds (it failed reading the `meta.json` of a persisted block merged away meanwhile).
#[test]
fn compact_that_persists_and_merges_in_one_run_succeeds() {
    let f = fixture();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("d");
    prepare(&f, Cmd::Compact, &data);
    let o = command(&f, Cmd::Compact, &data)
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("persisted 1 block from the head:")
            && out.contains("compacted in this run into the blocks below")
            && out.contains("compacted into 1 block:"),
        "{out}"
    );
    let got = parse_dump(&ok(["dump", "-d", data.to_str().unwrap()])).unwrap();
    assert_eq!(got, f.base_dump);
}

/// A `delete` or `truncate` killed while it rewrites a block's `tombstones` or `meta.json` leaves
/// `ULID/tombstones.tmp` or `ULID/meta.json.tmp`: the next writable open removes them.
#[test]
fn block_file_tmp_leftovers_are_removed_by_the_writable_open() {
    let f = fixture();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("d");
    prepare(&f, Cmd::Delete, &data);
    let block = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("meta.json").is_file())
        .unwrap();
    for name in ["tombstones.tmp", "meta.json.tmp"] {
        std::fs::write(block.join(name), b"half written").unwrap();
    }
    assert_eq!(recover(&data).unwrap(), f.base_dump);
}
