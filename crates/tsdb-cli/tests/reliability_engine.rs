//! Reliability of the engine through the command line: timestamps at the ends of the i64 range, and
//! multi-level compaction in one run.

mod common;

use common::*;

#[test]
fn append_at_i64_min_is_stored_and_dumped() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("db");
    let o = cli_in(
        None,
        ["append", "-d", d.to_str().unwrap(), "-"],
        b"lo 5 -9223372036854775808\n",
    );
    assert_code(&o, 0);
    let out = stdout(&o);
    assert_eq!(field(&out, "samples appended"), "1", "{out}");
    assert_eq!(field(&out, "samples already stored"), "0", "{out}");
    assert_eq!(field(&out, "commits"), "1", "{out}");
    let dump = ok(["dump", "-d", d.to_str().unwrap()]);
    assert_eq!(dump, "{__name__=\"lo\"} 5 -9223372036854775808\n");
}

#[test]
fn flush_at_both_ends_terminates_and_i64_max_is_refused_at_append() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("db");
    let ds = d.to_str().unwrap();
    let o = cli_in(
        None,
        ["append", "-d", ds, "-"],
        b"a 1 -9223372036854775807\nb 2 9223372036854775806\nc 3 9223372036854775807\n",
    );
    // The sample at i64::MAX is refused, naming its line, and the others are stored.
    assert_code(&o, 3);
    let err = stderr(&o);
    assert!(err.contains("<stdin>:3:"), "{err}");
    assert!(err.contains("newest timestamp a block can hold"), "{err}");
    assert_eq!(field(&stdout(&o), "samples appended"), "2");
    // `flush` ends (it looped for ever at i64::MAX and failed near i64::MIN) and writes two blocks.
    let o = cli(["flush", "-d", ds]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("wrote 2 blocks"), "{}", stdout(&o));
    assert!(
        !std::fs::read_dir(&d).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")),
        "a block was left half-written"
    );
    let dump = ok(["dump", "-d", ds]);
    assert_eq!(
        sorted_lines(&dump),
        vec![
            "{__name__=\"a\"} 1 -9223372036854775807",
            "{__name__=\"b\"} 2 9223372036854775806",
        ]
    );
}

#[test]
fn compact_goes_through_every_level_in_one_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("db");
    let ds = d.to_str().unwrap();
    // Eight 2 h blocks from 6 h on (OpenMetrics times are seconds): the 6 h windows [6 h, 12 h) and
    // [12 h, 18 h) fill, then the 18 h window takes both 6 h blocks.
    let mut text = String::new();
    for w in 0..8i64 {
        for k in 0..4i64 {
            let t = 6 * 3600 + w * 7200 + k * 900;
            text.push_str(&format!("m {} {t}\n", w * 10 + k));
        }
    }
    text.push_str("# EOF\n");
    let input = tmp.path().join("in.om");
    std::fs::write(&input, &text).unwrap();
    let out = ok(["import", "openmetrics", input.to_str().unwrap(), ds]);
    assert_eq!(out.lines().count(), 9, "{out}");
    let before = ok(["dump", "-d", ds]);
    let o = cli(["compact", "-d", ds]);
    assert_code(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("compacted into"), "{out}");
    // Every block it lists exists.
    for line in out.lines().filter(|l| l.len() > 26) {
        let ulid = &line[..26];
        if ulid
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        {
            assert!(
                d.join(ulid).join("meta.json").is_file(),
                "{ulid} listed but gone: {out}"
            );
        }
    }
    let again = ok(["compact", "-d", ds]);
    assert!(again.starts_with("nothing to do"), "{again}");
    assert_eq!(ok(["dump", "-d", ds]), before);
    // Three blocks are left (one level alone would leave four): the two 6 h blocks were merged again,
    // into one block of the six oldest.
    let ls = ok(["ls", "-d", ds]);
    assert_eq!(ls.lines().count(), 4, "{ls}");
    assert!(ls.contains(" 24 "), "{ls}");
}
