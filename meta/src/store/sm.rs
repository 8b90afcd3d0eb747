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
use crate::catalogue::apply_once;
use crate::catalogue::txn::Txn;
use crate::types::{Response, TypeConfig};

type SErr = StorageError<u64>;

const LAST_APPLIED: &[u8] = b"last_applied";
const MEMBERSHIP: &[u8] = b"membership";
const SNAPSHOT_META: &[u8] = b"snapshot_meta";
/// Present while a snapshot is being loaded; a restart finishes the load.
const INSTALLING: &[u8] = b"installing";

fn io(e: impl std::error::Error + 'static) -> AnyError {
    AnyError::new(&e)
}

#[derive(Clone)]
pub struct StateMachine {
    db: Arc<DB>,
    dir: PathBuf,
    /// Held while a snapshot is built or installed: a build must never see
    /// a half-loaded catalogue.
    snapshot_lock: Arc<std::sync::Mutex<()>>,
    /// `MetaConfig::index_files`.
    pub(crate) index_files: bool,
}

fn synced() -> rocksdb::WriteOptions {
    let mut o = rocksdb::WriteOptions::default();
    o.set_sync(true);
    o
}

/// Snapshot ids come from the leader and name files: letters, digits and '-' only.
fn check_snapshot_id(id: &str) -> Result<(), std::io::Error> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("snapshot id {id:?} is not 1-64 letters, digits and '-'"),
        ));
    }
    Ok(())
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
                // Files of transfers and builds; directories of checkpoints
                // and SST parts.
                if p.is_dir() {
                    std::fs::remove_dir_all(&p)?;
                } else {
                    std::fs::remove_file(&p)?;
                }
            }
        }
        let sm = StateMachine {
            db,
            dir,
            snapshot_lock: Arc::new(std::sync::Mutex::new(())),
            index_files: true,
        };
        sm.finish_interrupted_install()?;
        Ok(sm)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.snapshot_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads a verified snapshot file into the catalogue and records its
    /// applied state. A synced marker brackets the load, so a crash half-way
    /// is finished at the next start instead of leaving a half catalogue.
    fn load_snapshot(&self, meta: &SnapshotMeta<u64, BasicNode>) -> Result<(), std::io::Error> {
        let path = self.snapshot_path(&meta.snapshot_id);
        snapshot::verify(&path)?;
        let sm = cf(&self.db, CF_SM)?;
        let marker = serde_json::to_vec(meta).map_err(std::io::Error::other)?;
        self.db
            .put_cf_opt(sm, INSTALLING, marker, &synced())
            .map_err(std::io::Error::other)?;
        snapshot::load(&self.db, &path, &self.dir.join("loading.tmp"))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            sm,
            MEMBERSHIP,
            serde_json::to_vec(&meta.last_membership).map_err(std::io::Error::other)?,
        );
        match &meta.last_log_id {
            Some(l) => batch.put_cf(
                sm,
                LAST_APPLIED,
                serde_json::to_vec(l).map_err(std::io::Error::other)?,
            ),
            None => batch.delete_cf(sm, LAST_APPLIED),
        }
        batch.delete_cf(sm, INSTALLING);
        self.db
            .write_opt(batch, &synced())
            .map_err(std::io::Error::other)?;
        Ok(())
    }

    fn finish_interrupted_install(&self) -> Result<(), std::io::Error> {
        let sm = cf(&self.db, CF_SM)?;
        let Some(v) = self
            .db
            .get_cf(sm, INSTALLING)
            .map_err(std::io::Error::other)?
        else {
            return Ok(());
        };
        let meta: SnapshotMeta<u64, BasicNode> =
            serde_json::from_slice(&v).map_err(std::io::Error::other)?;
        check_snapshot_id(&meta.snapshot_id)?;
        tracing::warn!(snapshot = %meta.snapshot_id, "finishing a snapshot install interrupted by a crash");
        self.load_snapshot(&meta)?;
        self.set_current(&meta, false)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(())
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

    /// Records `meta` as the current snapshot (synced) and then removes
    /// older snapshot files. Refuses, returning false, a snapshot older than
    /// the current one. Callers hold the snapshot lock.
    fn set_current(
        &self,
        meta: &SnapshotMeta<u64, BasicNode>,
        only_if_newer: bool,
    ) -> Result<bool, SErr> {
        if only_if_newer {
            if let Some(cur) = self.current_meta()? {
                if cur.last_log_id > meta.last_log_id {
                    return Ok(false);
                }
            }
        }
        let cf = cf(&self.db, CF_SM).map_err(|e| StorageIOError::write_state_machine(io(e)))?;
        self.db
            .put_cf_opt(cf, SNAPSHOT_META, json(meta)?, &synced())
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
        Ok(true)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, SErr> {
        let this = self.clone();
        let meta =
            tokio::task::spawn_blocking(move || -> Result<SnapshotMeta<u64, BasicNode>, SErr> {
                // A checkpoint is consistent across column families (the
                // catalogue and the applied state it reflects) and cheap;
                // the lock keeps it from seeing a half-loaded install.
                let nonce = rand::random::<u64>();
                let cp = this.dir.join(format!("checkpoint-{nonce}.tmp"));
                {
                    let _guard = this.lock();
                    if let Err(e) = snapshot::checkpoint(&this.db, &cp) {
                        let _ = std::fs::remove_dir_all(&cp);
                        return Err(StorageIOError::write_snapshot(None, io(e)).into());
                    }
                }
                let tmp = this.dir.join(format!("build-{nonce}.tmp"));
                let parts = this.dir.join(format!("parts-{nonce}.tmp"));
                let built =
                    snapshot::write_from_checkpoint(&cp, &[LAST_APPLIED, MEMBERSHIP], &tmp, &parts);
                let _ = std::fs::remove_dir_all(&cp);
                if built.is_err() {
                    // A full disk must not stay full until the next restart.
                    let _ = std::fs::remove_file(&tmp);
                    let _ = std::fs::remove_dir_all(&parts);
                }
                let built = built.map_err(|e| StorageIOError::write_snapshot(None, io(e)))?;
                let decode_err = |e: serde_json::Error| StorageIOError::read_state_machine(io(e));
                let last_applied: Option<LogId<u64>> = match &built.sm_values[0] {
                    Some(v) => serde_json::from_slice(v).map_err(decode_err)?,
                    None => None,
                };
                let membership: StoredMembership<u64, BasicNode> = match &built.sm_values[1] {
                    Some(v) => serde_json::from_slice(v).map_err(decode_err)?,
                    None => StoredMembership::default(),
                };
                let id = match &last_applied {
                    Some(l) => {
                        format!("{}-{}-{}", l.leader_id.term, l.index, rand::random::<u32>())
                    }
                    None => format!("0-0-{}", rand::random::<u32>()),
                };
                std::fs::rename(&tmp, this.snapshot_path(&id))
                    .map_err(|e| StorageIOError::write_snapshot(None, io(e)))?;
                tracing::info!(snapshot = %id, entries = built.entries, "snapshot built from a checkpoint");
                let _guard = this.lock();
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
                if this.set_current(&meta, true)? {
                    return Ok(meta);
                }
                // A newer snapshot was installed meanwhile: serve that one.
                let _ = std::fs::remove_file(this.snapshot_path(&meta.snapshot_id));
                this.current_meta()?.ok_or_else(|| {
                    StorageIOError::read_snapshot(
                        None,
                        AnyError::error("current snapshot vanished"),
                    )
                    .into()
                })
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
        txn.index_files = self.index_files;
        let mut batch = WriteBatch::default();
        let mut responses = Vec::new();
        let mut last = None;
        for entry in entries {
            let log_id = entry.log_id;
            let resp = match entry.payload {
                EntryPayload::Blank => Response::default(),
                EntryPayload::Normal(req) => {
                    let mut outcomes = Vec::with_capacity(req.0.commands.len());
                    txn.set_index(log_id.index);
                    for cmd in &req.0.commands {
                        outcomes.push(
                            apply_once::apply_once(&mut txn, log_id.index, cmd)
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
            apply_once::expire_requests(&mut txn, l.index)
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
        check_snapshot_id(&meta.snapshot_id).map_err(wr)?;
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
            let _guard = this.lock();
            // Checked whole before anything changes: a bad file is refused.
            snapshot::verify(&tmp).map_err(wr)?;
            std::fs::rename(&tmp, &path).map_err(wr)?;
            // The rename must be durable before the install marker is: a
            // restart that finds the marker finishes the install from it.
            std::fs::File::open(&this.dir)
                .and_then(|d| d.sync_all())
                .map_err(wr)?;
            this.load_snapshot(&meta2).map_err(wr)?;
            this.set_current(&meta2, false)?;
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
        let file = match tokio::fs::File::open(self.snapshot_path(&meta.snapshot_id)).await {
            Ok(f) => f,
            // Lost with its directory entry in a crash: openraft builds a new one.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StorageIOError::read_snapshot(Some(meta.signature()), io(e)).into())
            }
        };
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(file),
        }))
    }
}
