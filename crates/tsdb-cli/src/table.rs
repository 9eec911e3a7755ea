//! Tables as promtool prints them: Go's `text/tabwriter` with a minimum cell width of 13 and a padding of
//! 2, and the block table of `promtool tsdb list` (`BLOCK ULID  MIN TIME  MAX TIME ...`).

use std::io::{self, Write};

use tsdb::block::BlockMeta;

use crate::timefmt::{base2_bytes, go_duration_ms, go_utc};

/// Rows of tab-separated cells, aligned as Go's `tabwriter.NewWriter(w, 13, 0, 2, ' ', 0)` aligns them:
/// every cell but the last of a row is padded to the width of its column (its widest cell plus 2, at
/// least 13); the last cell is written as it is.
pub fn write_aligned(out: &mut impl Write, rows: &[Vec<String>]) -> io::Result<()> {
    const MIN_WIDTH: usize = 13;
    const PADDING: usize = 2;
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![MIN_WIDTH; cols];
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            widths[i] = widths[i].max(cell.chars().count() + PADDING);
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// The header of the block table.
pub fn block_header() -> Vec<String> {
    [
        "BLOCK ULID",
        "MIN TIME",
        "MAX TIME",
        "DURATION",
        "NUM SAMPLES",
        "NUM CHUNKS",
        "NUM SERIES",
        "SIZE",
    ]
    .map(String::from)
    .to_vec()
}

/// One row of the block table: `meta` and the block's size in bytes. `human` prints times as UTC dates
/// and the size in KiB, MiB, ... as `promtool tsdb list -r` does.
pub fn block_row(meta: &BlockMeta, size: u64, human: bool) -> Vec<String> {
    let time = |t: i64| {
        if human {
            go_utc(t)
        } else {
            t.to_string()
        }
    };
    vec![
        meta.ulid.to_string(),
        time(meta.min_time),
        time(meta.max_time),
        go_duration_ms(meta.max_time.wrapping_sub(meta.min_time)),
        meta.stats.num_samples.to_string(),
        meta.stats.num_chunks.to_string(),
        meta.stats.num_series.to_string(),
        if human {
            base2_bytes(size)
        } else {
            size.to_string()
        },
    ]
}

/// Writes the block table: a header (when `header`) and one row per `(meta, size)`.
pub fn write_blocks(
    out: &mut impl Write,
    blocks: &[(BlockMeta, u64)],
    header: bool,
    human: bool,
) -> io::Result<()> {
    let mut rows = Vec::with_capacity(blocks.len() + 1);
    if header {
        rows.push(block_header());
    }
    rows.extend(blocks.iter().map(|(m, s)| block_row(m, *s, human)));
    write_aligned(out, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_like_go_tabwriter() {
        let rows = vec![
            vec!["BLOCK ULID".to_string(), "MIN".into(), "SIZE".into()],
            vec![
                "01M80NJ7TNHPMA6JXYJXV4GEPP".into(),
                "1700003000000".into(),
                "705116".into(),
            ],
        ];
        let mut out = Vec::new();
        write_aligned(&mut out, &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "BLOCK ULID                  MIN            SIZE\n\
             01M80NJ7TNHPMA6JXYJXV4GEPP  1700003000000  705116\n"
        );
    }
}
