//! The Raft log and the state machine, in one RocksDB instance.
//!
//! One instance, several column families: the log appends are written with
//! `sync`, and because RocksDB has one write-ahead log per instance, each
//! synced append also makes every earlier state-machine write durable.

mod log;
mod sm;
mod snapshot;

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, Options, WriteBatch, DB};

pub use self::log::LogStore;
pub use self::sm::StateMachine;

use crate::MetaError;

/// Raft log entries, keyed by index (u64 big-endian).
pub const CF_LOG: &str = "raft_log";
/// Vote, committed and last-purged log ids.
pub const CF_RAFT: &str = "raft_state";
/// Applied state of the state machine: last applied log id, membership, snapshot meta.
pub const CF_SM: &str = "sm_state";
/// The catalogue itself.
pub const CF_CATALOGUE: &str = "catalogue";
/// The search indexes (`q` keys): written in the same batch as the records
/// they index, kept apart so their memtables stay small (see below).
pub const CF_SEARCH: &str = "search";

/// Shared block cache: the hot part of a large catalogue stays in memory.
const BLOCK_CACHE_BYTES: usize = 1 << 30;

/// Opens (or creates) the metadata database under `dir`.
pub fn open_db(dir: &Path) -> Result<Arc<DB>, MetaError> {
    std::fs::create_dir_all(dir)?;
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    opts.set_bottommost_compression_type(rocksdb::DBCompressionType::Zstd);
    opts.increase_parallelism(2);
    // Flushes and compactions run beside foreground writes; smooth their IO.
    opts.set_max_background_jobs(4);
    opts.set_bytes_per_sync(1 << 20);
    // One cache for the index, filter and data blocks of every column family.
    let cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE_BYTES);
    let cfs = [CF_LOG, CF_RAFT, CF_SM, CF_CATALOGUE, CF_SEARCH].map(|name| {
        let mut o = Options::default();
        o.set_compression_type(rocksdb::DBCompressionType::Lz4);
        if name == CF_CATALOGUE {
            // Most of the catalogue settles in the last level: compress it
            // harder there, where it is read least.
            o.set_bottommost_compression_type(rocksdb::DBCompressionType::Zstd);
            // Bigger memtables mean fewer, larger flushes under heavy ingest.
            o.set_write_buffer_size(128 << 20);
            o.set_max_write_buffer_number(4);
            o.set_level_compaction_dynamic_level_bytes(true);
            // Most lookups while applying are for keys that do not exist
            // yet (a new object, a new request id): a bloom filter over the
            // memtables answers those without walking their skip lists,
            // which otherwise took a fifth of the CPU under ingest.
            o.set_memtable_prefix_bloom_ratio(0.1);
            o.set_memtable_whole_key_filtering(true);
            let mut t = rocksdb::BlockBasedOptions::default();
            t.set_block_cache(&cache);
            // A point lookup (stat) skips SST files without the key.
            t.set_bloom_filter(10.0, false);
            t.set_cache_index_and_filter_blocks(true);
            t.set_pin_l0_filter_and_index_blocks_in_cache(true);
            o.set_block_based_table_factory(&t);
        }
        if name == CF_SEARCH {
            // Index entries land at random places in their key space, and
            // a skip list's insert costs a cache miss per level walked: a
            // memtable small enough to stay in the CPU's cache inserts
            // faster than the catalogue's 128 MiB ones. Universal
            // compaction rewrites each entry fewer times than levelled,
            // which is what a large index pays most for (docs/
            // benchmarks.md: at 10^7 files 0.61x of the unindexed insert
            // rate with the entries among the records, 0.60x in a levelled
            // family of their own, 0.68x here).
            o.set_write_buffer_size(16 << 20);
            o.set_max_write_buffer_number(4);
            o.set_compaction_style(rocksdb::DBCompactionStyle::Universal);
            // Only ever walked by range, never point-read: no bloom filter.
            let mut t = rocksdb::BlockBasedOptions::default();
            t.set_block_cache(&cache);
            t.set_cache_index_and_filter_blocks(true);
            o.set_block_based_table_factory(&t);
        }
        ColumnFamilyDescriptor::new(name, o)
    });
    let db = DB::open_cf_descriptors(&opts, dir, cfs)?;
    move_search_keys(&db)?;
    Ok(Arc::new(db))
}

