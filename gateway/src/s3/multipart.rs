//! Multipart uploads: create, upload part, complete, abort, list parts.

use super::errors::OrS3;
use std::time::Duration;

use meridian_core::records::{MultipartUpload, ObjectRecord, PartRecord};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::body::{content_md5, upload_stream, BODY_IDLE_TIMEOUT};
use super::errors::{invalid_argument, not_implemented};
use super::{etag, owner, requester, timestamp, MeridianS3};
use meridian_core::CoreError;
use meridian_objects::NewObject;

/// How long CompleteMultipartUpload may take before the answer switches to
/// S3's keep-alive form (200 at once, whitespace while the object is being
/// verified, then the result or the error in the body). Errors found before
/// the long part (a wrong ETag, a small part) still get their real status.
pub(super) const COMPLETE_INLINE_WAIT: Duration = Duration::from_secs(5);

/// S3's default and largest ListParts page.
const MAX_PARTS: usize = 1000;

fn join_error(e: tokio::task::JoinError) -> S3Error {
    tracing::error!(error = %e, "multipart completion task failed");
    S3Error::with_message(S3ErrorCode::InternalError, "multipart completion failed")
}

fn completed(
    bucket: String,
    key: String,
    location: Option<String>,
    record: &ObjectRecord,
) -> CompleteMultipartUploadOutput {
    let sums = super::checksum::to_dto(&record.checksums);
    CompleteMultipartUploadOutput {
        bucket: Some(bucket),
        key: Some(key),
        e_tag: Some(etag(&record.etag)),
        location,
        checksum_crc32: sums.checksum_crc32,
        checksum_crc32c: sums.checksum_crc32c,
        checksum_crc64nvme: sums.checksum_crc64nvme,
        checksum_sha1: sums.checksum_sha1,
        checksum_sha256: sums.checksum_sha256,
        checksum_type: (!record.checksum_type.is_empty())
            .then(|| ChecksumType::from(record.checksum_type.clone())),
        version_id: super::versioning::written_version_header(record),
        ..Default::default()
    }
}

/// The object's checksum from the parts completion uses (in order),
/// checked against what the client listed per part and, if it sent one,
/// for the whole object; `None` when the upload declared no checksum.
fn upload_checksum(
    upload: &MultipartUpload,
    parts: &[&PartRecord],
    listed: &[CompletedPart],
    sent: &Checksum,
) -> Result<Option<(String, String, String)>, CoreError> {
    let alg = upload.checksum_algorithm.as_str();
    if alg.is_empty() {
        return Ok(None);
    }
    for p in parts {
        let named = listed
            .iter()
            .find(|l| l.part_number.and_then(|n| u32::try_from(n).ok()) == Some(p.part_number));
        let listed = named.map(|l| super::checksum::sent_checksums!(l));
        if let Some(want) = listed
            .as_ref()
            .and_then(|c| super::checksum::value_of(c, alg))
        {
            if p.checksums.get(alg) != Some(want) {
                return Err(CoreError::InvalidPart(format!(
                    "part {}: the {alg} checksum listed is not the part's",
                    p.part_number
                )));
            }
        }
    }
    let value =
        super::part_checksums::object_checksum(alg, &upload.checksum_type, parts).map_err(|e| {
            match e.code() {
                S3ErrorCode::InvalidPart => {
                    CoreError::InvalidPart(e.message().unwrap_or_default().to_string())
                }
                _ => CoreError::Internal(e.message().unwrap_or_default().to_string()),
            }
        })?;
    let Some(value) = value else {
        return Ok(None);
    };
    if let Some(want) = super::checksum::value_of(sent, alg) {
        if *want != value {
            return Err(CoreError::BadDigest(format!(
                "the {alg} checksum sent for the object is {want}, its parts make {value}"
            )));
        }
    }
    Ok(Some((alg.to_string(), value, upload.checksum_type.clone())))
}

