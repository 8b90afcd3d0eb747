//! The S3 API: an [`s3s::S3`] implementation over [`Objects`].
//!
//! s3s does the protocol work (routing, SigV4, XML, headers); this module only
//! translates between its DTOs and the gateway core. Operations not listed on
//! [`MeridianS3`] keep s3s's default answer, `NotImplemented`, and so do the
//! options of listed operations that Meridian cannot honour (versions, SSE,
//! conditional writes): refusing is better than silently ignoring them.
//!
//! Code map: `bucket` (bucket operations), `object` (single objects),
//! [`list`] (listings and their continuation tokens), `multipart`,
//! [`body`] (request and response streams), [`errors`] (error mapping),
//! [`server`] (the HTTP listener); `testkit` holds the in-memory catalogue
//! and chunk store the tests run against.

use errors::OrS3;
use std::sync::Arc;
use std::time::Duration;

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, S3};

use meridian_objects::Objects;

mod acl;
mod auth;
pub mod body;
mod bucket;
mod bucket_policy;
mod bucket_protection;
mod checksum;
mod copy;
mod cors;
mod delete_many;
pub mod errors;
pub mod facts;
mod front;
mod lifecycle_config;
pub mod list;
mod multipart;
mod object;
mod part_checksums;
mod post_form;
mod post_object;
pub mod region;
mod request_time;
mod retention;
pub mod server;
mod tagging;
pub mod tracking;
mod uploads_list;
mod versioning;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_hostile;
#[cfg(test)]
mod tests_http;
#[cfg(test)]
mod tests_list_mpu;
#[cfg(test)]
mod tests_presign;

pub use server::{serve, serve_service, service, EndpointConfig, ServeOptions};

/// The clock's reading as a UTC date (the epoch if it cannot be one).
use meridian_core::clock::utc_now;

/// Who owns what an anonymous caller writes (into a bucket whose ACL or
/// policy lets everyone write). No user can take the name.
const ANONYMOUS_OWNER: &str = "anonymous";

/// The S3 front end of one gateway: requests are served at `site`, so writes
/// land there first and reads are sourced for a reader there.
pub struct MeridianS3 {
    gateway: Arc<Objects>,
    site: u32,
    /// See `multipart::COMPLETE_INLINE_WAIT`.
    complete_inline_wait: Duration,
    /// Base domain of virtual-host addressing, if enabled.
    domain: Option<String>,
    /// The regions requests may be signed for, and each bucket's.
    regions: Arc<region::Regions>,
    /// A lifecycle rule's day (shorter in tests), for the expiry that
    /// `x-amz-expiration` announces.
    lifecycle_day_ms: i64,
    /// Whether SigV2 signatures are accepted.
    sigv2: bool,
}

impl MeridianS3 {
    pub fn new(gateway: Arc<Objects>, site: u32) -> Self {
        let regions = region::Regions::new(gateway.topology(), region::DEFAULT_REGION);
        MeridianS3 {
            gateway,
            site,
            complete_inline_wait: multipart::COMPLETE_INLINE_WAIT,
            domain: None,
            regions: Arc::new(regions),
            lifecycle_day_ms: 86_400_000,
            sigv2: true,
        }
    }

    /// Accepts SigV2 signatures or not.
    pub fn with_sigv2(mut self, on: bool) -> Self {
        self.sigv2 = on;
        self
    }

    pub fn sigv2(&self) -> bool {
        self.sigv2
    }

    /// Sets the length of a lifecycle day (the lifecycle job's).
    pub fn with_lifecycle_day(mut self, day: Duration) -> Self {
        self.lifecycle_day_ms = i64::try_from(day.as_millis()).unwrap_or(i64::MAX).max(1);
        self
    }

    /// Sets the federation's default region (a well-formed region name).
    pub fn with_region(mut self, default: &str) -> Self {
        self.regions = Arc::new(region::Regions::new(self.gateway.topology(), default));
        self
    }

    pub fn regions(&self) -> &Arc<region::Regions> {
        &self.regions
    }

    /// Accepts `BUCKET.domain` hosts as well as path-style requests.
    pub fn with_virtual_host_domain(mut self, domain: String) -> Self {
        self.domain = Some(domain);
        self
    }

    pub fn virtual_host_domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// Lets tests reach the keep-alive answer of CompleteMultipartUpload
    /// without a slow completion.
    #[cfg(test)]
    fn with_complete_inline_wait(mut self, wait: Duration) -> Self {
        self.complete_inline_wait = wait;
        self
    }

    pub fn gateway(&self) -> &Arc<Objects> {
        &self.gateway
    }

    pub fn site(&self) -> u32 {
        self.site
    }
}

