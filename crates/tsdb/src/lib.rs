//! `Db`: the storage engine as one embeddable type.
//!
//! It joins the head (`tsdb-head`) and persisted blocks (`tsdb-block`): opening and recovering a data
//! directory, appending, querying across head and blocks, persisting the head as blocks, retention,
//! truncation and deletes. Formats and files are left to the crates below it.
