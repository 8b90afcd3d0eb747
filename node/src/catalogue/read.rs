//! Reads of the catalogue's local state as the core's queries ask them,
//! and the mapping of metadata-plane errors to the domain's.

use meridian_core::catalogue::{ListEntry, ListPage, ListQuery};
use meridian_core::records as core;
use meridian_core::CoreError;
use meridian_meta::catalogue::{CatalogueReader, ListItem};
use meridian_meta::{MetaError, OutcomeCode};

pub(crate) fn core_error(e: MetaError) -> CoreError {
    match e {
        MetaError::Rejected { code, message } => match code {
            OutcomeCode::NoSuchBucket => CoreError::NoSuchBucket(message),
            OutcomeCode::BucketExists => CoreError::BucketExists(message),
            OutcomeCode::BucketNotEmpty => CoreError::BucketNotEmpty(message),
            OutcomeCode::NoSuchKey => CoreError::NoSuchKey(message),
            OutcomeCode::NoSuchUpload => CoreError::NoSuchUpload(message),
            OutcomeCode::Invalid => CoreError::InvalidArgument(message),
            OutcomeCode::PreconditionFailed => CoreError::PreconditionFailed(message),
            OutcomeCode::AclNotSupported => CoreError::AclNotSupported(message),
            OutcomeCode::AclConflictsWithOwnership => CoreError::AclConflictsWithOwnership(message),
            OutcomeCode::InvalidBucketState => CoreError::InvalidBucketState(message),
            OutcomeCode::NoObjectLock => CoreError::NoObjectLock(message),
            OutcomeCode::ObjectLocked => CoreError::ObjectLocked(message),
            OutcomeCode::NoSuchDataset => CoreError::NoSuchDataset(message),
            OutcomeCode::DatasetExists => CoreError::DatasetExists(message),
            OutcomeCode::DatasetState => CoreError::DatasetState(message),
            // A grant naming a user that does not exist (S3: "Invalid id").
            OutcomeCode::NoSuchUser => CoreError::InvalidArgument(format!("Invalid id: {message}")),
            // Users and keys are the admin API's; the gateway never writes them.
            OutcomeCode::UserExists | OutcomeCode::NoSuchAccessKey => {
                CoreError::InvalidArgument(message)
            }
        },
        MetaError::Unavailable(m) => CoreError::Unavailable(m),
        MetaError::Corrupt { key, message } => CoreError::Corrupt(format!("{key}: {message}")),
        other => CoreError::Internal(other.to_string()),
    }
}

/// A bucket from `reader`'s local state.
pub(crate) fn bucket_from(
    reader: &CatalogueReader,
    name: &str,
) -> Result<core::BucketRecord, CoreError> {
    reader
        .bucket(name)
        .map_err(core_error)?
        .ok_or_else(|| CoreError::NoSuchBucket(name.to_string()))
}

/// An object from `reader`'s local state.
pub(super) fn object_from(
    reader: &CatalogueReader,
    bucket: &str,
    key: &str,
) -> Result<core::ObjectRecord, CoreError> {
    let id = bucket_from(reader, bucket)?.id;
    reader
        .object(id, key)
        .map_err(core_error)?
        .ok_or_else(|| CoreError::NoSuchKey(key.to_string()))
}

/// One page of a listing from `reader`'s local state.
pub(super) fn list_page(reader: &CatalogueReader, q: &ListQuery) -> Result<ListPage, CoreError> {
    let id = bucket_from(reader, &q.bucket)?.id;
    let page = reader
        .list(
            id,
            &q.prefix,
            q.delimiter.as_deref(),
            q.start_after.as_deref(),
            q.max_keys.min(1000),
        )
        .map_err(core_error)?;
    let entries: Vec<ListEntry> = page
        .items
        .into_iter()
        .map(|i| match i {
            ListItem::Object { key, record } => ListEntry::Object { record, key },
            ListItem::Prefix(p) => ListEntry::Prefix(p),
        })
        .collect();
    let next_after = if page.truncated {
        entries.last().map(|e| match e {
            ListEntry::Object { key, .. } => key.clone(),
            ListEntry::Prefix(p) => p.clone(),
        })
    } else {
        None
    };
    Ok(ListPage {
        entries,
        truncated: page.truncated,
        next_after,
    })
}
