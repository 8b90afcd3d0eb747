//! Datasets in memory, under the same rules as the state machine's
//! (`meridian-meta`'s `datasets.rs` and `publish.rs`): the core's life,
//! attachments of stored objects all or none, publication fixing the
//! manifest and keeping its files.

use std::collections::BTreeSet;

use super::State;
use crate::dataset::{
    check_dataset_name, manifest_hash, Change, DatasetChange, DatasetRecord, DatasetState,
    FilePage, FileRef, ManifestEntry, MetadataDoc, NewDataset, Publication, MAX_METADATA_BYTES,
    METADATA_PACKAGES,
};
use crate::CoreError;

const MAX_FILES_PER_CHANGE: usize = 10_000;
const MAX_MANIFEST: usize = 100_000;
const MAX_PAGE: usize = 1000;

fn no_dataset(name: &str) -> CoreError {
    CoreError::NoSuchDataset(name.to_string())
}

impl State {
    pub(super) fn kept_refusal(&self, bucket: &str, key: &str) -> Result<(), CoreError> {
        match self.kept.get(&(bucket.to_string(), key.to_string())).and_then(|s| s.first()) {
            Some(name) => Err(CoreError::DatasetState(format!(
                "{bucket}/{key} is a file of published dataset {name}: it may not be overwritten or deleted"
            ))),
            None => Ok(()),
        }
    }

    fn stored(&self, f: &FileRef) -> Option<&crate::records::ObjectRecord> {
        self.buckets
            .get(&f.bucket)
            .and_then(|b| b.current.get(&f.key))
            .filter(|r| !r.delete_marker)
    }

    pub(super) fn create_dataset(&mut self, d: NewDataset, now_ms: i64) -> Result<(), CoreError> {
        check_dataset_name(&d.name)?;
        d.kind.check()?;
        if d.owner.is_empty() {
            return Err(CoreError::InvalidArgument("a dataset has an owner".into()));
        }
        for r in &d.rules {
            crate::names::check_bucket_name(&r.bucket)?;
        }
        if self.datasets.contains_key(&d.name) {
            return Err(CoreError::DatasetExists(d.name));
        }
        self.datasets.insert(d.name.clone(), d.into_record(now_ms));
        Ok(())
    }

    pub(super) fn dataset(&self, name: &str) -> Result<DatasetRecord, CoreError> {
        self.datasets
            .get(name)
            .cloned()
            .ok_or_else(|| no_dataset(name))
    }

    pub(super) fn list_datasets(&self, after: &str, limit: usize) -> Vec<DatasetRecord> {
        self.datasets
            .range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            .take(limit.clamp(1, MAX_PAGE))
            .map(|(_, d)| d.clone())
            .collect()
    }

    pub(super) fn change_dataset(
        &mut self,
        name: &str,
        change: DatasetChange,
        if_version: u64,
        now_ms: i64,
    ) -> Result<(), CoreError> {
        let mut d = self.dataset(name)?;
        if if_version != 0 && if_version != d.version {
            return Err(CoreError::PreconditionFailed(format!(
                "{name} is at version {}, not {if_version} as the change expected",
                d.version
            )));
        }
        let kind = match &change {
            DatasetChange::Close => Change::Close,
            DatasetChange::Reopen => Change::Reopen,
            DatasetChange::Describe { .. } => Change::Describe,
            DatasetChange::Attach(_) | DatasetChange::Detach(_) => Change::Membership,
            DatasetChange::Publish => Change::Publish,
            DatasetChange::Delete => Change::Delete,
            DatasetChange::SetAccess { .. } => Change::Access,
            DatasetChange::SetMetadata(_) => Change::Describe,
        };
        d.check_change(kind)?;
        match change {
            DatasetChange::Close => d.state = DatasetState::Closed,
            DatasetChange::Reopen => d.state = DatasetState::Open,
            DatasetChange::Describe { description, rules } => {
                if rules != d.rules {
                    d.check_change(Change::Membership)?;
                    for r in &rules {
                        crate::names::check_bucket_name(&r.bucket)?;
                    }
                }
                d.description = description;
                d.rules = rules;
            }
            DatasetChange::Attach(files) | DatasetChange::Detach(files)
                if files.is_empty() || files.len() > MAX_FILES_PER_CHANGE =>
            {
                return Err(CoreError::InvalidArgument(format!(
                    "1 to {MAX_FILES_PER_CHANGE} files per attach or detach"
                )))
            }
            DatasetChange::Attach(files) => {
                if let Some(f) = files.iter().find(|f| self.stored(f).is_none()) {
                    return Err(CoreError::NoSuchKey(format!(
                        "{}/{}: only a stored object joins a dataset",
                        f.bucket, f.key
                    )));
                }
                let before = d.files;
                for f in files {
                    if self.attached.insert((name.to_string(), f.bucket, f.key)) {
                        d.files += 1;
                    }
                }
                if d.files == before {
                    return Ok(());
                }
                d.last_join_ms = now_ms;
            }
            DatasetChange::Detach(files) => {
                let before = d.files;
                for f in files {
                    if self.attached.remove(&(name.to_string(), f.bucket, f.key)) {
                        d.files -= 1;
                    }
                }
                if d.files == before {
                    return Ok(());
                }
            }
            DatasetChange::Publish => {
                let manifest = self.manifest_of(&d)?;
                d.published = Some(Publication {
                    published_ms: now_ms,
                    manifest_hash: manifest_hash(&manifest)?,
                    files: manifest.len() as u64,
                    bytes: manifest.iter().map(|e| e.size).sum(),
                });
                for e in &manifest {
                    self.kept
                        .entry((e.bucket.clone(), e.key.clone()))
                        .or_default()
                        .insert(name.to_string());
                }
                self.manifests.insert(name.to_string(), manifest);
                d.state = DatasetState::Published;
            }
            DatasetChange::Delete => {
                self.attached.retain(|(n, _, _)| n != name);
                self.metadata.retain(|(n, _), _| n != name);
                self.datasets.remove(name);
                return Ok(());
            }
            DatasetChange::SetAccess { grants, policy } => {
                d.grants = grants;
                d.policy = policy;
            }
            DatasetChange::SetMetadata(mut m) => {
                if !METADATA_PACKAGES.contains(&m.package.as_str())
                    || m.document.len() > MAX_METADATA_BYTES
                {
                    return Err(CoreError::InvalidArgument(format!(
                        "metadata package {:?} of {} bytes",
                        m.package,
                        m.document.len()
                    )));
                }
                let at = (name.to_string(), m.package.clone());
                if m.document.is_empty() {
                    self.metadata.remove(&at);
                } else {
                    m.set_ms = now_ms;
                    self.metadata.insert(at, m);
                }
            }
        }
        d.version += 1;
        d.updated_ms = now_ms;
        self.datasets.insert(name.to_string(), d);
        Ok(())
    }

