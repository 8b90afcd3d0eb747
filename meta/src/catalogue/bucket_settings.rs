//! Bucket settings other than grants and policy: versioning, tags, CORS,
//! lifecycle rules.

use meridian_proto::v1::{
    SetBucketCorsCmd, SetBucketLifecycleCmd, SetBucketTagsCmd, SetVersioningCmd, Versioning,
};
use prost::Message;

use super::apply::{bucket, reject};
use super::keys;
use super::txn::Txn;
use crate::types::{Outcome, OutcomeCode};
use crate::MetaError;

/// S3 allows 100 CORS rules per bucket.
const MAX_CORS_RULES: usize = 100;

/// S3 allows 1000 lifecycle rules per bucket.
const MAX_LIFECYCLE_RULES: usize = 1000;

/// S3 allows 50 tags per bucket.
const MAX_BUCKET_TAGS: usize = 50;

pub(super) fn set_versioning(
    txn: &mut Txn<'_>,
    c: &SetVersioningCmd,
) -> Result<Outcome, MetaError> {
    let Some(mut b) = bucket(txn, &c.bucket)? else {
        return Ok(reject(OutcomeCode::NoSuchBucket, c.bucket.clone()));
    };
    if c.versioning != Versioning::Enabled as u32 && c.versioning != Versioning::Suspended as u32 {
        return Ok(reject(
            OutcomeCode::Invalid,
            "versioning is Enabled or Suspended (once on, it cannot be turned off)",
        ));
    }
    if super::protection::lock_enabled(&b) && c.versioning != Versioning::Enabled as u32 {
        return Ok(reject(
            OutcomeCode::InvalidBucketState,
            "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
        ));
    }
    b.versioning = c.versioning;
    txn.put(keys::bucket(&c.bucket), b.encode_to_vec());
    Ok(Outcome::Done)
}

pub(super) fn set_bucket_tags(
    txn: &mut Txn<'_>,
    c: &SetBucketTagsCmd,
) -> Result<Outcome, MetaError> {
    let Some(mut b) = bucket(txn, &c.bucket)? else {
        return Ok(reject(OutcomeCode::NoSuchBucket, c.bucket.clone()));
    };
    if c.tags.len() > MAX_BUCKET_TAGS {
        return Ok(reject(
            OutcomeCode::Invalid,
            format!("at most {MAX_BUCKET_TAGS} tags per bucket"),
        ));
    }
    b.tags = c.tags.clone();
    txn.put(keys::bucket(&c.bucket), b.encode_to_vec());
    Ok(Outcome::Done)
}

/// The rules' contents are checked by the gateway (they are S3's syntax);
/// only the bound that keeps the record small is checked here.
pub(super) fn set_bucket_cors(
    txn: &mut Txn<'_>,
    c: &SetBucketCorsCmd,
) -> Result<Outcome, MetaError> {
    let Some(mut b) = bucket(txn, &c.bucket)? else {
        return Ok(reject(OutcomeCode::NoSuchBucket, c.bucket.clone()));
    };
    if c.rules.len() > MAX_CORS_RULES {
        return Ok(reject(
            OutcomeCode::Invalid,
            format!("at most {MAX_CORS_RULES} CORS rules per bucket"),
        ));
    }
    b.cors = c.rules.clone();
    txn.put(keys::bucket(&c.bucket), b.encode_to_vec());
    Ok(Outcome::Done)
}

pub(super) fn set_bucket_lifecycle(
    txn: &mut Txn<'_>,
    c: &SetBucketLifecycleCmd,
) -> Result<Outcome, MetaError> {
    let Some(mut b) = bucket(txn, &c.bucket)? else {
        return Ok(reject(OutcomeCode::NoSuchBucket, c.bucket.clone()));
    };
    if c.rules.len() > MAX_LIFECYCLE_RULES {
        return Ok(reject(
            OutcomeCode::Invalid,
            format!("at most {MAX_LIFECYCLE_RULES} lifecycle rules per bucket"),
        ));
    }
    b.lifecycle = c.rules.clone();
    txn.put(keys::bucket(&c.bucket), b.encode_to_vec());
    Ok(Outcome::Done)
}
