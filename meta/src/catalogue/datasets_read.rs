//! Reading datasets: a record, a page of records by name, a page of a
//! dataset's attached files, the datasets a file is attached to, a
//! published dataset's manifest and the datasets that keep a file.

use meridian_core::dataset::{DatasetRecord, ManifestEntry, MetadataDoc};
use meridian_proto::v1 as pb;

use super::keys;
use super::read::CatalogueReader;
use crate::dataset_records::dataset_from;
use crate::MetaError;

/// The most a page holds.
pub const MAX_PAGE: usize = 1000;

/// A page of attached files, in (bucket, key) order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilePage {
    pub files: Vec<(String, String)>,
    /// Ask again after this (bucket, key) for more.
    pub next_after: Option<(String, String)>,
}

impl CatalogueReader {
    pub fn dataset(&self, name: &str) -> Result<Option<DatasetRecord>, MetaError> {
        let key = keys::dataset(name);
        self.get::<pb::DatasetRecord>(&key)?
            .map(|r| dataset_from(&keys::describe(&key), &r))
            .transpose()
    }

    /// Datasets in name order after `after` (exclusive), at most `limit`
    /// (1..=1000).
    pub fn datasets(&self, after: &str, limit: usize) -> Result<Vec<DatasetRecord>, MetaError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let prefix = keys::datasets_prefix();
        let mut start = keys::dataset(after);
        if !after.is_empty() {
            start.push(0);
        }
        let mut out = Vec::new();
        self.scan(&prefix, &start, |k, v| {
            let r: pb::DatasetRecord = super::apply::decode(k, v)?;
            out.push(dataset_from(&keys::describe(k), &r)?);
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// `name`'s attached files after `after` (exclusive), at most `limit`.
    pub fn dataset_files(
        &self,
        name: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<FilePage, MetaError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let prefix = keys::dataset_files_prefix(name);
        let start = match after {
            Some((b, k)) => {
                let mut s = keys::dataset_file(name, b, k);
                s.push(0);
                s
            }
            None => prefix.clone(),
        };
        let mut page = FilePage::default();
        let mut more = false;
        self.scan(&prefix, &start, |k, _| {
            if page.files.len() == limit {
                more = true;
                return Ok(false);
            }
            let Some((_, bucket, key)) = keys::parse_dataset_file(k) else {
                return Err(MetaError::Corrupt {
                    key: keys::describe(k),
                    message: "an attachment key that does not parse".into(),
                });
            };
            page.files.push((bucket, key));
            Ok(true)
        })?;
        if more {
            page.next_after = page.files.last().cloned();
        }
        Ok(page)
    }

    /// `name`'s metadata packages, in package-name order.
    pub fn dataset_metadata(&self, name: &str) -> Result<Vec<MetadataDoc>, MetaError> {
        let prefix = keys::dataset_metadata_prefix(name);
        let mut out = Vec::new();
        self.scan(&prefix, &prefix, |k, v| {
            let m: pb::DatasetMetadata = super::apply::decode(k, v)?;
            out.push(MetadataDoc {
                package: m.package,
                schema_version: m.schema_version,
                document: m.document,
                set_ms: m.set_ms,
            });
            // Six packages at most; the bound guards a corrupt range.
            Ok(out.len() < MAX_PAGE)
        })?;
        Ok(out)
    }

    /// The datasets `bucket`/`key` is attached to, by name (at most 1000).
    pub fn file_datasets(&self, bucket: &str, key: &str) -> Result<Vec<String>, MetaError> {
        let prefix = keys::file_datasets_prefix(bucket, key);
        let mut out = Vec::new();
        self.scan(&prefix, &prefix, |k, _| {
            out.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
            Ok(out.len() < MAX_PAGE)
        })?;
        Ok(out)
    }

    /// A published dataset's manifest after (bucket, key) `after`
    /// (exclusive), at most `limit` entries, in (bucket, key) order.
    pub fn manifest(
        &self,
        name: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<ManifestEntry>, MetaError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let prefix = keys::manifest_prefix(name);
        let start = match after {
            Some((b, k)) => {
                let mut s = keys::manifest_entry(name, b, k);
                s.push(0);
                s
            }
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        self.scan(&prefix, &start, |k, v| {
            let corrupt = |message: String| MetaError::Corrupt {
                key: keys::describe(k),
                message,
            };
            let (_, bucket, key) = keys::parse_triple(k)
                .ok_or_else(|| corrupt("a manifest key that does not parse".into()))?;
            let e: pb::ManifestEntry = super::apply::decode(k, v)?;
            let blake3 = <[u8; 32]>::try_from(e.blake3.as_slice())
                .map_err(|_| corrupt("a manifest entry without its BLAKE3".into()))?;
            out.push(ManifestEntry {
                bucket,
                key,
                version_id: e.version_id,
                size: e.size,
                blake3,
            });
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// Which of `named` `bucket`/`key` belongs to: a published dataset's
    /// files are those its publication keeps; an open or closed one's are
    /// those attached to it and those its rules take. For placement rules
    /// that select by dataset; no read at all when `named` is empty.
    pub fn belongs_to(
        &self,
        named: &[DatasetRecord],
        bucket: &str,
        key: &str,
    ) -> Result<Vec<String>, MetaError> {
        if named.is_empty() {
            return Ok(Vec::new());
        }
        let published = |d: &&DatasetRecord| d.published.is_some();
        let kept = if named.iter().any(|d| published(&d)) {
            self.kept_by(bucket, key)?
        } else {
            Vec::new()
        };
        let attached = if named.iter().any(|d| !published(&d)) {
            self.file_datasets(bucket, key)?
        } else {
            Vec::new()
        };
        Ok(named
            .iter()
            .filter(|d| {
                if d.published.is_some() {
                    kept.contains(&d.name)
                } else {
                    attached.contains(&d.name) || d.rules.iter().any(|r| r.matches(bucket, key))
                }
            })
            .map(|d| d.name.clone())
            .collect())
    }

    /// The published datasets that keep `bucket`/`key` (at most 1000).
    pub fn kept_by(&self, bucket: &str, key: &str) -> Result<Vec<String>, MetaError> {
        Ok(self
            .get::<pb::KeptBy>(&keys::kept(bucket, key))?
            .map(|k| k.datasets)
            .unwrap_or_default())
    }
}
