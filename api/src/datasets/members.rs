//! What a dataset holds, walked from the catalogue: its published manifest,
//! or (before publication) its attached files and its rules' files at their
//! current versions. Bounded: a walk stops at [`MAX_MEMBERS`] files and
//! says so, so a card or an export of a vast open dataset answers in
//! bounded time rather than not at all.

use std::collections::BTreeMap;

use meridian_core::catalogue::{Catalogue, ListEntry, ListQuery};
use meridian_core::dataset::{DatasetRecord, DatasetState, FileRef};
use meridian_core::records::ObjectRecord;
use meridian_core::CoreError;

/// Files a walk visits at most (the manifest's own bound).
pub const MAX_MEMBERS: usize = 100_000;
const PAGE: usize = 1000;

/// One member file as it stands.
#[derive(Debug, Clone)]
pub struct Member {
    pub file: FileRef,
    pub record: ObjectRecord,
}

/// A dataset's members, in (bucket, key) order.
#[derive(Debug, Clone, Default)]
pub struct Members {
    pub files: Vec<Member>,
    /// Attached files that are gone (deleted since they were attached).
    pub missing: u64,
    /// The walk stopped at [`MAX_MEMBERS`].
    pub truncated: bool,
}

impl Members {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|m| m.record.size).sum()
    }
}

/// Walks `d`'s members.
pub async fn walk(c: &dyn Catalogue, d: &DatasetRecord) -> Result<Members, CoreError> {
    if d.state == DatasetState::Published {
        return published(c, d).await;
    }
    let mut found: BTreeMap<FileRef, Option<ObjectRecord>> = BTreeMap::new();
    let mut after = None;
    loop {
        let page = c.dataset_files(&d.name, after.clone(), PAGE).await?;
        for f in page.files {
            found.insert(f, None);
        }
        if found.len() > MAX_MEMBERS {
            break;
        }
        match page.next_after {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    for rule in &d.rules {
        let mut start_after = None;
        while found.len() <= MAX_MEMBERS {
            let page = c
                .list_objects(&ListQuery {
                    bucket: rule.bucket.clone(),
                    prefix: rule.prefix.clone(),
                    delimiter: None,
                    start_after: start_after.clone(),
                    max_keys: PAGE,
                })
                .await?;
            for e in page.entries {
                if let ListEntry::Object { key, record } = e {
                    let f = FileRef {
                        bucket: rule.bucket.clone(),
                        key,
                    };
                    found.insert(f, Some(record));
                }
            }
            if !page.truncated {
                break;
            }
            start_after = page.next_after;
        }
    }
    let truncated = found.len() > MAX_MEMBERS;
    let mut out = Members {
        truncated,
        ..Default::default()
    };
    for (file, record) in found.into_iter().take(MAX_MEMBERS) {
        let record = match record {
            Some(r) => r,
            None => match c.object(&file.bucket, &file.key).await {
                Ok(r) => r,
                Err(CoreError::NoSuchKey(_) | CoreError::DeleteMarker(_)) => {
                    out.missing += 1;
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        out.files.push(Member { file, record });
    }
    Ok(out)
}

/// A published dataset's members: the versions its manifest fixed.
async fn published(c: &dyn Catalogue, d: &DatasetRecord) -> Result<Members, CoreError> {
    let mut out = Members::default();
    let mut after = None;
    loop {
        let page = c.manifest(&d.name, after.clone(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(FileRef {
            bucket: last.bucket.clone(),
            key: last.key.clone(),
        });
        for e in &page {
            let file = FileRef {
                bucket: e.bucket.clone(),
                key: e.key.clone(),
            };
            // A kept file cannot be overwritten, so its current version is
            // the manifest's; an older one is read by id.
            let current = match c.object(&e.bucket, &e.key).await {
                Ok(r) if r.version_id == e.version_id => Ok(r),
                Ok(_) | Err(CoreError::NoSuchKey(_) | CoreError::DeleteMarker(_)) => {
                    c.object_version(&e.bucket, &e.key, &e.version_id).await
                }
                Err(e) => Err(e),
            };
            match current {
                Ok(record) => out.files.push(Member { file, record }),
                Err(
                    CoreError::NoSuchKey(_)
                    | CoreError::NoSuchVersion(_)
                    | CoreError::DeleteMarker(_),
                ) => out.missing += 1,
                Err(e) => return Err(e),
            }
        }
        if page.len() < PAGE || out.files.len() >= MAX_MEMBERS {
            out.truncated = page.len() == PAGE && out.files.len() >= MAX_MEMBERS;
            break;
        }
    }
    Ok(out)
}
