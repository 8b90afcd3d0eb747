//! Search over files and datasets: the fields a query may name, the
//! order-preserving encoding of their values in index keys, the plan that
//! picks which index a query walks, and the check of one record against a
//! query. Pure: the state machine keeps the indexes in the same apply as
//! the records (so an answer is never stale against its own write) and
//! walks the plan's range; the in-memory catalogue answers the same
//! queries by building the same keys.
//!
//! An index key (after the catalogue's own keyspace byte) is the target
//! (`f` files, `d` datasets), the field's tag, for a file's user metadata
//! the name and a NUL, the encoded value, then the entity (a file: bucket
//! id as 8 bytes big-endian and the key; a dataset: its name).

mod fields;
mod plan;
mod values;

pub use fields::{field, fields_of, FieldDef, Kind, Target};
pub use plan::{parse_filter, plan, Drive, Filter, Op, Plan, Query};
pub use values::{
    dataset_index_keys, dataset_matches, decode_cursor, encode_cursor, file_index_keys,
    file_matches, index_entity, DatasetView, FileFields, FileView, Value,
};

/// Results a page holds at most.
pub const MAX_LIMIT: usize = 1000;
/// Candidates one call examines at most before it answers with what it
/// found and where to go on.
pub const MAX_EXAMINED: usize = 50_000;

/// One page of answers.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    /// Files: (bucket, key, current version).
    pub files: Vec<(String, String, crate::records::ObjectRecord)>,
    pub datasets: Vec<crate::dataset::DatasetRecord>,
    /// More may follow: ask again with this cursor.
    pub next: Option<String>,
    /// Candidates read to answer (the plan's cost).
    pub examined: u64,
    /// What the query walked, for people (`index format`, `bucket juno`).
    pub walked: String,
}

/// The first key after every key that starts with `prefix` (`None`: no
/// such key, `prefix` is all 0xff).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}
