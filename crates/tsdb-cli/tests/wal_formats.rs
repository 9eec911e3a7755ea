//! The WAL's format on the command line: `--wal-mode` defaults to the format already in the directory,
//! a mode that cannot continue it is refused naming both, and a WAL in a format we do not recognise is
//! refused by every command that reads or writes it (exit 1, "… format", never called damage), with
//! every file left as it was.

mod common;

use std::path::Path;

use common::*;

fn prom_input(tmp: &Path, t0: i64) -> std::path::PathBuf {
    let p = tmp.join(format!("in-{t0}.prom"));
    let mut s = String::new();
    for i in 0..50 {
        s.push_str(&format!("m{{k=\"a\"}} {i} {}\n", t0 + i * 1000));
        s.push_str(&format!("m{{k=\"b\"}} {} {}\n", -i, t0 + i * 1000));
    }
    std::fs::write(&p, s).unwrap();
    p
}

#[test]
fn unrecognised_wal_is_refused_by_every_command_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let wal = data.join("wal");
    std::fs::create_dir_all(&wal).unwrap();
    // Neither the SegmentWAL magic nor a wlog segment name: not a WAL we read.
    std::fs::write(
        wal.join("000001"),
        b"\x01\x02\x03\x04 not a WAL segment \xff\xfe",
    )
    .unwrap();
    std::fs::write(wal.join("000002"), vec![7u8; 4096]).unwrap();
    let input = prom_input(tmp.path(), 1_700_000_000_000);
    let before = snapshot(&data);
    let d = data.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["replay", "-d", d],
        vec!["dump", "-d", d],
        vec!["analyze", "-d", d, "head"],
        vec!["append", "-d", d, input.to_str().unwrap()],
        vec![
            "append",
            "-d",
            d,
            "--wal-mode",
            "wlog",
            input.to_str().unwrap(),
        ],
        vec!["flush", "-d", d],
        vec!["truncate", "-d", d, "--before", "1700000010000"],
        vec!["wal", "dump", d],
        vec!["wal", "dump", "--json", d],
        vec!["wal", "dump", "--summary", d],
        vec!["wal", "repair", d],
        vec!["wal", "repair", wal.to_str().unwrap()],
    ];
    for args in &cases {
        let o = cli(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("is in unrecognised (") && err.contains("format"),
            "{args:?}: {err}"
        );
        assert!(err.contains("000001"), "{args:?} names the file: {err}");
        let lower = err.to_lowercase();
        assert!(
            !lower.contains("corrupt") && !lower.contains("damaged at"),
            "{args:?} calls it damage: {err}"
        );
        assert!(stdout(&o).is_empty(), "{args:?}: {}", stdout(&o));
        assert!(snapshot(&data) == before, "{args:?} changed the directory");
    }
}

#[test]
fn wal_mode_defaults_to_the_directory_and_a_mismatch_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let wlog = tmp.path().join("wlog");
    let native = tmp.path().join("native");
    let (a, b) = (
        prom_input(tmp.path(), 1_700_000_000_000),
        prom_input(tmp.path(), 1_700_000_100_000),
    );
    ok([
        "append",
        "-d",
        wlog.to_str().unwrap(),
        "--wal-mode",
        "wlog",
        a.to_str().unwrap(),
    ]);
    ok([
        "append",
        "-d",
        native.to_str().unwrap(),
        a.to_str().unwrap(),
    ]);
    assert_eq!(
        field(&ok(["replay", "-d", wlog.to_str().unwrap()]), "wal format"),
        "wlog (Prometheus's current WAL)"
    );
    assert_eq!(
        field(
            &ok(["replay", "-d", native.to_str().unwrap()]),
            "wal format"
        ),
        "native"
    );
    // Without --wal-mode, each directory is continued in its own format.
    for dir in [&wlog, &native] {
        let before = field(&ok(["replay", "-d", dir.to_str().unwrap()]), "wal format");
        ok(["append", "-d", dir.to_str().unwrap(), b.to_str().unwrap()]);
        let r = ok(["replay", "-d", dir.to_str().unwrap()]);
        assert_eq!(field(&r, "wal format"), before);
        assert_eq!(field(&r, "samples"), "200", "{r}");
    }
    // Asking for a mode that cannot continue the log: refused, naming both, nothing changed.
    for (dir, mode, found) in [
        (&wlog, "native", "Prometheus wlog"),
        (&wlog, "prometheus", "Prometheus wlog"),
        (&native, "wlog", "native"),
    ] {
        let snap = snapshot(dir);
        let o = cli([
            "append",
            "-d",
            dir.to_str().unwrap(),
            "--wal-mode",
            mode,
            a.to_str().unwrap(),
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{mode}: {err}");
        assert!(
            err.contains(found) && err.contains(&format!("in {mode} mode")),
            "{mode}: {err}"
        );
        assert!(
            err.contains("hint: run the command with --wal-mode"),
            "{err}"
        );
        assert!(snapshot(dir) == snap, "{mode} changed {}", dir.display());
    }
    // The two SegmentWAL modes continue each other's logs.
    ok([
        "append",
        "-d",
        native.to_str().unwrap(),
        "--wal-mode",
        "prometheus",
        prom_input(tmp.path(), 1_700_000_200_000).to_str().unwrap(),
    ]);
    assert_eq!(
        field(&ok(["replay", "-d", native.to_str().unwrap()]), "samples"),
        "300"
    );
}
