//! Property tests: random label sets survive construction, iteration, printing and
//! parsing, and regex shortcuts agree with the regex engine.

use proptest::prelude::*;
use regex::Regex;
use tsdb_labels::{parse_labels, parse_selector, Labels, MatchOp, Matcher};

fn label_name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,12}"
}

/// Any Unicode, with control characters, quotes and backslashes made likely.
fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9:./-]{1,12}",
        "[\"\\\\\n\t\r\x00-\x1f\x7f'`é日\u{feff}\u{a0}]{1,6}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
    ]
}

fn label_set() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map(label_name(), label_value(), 0..10)
        .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn new_iter_round_trip(mut pairs in label_set()) {
        // Input order must not matter.
        pairs.reverse();
        let l = Labels::new(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))).unwrap();
        pairs.sort();
        let got: Vec<(String, String)> = l.iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
        prop_assert_eq!(&got, &pairs);
        prop_assert_eq!(l.len(), pairs.len());
        for (n, v) in &pairs {
            prop_assert_eq!(l.get(n), Some(v.as_str()));
        }
        let again = Labels::new(l.iter()).unwrap();
        prop_assert_eq!(&again, &l);
        prop_assert_eq!(again.stable_hash(), l.stable_hash());
        let size: usize = pairs.iter().map(|(n, v)| n.len() + v.len()).sum();
        prop_assert_eq!(l.encoded_size(), size);
        // The text form parses back to the same set.
        prop_assert_eq!(parse_labels(&l.to_string()).unwrap(), l);
    }

    #[test]
    fn display_parses_to_matchers_of_exactly_that_set(name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,10}", pairs in label_set()) {
        let mut pairs: Vec<(String, String)> = pairs.into_iter().filter(|(n, _)| n != "__name__").collect();
        pairs.push(("__name__".to_owned(), name));
        let l = Labels::new(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))).unwrap();
        let ms = parse_selector(&l.to_string()).unwrap();
        prop_assert_eq!(ms.len(), l.len());
        for (m, (n, v)) in ms.iter().zip(l.iter()) {
            prop_assert_eq!(m.op(), MatchOp::Equal);
            prop_assert_eq!(m.name(), n);
            prop_assert_eq!(m.value(), v);
            prop_assert!(m.matches_labels(&l));
        }
        // The matchers reject the set with any one value changed or removed.
        for (n, v) in l.iter() {
            let mut b = l.builder();
            b.set(n, format!("{v}x"));
            let changed = b.build().unwrap();
            prop_assert!(!ms.iter().all(|m| m.matches_labels(&changed)));
            let removed = l.without(n);
            prop_assert!(!ms.iter().all(|m| m.matches_labels(&removed)));
        }
    }

    #[test]
    fn ordering_is_lexicographic_over_pairs(a in label_set(), b in label_set()) {
        let la = Labels::new(a.iter().map(|(n, v)| (n.as_str(), v.as_str()))).unwrap();
        let lb = Labels::new(b.iter().map(|(n, v)| (n.as_str(), v.as_str()))).unwrap();
        prop_assert_eq!(la.cmp(&lb), a.cmp(&b));
        prop_assert_eq!(la == lb, a == b);
    }

    #[test]
    fn regex_shortcuts_agree_with_regex(
        pattern in prop_oneof![
            Just(".*".to_owned()),
            Just(".+".to_owned()),
            "[ab]{0,3}",
            "[ab]{0,2}(\\|[ab]{0,2}){1,3}",
            "[ab]{0,2}\\.\\*",
            "[ab.*+|]{0,5}",
        ],
        value in "[ab\n]{0,4}",
    ) {
        // Skip patterns the regex engine rejects (e.g. "*a"); those must fail both ways.
        let Ok(re) = Regex::new(&format!("^(?:{pattern})$")) else {
            prop_assert!(Matcher::new(MatchOp::RegexMatch, "x", pattern.as_str()).is_err());
            return Ok(());
        };
        let m = Matcher::new(MatchOp::RegexMatch, "x", pattern.as_str()).unwrap();
        prop_assert_eq!(m.matches(&value), re.is_match(&value), "pattern {:?} value {:?}", pattern, value);
        let n = Matcher::new(MatchOp::RegexNoMatch, "x", pattern.as_str()).unwrap();
        prop_assert_eq!(n.matches(&value), !re.is_match(&value));
    }

    #[test]
    fn parsing_never_panics(s in "\\PC{0,40}|[{}=!~\"'`\\\\a-z,_ ]{0,40}") {
        let _ = parse_selector(&s);
        let _ = parse_labels(&s);
    }
}