impl MeridianS3 {
    /// The version a request addresses (the current one, or `version`),
    /// with a decision that waited for it finished: a missing one is 404
    /// only to a caller who may list the bucket.
    async fn addressed_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&ObjectVersionId>,
        deferred: Option<&auth::Deferred>,
    ) -> S3Result<meridian_core::records::ObjectRecord> {
        let cat = self.gateway.catalogue();
        let rec = match version {
            Some(v) => cat.object_version(bucket, key, v).await,
            None => cat.object(bucket, key).await,
        };
        let rec = match rec {
            Ok(r) => r,
            Err(
                e @ (meridian_core::CoreError::NoSuchKey(_)
                | meridian_core::CoreError::NoSuchVersion(_)),
            ) => return Err(auth::missing_object(deferred, errors::s3_error(e))),
            Err(e @ meridian_core::CoreError::DeleteMarker(_)) => {
                let e = versioning::read_error(e, version.map(|v| v.as_str()));
                return Err(auth::missing_object(deferred, e));
            }
            Err(e) => return Err(versioning::read_error(e, version.map(|v| v.as_str()))),
        };
        auth::authorize_object(deferred, &rec)?;
        Ok(rec)
    }

    /// Applies `change` to the version `rec` was read as; OperationAborted
    /// if the key moved on meanwhile.
    async fn change_version(
        &self,
        bucket: &str,
        key: &str,
        rec: &meridian_core::records::ObjectRecord,
        change: meridian_core::catalogue::VersionChange,
    ) -> S3Result<()> {
        let changed = self
            .gateway
            .catalogue()
            .update_version(bucket, key, &rec.version_id, change)
            .await
            .or_s3()?;
        if !changed {
            return Err(s3s::s3_error!(
                OperationAborted,
                "The object changed meanwhile; retry"
            ));
        }
        Ok(())
    }

    /// A bucket's versioning state as the permission check just saw it
    /// (cached with the bucket's permissions); off if it is unknown.
    async fn bucket_versioning(&self, bucket: &str) -> meridian_core::records::Versioning {
        match self.gateway.bucket_access(bucket).await {
            Ok(Some(b)) => b.versioning,
            _ => meridian_core::records::Versioning::Off,
        }
    }
}

/// The user a request acts for, who owns what it creates.
fn requester<T>(req: &S3Request<T>) -> String {
    auth::user_of(req)
}

/// A catalogue time (ms since the epoch) as an S3 timestamp.
fn timestamp(ms: i64) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

/// Catalogue ETags are stored bare; S3 sends them quoted, which the `Strong`
/// form does on the wire.
fn etag(bare: &str) -> ETag {
    ETag::Strong(bare.to_string())
}

fn owner(id: &str) -> Owner {
    Owner {
        display_name: Some(id.to_string()),
        id: Some(id.to_string()),
    }
}

#[async_trait::async_trait]
impl S3 for MeridianS3 {
    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        self.do_put_bucket_lifecycle_configuration(req).await
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        self.do_get_bucket_lifecycle_configuration(req).await
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.do_delete_bucket_lifecycle(req).await
    }
    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        self.do_put_bucket_cors(req).await
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        self.do_get_bucket_cors(req).await
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.do_delete_bucket_cors(req).await
    }
    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        self.do_put_bucket_versioning(req).await
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.do_get_bucket_versioning(req).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        self.do_list_object_versions(req).await
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        self.do_put_bucket_tagging(req).await
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        self.do_get_bucket_tagging(req).await
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.do_delete_bucket_tagging(req).await
    }

    async fn post_object(
        &self,
        req: S3Request<PostObjectInput>,
    ) -> S3Result<S3Response<PostObjectOutput>> {
        self.do_post_object(req).await
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        self.do_get_bucket_acl(req).await
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        self.do_put_bucket_acl(req).await
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        self.do_get_object_acl(req).await
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        self.do_put_object_acl(req).await
    }

    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        self.do_put_bucket_ownership_controls(req).await
    }

    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        self.do_get_bucket_ownership_controls(req).await
    }

    async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        self.do_delete_bucket_ownership_controls(req).await
    }

    async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        self.do_put_public_access_block(req).await
    }

    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        self.do_get_public_access_block(req).await
    }

    async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        self.do_delete_public_access_block(req).await
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        self.do_get_bucket_policy_status(req).await
    }

    async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        self.do_put_object_lock_configuration(req).await
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        self.do_get_object_lock_configuration(req).await
    }

    async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        self.do_put_object_retention(req).await
    }

    async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        self.do_get_object_retention(req).await
    }

    async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        self.do_put_object_legal_hold(req).await
    }

    async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        self.do_get_object_legal_hold(req).await
    }
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.do_create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.do_head_bucket(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.do_list_buckets(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.do_delete_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.do_get_bucket_location(req).await
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        self.do_put_bucket_policy(req).await
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        self.do_get_bucket_policy(req).await
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.do_delete_bucket_policy(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.do_put_object(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.do_get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.do_head_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.do_delete_object(req).await
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        self.do_put_object_tagging(req).await
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        self.do_get_object_tagging(req).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.do_delete_object_tagging(req).await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        self.do_get_object_attributes(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.do_list_multipart_uploads(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.do_upload_part_copy(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.do_copy_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.do_delete_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.do_list_objects_v2(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.do_list_objects(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.do_create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.do_upload_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.do_complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.do_abort_multipart_upload(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.do_list_parts(req).await
    }
}
