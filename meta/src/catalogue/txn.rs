//! A read-your-writes overlay over the catalogue column families, so that
//! the commands of one Raft batch see each other's effects and the whole
//! batch lands in a single WriteBatch (records and their search index
//! entries together, each in its family).

use std::collections::BTreeMap;

use rocksdb::{ColumnFamily, WriteBatch, DB};

use crate::MetaError;

pub struct Txn<'a> {
    db: &'a DB,
    cf: &'a ColumnFamily,
    /// Where search index entries go (`keys::in_search_family`); the
    /// catalogue's own family for a database opened without it.
    search: &'a ColumnFamily,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The log index of the entry being applied (0 outside a log).
    index: u64,
    /// Whether files' search indexes are kept (`MetaConfig::index_files`).
    pub(crate) index_files: bool,
}

impl<'a> Txn<'a> {
    pub fn new(db: &'a DB, cf: &'a ColumnFamily) -> Self {
        Txn {
            db,
            cf,
            search: db.cf_handle(crate::store::CF_SEARCH).unwrap_or(cf),
            writes: BTreeMap::new(),
            index: 0,
            index_files: true,
        }
    }

    /// Sets the log index of the entry whose commands come next.
    pub fn set_index(&mut self, index: u64) {
        self.index = index;
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    fn family(&self, key: &[u8]) -> &'a ColumnFamily {
        family(self.cf, self.search, key)
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError> {
        if let Some(v) = self.writes.get(key) {
            return Ok(v.clone());
        }
        Ok(self.db.get_cf(self.family(key), key)?)
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// Whether any live key starts with `prefix`.
    pub fn has_prefix(&self, prefix: &[u8]) -> Result<bool, MetaError> {
        Ok(self.first_with_prefix(prefix)?.is_some())
    }

    /// The smallest live key starting with `prefix`, written in this batch
    /// or stored.
    pub fn first_with_prefix(&self, prefix: &[u8]) -> Result<Option<Vec<u8>>, MetaError> {
        let written = self
            .writes
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .find(|(_, v)| v.is_some())
            .map(|(k, _)| k.clone());
        let mut stored = None;
        let mut it = self.db.raw_iterator_cf(self.family(prefix));
        it.seek(prefix);
        // Only keys deleted in this batch are skipped: bounded by its size.
        while it.valid() {
            let Some(k) = it.key() else { break };
            if !k.starts_with(prefix) {
                break;
            }
            if !matches!(self.writes.get(k), Some(None)) {
                stored = Some(k.to_vec());
                break;
            }
            it.next();
        }
        it.status()?;
        Ok(match (written, stored) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Live keys starting with `prefix`, at most `limit`, in key order.
    pub fn keys_with_prefix(&self, prefix: &[u8], limit: usize) -> Result<Vec<Vec<u8>>, MetaError> {
        let mut out = std::collections::BTreeSet::new();
        let mut it = self.db.raw_iterator_cf(self.family(prefix));
        it.seek(prefix);
        while it.valid() && out.len() < limit {
            let Some(k) = it.key() else { break };
            if !k.starts_with(prefix) {
                break;
            }
            out.insert(k.to_vec());
            it.next();
        }
        it.status()?;
        for (k, v) in self
            .writes
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            match v {
                Some(_) => out.insert(k.clone()),
                None => out.remove(k),
            };
        }
        Ok(out.into_iter().take(limit).collect())
    }

    pub fn write_into(self, batch: &mut WriteBatch) {
        for (k, v) in self.writes {
            let cf = family(self.cf, self.search, &k);
            match v {
                Some(v) => batch.put_cf(cf, k, v),
                None => batch.delete_cf(cf, k),
            }
        }
    }
}

/// The column family `key` lives in: the search indexes' or the records'.
fn family<'a>(records: &'a ColumnFamily, search: &'a ColumnFamily, key: &[u8]) -> &'a ColumnFamily {
    if super::keys::in_search_family(key) {
        search
    } else {
        records
    }
}
