//! The head as a [`BlockSource`]: what a block is written from when the head is persisted.

use tsdb_block::{BlockError, BlockSource, SeriesSink, SourceChunk};
use tsdb_chunks::Encoding;
use tsdb_head::Head;

/// Feeds the head's series in a time range to the block writer, in label order: each series as its
/// encoded chunks (copied unchanged into the block where they lie inside its range; only a chunk that
/// crosses the range's ends is decoded and re-cut), or as samples where the chunks would say more than
/// the series holds (deleted ranges, samples below the head's lower bound). One series' data is held
/// at a time, so memory does not grow with the block's sample count.
pub(crate) struct HeadSource<'a> {
    pub head: &'a Head,
}

impl BlockSource for HeadSource<'_> {
    fn for_each_series(
        &self,
        mint: i64,
        maxt: i64,
        sink: &mut dyn SeriesSink,
    ) -> tsdb_block::Result<()> {
        let last = maxt.saturating_sub(1);
        let source_err = |e: tsdb_head::HeadError| BlockError::Source(Box::new(e));
        let mut buf = Vec::new();
        for (r, labels) in self.head.select(&[]) {
            let done = self
                .head
                .with_chunks(r, mint, last, |cs| {
                    let chunks: Vec<SourceChunk<'_>> = cs
                        .iter()
                        .map(|c| SourceChunk {
                            min_time: c.min_time,
                            max_time: c.max_time,
                            encoding: Encoding::XOR,
                            data: c.data,
                        })
                        .collect();
                    if chunks.is_empty() {
                        Ok(())
                    } else {
                        sink.add_chunks(&labels, &chunks)
                    }
                })
                .map_err(source_err)?;
            match done {
                Some(res) => res?,
                None => {
                    buf.clear();
                    self.head
                        .samples_into(r, mint, last, &mut buf)
                        .map_err(source_err)?;
                    if !buf.is_empty() {
                        sink.add_samples(&labels, &mut buf.iter().copied())?;
                    }
                }
            }
        }
        Ok(())
    }
}
