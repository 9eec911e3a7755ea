//! Referee for the wlog mode, both directions, with Debian's Prometheus 2.42:
//! - a WAL we write in wlog mode (several segments and a checkpoint of ours) is replayed by
//!   `promtool tsdb dump`, which must print every sample we wrote (NaN, ±Inf, −0, unicode and quotes in
//!   labels);
//! - a WAL a real `prometheus` wrote (scraping itself each second, with 2 s blocks so that it checkpoints,
//!   then killed with SIGKILL) is read by our reader, which must find exactly the samples `promtool tsdb dump`
//!   finds in its head; then our writer appends to that log, and promtool must find both.
//!
//! Needs `prometheus` and `promtool` on `PATH`. Without them the tests are skipped with a note, unless
//! `TSDB_INTEROP=require`, in which case they fail.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tsdb_labels::Labels;
use tsdb_wal::wlog::PAGE_SIZE;
use tsdb_wal::{
    Batch, Record, RefSample, RefSeries, SyncPolicy, Wal, WalMode, WalOptions, WalReader,
};

type LabelMap = BTreeMap<String, String>;
type Dump = BTreeMap<LabelMap, Vec<(i64, f64)>>;

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The tool, or `None` (after a note) when it is absent and not required.
fn tool(name: &str) -> Option<PathBuf> {
    let require = std::env::var("TSDB_INTEROP").is_ok_and(|v| v == "require");
    match find_in_path(name) {
        Some(p) => Some(p),
        None if require => panic!("TSDB_INTEROP=require but `{name}` was not found on PATH (Debian: apt-get install prometheus)"),
        None => {
            eprintln!("skipping: {name} not found (set TSDB_INTEROP=require to make this an error)");
            None
        }
    }
}

/// Kills and reaps a child when dropped, also when the test panics.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tail(path: &Path) -> String {
    let t = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = t.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Runs `promtool tsdb dump DIR`, bounded to two minutes; returns its output.
fn promtool_dump(promtool: &Path, data: &Path, scratch: &Path) -> String {
    let out = scratch.join("dump.out");
    let err = scratch.join("dump.err");
    let child = Command::new(promtool)
        .args(["tsdb", "dump"])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .expect("start promtool");
    let mut g = Guard(child);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = g.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "promtool tsdb dump did not finish in 120 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "promtool tsdb dump failed ({status}):\n{}",
        tail(&err)
    );
    std::fs::read_to_string(&out).unwrap()
}

/// Parses a Go-quoted string (`strconv.Quote`) at the start of `s`; returns it and the rest.
fn go_unquote(s: &str) -> Option<(String, &str)> {
    let mut it = s.strip_prefix('"')?.char_indices();
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => {
                let (_, e) = it.next()?;
                let hex = |it: &mut std::str::CharIndices, n: usize| -> Option<u32> {
                    let mut v = 0;
                    for _ in 0..n {
                        v = v * 16 + it.next()?.1.to_digit(16)?;
                    }
                    Some(v)
                };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'x' => out.push(char::from_u32(hex(&mut it, 2)?)?),
                    'u' => out.push(char::from_u32(hex(&mut it, 4)?)?),
                    'U' => out.push(char::from_u32(hex(&mut it, 8)?)?),
                    _ => return None,
                }
            }
            c => out.push(c),
        }
    }
    None
}

/// Parses one `{a="b", c="d"} value timestamp` line of `promtool tsdb dump`.
fn parse_line(line: &str) -> Option<(LabelMap, f64, i64)> {
    let mut rest = line.strip_prefix('{')?;
    let mut m = LabelMap::new();
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            rest = r;
            break;
        }
        let eq = rest.find('=')?;
        let name = rest[..eq].to_string();
        let (value, r) = go_unquote(&rest[eq + 1..])?;
        m.insert(name, value);
        rest = r.strip_prefix(", ").unwrap_or(r);
    }
    let mut f = rest.split_whitespace();
    let v = match f.next()? {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().ok()?,
    };
    let t = f.next()?.parse().ok()?;
    f.next().is_none().then_some((m, v, t))
}

fn parse_dump(text: &str) -> Dump {
    let mut d = Dump::new();
    for (i, line) in text.lines().enumerate() {
        let (m, v, t) = parse_line(line)
            .unwrap_or_else(|| panic!("dump line {}: cannot parse {line:?}", i + 1));
        d.entry(m).or_default().push((t, v));
    }
    d
}

