//! Persisted blocks in Prometheus's v2 block format.
//!
//! It owns the index (format v2), tombstones, `meta.json`, the block writer and reader and the compaction of
//! blocks. Chunk bytes and chunk segment files come from `tsdb-chunks`; where block data comes from (the head)
//! is unknown here: the writer is fed through a trait that `tsdb` implements.