/// The (part number, ETag) list of a CompleteMultipartUpload body.
fn requested_parts(body: Option<CompletedMultipartUpload>) -> S3Result<Vec<(u32, String)>> {
    let parts = body.and_then(|m| m.parts).unwrap_or_default();
    parts
        .into_iter()
        .map(|p| {
            let number = p.part_number.ok_or_else(|| {
                S3Error::with_message(S3ErrorCode::InvalidPart, "a listed part has no PartNumber")
            })?;
            let number = u32::try_from(number).map_err(|_| {
                S3Error::with_message(
                    S3ErrorCode::InvalidPart,
                    format!("part number {number} is negative"),
                )
            })?;
            let tag = p.e_tag.ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidPart,
                    format!("part {number} has no ETag"),
                )
            })?;
            Ok((number, tag.into_value()))
        })
        .collect()
}

/// The ETag a completion from `parts` (number, part ETag) makes: the MD5
/// of the parts' MD5s, then `-N`; `None` if an ETag is not an MD5.
fn multipart_etag(parts: &[(u32, String)]) -> Option<String> {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    for (_, tag) in parts {
        let md5 = hex::decode(tag.trim_matches('"')).ok()?;
        if md5.len() != 16 {
            return None;
        }
        h.update(&md5);
    }
    Some(format!("{}-{}", hex::encode(h.finalize()), parts.len()))
}

/// The answer of an earlier completion of `upload_id` into `bucket`/`key`
/// from the same `parts`, as a record to answer from; `None` if there was
/// none (or it is forgotten, or it differs). A client whose first answer
/// was lost retries, and S3 answers the retry as it answered the first.
async fn earlier_completion(
    catalogue: &dyn meridian_core::catalogue::Catalogue,
    upload_id: &str,
    bucket: &str,
    key: &str,
    parts: &[(u32, String)],
) -> Result<Option<ObjectRecord>, CoreError> {
    let Some(c) = catalogue.completed_upload(upload_id).await? else {
        return Ok(None);
    };
    if c.bucket != bucket || c.key != key || multipart_etag(parts).as_deref() != Some(&c.etag) {
        return Ok(None);
    }
    Ok(Some(ObjectRecord {
        etag: c.etag,
        version_id: c.version_id,
        versioning: c.versioning,
        checksums: c.checksums,
        checksum_type: c.checksum_type,
        created_ms: c.completed_ms,
        ..Default::default()
    }))
}

impl MeridianS3 {
    /// The upload `upload_id`, if it is one for `bucket`/`key`: an upload id
    /// is only valid with the object it was created for.
    async fn upload_for(
        &self,
        upload_id: &str,
        bucket: &str,
        key: &str,
    ) -> S3Result<MultipartUpload> {
        let upload = self.gateway.catalogue().upload(upload_id).await.or_s3()?;
        if upload.bucket != bucket || upload.key != key {
            return Err(super::errors::s3_error(CoreError::NoSuchUpload(
                upload_id.to_string(),
            )));
        }
        Ok(upload)
    }

