//! A block's index as a source of postings for the shared postings engine (`tsdb_labels::postings`):
//! each list is read from the mapped file and checked to be strictly ascending, so a damaged list is an
//! error naming the index file and the list's offset, never a wrong answer.

use tsdb_labels::postings::PostingsSource;

use super::{IndexReader, IndexRef};
use crate::error::{BlockError, Result};

impl PostingsSource for IndexReader {
    type Ref = IndexRef;
    type Error = BlockError;

    fn postings(&self, name: &str, value: &str) -> Result<Vec<IndexRef>> {
        IndexReader::postings(self, name, value)?.to_vec_checked(self.path())
    }

    fn all_postings(&self) -> Result<Vec<IndexRef>> {
        IndexReader::all_postings(self)?.to_vec_checked(self.path())
    }

    fn postings_for_values(
        &self,
        name: &str,
        keep: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Vec<Vec<IndexRef>>> {
        let mut lists = Vec::new();
        self.for_each_value(name, |v, off| {
            if keep(v) {
                lists.push(self.postings_at(off)?.to_vec_checked(self.path())?);
            }
            Ok(())
        })?;
        Ok(lists)
    }
}
