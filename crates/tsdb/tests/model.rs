//! Queries agree with a simple in-memory model before and after persistence, compaction, restart, flush,
//! truncate and delete, across head and blocks.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use tsdb::{Db, Options};
use tsdb_labels::{Labels, Matcher};

const MIN: i64 = 60_000;

#[derive(Debug, Clone)]
enum Op {
    /// Advance time by `gap` minutes, then append one sample to each listed series.
    Append {
        gap: i64,
        series: Vec<u8>,
    },
    Maintain,
    Flush,
    Restart,
    /// Truncate at `frac` of the way through the data so far.
    Truncate {
        frac: f64,
    },
    /// Delete series `s` over `frac` of the data so far.
    Delete {
        s: u8,
        from: f64,
        len: f64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0i64..40, prop::collection::vec(0u8..8, 1..8))
            .prop_map(|(gap, series)| Op::Append { gap, series }),
        2 => Just(Op::Maintain),
        1 => Just(Op::Flush),
        1 => Just(Op::Restart),
        1 => (0.0f64..1.0).prop_map(|frac| Op::Truncate { frac }),
        1 => (0u8..8, 0.0f64..1.0, 0.0f64..0.5).prop_map(|(s, from, len)| Op::Delete { s, from, len }),
    ]
}

fn labels(s: u8) -> Labels {
    Labels::new([
        ("__name__", if s.is_multiple_of(2) { "even" } else { "odd" }),
        ("s", &s.to_string()),
    ])
    .unwrap()
}

type Model = BTreeMap<Labels, BTreeMap<i64, u64>>;

fn opts() -> Options {
    Options {
        block_range: 60 * MIN,
        background: false,
        head_chunk_file_size: 16 * 1024,
        wal_segment_size: 32 * 1024,
        ..Options::default()
    }
}

fn check(db: &Db, model: &Model) -> Result<(), TestCaseError> {
    let q = db.querier(i64::MIN, i64::MAX);
    let got: Model = q
        .select_all(&[])
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.labels,
                s.samples
                    .into_iter()
                    .map(|(t, v)| (t, v.to_bits()))
                    .collect(),
            )
        })
        .collect();
    let want: Model = model
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if got != want {
        let diff: Vec<String> = want
            .iter()
            .filter(|(k, v)| got.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k}: want {:?} got {:?}", v, got.get(k)))
            .take(3)
            .collect();
        prop_assert!(
            false,
            "query differs from the model: {} vs {} series: {:?}",
            got.len(),
            want.len(),
            diff
        );
    }
    // A matcher query agrees too.
    let m = Matcher::new(tsdb_labels::MatchOp::Equal, "__name__", "even").unwrap();
    let even = q.select_all(&[m]).unwrap();
    prop_assert_eq!(
        even.len(),
        want.keys()
            .filter(|l| l.get("__name__") == Some("even"))
            .count()
    );
    Ok(())
}

fn run(dir: &Path, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut db = Some(Db::open(dir, opts()).unwrap());
    let mut model = Model::new();
    let mut now = 1_700_000_000_000i64;
    let start = now;
    let mut floor = i64::MIN;
    for (i, op) in ops.iter().enumerate() {
        let d = db.as_ref().unwrap();
        match op {
            Op::Append { gap, series } => {
                now += gap * MIN + 1;
                let mut app = d.appender();
                for (k, &s) in series.iter().enumerate() {
                    let t = now + k as i64;
                    let v = (i * 100 + k) as f64 / 7.0;
                    if app.append(&labels(s), t, v).is_ok() {
                        model.entry(labels(s)).or_default().insert(t, v.to_bits());
                    }
                }
                app.commit().unwrap();
                now += series.len() as i64;
            }
            Op::Maintain => {
                d.maintain().unwrap();
            }
            Op::Flush => {
                d.flush().unwrap();
            }
            Op::Restart => {
                db.take().unwrap().close().unwrap();
                db = Some(Db::open(dir, opts()).unwrap());
            }
            Op::Truncate { frac } => {
                let mint = (start + ((now - start) as f64 * frac) as i64).max(floor);
                d.truncate(mint).unwrap();
                floor = mint;
                for s in model.values_mut() {
                    s.retain(|&t, _| t >= mint);
                }
            }
            Op::Delete { s, from, len } => {
                let a = start + ((now - start) as f64 * from) as i64;
                let b = a + ((now - start) as f64 * len) as i64;
                let m = Matcher::new(tsdb_labels::MatchOp::Equal, "s", s.to_string()).unwrap();
                d.delete(&[m], a, b).unwrap();
                if let Some(x) = model.get_mut(&labels(*s)) {
                    x.retain(|&t, _| t < a || t > b);
                }
            }
        }
        check(db.as_ref().unwrap(), &model)?;
    }
    db.take().unwrap().close().unwrap();
    let db = Db::open(dir, opts()).unwrap();
    check(&db, &model)?;
    db.close().unwrap();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn queries_match_the_model(ops in prop::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), &ops)?;
    }
}
