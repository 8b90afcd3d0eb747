//! CopyObject and UploadPartCopy: the destination needs put permission (checked before the
//! operation, like any write), the source get permission (checked here:
//! it is named in a header, not the path). The copy-source conditions
//! answer 412 when they fail, never 304.

use super::errors::OrS3;
use futures::StreamExt;
use s3s::dto::*;
use s3s::{s3_error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::errors::{invalid_argument, not_implemented};
use super::object::{check_conditions, Conditions};
use super::{etag, requester, timestamp, MeridianS3};
use meridian_core::access::{decide, Caller, Facts, ObjectAccess, Verdict};
use meridian_core::catalogue::WriteCondition;
use meridian_objects::NewObject;

/// The copy-source side of CopyObject and UploadPartCopy, read and checked.
pub(super) struct Source {
    pub bucket: String,
    pub key: String,
    pub record: meridian_core::records::ObjectRecord,
}

impl MeridianS3 {
    /// Reads the copy source after checking that `caller` may read it and
    /// that the copy-source conditions hold (412 when they do not, never
    /// 304).
    pub(super) async fn copy_source(
        &self,
        caller: &Caller,
        facts: &Facts,
        source: &CopySource,
        conditions: &Conditions<'_>,
    ) -> S3Result<Source> {
        let CopySource::Bucket {
            bucket,
            key,
            version_id,
        } = source
        else {
            return Err(not_implemented("Access-point copy sources"));
        };
        let access = self
            .gateway
            .bucket_access(bucket)
            .await
            .or_s3()?
            .ok_or_else(|| meridian_core::CoreError::NoSuchBucket(bucket.to_string()))
            .or_s3()?;
        let action = if version_id.is_some() {
            "s3:GetObjectVersion"
        } else {
            "s3:GetObject"
        };
        let refused = || s3_error!(AccessDenied, "Access Denied to the copy source");
        let catalogue = self.gateway.catalogue();
        let record = match version_id {
            Some(v) => catalogue.object_version(bucket, key, v).await,
            None => catalogue.object(bucket, key).await,
        };
        let record = match record {
            Ok(r) => r,
            // S3 answers a delete marker as a copy source with 400.
            Err(meridian_core::CoreError::DeleteMarker(m)) => {
                return Err(s3_error!(
                    InvalidRequest,
                    "The source of a copy request may not specifically refer to a delete marker by version id: {m}"
                ))
            }
            // Only a caller who may list the source bucket learns that a
            // key is not there.
            Err(e) => {
                return match decide(caller, &access, "s3:ListBucket", None, facts, None) {
                    Verdict::Allow => Err(super::errors::s3_error(e)),
                    _ => Err(refused()),
                }
            }
        };
        let mut with_tags = facts.clone();
        with_tags.object_tags = Some(record.tags.clone());
        let acl = super::acl::grants_of(&record.acl);
        let object = ObjectAccess {
            owner: &record.owner,
            acl: &acl,
        };
        if decide(caller, &access, action, Some(key), &with_tags, Some(object)) != Verdict::Allow {
            return Err(refused());
        }
        check_conditions(&record, conditions).map_err(|e| {
            if *e.code() == S3ErrorCode::NotModified {
                s3_error!(PreconditionFailed, "The copy source was not modified")
            } else {
                e
            }
        })?;
        Ok(Source {
            bucket: bucket.to_string(),
            key: key.to_string(),
            record,
        })
    }
    pub(super) async fn do_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let caller = super::auth::caller_of(&req);
        let facts = super::auth::request_facts(&req);
        let who = requester(&req);
        let (protection, owner) = self
            .write_protection(&req.input.bucket, &req.headers, &who, false)
            .await?;
        let input = req.input;
        if input.sse_customer_algorithm.is_some()
            || input.copy_source_sse_customer_algorithm.is_some()
            || input.server_side_encryption.is_some()
            || input.ssekms_key_id.is_some()
        {
            return Err(not_implemented("Server-side encryption"));
        }
        if input
            .tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str() != TaggingDirective::COPY)
        {
            return Err(not_implemented("Tagging directive REPLACE"));
        }
        let conditions = Conditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        };
        let Source {
            bucket: src_bucket,
            key: src_key,
            record,
        } = self
            .copy_source(&caller, &facts, &input.copy_source, &conditions)
            .await?;
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
        // Copying a named version onto its key restores it: allowed.
        let names_version = matches!(
            &input.copy_source,
            CopySource::Bucket {
                version_id: Some(_),
                ..
            }
        );
        if src_bucket == *input.bucket
            && src_key == *input.key
            && directive == MetadataDirective::COPY
            && !names_version
        {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let source_version = super::versioning::version_header(
            &record,
            None,
            meridian_core::records::Versioning::Off,
        );
        let source = meridian_core::catalogue::CopySource {
            bucket: src_bucket,
            key: src_key,
            version_id: record.version_id.clone(),
        };
        let dst = NewObject {
            bucket: input.bucket,
            key: input.key,
            content_type,
            user_meta,
            owner,
            condition: WriteCondition::Always,
            // The tagging directive's default, COPY.
            tags: record.tags.clone(),
            protection,
            ..Default::default()
        };
        let copied = self
            .gateway
            .copy_object(self.site, source, record, dst)
            .await
            .or_s3()?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&copied.etag)),
                last_modified: Some(timestamp(copied.created_ms)),
                ..Default::default()
            }),
            version_id: super::versioning::written_version_header(&copied),
            copy_source_version_id: source_version,
            ..Default::default()
        }))
    }
}