/// Index entries per batch when moving them.
const MOVE_BATCH: usize = 10_000;

/// Moves search index entries a catalogue written before the search family
/// existed holds among its records into that family. Copies first, then
/// deletes the range in one write: a crash in between leaves copies that
/// the next open makes again, never an entry in neither place.
fn move_search_keys(db: &DB) -> Result<(), MetaError> {
    let cat = cf(db, CF_CATALOGUE)?;
    let search = cf(db, CF_SEARCH)?;
    let start = [crate::catalogue::keys::SEARCH];
    let end = [crate::catalogue::keys::SEARCH + 1];
    let mut opts = rocksdb::ReadOptions::default();
    opts.set_iterate_upper_bound(end.to_vec());
    let mut it = db.raw_iterator_cf_opt(cat, opts);
    it.seek(start);
    if !it.valid() {
        return it.status().map_err(MetaError::from);
    }
    let mut moved = 0u64;
    let mut batch = WriteBatch::default();
    while it.valid() {
        let (Some(k), Some(v)) = (it.key(), it.value()) else {
            break;
        };
        batch.put_cf(search, k, v);
        moved += 1;
        if batch.len() >= MOVE_BATCH {
            db.write(std::mem::take(&mut batch))?;
            tracing::info!(
                moved,
                "moving search index entries to their own column family"
            );
        }
        it.next();
    }
    it.status()?;
    drop(it);
    batch.delete_range_cf(cat, start.as_slice(), end.as_slice());
    db.write(batch)?;
    tracing::info!(
        moved,
        "search index entries moved to their own column family"
    );
    Ok(())
}

pub(crate) fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a rocksdb::ColumnFamily, std::io::Error> {
    db.cf_handle(name)
        .ok_or_else(|| std::io::Error::other(format!("column family {name} missing")))
}

/// Builds the log store and state machine over one database.
pub fn open(dir: &Path) -> Result<(LogStore, StateMachine), MetaError> {
    let db = open_db(&dir.join("db"))?;
    let snapshots = dir.join("snapshots");
    std::fs::create_dir_all(&snapshots)?;
    Ok((LogStore::new(db.clone()), StateMachine::new(db, snapshots)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_entries_kept_among_records_move_to_their_family_on_open() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("db");
        {
            let db = open_db(&path).expect("db");
            let cat = cf(&db, CF_CATALOGUE).expect("cf");
            // As a catalogue written before the search family existed.
            for i in 0..(MOVE_BATCH as u32 + 5) {
                db.put_cf(cat, format!("q{i:06}"), b"").expect("put");
            }
            db.put_cf(cat, b"O-record", b"r").expect("put");
            db.put_cf(cat, b"r-after", b"m").expect("put");
        }
        let db = open_db(&path).expect("reopen");
        let cat = cf(&db, CF_CATALOGUE).expect("cf");
        let search = cf(&db, CF_SEARCH).expect("search");
        let keys = |family| {
            db.iterator_cf(family, rocksdb::IteratorMode::Start)
                .map(|kv| kv.expect("read").0.to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(cat), [b"O-record".to_vec(), b"r-after".to_vec()]);
        let moved = keys(search);
        assert_eq!(moved.len(), MOVE_BATCH + 5);
        assert!(moved.iter().all(|k| k.first() == Some(&b'q')));
        drop(db);
        // Nothing left to move: opening again changes nothing.
        let db = open_db(&path).expect("again");
        let search = cf(&db, CF_SEARCH).expect("search");
        assert_eq!(
            db.iterator_cf(search, rocksdb::IteratorMode::Start).count(),
            MOVE_BATCH + 5
        );
    }
}