fn label_map(l: &Labels) -> LabelMap {
    l.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

/// Compares two dumps sample by sample; the message names the first differences.
fn compare(what: &str, got: &Dump, want: &Dump) {
    let mut diffs = Vec::new();
    for (l, w) in want {
        match got.get(l) {
            None => diffs.push(format!("series {l:?} missing")),
            Some(g) => {
                if g.len() != w.len() || g.iter().zip(w).any(|(a, b)| a.0 != b.0 || !same(a.1, b.1))
                {
                    diffs.push(format!(
                        "series {l:?}: got {} samples {:?}…, want {} {:?}…",
                        g.len(),
                        &g[..g.len().min(3)],
                        w.len(),
                        &w[..w.len().min(3)]
                    ));
                }
            }
        }
    }
    for l in got.keys().filter(|l| !want.contains_key(*l)) {
        diffs.push(format!("unexpected series {l:?}"));
    }
    assert!(
        diffs.is_empty(),
        "{what}: {} differences, first: {:#?}",
        diffs.len(),
        &diffs[..diffs.len().min(8)]
    );
}

// ---------------------------------------------------------------------------------------------------------
// Our wlog, replayed by promtool.

const SPECIALS: &[f64] = &[
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    -0.0,
    0.0,
    5e-324,
    f64::MAX,
    -1.5e300,
    0.1,
    1e21,
];

fn dataset(now: i64) -> (Vec<RefSeries>, Vec<Vec<RefSample>>) {
    let values = [
        "plain",
        "日本語 ✓",
        "with \"quotes\"",
        "back\\slash",
        "new\nline",
        "tab\there",
        "émoji 🦀",
        "\u{7f}del",
        "\u{1}ctl",
    ];
    let series: Vec<RefSeries> = (0..60u64)
        .map(|i| {
            let name = format!("wlog_interop_metric_{}", i % 7);
            let inst = format!("host-{i}");
            let v = values[i as usize % values.len()];
            RefSeries {
                series: 1000 + i * 3,
                labels: Labels::new([
                    ("__name__", name.as_str()),
                    ("instance", inst.as_str()),
                    ("text", v),
                ])
                .unwrap(),
            }
        })
        .collect();
    let mut rounds = Vec::new();
    let mut x = 0x1234_5678_9abc_def1u64;
    for r in 0..160i64 {
        let t = now - (160 - r) * 15_000;
        rounds.push(
            series
                .iter()
                .enumerate()
                .map(|(k, s)| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let v = match (k + r as usize) % 5 {
                        0 => SPECIALS[(x % SPECIALS.len() as u64) as usize],
                        1 => (x % 1000) as f64,
                        2 => f64::from_bits(x >> 2),
                        _ => r as f64 * 0.25 - k as f64,
                    };
                    RefSample {
                        series: s.series,
                        t,
                        v,
                    }
                })
                .collect(),
        );
    }
    (series, rounds)
}

#[test]
fn promtool_replays_our_wlog() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let wal_dir = data.join("wal");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (series, rounds) = dataset(now);
    let opts = WalOptions {
        mode: WalMode::Wlog,
        segment_size: PAGE_SIZE,
        sync: SyncPolicy::Never,
        ..WalOptions::default()
    };
    // First half, then a checkpoint of ours keeping everything, then the second half.
    let wal = Wal::open(&wal_dir, opts.clone()).unwrap();
    wal.log(Batch {
        series: &series[..30],
        ..Batch::default()
    })
    .unwrap();
    for (i, r) in rounds[..80].iter().enumerate() {
        let new = if i == 10 { &series[30..] } else { &[][..] };
        let samples: Vec<RefSample> = r
            .iter()
            .filter(|s| i >= 10 || s.series < series[30].series)
            .copied()
            .collect();
        wal.log(Batch {
            series: new,
            samples: &samples,
            ..Batch::default()
        })
        .unwrap();
    }
    let last = wal.closed_segments().last().expect("several segments").seq;
    wal.close().unwrap();
    let rep = tsdb_wal::wlog::checkpoint::checkpoint(&wal_dir, last, i64::MIN, &|_| true).unwrap();
    assert!(rep.checkpoint.is_some() && rep.samples_kept > 0, "{rep:?}");
    let wal = Wal::open(&wal_dir, opts).unwrap();
    for r in &rounds[80..] {
        wal.log_samples(r).unwrap();
    }
    wal.close().unwrap();

    let mut want = Dump::new();
    let by_ref: BTreeMap<u64, LabelMap> = series
        .iter()
        .map(|s| (s.series, label_map(&s.labels)))
        .collect();
    for (i, r) in rounds.iter().enumerate() {
        for s in r {
            if i < 10 && s.series >= series[30].series {
                continue;
            }
            want.entry(by_ref[&s.series].clone())
                .or_default()
                .push((s.t, s.v));
        }
    }
    let got = parse_dump(&promtool_dump(&promtool, &data, root.path()));
    compare("promtool tsdb dump of our wlog", &got, &want);
}

// ---------------------------------------------------------------------------------------------------------
// Prometheus's wlog, read by us.

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Largest `maxTime` of the blocks in `data` (`i64::MIN` if none): the head holds the samples from there on.
fn blocks_max_t(data: &Path) -> i64 {
    let mut m = i64::MIN;
    for e in std::fs::read_dir(data).unwrap() {
        let p = e.unwrap().path().join("meta.json");
        if let Ok(t) = std::fs::read_to_string(&p) {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            m = m.max(v["maxTime"].as_i64().unwrap());
        }
    }
    m
}

