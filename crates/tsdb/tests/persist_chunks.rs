//! Persisting the head copies its chunks into blocks as they are: only chunks that cross a block's ends,
//! or hold deleted samples, are decoded and cut again. (One test per binary: the counters are global to
//! the process.)

use tsdb::{Db, Options};
use tsdb_labels::{Labels, Matcher};

#[test]
fn flush_and_maintenance_copy_full_chunks_and_keep_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        background: false,
        compaction: false,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let series: Vec<Labels> = (0..20)
        .map(|i| Labels::new([("__name__", "m"), ("i", &i.to_string())]).unwrap())
        .collect();
    // 5 h of 15 s samples: three 2 h ranges, chunks of 120 samples (30 min), full chunks in files.
    let t0 = 1_700_000_000_000 - 1_700_000_000_000 % 7_200_000;
    let n = 5 * 240;
    let mut want: Vec<(Labels, Vec<(i64, f64)>)> =
        series.iter().map(|l| (l.clone(), Vec::new())).collect();
    for j in 0..n {
        let mut app = db.appender();
        let t = t0 + j * 15_000;
        for (k, l) in series.iter().enumerate() {
            let v = (j as f64) * 1.5 + k as f64;
            app.append(l, t, v).unwrap();
            want[k].1.push((t, v));
        }
        app.commit().unwrap();
    }
    // Delete a range of one series inside a chunk: that series must be cut from samples.
    let victim = &series[3];
    let del = (t0 + 100 * 15_000, t0 + 110 * 15_000);
    db.delete(
        &[Matcher::equal("i", victim.get("i").unwrap())],
        del.0,
        del.1,
    )
    .unwrap();
    want[3].1.retain(|&(t, _)| t < del.0 || t > del.1);

    let (enc0, copied0) = tsdb_block::chunk_write_counts();
    let m = db.maintain().unwrap();
    assert!(!m.persisted.is_empty(), "the oldest range is persisted");
    let blocks = db.flush().unwrap();
    assert!(!blocks.is_empty());
    let (enc1, copied1) = tsdb_block::chunk_write_counts();
    let (encoded, copied) = (enc1 - enc0, copied1 - copied0);

    // 5 h per series = 10 chunks of 120 samples; none crosses a 2 h boundary. Only the victim's chunks
    // of the first block (the one with the deleted range: 4 chunks) are cut from samples.
    let total: u64 = db.blocks().iter().map(|b| b.stats.num_chunks).sum();
    assert_eq!(encoded + copied, total);
    assert!(encoded <= 4, "encoded {encoded} chunks, copied {copied}");
    assert!(copied >= 20 * 10 - 4, "copied only {copied}");

    // Every sample is in the blocks, the head is empty.
    let q = db.querier(i64::MIN, i64::MAX);
    let got = q.select_all(&[]).unwrap();
    drop(q);
    let mut want_sorted = want;
    want_sorted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got.len(), want_sorted.len());
    for (g, (l, s)) in got.iter().zip(&want_sorted) {
        assert_eq!(&g.labels, l);
        assert_eq!(&g.samples, s, "{l}");
    }
    db.close().unwrap();
}
