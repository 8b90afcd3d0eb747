//! CopyObject: the destination needs put permission (checked before the
//! operation, like any write), the source get permission (checked here:
//! it is named in a header, not the path). The copy-source conditions
//! answer 412 when they fail, never 304.

use s3s::dto::*;
use s3s::{s3_error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::errors::{invalid_argument, not_implemented};
use super::object::{check_conditions, Conditions};
use super::{etag, requester, timestamp, MeridianS3};
use crate::access::{allowed, Action, Caller};
use crate::backend::WriteCondition;
use crate::objects::NewObject;

impl MeridianS3 {
    pub(super) async fn do_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let caller = req
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Admin);
        let who = requester(&req);
        let input = req.input;
        if input.sse_customer_algorithm.is_some()
            || input.copy_source_sse_customer_algorithm.is_some()
            || input.server_side_encryption.is_some()
            || input.ssekms_key_id.is_some()
        {
            return Err(not_implemented("Server-side encryption"));
        }
        if input.object_lock_mode.is_some() {
            return Err(not_implemented("Object lock"));
        }
        if input
            .tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str() != TaggingDirective::COPY)
        {
            return Err(not_implemented("Tagging directive REPLACE"));
        }
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            version_id,
        } = &input.copy_source
        else {
            return Err(not_implemented("Access-point copy sources"));
        };
        if version_id.is_some() {
            return Err(not_implemented("Object versions"));
        }
        let access = self
            .gateway
            .bucket_access(src_bucket)
            .await?
            .ok_or_else(|| crate::GatewayError::NoSuchBucket(src_bucket.to_string()))?;
        if !allowed(&caller, &access, Action::GetObject, Some(src_key)) {
            return Err(s3_error!(AccessDenied, "Access Denied to the copy source"));
        }
        let record = self.gateway.catalogue().object(src_bucket, src_key).await?;
        let conditions = Conditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        };
        check_conditions(&record, &conditions).map_err(|e| {
            if *e.code() == S3ErrorCode::NotModified {
                s3_error!(PreconditionFailed, "The copy source was not modified")
            } else {
                e
            }
        })?;
        let directive = input
            .metadata_directive
            .as_ref()
            .map_or(MetadataDirective::COPY, |d| d.as_str());
        let (content_type, user_meta) = match directive {
            MetadataDirective::COPY => (record.content_type.clone(), record.user_meta.clone()),
            MetadataDirective::REPLACE => (
                input.content_type.unwrap_or_default(),
                input.metadata.unwrap_or_default(),
            ),
            other => {
                return Err(invalid_argument(format!(
                    "x-amz-metadata-directive {other:?}: COPY or REPLACE"
                )))
            }
        };
        if **src_bucket == *input.bucket
            && **src_key == *input.key
            && directive == MetadataDirective::COPY
        {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let source = crate::backend::CopySource {
            bucket: src_bucket.to_string(),
            key: src_key.to_string(),
            version_id: record.version_id.clone(),
        };
        let dst = NewObject {
            bucket: input.bucket,
            key: input.key,
            content_type,
            user_meta,
            owner: who,
            condition: WriteCondition::Always,
            // The tagging directive's default, COPY.
            tags: record.tags.clone(),
            ..Default::default()
        };
        let copied = self
            .gateway
            .copy_object(self.site, source, record, dst)
            .await?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&copied.etag)),
                last_modified: Some(timestamp(copied.created_ms)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }
}
