//! `tsdb-cli` (commands being written).
fn main() {}
