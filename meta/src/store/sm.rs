//! The catalogue state machine on RocksDB (openraft's `RaftStateMachine`).

use std::path::PathBuf;
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use rocksdb::{WriteBatch, DB};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::{cf, snapshot, CF_CATALOGUE, CF_SM};
use crate::catalogue::dedupe;
use crate::catalogue::txn::Txn;
use crate::types::{Response, TypeConfig};

type SErr = StorageError<u64>;

const LAST_APPLIED: &[u8] = b"last_applied";
const MEMBERSHIP: &[u8] = b"membership";
const SNAPSHOT_META: &[u8] = b"snapshot_meta";

fn io(e: impl std::error::Error + 'static) -> AnyError {
    AnyError::new(&e)
}

#[derive(Clone)]
pub struct StateMachine {
    db: Arc<DB>,
    dir: PathBuf,
}

fn get_json<T: serde::de::DeserializeOwned>(db: &DB, key: &[u8]) -> Result<Option<T>, SErr> {
    let cf = cf(db, CF_SM).map_err(|e| StorageIOError::read_state_machine(io(e)))?;
    let Some(v) = db
        .get_cf(cf, key)
        .map_err(|e| StorageIOError::read_state_machine(io(e)))?
    else {
        return Ok(None);
    };
    serde_json::from_slice(&v)
        .map(Some)
        .map_err(|e| StorageIOError::read_state_machine(io(e)).into())
}

fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, SErr> {
    serde_json::to_vec(v).map_err(|e| StorageIOError::write_state_machine(io(e)).into())
}

