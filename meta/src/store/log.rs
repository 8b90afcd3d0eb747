//! The Raft log on RocksDB (openraft's `RaftLogStorage`).

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use meridian_proto::v1::{stored_entry::Payload, StoredEntry};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    AnyError, CommittedLeaderId, Entry, EntryPayload, LogId, LogState, OptionalSend, RaftLogReader,
    StorageError, StorageIOError, Vote,
};
use prost::Message;
use rocksdb::{WriteBatch, WriteOptions, DB};

use super::{cf, CF_LOG, CF_RAFT};
use crate::types::{Request, TypeConfig};

type SErr = StorageError<u64>;

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
}

fn io(e: impl std::error::Error + 'static) -> AnyError {
    AnyError::new(&e)
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn synced() -> WriteOptions {
    let mut o = WriteOptions::default();
    o.set_sync(true);
    o
}

pub(crate) fn encode_entry(e: &Entry<TypeConfig>) -> Result<Vec<u8>, serde_json::Error> {
    let payload = match &e.payload {
        EntryPayload::Blank => Payload::Blank(true),
        EntryPayload::Normal(r) => Payload::Normal(r.0.clone()),
        EntryPayload::Membership(m) => Payload::MembershipJson(serde_json::to_string(m)?),
    };
    Ok(StoredEntry {
        format: meridian_proto::RECORD_FORMAT,
        term: e.log_id.leader_id.term,
        leader_node: e.log_id.leader_id.node_id,
        index: e.log_id.index,
        payload: Some(payload),
    }
    .encode_to_vec())
}

pub(crate) fn decode_entry(bytes: &[u8]) -> Result<Entry<TypeConfig>, String> {
    let s = StoredEntry::decode(bytes).map_err(|e| e.to_string())?;
    let payload = match s.payload {
        Some(Payload::Blank(_)) => EntryPayload::Blank,
        Some(Payload::Normal(b)) => EntryPayload::Normal(Request(b)),
        Some(Payload::MembershipJson(j)) => {
            EntryPayload::Membership(serde_json::from_str(&j).map_err(|e| e.to_string())?)
        }
        None => return Err("entry without payload".into()),
    };
    Ok(Entry {
        log_id: LogId::new(CommittedLeaderId::new(s.term, s.leader_node), s.index),
        payload,
    })
}

impl LogStore {
    pub fn new(db: Arc<DB>) -> Self {
        LogStore { db }
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, SErr> {
        let cf = cf(&self.db, CF_RAFT).map_err(|e| StorageIOError::read(io(e)))?;
        let Some(v) = self
            .db
            .get_cf(cf, key)
            .map_err(|e| StorageIOError::read(io(e)))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StorageIOError::read(io(e)).into())
    }

    fn put_json<T: serde::Serialize>(&self, key: &[u8], v: &T, sync: bool) -> Result<(), SErr> {
        let cf = cf(&self.db, CF_RAFT).map_err(|e| StorageIOError::write(io(e)))?;
        let bytes = serde_json::to_vec(v).map_err(|e| StorageIOError::write(io(e)))?;
        let opts = if sync {
            synced()
        } else {
            WriteOptions::default()
        };
        self.db
            .put_cf_opt(cf, key, bytes, &opts)
            .map_err(|e| StorageIOError::write(io(e)).into())
    }

    fn last_entry(&self) -> Result<Option<Entry<TypeConfig>>, SErr> {
        let cf = cf(&self.db, CF_LOG).map_err(|e| StorageIOError::read_logs(io(e)))?;
        let mut it = self.db.raw_iterator_cf(cf);
        it.seek_to_last();
        if !it.valid() {
            it.status().map_err(|e| StorageIOError::read_logs(io(e)))?;
            return Ok(None);
        }
        let v = it
            .value()
            .ok_or_else(|| StorageIOError::read_logs(AnyError::error("no value")))?;
        decode_entry(v)
            .map(Some)
            .map_err(|e| StorageIOError::read_logs(AnyError::error(e)).into())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, SErr> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let cf = cf(&self.db, CF_LOG).map_err(|e| StorageIOError::read_logs(io(e)))?;
        let mut it = self.db.raw_iterator_cf(cf);
        it.seek(index_key(start));
        let mut out = Vec::new();
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else {
                break;
            };
            let idx = u64::from_be_bytes(k.try_into().map_err(|_| {
                StorageIOError::read_logs(AnyError::error("log key is not 8 bytes"))
            })?);
            if !range.contains(&idx) {
                break;
            }
            out.push(
                decode_entry(v)
                    .map_err(|e| StorageIOError::read_log_at_index(idx, AnyError::error(e)))?,
            );
            it.next();
        }
        it.status().map_err(|e| StorageIOError::read_logs(io(e)))?;
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, SErr> {
        let last_purged_log_id: Option<LogId<u64>> = self.get_json(LAST_PURGED)?;
        // After a snapshot install the purge point may lie beyond the last
        // entry; the log then ends at the purge point.
        let last_log_id = std::cmp::max(self.last_entry()?.map(|e| e.log_id), last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), SErr> {
        self.put_json(VOTE, vote, true)
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, SErr> {
        self.get_json(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), SErr> {
        // Not synced: losing it only means re-applying from the last applied id.
        self.put_json(COMMITTED, &committed, false)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, SErr> {
        Ok(self.get_json::<Option<LogId<u64>>>(COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), SErr>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let cf = cf(&self.db, CF_LOG).map_err(|e| StorageIOError::write_logs(io(e)))?;
        let mut batch = WriteBatch::default();
        for e in entries {
            let bytes = encode_entry(&e)
                .map_err(|err| StorageIOError::write_log_entry(e.log_id, io(err)))?;
            batch.put_cf(cf, index_key(e.log_id.index), bytes);
        }
        // Durable before acknowledging: the write is synced to the WAL.
        let res = self.db.write_opt(batch, &synced());
        match res {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(io(e)).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), SErr> {
        let cf = cf(&self.db, CF_LOG).map_err(|e| StorageIOError::write_logs(io(e)))?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(cf, index_key(log_id.index), index_key(u64::MAX));
        batch.delete_cf(cf, index_key(u64::MAX));
        self.db
            .write_opt(batch, &synced())
            .map_err(|e| StorageIOError::write_logs(io(e)).into())
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), SErr> {
        // The purge point and the deletion land in one synced batch, so no
        // crash can leave one without the other.
        let raft = cf(&self.db, CF_RAFT).map_err(|e| StorageIOError::write_logs(io(e)))?;
        let log = cf(&self.db, CF_LOG).map_err(|e| StorageIOError::write_logs(io(e)))?;
        let point = serde_json::to_vec(&log_id).map_err(|e| StorageIOError::write_logs(io(e)))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(raft, LAST_PURGED, point);
        batch.delete_range_cf(log, index_key(0), index_key(log_id.index.saturating_add(1)));
        self.db
            .write_opt(batch, &synced())
            .map_err(|e| StorageIOError::write_logs(io(e)).into())
    }
}
