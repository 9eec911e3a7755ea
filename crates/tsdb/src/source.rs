//! The head as a [`BlockSource`]: what a block is written from when the head is persisted.

use tsdb_block::{BlockSource, Error as BlockError, SeriesSink};
use tsdb_head::Head;

/// Feeds the head's series with samples in a time range to the block writer, in label order.
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
        let mut buf = Vec::new();
        for (r, labels) in self.head.select(&[]) {
            buf.clear();
            self.head
                .samples_into(r, mint, maxt.saturating_sub(1), &mut buf)
                .map_err(|e| BlockError::Source(Box::new(e)))?;
            if !buf.is_empty() {
                sink.add_samples(&labels, &mut buf.iter().copied())?;
            }
        }
        Ok(())
    }
}