    pub(super) async fn do_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let who = requester(&req);
        let input = req.input;
        if input.sse_customer_algorithm.is_some() {
            return Err(not_implemented("SSE-C"));
        }
        if input.server_side_encryption.is_some() || input.ssekms_key_id.is_some() {
            return Err(not_implemented("Server-side encryption"));
        }
        let (checksum_algorithm, checksum_type) = super::part_checksums::declared(
            input.checksum_algorithm.as_ref(),
            input.checksum_type.as_ref(),
        )?;
        let (protection, owner) = self
            .write_protection(&input.bucket, &req.headers, &who, false)
            .await?;
        let obj = NewObject {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            content_type: input.content_type.unwrap_or_default(),
            user_meta: input.metadata.unwrap_or_default(),
            owner,
            checksum_algorithm: checksum_algorithm.clone(),
            checksum_type: checksum_type.clone(),
            protection,
            ..Default::default()
        };
        let upload_id = self.gateway.create_upload(self.site, obj).await.or_s3()?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: (!checksum_algorithm.is_empty())
                .then(|| ChecksumAlgorithm::from(checksum_algorithm)),
            checksum_type: (!checksum_type.is_empty()).then(|| ChecksumType::from(checksum_type)),
            ..Default::default()
        }))
    }

    pub(super) async fn do_upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let upload = self
            .upload_for(&req.input.upload_id, &req.input.bucket, &req.input.key)
            .await?;
        let sent = super::checksum::sent_checksums!(req.input);
        // The part's checksum as sent; or, when the client sends none, the
        // one its upload declared, computed here (completion needs it).
        let sends_one = super::checksum::names_one(&sent, &req.headers)
            || req.input.checksum_algorithm.is_some();
        let algorithm = match req.input.checksum_algorithm.as_ref() {
            Some(a) => Some(a.as_str()),
            None if !sends_one && !upload.checksum_algorithm.is_empty() => {
                Some(upload.checksum_algorithm.as_str())
            }
            None => None,
        };
        let checksums = meridian_objects::BodyChecksums::default();
        let check = super::checksum::Check::declared(
            &sent,
            algorithm,
            &req.headers,
            req.trailing_headers.clone(),
            checksums.clone(),
        )?;
        let input = req.input;
        if input.sse_customer_algorithm.is_some() {
            return Err(not_implemented("SSE-C"));
        }
        let number = u32::try_from(input.part_number).map_err(|_| {
            invalid_argument(format!("part number {} is negative", input.part_number))
        })?;
        let expected = super::object::required_len(input.content_length, &req.headers)?;
        let md5 = content_md5(input.content_md5.as_deref(), &req.headers)?;
        let (body, fault) = upload_stream(input.body, expected, md5, BODY_IDLE_TIMEOUT);
        let body = super::checksum::checked(body, check, expected, fault.clone());
        let part = self
            .gateway
            .upload_part(&input.upload_id, number, body, expected, checksums)
            .await
            .map_err(|e| fault.refine(e))?;
        let sums = super::checksum::to_dto(&part.checksums);
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(etag(&part.etag)),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            ..Default::default()
        }))
    }

    pub(super) async fn do_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        let input = req.input;
        if input.if_match.is_some() || input.if_none_match.is_some() {
            return Err(not_implemented("Conditional CompleteMultipartUpload"));
        }
        let listed = input
            .multipart_upload
            .as_ref()
            .and_then(|m| m.parts.clone())
            .unwrap_or_default();
        let parts = requested_parts(input.multipart_upload)?;
        let location = host.map(|h| format!("http://{h}/{}/{}", input.bucket, input.key));
        if let Err(e) = self
            .upload_for(&input.upload_id, &input.bucket, &input.key)
            .await
        {
            if e.code() != &S3ErrorCode::NoSuchUpload {
                return Err(e);
            }
            let catalogue = self.gateway.catalogue().as_ref();
            return match earlier_completion(
                catalogue,
                &input.upload_id,
                &input.bucket,
                &input.key,
                &parts,
            )
            .await
            .or_s3()?
            {
                Some(rec) => Ok(S3Response::new(completed(
                    input.bucket,
                    input.key,
                    location,
                    &rec,
                ))),
                None => Err(e),
            };
        }
        let sent = super::checksum::sent_checksums!(input);
        // Made from the very part records completion checks and uses.
        let checksum: meridian_objects::ObjectChecksum =
            Box::new(move |upload: &MultipartUpload, parts: &[&PartRecord]| {
                upload_checksum(upload, parts, &listed, &sent)
            });

        // Completion reads every part back to hash the whole object, which
        // for a large object outlasts client timeouts. It runs in its own
        // task so that a client that gives up does not cut it off halfway.
        let gateway = self.gateway.clone();
        let upload_id = input.upload_id.clone();
        let (b, k) = (input.bucket.clone(), input.key.clone());
        let mut task = tokio::spawn(async move {
            match gateway.complete_upload(&upload_id, &parts, checksum).await {
                // A retry that raced the first completion: answer as it did.
                Err(CoreError::NoSuchUpload(m)) => {
                    earlier_completion(gateway.catalogue().as_ref(), &upload_id, &b, &k, &parts)
                        .await?
                        .ok_or(CoreError::NoSuchUpload(m))
                }
                other => other,
            }
        });
        match tokio::time::timeout(self.complete_inline_wait, &mut task).await {
            Ok(joined) => {
                let record = joined.map_err(join_error)?.or_s3()?;
                Ok(S3Response::new(completed(
                    input.bucket,
                    input.key,
                    location,
                    &record,
                )))
            }
            Err(_) => {
                let (bucket, key) = (input.bucket, input.key);
                let later = async move {
                    let record = task.await.map_err(join_error)?.or_s3()?;
                    Ok(completed(bucket, key, location, &record))
                };
                Ok(S3Response::new(CompleteMultipartUploadOutput {
                    future: Some(Box::pin(later)),
                    ..Default::default()
                }))
            }
        }
    }

    pub(super) async fn do_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.upload_for(&input.upload_id, &input.bucket, &input.key)
            .await?;
        self.gateway
            .catalogue()
            .abort_upload(&input.upload_id)
            .await
            .or_s3()?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn do_list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let max_parts = match input.max_parts {
            None => MAX_PARTS,
            Some(n) if n < 0 => return Err(invalid_argument("max-parts must not be negative")),
            Some(n) => usize::try_from(n).unwrap_or(MAX_PARTS).min(MAX_PARTS),
        };
        let marker = input.part_number_marker.unwrap_or(0);
        let upload = self
            .upload_for(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let stored = self
            .gateway
            .catalogue()
            .list_parts(&input.upload_id)
            .await
            .or_s3()?;
        let mut after = stored
            .into_iter()
            .filter(|p| i64::from(p.part_number) > i64::from(marker));
        let page: Vec<_> = after.by_ref().take(max_parts).collect();
        let truncated = !page.is_empty() && after.next().is_some();
        let next_marker = if truncated {
            page.last().and_then(|p| i32::try_from(p.part_number).ok())
        } else {
            None
        };
        let parts = page
            .into_iter()
            .map(|p| {
                let sums = super::checksum::to_dto(&p.checksums);
                Part {
                    e_tag: Some(etag(&p.etag)),
                    last_modified: Some(timestamp(p.created_ms)),
                    part_number: i32::try_from(p.part_number).ok(),
                    size: Some(i64::try_from(p.size).unwrap_or(i64::MAX)),
                    checksum_crc32: sums.checksum_crc32,
                    checksum_crc32c: sums.checksum_crc32c,
                    checksum_crc64nvme: sums.checksum_crc64nvme,
                    checksum_sha1: sums.checksum_sha1,
                    checksum_sha256: sums.checksum_sha256,
                }
            })
            .collect();
        let who = owner(&upload.owner);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            initiator: Some(Initiator {
                display_name: who.display_name.clone(),
                id: who.id.clone(),
            }),
            owner: Some(who),
            is_truncated: Some(truncated),
            max_parts: Some(i32::try_from(max_parts).unwrap_or(i32::MAX)),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next_marker,
            parts: Some(parts),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: Option<i32>, tag: Option<&str>) -> CompletedPart {
        CompletedPart {
            part_number: n,
            e_tag: tag.map(|t| ETag::Strong(t.to_string())),
            ..Default::default()
        }
    }

    #[test]
    fn requested_parts_are_read_in_order_given() {
        let body = CompletedMultipartUpload {
            parts: Some(vec![part(Some(2), Some("b")), part(Some(1), Some("a"))]),
        };
        let got = requested_parts(Some(body)).expect("well formed");
        assert_eq!(got, vec![(2, "b".to_string()), (1, "a".to_string())]);
        assert_eq!(requested_parts(None).ok(), Some(vec![]));
    }

    #[test]
    fn the_multipart_etag_is_the_md5_of_the_part_md5s() {
        use md5::{Digest, Md5};
        let a = hex::encode(Md5::digest(b"a"));
        let b = hex::encode(Md5::digest(b"b"));
        let mut both = Vec::new();
        both.extend_from_slice(&Md5::digest(b"a"));
        both.extend_from_slice(&Md5::digest(b"b"));
        let want = format!("{}-2", hex::encode(Md5::digest(&both)));
        let parts = vec![(1, format!("\"{a}\"")), (2, b.clone())];
        assert_eq!(multipart_etag(&parts), Some(want));
        assert_eq!(multipart_etag(&[(1, "not-hex".to_string())]), None);
        assert_eq!(multipart_etag(&[(1, "abcd".to_string())]), None);
    }

    #[test]
    fn malformed_parts_are_invalid_part() {
        for p in [
            part(None, Some("a")),
            part(Some(1), None),
            part(Some(-1), Some("a")),
        ] {
            let body = CompletedMultipartUpload {
                parts: Some(vec![p]),
            };
            let e = requested_parts(Some(body)).expect_err("malformed");
            assert_eq!(e.code(), &S3ErrorCode::InvalidPart);
        }
    }
}