#[test]
fn we_read_the_wlog_prometheus_wrote() {
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let port = free_port();
    let cfg = root.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"),
    )
    .unwrap();
    let log = root.path().join("prometheus.log");
    let out = File::create(&log).unwrap();
    let child = Command::new(&prometheus)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        // Hidden flags: 2 s blocks, so that the head is compacted and the WAL checkpointed within seconds.
        .arg("--storage.tsdb.min-block-duration=2s")
        .arg("--storage.tsdb.max-block-duration=2s")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("start prometheus");
    let mut g = Guard(child);
    let wal_dir = data.join("wal");
    let start = Instant::now();
    loop {
        if let Some(s) = g.0.try_wait().unwrap() {
            panic!("prometheus exited ({s}):\n{}", tail(&log));
        }
        let has_cp = tsdb_wal::wlog::list(&wal_dir).is_ok_and(|l| !l.checkpoints.is_empty());
        if has_cp && start.elapsed() > Duration::from_secs(15) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no WAL checkpoint after 60 s:\n{}",
            tail(&log)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // SIGKILL: what is on disk is what a crash leaves.
    drop(g);

    assert_eq!(
        tsdb_wal::detect(&wal_dir).unwrap(),
        tsdb_wal::WalFormat::Wlog
    );
    let mut r = WalReader::open(&wal_dir).unwrap();
    assert!(r.is_wlog());
    assert!(r.checkpoint().is_some(), "the checkpoint is read first");
    let mut refs: BTreeMap<u64, LabelMap> = BTreeMap::new();
    let mut samples: Vec<RefSample> = Vec::new();
    let mut snappy = 0;
    while let Some(e) = r
        .next()
        .unwrap_or_else(|e| panic!("reading Prometheus's WAL: {e}"))
    {
        snappy += (e.flag == tsdb_wal::wlog::fragment::FLAG_SNAPPY) as u32;
        match e.record {
            Record::Series(s) => {
                for s in s {
                    refs.insert(s.series, label_map(&s.labels));
                }
            }
            Record::Samples(s) => samples.extend_from_slice(s),
            Record::Deletes(_) | Record::Symbols { .. } => {}
        }
    }
    eprintln!(
        "read {} series, {} samples, {} snappy records, skipped {:?}",
        refs.len(),
        samples.len(),
        snappy,
        r.skipped().by_type()
    );
    assert!(snappy > 0, "Prometheus compresses its WAL by default");
    assert!(refs
        .values()
        .any(|l| l.get("__name__").map(String::as_str) == Some("up")));

    // The head Prometheus would replay holds the samples from the newest block's end on: they must be
    // exactly what promtool finds there (and every sample must belong to a series we read).
    let min_t = blocks_max_t(&data);
    let mut ours = Dump::new();
    let mut seen = BTreeSet::new();
    for s in &samples {
        let l = refs
            .get(&s.series)
            .unwrap_or_else(|| panic!("sample of unknown series ref {}", s.series));
        if s.t >= min_t && seen.insert((s.series, s.t)) {
            ours.entry(l.clone()).or_default().push((s.t, s.v));
        }
    }
    for v in ours.values_mut() {
        v.sort_by_key(|x| x.0);
    }
    let mut theirs = parse_dump(&promtool_dump(&promtool, &data, root.path()));
    theirs.retain(|_, v| {
        v.retain(|x| x.0 >= min_t);
        !v.is_empty()
    });
    assert!(!ours.is_empty(), "no head samples");
    compare(
        "our reading of Prometheus's WAL vs promtool's",
        &ours,
        &theirs,
    );

    // Our writer continues Prometheus's log; promtool then finds both.
    let new_ref = refs.keys().max().copied().unwrap_or(0) + 1000;
    let labels = Labels::new([("__name__", "appended_by_tsdb_wal"), ("note", "wlog ✓")]).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let added: Vec<RefSample> = (0..10)
        .map(|i| RefSample {
            series: new_ref,
            t: now + i * 1000,
            v: i as f64 * 1.5,
        })
        .collect();
    let wal = Wal::open(
        &wal_dir,
        WalOptions {
            mode: WalMode::Wlog,
            sync: SyncPolicy::Never,
            ..WalOptions::default()
        },
    )
    .unwrap();
    wal.log(Batch {
        series: &[RefSeries {
            series: new_ref,
            labels: labels.clone(),
        }],
        samples: &added,
        ..Batch::default()
    })
    .unwrap();
    wal.close().unwrap();
    ours.insert(
        label_map(&labels),
        added.iter().map(|s| (s.t, s.v)).collect(),
    );
    let mut theirs = parse_dump(&promtool_dump(&promtool, &data, root.path()));
    theirs.retain(|_, v| {
        v.retain(|x| x.0 >= min_t);
        !v.is_empty()
    });
    compare(
        "promtool after our writer appended to Prometheus's WAL",
        &theirs,
        &ours,
    );
}
