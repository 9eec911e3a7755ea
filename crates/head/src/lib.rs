//! The head: the in-memory part of the database where writes land.
//!
//! It owns the series held in memory, their open and full chunks, the postings that index them by label,
//! the appender and its commit protocol, replay of the write-ahead log on open and truncation of old data.
//! Files on disk are left to `tsdb-wal` (the log) and `tsdb-chunks` (head chunk files); blocks are not its
//! business: `tsdb` joins the head and `tsdb-block`.
