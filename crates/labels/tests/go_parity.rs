//! Output that must be byte-identical to what Go (1.19, the Go of promtool 2.42) and
//! Prometheus print. Expected strings and numbers were produced with Go's
//! `strconv.Quote` and `github.com/cespare/xxhash`.

use tsdb_labels::{go_quote, xxh64, Labels};

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied()).unwrap()
}

#[test]
fn quote_matches_go() {
    let cases: &[(&str, &str)] = &[
        ("up", r#""up""#),
        (r#"a"b\c"#, r#""a\"b\\c""#),
        ("line\nbreak\ttab\r", r#""line\nbreak\ttab\r""#),
        ("\x01", r#""\x01""#),
        ("\x00", r#""\x00""#),
        ("\x7f", r#""\x7f""#),
        ("\u{feff}", r#""\ufeff""#),
        ("é", "\"é\""),
        ("日本", "\"日本\""),
        ("\x07\x08\x0c\x0b", r#""\a\b\f\v""#),
        ("\u{a0}", r#""\u00a0""#),
        ("\u{ad}", r#""\u00ad""#),
        ("\u{200b}", r#""\u200b""#),
        ("\u{1F600}", "\"\u{1F600}\""),
        ("\u{E0001}", r#""\U000e0001""#),
        // Unassigned in Unicode 13 (Go 1.19's tables).
        ("\u{378}", r#""\u0378""#),
        ("\u{1FAE0}", r#""\U0001fae0""#),
        ("'`", r#""'`""#),
        ("\u{2028}\u{3000}", r#""\u2028\u3000""#),
        ("\u{10FFFF}", r#""\U0010ffff""#),
    ];
    for (input, want) in cases {
        assert_eq!(&go_quote(input), want, "input {input:?}");
    }
}

/// Every Unicode scalar value quoted on its own, concatenated, then hashed: the digest
/// Go 1.19 gives for `strconv.Quote(string(r))` over all runes except surrogates.
#[test]
fn quote_matches_go_for_every_code_point() {
    let mut all = String::with_capacity(12_400_000);
    for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
        all.push_str(&go_quote(c.encode_utf8(&mut [0; 4])));
    }
    assert_eq!(all.len(), 12_392_786);
    assert_eq!(xxh64(all.as_bytes(), 0), 0xf4d0_2349_06a9_1c06);
}

#[test]
fn display_matches_prometheus() {
    assert_eq!(Labels::empty().to_string(), "{}");
    assert_eq!(
        l(&[
            ("job", "node"),
            ("__name__", "up"),
            ("instance", "localhost:9090")
        ])
        .to_string(),
        r#"{__name__="up", instance="localhost:9090", job="node"}"#
    );
    assert_eq!(
        l(&[("b", "日本\n"), ("a", "é")]).to_string(),
        "{a=\"é\", b=\"日本\\n\"}"
    );
    assert_eq!(
        l(&[("q", "say \"hi\"\\"), ("c", "\x01\x7f\u{feff}\t")]).to_string(),
        r#"{c="\x01\x7f\ufeff\t", q="say \"hi\"\\"}"#
    );
    // Debug is the same text.
    let s = l(&[("a", "1")]);
    assert_eq!(format!("{s:?}"), format!("{s}"));
}

/// `stable_hash` is XXH64 over `name 0xff value 0xff …`, the same number Prometheus's
/// `labels.Labels.Hash()` gives. A change of algorithm must fail here.
#[test]
fn stable_hash_is_fixed() {
    assert_eq!(Labels::empty().stable_hash(), 0xef46_db37_51d8_e999);
    assert_eq!(
        l(&[
            ("__name__", "up"),
            ("instance", "localhost:9090"),
            ("job", "node")
        ])
        .stable_hash(),
        0x5bec_6234_48dd_0b24
    );
    assert_eq!(
        l(&[("a", "é"), ("b", "日本\n")]).stable_hash(),
        0xcc97_11a2_6ab8_7abc
    );
    // Longer than 32 bytes of text: exercises the stripe loop.
    assert_eq!(
        l(&[
            ("__name__", "http_requests_total"),
            ("code", "200"),
            ("handler", "/api/v1/query"),
            ("instance", "10.0.0.1:9090"),
            ("job", "prometheus"),
            ("method", "GET"),
        ])
        .stable_hash(),
        0x9f43_638b_4586_94eb
    );
}