impl MeridianS3 {
    pub(super) async fn do_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let caller = super::auth::caller_of(&req);
        let facts = super::auth::request_facts(&req);
        let input = req.input;
        if input.sse_customer_algorithm.is_some()
            || input.copy_source_sse_customer_algorithm.is_some()
        {
            return Err(not_implemented("SSE-C"));
        }
        let part_number = u32::try_from(input.part_number)
            .map_err(|_| invalid_argument("part number must be positive"))?;
        let conditions = Conditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        };
        let src = self
            .copy_source(&caller, &facts, &input.copy_source, &conditions)
            .await?;
        let size = src.record.size;
        let (start, end) = match input.copy_source_range.as_deref() {
            None => (0, size),
            Some(r) => source_range(r, size)?,
        };
        // The upload must belong to the destination named in the path.
        let upload = self
            .gateway
            .catalogue()
            .upload(&input.upload_id)
            .await
            .or_s3()?;
        if upload.bucket != *input.bucket || upload.key != *input.key {
            return Err(super::errors::s3_error(
                meridian_core::CoreError::NoSuchUpload(input.upload_id.clone()),
            ));
        }
        let body = self.gateway.read(self.site, src.record, start, end);
        // The upload's declared checksum, computed over the copied bytes
        // (completion makes the object's from the parts').
        let checksums = meridian_objects::BodyChecksums::default();
        let check = (!upload.checksum_algorithm.is_empty())
            .then(|| {
                super::checksum::Check::declared(
                    &Checksum::default(),
                    Some(&upload.checksum_algorithm),
                    &http::HeaderMap::new(),
                    None,
                    checksums.clone(),
                )
            })
            .transpose()?
            .flatten();
        let body: futures::stream::BoxStream<
            'static,
            Result<bytes::Bytes, meridian_core::CoreError>,
        > = match check {
            Some(c) => super::checksum::computed(body, c).boxed(),
            None => body,
        };
        let part = self
            .gateway
            .upload_part(
                &input.upload_id,
                part_number,
                body,
                Some(end - start),
                checksums,
            )
            .await
            .or_s3()?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some({
                let sums = super::checksum::to_dto(&part.checksums);
                CopyPartResult {
                    e_tag: Some(etag(&part.etag)),
                    last_modified: Some(timestamp(part.created_ms)),
                    checksum_crc32: sums.checksum_crc32,
                    checksum_crc32c: sums.checksum_crc32c,
                    checksum_crc64nvme: sums.checksum_crc64nvme,
                    checksum_sha1: sums.checksum_sha1,
                    checksum_sha256: sums.checksum_sha256,
                }
            }),
            ..Default::default()
        }))
    }
}

/// `x-amz-copy-source-range: bytes=FIRST-LAST` (both given, inclusive,
/// within the object) as `[start, end)`.
fn source_range(r: &str, size: u64) -> S3Result<(u64, u64)> {
    let bad = || {
        invalid_argument(format!(
            "x-amz-copy-source-range {r:?}: bytes=FIRST-LAST within the {size}-byte source"
        ))
    };
    let (a, b) = r
        .trim()
        .strip_prefix("bytes=")
        .and_then(|x| x.split_once('-'))
        .ok_or_else(bad)?;
    let (first, last): (u64, u64) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if first > last || last >= size {
        return Err(bad());
    }
    Ok((first, last + 1))
}

#[cfg(test)]
mod tests {
    use super::source_range;

    #[test]
    fn copy_source_ranges() {
        assert_eq!(source_range("bytes=0-9", 100).expect("ok"), (0, 10));
        assert_eq!(source_range("bytes=90-99", 100).expect("ok"), (90, 100));
        for bad in ["bytes=5-4", "bytes=0-100", "0-9", "bytes=-9", "bytes=a-b"] {
            assert!(source_range(bad, 100).is_err(), "{bad}");
        }
    }
}
