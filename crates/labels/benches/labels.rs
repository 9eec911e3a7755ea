//! Hot-path costs: building a set, hashing, lookups, equality, matching.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tsdb_labels::{parse_selector, Labels, MatchOp, Matcher};

const PAIRS: [(&str, &str); 6] = [
    ("__name__", "http_requests_total"),
    ("method", "GET"),
    ("code", "200"),
    ("handler", "/api/v1/query"),
    ("instance", "10.0.0.1:9090"),
    ("job", "prometheus"),
];

fn labels(c: &mut Criterion) {
    let l = Labels::new(PAIRS).unwrap();
    let other = Labels::new(PAIRS).unwrap();
    c.bench_function("labels/new_6", |b| b.iter(|| Labels::new(black_box(PAIRS))));
    c.bench_function("labels/stable_hash_6", |b| {
        b.iter(|| black_box(&l).stable_hash())
    });
    c.bench_function("labels/get_6", |b| {
        b.iter(|| black_box(&l).get(black_box("job")))
    });
    c.bench_function("labels/iter_6", |b| {
        b.iter(|| {
            black_box(&l)
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>()
        })
    });
    c.bench_function("labels/eq_6", |b| {
        b.iter(|| black_box(&l) == black_box(&other))
    });
    c.bench_function("labels/clone_6", |b| b.iter(|| black_box(&l).clone()));
    c.bench_function("labels/display_6", |b| b.iter(|| black_box(&l).to_string()));
}

fn matchers(c: &mut Criterion) {
    let l = Labels::new(PAIRS).unwrap();
    let set = Matcher::new(MatchOp::RegexMatch, "method", "GET|POST|PUT").unwrap();
    let re = Matcher::new(MatchOp::RegexMatch, "handler", "/api/v[0-9]+/.*y").unwrap();
    c.bench_function("matcher/set", |b| {
        b.iter(|| black_box(&set).matches_labels(&l))
    });
    c.bench_function("matcher/regex", |b| {
        b.iter(|| black_box(&re).matches_labels(&l))
    });
    c.bench_function("selector/parse", |b| {
        b.iter(|| {
            parse_selector(black_box(
                r#"http_requests_total{code=~"2..", method!="GET"}"#,
            ))
        })
    });
}

criterion_group!(benches, labels, matchers);
criterion_main!(benches);