    fn manifest_of(&self, d: &DatasetRecord) -> Result<Vec<ManifestEntry>, CoreError> {
        let mut files: BTreeSet<FileRef> = self
            .attached
            .iter()
            .filter(|(n, _, _)| *n == d.name)
            .map(|(_, bucket, key)| FileRef {
                bucket: bucket.clone(),
                key: key.clone(),
            })
            .collect();
        for rule in &d.rules {
            if let Some(b) = self.buckets.get(&rule.bucket) {
                for (key, rec) in b.current.range(rule.prefix.clone()..) {
                    if !key.starts_with(&rule.prefix) {
                        break;
                    }
                    if !rec.delete_marker {
                        files.insert(FileRef {
                            bucket: rule.bucket.clone(),
                            key: key.clone(),
                        });
                    }
                }
            }
        }
        if files.len() > MAX_MANIFEST {
            return Err(CoreError::DatasetState(format!(
                "{}: more than {MAX_MANIFEST} files; publish it as several datasets",
                d.name
            )));
        }
        if files.is_empty() {
            return Err(CoreError::DatasetState(format!(
                "{}: nothing to publish (no file is attached or taken by a rule)",
                d.name
            )));
        }
        let mut out = Vec::with_capacity(files.len());
        for f in files {
            let Some(rec) = self.stored(&f) else {
                return Err(CoreError::DatasetState(format!(
                    "{}: {}/{} is attached but no longer stored: detach it, then publish",
                    d.name, f.bucket, f.key
                )));
            };
            out.push(ManifestEntry {
                version_id: rec.version_id.clone(),
                size: rec.size,
                blake3: rec.blake3.unwrap_or_default(),
                bucket: f.bucket,
                key: f.key,
            });
        }
        Ok(out)
    }

    pub(super) fn dataset_files(
        &self,
        name: &str,
        after: Option<FileRef>,
        limit: usize,
    ) -> FilePage {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut files: Vec<FileRef> = self
            .attached
            .iter()
            .filter(|(n, b, k)| {
                n == name
                    && after.as_ref().is_none_or(|a| {
                        (b.as_str(), k.as_str()) > (a.bucket.as_str(), a.key.as_str())
                    })
            })
            .take(limit + 1)
            .map(|(_, bucket, key)| FileRef {
                bucket: bucket.clone(),
                key: key.clone(),
            })
            .collect();
        let more = files.len() > limit;
        files.truncate(limit);
        FilePage {
            next_after: if more { files.last().cloned() } else { None },
            files,
        }
    }

    pub(super) fn manifest(
        &self,
        name: &str,
        after: Option<FileRef>,
        limit: usize,
    ) -> Vec<ManifestEntry> {
        self.manifests
            .get(name)
            .into_iter()
            .flatten()
            .filter(|e| {
                after.as_ref().is_none_or(|a| {
                    (e.bucket.as_str(), e.key.as_str()) > (a.bucket.as_str(), a.key.as_str())
                })
            })
            .take(limit.clamp(1, MAX_PAGE))
            .cloned()
            .collect()
    }

    pub(super) fn dataset_metadata(&self, name: &str) -> Result<Vec<MetadataDoc>, CoreError> {
        self.dataset(name)?;
        Ok(self
            .metadata
            .range((name.to_string(), String::new())..)
            .take_while(|((n, _), _)| n == name)
            .map(|(_, m)| m.clone())
            .collect())
    }

    pub(super) fn file_datasets(&self, bucket: &str, key: &str) -> Vec<String> {
        self.attached
            .iter()
            .filter(|(_, b, k)| b == bucket && k == key)
            .map(|(n, _, _)| n.clone())
            .collect()
    }
}
