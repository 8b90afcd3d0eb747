//! The versioning half of the gateway's catalogue: reads of versions and
//! what a write's outcome says about the version it made.

use meridian_core::catalogue::{Deleted, VersionEntry, VersionPage, VersionQuery};
use meridian_core::records::ObjectRecord;
use meridian_core::records::Versioning;
use meridian_core::CoreError;
use meridian_meta::catalogue::{CatalogueReader, VersionItem};
use meridian_meta::Outcome;

use super::read::{bucket_from, core_error};

/// The versioning a committed record was written under, from its outcome.
pub fn versioning_of(out: &Outcome) -> Versioning {
    match out {
        Outcome::Versioned { version_id, .. } if version_id == "null" => Versioning::Suspended,
        Outcome::Versioned { .. } => Versioning::Enabled,
        _ => Versioning::Off,
    }
}

pub fn deleted(out: Outcome) -> Deleted {
    match out {
        Outcome::Versioned {
            version_id,
            delete_marker,
        } => Deleted {
            version_id: Some(version_id),
            delete_marker,
        },
        _ => Deleted::default(),
    }
}

pub fn object_version(
    reader: &CatalogueReader,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<ObjectRecord, CoreError> {
    let id = bucket_from(reader, bucket)?.id;
    let record = reader
        .object_version(id, key, version_id)
        .map_err(core_error)?
        .ok_or_else(|| CoreError::NoSuchVersion(format!("{key} version {version_id}")))?;
    if record.delete_marker {
        return Err(CoreError::DeleteMarker(format!(
            "{key} version {version_id}"
        )));
    }
    Ok(record)
}

pub fn list_versions(reader: &CatalogueReader, q: &VersionQuery) -> Result<VersionPage, CoreError> {
    let id = bucket_from(reader, &q.bucket)?.id;
    let page = reader
        .list_versions(
            id,
            &q.prefix,
            q.delimiter.as_deref(),
            q.key_marker.as_deref(),
            q.version_marker.as_deref(),
            q.max_keys.clamp(1, 1000),
        )
        .map_err(core_error)?;
    Ok(VersionPage {
        entries: page
            .items
            .into_iter()
            .map(|i| match i {
                VersionItem::Version {
                    key,
                    record,
                    latest,
                } => VersionEntry::Version {
                    record,
                    key,
                    latest,
                },
                VersionItem::Prefix(p) => VersionEntry::Prefix(p),
            })
            .collect(),
        truncated: page.truncated,
    })
}
