//! Evaluation on a small database: hand-checked answers for the evaluator's own paths (the conformance
//! suite under `tests/` holds Prometheus's answers for the language at large).

use tsdb::{Db, Options};
use tsdb_labels::Labels;

use crate::{Engine, QueryOptions, Value};

/// A series for [`db_with`]: its label pairs and its samples.
type TestSeries<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

fn db_with(series: &[TestSeries<'_>]) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let mut app = db.appender();
    for (labels, samples) in series {
        let l = Labels::new(labels.iter().copied()).expect("labels");
        for &(t, v) in *samples {
            app.append(&l, t, v).expect("append");
        }
    }
    app.commit().expect("commit");
    (dir, db)
}

fn instant(db: &Db, q: &str, t: i64) -> Value {
    Engine::default()
        .instant(db, q, t, &QueryOptions::default())
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .value
}

fn vector(v: Value) -> Vec<(String, f64)> {
    match v {
        Value::Vector(s) => s.into_iter().map(|s| (s.labels.to_string(), s.v)).collect(),
        other => panic!("not a vector: {other:?}"),
    }
}

fn counters() -> (tempfile::TempDir, Db) {
    let a: Vec<(i64, f64)> = (0..=20).map(|i| (i * 60_000, i as f64 * 10.0)).collect();
    let b: Vec<(i64, f64)> = (0..=20).map(|i| (i * 60_000, i as f64)).collect();
    db_with(&[
        (&[("__name__", "req"), ("job", "a"), ("i", "1")], &a),
        (&[("__name__", "req"), ("job", "b"), ("i", "1")], &b),
        (
            &[("__name__", "up"), ("job", "a")],
            &[(0, 1.0), (600_000, 1.0)],
        ),
    ])
}

#[test]
fn selector_lookback_and_arithmetic() {
    let (_d, db) = counters();
    assert_eq!(
        vector(instant(&db, "req", 300_000)),
        vec![
            ("{__name__=\"req\", i=\"1\", job=\"a\"}".into(), 50.0),
            ("{__name__=\"req\", i=\"1\", job=\"b\"}".into(), 5.0)
        ]
    );
    // Lookback: the sample at 10m is seen until 15m, both ends included.
    assert_eq!(vector(instant(&db, "up", 900_000)).len(), 1);
    assert_eq!(vector(instant(&db, "up", 900_001)).len(), 0);
    assert_eq!(
        vector(instant(&db, "req{job=\"a\"} * 2 + 1", 60_000)),
        vec![("{i=\"1\", job=\"a\"}".into(), 21.0)]
    );
    assert_eq!(
        vector(instant(&db, "req offset 2m", 300_000))[1].1,
        3.0,
        "offset reads 2 minutes earlier"
    );
    assert_eq!(vector(instant(&db, "req @ 120", 1_000_000))[1].1, 2.0);
}

#[test]
fn aggregations_and_matching() {
    let (_d, db) = counters();
    assert_eq!(
        vector(instant(&db, "sum(req)", 60_000)),
        vec![("{}".into(), 11.0)]
    );
    assert_eq!(
        vector(instant(&db, "count by (job) (req)", 60_000)),
        vec![("{job=\"a\"}".into(), 1.0), ("{job=\"b\"}".into(), 1.0)]
    );
    assert_eq!(
        vector(instant(&db, "req / on(job) group_left up", 60_000)),
        vec![("{i=\"1\", job=\"a\"}".into(), 10.0)]
    );
    assert_eq!(
        vector(instant(&db, "req > 5", 60_000)),
        vec![("{__name__=\"req\", i=\"1\", job=\"a\"}".into(), 10.0)]
    );
    assert_eq!(
        vector(instant(&db, "req > bool 5", 60_000)),
        vec![
            ("{i=\"1\", job=\"a\"}".into(), 1.0),
            ("{i=\"1\", job=\"b\"}".into(), 0.0)
        ]
    );
    assert_eq!(vector(instant(&db, "up and on(job) req", 60_000)).len(), 1);
    assert_eq!(
        vector(instant(&db, "req unless on(job) up", 60_000)).len(),
        1
    );
    let e = Engine::default()
        .instant(&db, "req + on() up", 60_000, &QueryOptions::default())
        .expect_err("many-to-one without group_left");
    assert_eq!(e.error_type(), "execution");
}

#[test]
fn range_queries_and_subqueries() {
    let (_d, db) = counters();
    let r = Engine::default()
        .range(
            &db,
            "sum(req)",
            0,
            600_000,
            60_000,
            &QueryOptions::default(),
        )
        .expect("range");
    match r.value {
        Value::Matrix(m) => {
            assert_eq!(m.len(), 1);
            assert_eq!(m[0].points.len(), 11);
            assert_eq!(m[0].points[10], (600_000, 110.0));
        }
        other => panic!("{other:?}"),
    }
    let v = instant(&db, "max_over_time(sum(req)[5m:1m])", 600_000);
    assert!(matches!(v, Value::Vector(_)));
    let v = instant(&db, "req[2m]", 600_000);
    match v {
        Value::Matrix(m) => assert_eq!(m[0].points.len(), 3, "both ends included"),
        other => panic!("{other:?}"),
    }
    let e = Engine::default()
        .range(&db, "req[5m]", 0, 60_000, 1000, &QueryOptions::default())
        .expect_err("matrix in a range query");
    assert_eq!(e.error_type(), "bad_data");
}

#[test]
fn sample_limit_and_parse_errors() {
    let (_d, db) = counters();
    let engine = Engine::new(crate::EngineOptions {
        max_samples: 5,
        ..Default::default()
    });
    let e = engine
        .range(&db, "req", 0, 600_000, 60_000, &QueryOptions::default())
        .expect_err("over the limit");
    assert_eq!(
        e.to_string(),
        "query processing would load too many samples into memory in query execution"
    );
    for q in ["sum(", "nosuch(req)", "req[5x]", ""] {
        let e = Engine::default()
            .instant(&db, q, 0, &QueryOptions::default())
            .expect_err(q);
        assert_eq!(e.error_type(), "bad_data", "{q}: {e}");
    }
}

#[test]
fn absent_and_labels() {
    let (_d, db) = counters();
    assert_eq!(
        vector(instant(&db, "absent(nothing{job=\"x\", a=~\"y\"})", 0)),
        vec![("{job=\"x\"}".into(), 1.0)]
    );
    assert!(vector(instant(&db, "absent(req)", 0)).is_empty());
    assert_eq!(
        vector(instant(
            &db,
            "label_replace(up, \"dst\", \"x-$1\", \"job\", \"(.*)\")",
            0
        )),
        vec![("{__name__=\"up\", dst=\"x-a\", job=\"a\"}".into(), 1.0)]
    );
    assert_eq!(
        vector(instant(&db, "timestamp(up)", 60_000)),
        vec![("{job=\"a\"}".into(), 0.0)]
    );
}