impl StateMachine {
    pub fn new(db: Arc<DB>, dir: PathBuf) -> Result<Self, std::io::Error> {
        // Leftovers of interrupted snapshot builds or transfers.
        for e in std::fs::read_dir(&dir)? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "tmp") {
                std::fs::remove_file(&p)?;
            }
        }
        Ok(StateMachine { db, dir })
    }

    pub fn db(&self) -> &Arc<DB> {
        &self.db
    }

    fn snapshot_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.snap"))
    }

    fn current_meta(&self) -> Result<Option<SnapshotMeta<u64, BasicNode>>, SErr> {
        get_json(&self.db, SNAPSHOT_META)
    }

    /// Records `meta` as the current snapshot and removes older snapshot files.
    fn set_current(&self, meta: &SnapshotMeta<u64, BasicNode>) -> Result<(), SErr> {
        let cf = cf(&self.db, CF_SM).map_err(|e| StorageIOError::write_state_machine(io(e)))?;
        self.db
            .put_cf(cf, SNAPSHOT_META, json(meta)?)
            .map_err(|e| StorageIOError::write_state_machine(io(e)))?;
        let keep = format!("{}.snap", meta.snapshot_id);
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let name = e.file_name();
                if name.to_string_lossy().ends_with(".snap") && name.to_string_lossy() != keep {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, SErr> {
        let this = self.clone();
        let meta =
            tokio::task::spawn_blocking(move || -> Result<SnapshotMeta<u64, BasicNode>, SErr> {
                let snap = this.db.snapshot();
                let read = |key: &[u8]| -> Result<Option<Vec<u8>>, SErr> {
                    let cf = cf(&this.db, CF_SM)
                        .map_err(|e| StorageIOError::read_state_machine(io(e)))?;
                    snap.get_cf(cf, key)
                        .map_err(|e| StorageIOError::read_state_machine(io(e)).into())
                };
                let last_applied: Option<LogId<u64>> = match read(LAST_APPLIED)? {
                    Some(v) => serde_json::from_slice(&v)
                        .map_err(|e| StorageIOError::read_state_machine(io(e)))?,
                    None => None,
                };
                let membership: StoredMembership<u64, BasicNode> = match read(MEMBERSHIP)? {
                    Some(v) => serde_json::from_slice(&v)
                        .map_err(|e| StorageIOError::read_state_machine(io(e)))?,
                    None => StoredMembership::default(),
                };
                let id = match &last_applied {
                    Some(l) => {
                        format!("{}-{}-{}", l.leader_id.term, l.index, rand::random::<u32>())
                    }
                    None => format!("0-0-{}", rand::random::<u32>()),
                };
                let tmp = this.dir.join(format!("{id}.tmp"));
                snapshot::write(&this.db, &snap, &tmp)
                    .map_err(|e| StorageIOError::write_snapshot(None, io(e)))?;
                std::fs::rename(&tmp, this.snapshot_path(&id))
                    .map_err(|e| StorageIOError::write_snapshot(None, io(e)))?;
                // The log up to this point may now be purged; make sure the state
                // machine's own writes are durable before that can happen.
                this.db
                    .flush_wal(true)
                    .map_err(|e| StorageIOError::write_state_machine(io(e)))?;
                let meta = SnapshotMeta {
                    last_log_id: last_applied,
                    last_membership: membership,
                    snapshot_id: id,
                };
                this.set_current(&meta)?;
                Ok(meta)
            })
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, io(e)))??;
        let file = tokio::fs::File::open(self.snapshot_path(&meta.snapshot_id))
            .await
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), io(e)))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(file),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), SErr> {
        let last: Option<LogId<u64>> = get_json(&self.db, LAST_APPLIED)?;
        let membership = get_json(&self.db, MEMBERSHIP)?.unwrap_or_default();
        Ok((last, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, SErr>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + openraft::OptionalSend,
        I::IntoIter: openraft::OptionalSend,
    {
        let db = &self.db;
        let cat = cf(db, CF_CATALOGUE).map_err(|e| StorageIOError::write_state_machine(io(e)))?;
        let sm = cf(db, CF_SM).map_err(|e| StorageIOError::write_state_machine(io(e)))?;
        let mut txn = Txn::new(db, cat);
        let mut batch = WriteBatch::default();
        let mut responses = Vec::new();
        let mut last = None;
        for entry in entries {
            let log_id = entry.log_id;
            let resp = match entry.payload {
                EntryPayload::Blank => Response::default(),
                EntryPayload::Normal(req) => {
                    let mut outcomes = Vec::with_capacity(req.0.commands.len());
                    for cmd in &req.0.commands {
                        outcomes.push(
                            dedupe::apply_once(&mut txn, log_id.index, cmd)
                                .map_err(|e| StorageIOError::apply(log_id, AnyError::new(&e)))?,
                        );
                    }
                    Response(outcomes)
                }
                EntryPayload::Membership(m) => {
                    batch.put_cf(
                        sm,
                        MEMBERSHIP,
                        json(&StoredMembership::new(Some(log_id), m))?,
                    );
                    Response::default()
                }
            };
            responses.push(resp);
            last = Some(log_id);
        }
        if let Some(l) = last {
            dedupe::expire(&mut txn, l.index)
                .map_err(|e| StorageIOError::apply(l, AnyError::new(&e)))?;
        }
        txn.write_into(&mut batch);
        if let Some(l) = last {
            batch.put_cf(sm, LAST_APPLIED, json(&l)?);
        }
        db.write(batch)
            .map_err(|e| StorageIOError::write_state_machine(io(e)))?;
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, SErr> {
        let path = self
            .dir
            .join(format!("incoming-{}.tmp", rand::random::<u64>()));
        let f = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, io(e)))?;
        Ok(Box::new(f))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        mut snapshot: Box<tokio::fs::File>,
    ) -> Result<(), SErr> {
        let sig = Some(meta.signature());
        let wr = |e: std::io::Error| -> SErr {
            StorageIOError::write_snapshot(sig.clone(), io(e)).into()
        };
        // Copy whatever handle we were given into our own file, then load it.
        let tmp = self.dir.join(format!("{}.tmp", meta.snapshot_id));
        {
            snapshot.flush().await.map_err(wr)?;
            snapshot
                .seek(std::io::SeekFrom::Start(0))
                .await
                .map_err(wr)?;
            let mut out = tokio::fs::File::create(&tmp).await.map_err(wr)?;
            tokio::io::copy(&mut snapshot, &mut out).await.map_err(wr)?;
            out.sync_all().await.map_err(wr)?;
        }
        let path = self.snapshot_path(&meta.snapshot_id);
        let this = self.clone();
        let meta2 = meta.clone();
        tokio::task::spawn_blocking(move || -> Result<(), SErr> {
            let wr = |e: std::io::Error| -> SErr {
                StorageIOError::write_snapshot(Some(meta2.signature()), io(e)).into()
            };
            snapshot::verify(&tmp).map_err(wr)?;
            std::fs::rename(&tmp, &path).map_err(wr)?;
            snapshot::load(&this.db, &path).map_err(wr)?;
            let sm = cf(&this.db, CF_SM).map_err(wr)?;
            let mut batch = WriteBatch::default();
            batch.put_cf(sm, MEMBERSHIP, json(&meta2.last_membership)?);
            match &meta2.last_log_id {
                Some(l) => batch.put_cf(sm, LAST_APPLIED, json(l)?),
                None => batch.delete_cf(sm, LAST_APPLIED),
            }
            this.db
                .write(batch)
                .map_err(|e| StorageIOError::write_state_machine(io(e)))?;
            this.db
                .flush_wal(true)
                .map_err(|e| StorageIOError::write_state_machine(io(e)))?;
            this.set_current(&meta2)?;
            // The handle we copied from was one of ours; its file is done with.
            if let Ok(rd) = std::fs::read_dir(&this.dir) {
                for e in rd.flatten() {
                    if e.file_name().to_string_lossy().starts_with("incoming-") {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(None, io(e)))??;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, SErr> {
        let Some(meta) = self.current_meta()? else {
            return Ok(None);
        };
        let file = tokio::fs::File::open(self.snapshot_path(&meta.snapshot_id))
            .await
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), io(e)))?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(file),
        }))
    }
}
