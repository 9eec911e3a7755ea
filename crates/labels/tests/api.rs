//! The crate's public contract, as other crates rely on it.

use std::collections::HashSet;

use tsdb_labels::{
    parse_labels, parse_selector, Labels, LabelsBuilder, LabelsError, MatchOp, Matcher,
};

#[test]
fn labels_new_validates_sorts_and_drops_empty_values() {
    let s = Labels::new(vec![
        ("zone".to_string(), "eu".to_string()),
        ("empty".to_string(), String::new()),
        ("__name__".to_string(), "up".to_string()),
    ])
    .unwrap();
    assert_eq!(
        s.iter().collect::<Vec<_>>(),
        [("__name__", "up"), ("zone", "eu")]
    );
    assert_eq!(s.get("empty"), None);
    assert_eq!(s.metric_name(), Some("up"));
    assert_eq!(s.encoded_size(), "__name__upzoneeu".len());

    let err = Labels::new([("ok", "1"), ("0bad", "2")]).unwrap_err();
    assert_eq!(
        err,
        LabelsError::InvalidName {
            name: "0bad".into()
        }
    );
    assert!(err.to_string().contains("\"0bad\""));
    let err = Labels::new([("x", "1"), ("x", "2")]).unwrap_err();
    assert_eq!(err, LabelsError::DuplicateName { name: "x".into() });
    assert!(err.to_string().contains("\"x\""));
}

#[test]
fn round_trip_through_iter() {
    let s = Labels::new([("b", "2"), ("a", "1"), ("c", "日本")]).unwrap();
    let again = Labels::new(s.iter()).unwrap();
    assert_eq!(again, s);
    assert_eq!(again.stable_hash(), s.stable_hash());
    let cloned = s.clone();
    assert_eq!(cloned, s);
    let mut set = HashSet::new();
    set.insert(s.clone());
    assert!(set.contains(&again));
    assert_eq!(s.iter().len(), 3);
    assert_eq!((&s).into_iter().count(), 3);
}

#[test]
fn ordering_sorts_series_like_prometheus() {
    let mut v: Vec<Labels> = [
        r#"{a="2"}"#,
        r#"{a="1", b="1"}"#,
        r#"{a="1"}"#,
        r#"{b="0"}"#,
        r#"{}"#,
        r#"{a="10"}"#,
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    v.sort();
    let printed: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert_eq!(
        printed,
        [
            r#"{}"#,
            r#"{a="1"}"#,
            r#"{a="1", b="1"}"#,
            r#"{a="10"}"#,
            r#"{a="2"}"#,
            r#"{b="0"}"#
        ]
    );
}

#[test]
fn builder_edits() {
    let base: Labels = r#"{__name__="up", job="node"}"#.parse().unwrap();
    let mut b = LabelsBuilder::from(&base);
    b.set("job", "api").set("env", "prod").del("__name__");
    assert_eq!(b.build().unwrap().to_string(), r#"{env="prod", job="api"}"#);
    assert_eq!(base.without("job").to_string(), r#"{__name__="up"}"#);
}

#[test]
fn matcher_semantics() {
    let series: Labels = r#"{__name__="up", job="node", instance="a:1"}"#.parse().unwrap();
    let check =
        |op, name: &str, v: &str| Matcher::new(op, name, v).unwrap().matches_labels(&series);

    assert!(check(MatchOp::Equal, "job", "node"));
    assert!(!check(MatchOp::Equal, "job", "nod"));
    assert!(check(MatchOp::NotEqual, "job", "api"));
    assert!(check(MatchOp::RegexMatch, "job", "no.e"));
    assert!(!check(MatchOp::RegexMatch, "job", "no")); // anchored at the end
    assert!(!check(MatchOp::RegexMatch, "job", "ode")); // anchored at the start
    assert!(check(MatchOp::RegexMatch, "job", "api|node"));
    assert!(check(MatchOp::RegexNoMatch, "job", "api|web"));
    assert!(!check(MatchOp::RegexNoMatch, "job", "n.*"));
    // Absent labels read as "".
    assert!(check(MatchOp::Equal, "zone", ""));
    assert!(!check(MatchOp::NotEqual, "zone", ""));
    assert!(check(MatchOp::RegexMatch, "zone", ".*"));
    assert!(!check(MatchOp::RegexMatch, "zone", ".+"));
    assert!(check(MatchOp::RegexNoMatch, "zone", "eu"));

    let m = Matcher::new(MatchOp::RegexMatch, "a", "x").unwrap();
    assert_eq!(m.name(), "a");
    assert_eq!(m.op(), MatchOp::RegexMatch);
    assert_eq!(m.value(), "x");
    assert!(m.matches("x"));
    assert!(!m.matches("xx"));
    assert!(!m.matches_empty());
}

#[test]
fn selectors() {
    let ms = parse_selector(r#"http_requests_total{code=~"2..", method!="GET",}"#).unwrap();
    let printed: Vec<String> = ms.iter().map(ToString::to_string).collect();
    assert_eq!(
        printed,
        [
            r#"__name__="http_requests_total""#,
            r#"code=~"2..""#,
            r#"method!="GET""#
        ]
    );
    let ok: Labels = r#"{__name__="http_requests_total", code="200", method="POST"}"#
        .parse()
        .unwrap();
    let get: Labels = r#"{__name__="http_requests_total", code="200", method="GET"}"#
        .parse()
        .unwrap();
    assert!(ms.iter().all(|m| m.matches_labels(&ok)));
    assert!(!ms.iter().all(|m| m.matches_labels(&get)));

    assert_eq!(
        parse_selector(r#"{job=~".*"}"#),
        Err(LabelsError::EmptySelector)
    );
    let e = parse_selector("up{job=\"x\"").unwrap_err();
    assert_eq!(
        e,
        LabelsError::Parse {
            pos: 10,
            reason: "expected \",\" or \"}\", found end of input".into()
        }
    );
    assert!(parse_labels(r#"{job=~"x"}"#).is_err());
}
