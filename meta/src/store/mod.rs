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

use rocksdb::{ColumnFamilyDescriptor, Options, DB};

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
    let cfs = [CF_LOG, CF_RAFT, CF_SM, CF_CATALOGUE].map(|name| {
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
        ColumnFamilyDescriptor::new(name, o)
    });
    Ok(Arc::new(DB::open_cf_descriptors(&opts, dir, cfs)?))
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
