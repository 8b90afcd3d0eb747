//! Single-object operations: PutObject, GetObject, HeadObject, DeleteObject.

use super::errors::OrS3;
use futures::StreamExt;
use http::header::{HeaderMap, HeaderValue, CONTENT_RANGE, CONTENT_TYPE, ETAG};
use meridian_core::records::ObjectRecord;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::body::{content_md5, upload_stream, DownloadBody, BODY_IDLE_TIMEOUT};
use super::errors::{invalid_argument, not_implemented};
use super::{etag, requester, timestamp, MeridianS3};
use meridian_core::catalogue::WriteCondition;
use meridian_core::CoreError;
use meridian_objects::{resolve_range, NewObject};

/// What S3 reports for an object stored without a content type.
const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

/// Refuses a request option Meridian cannot honour.
fn refuse(present: bool, what: &str) -> S3Result<()> {
    if present {
        Err(not_implemented(what))
    } else {
        Ok(())
    }
}

/// The declared body length, as the core wants it.
pub(super) fn declared_len(content_length: Option<i64>) -> S3Result<Option<u64>> {
    content_length
        .map(|n| {
            u64::try_from(n)
                .map_err(|_| invalid_argument(format!("Content-Length {n} is negative")))
        })
        .transpose()
}

/// The length an upload body must declare, as S3 requires of PutObject and
/// UploadPart: `Content-Length`, or for an aws-chunked body
/// `x-amz-decoded-content-length` (which s3s turns into the former when
/// both are sent). A body of unknown length is `MissingContentLength`.
pub(super) fn required_len(
    content_length: Option<i64>,
    headers: &HeaderMap,
) -> S3Result<Option<u64>> {
    let declared = declared_len(content_length)?;
    if declared.is_none() && !headers.contains_key("x-amz-decoded-content-length") {
        return Err(S3Error::with_message(
            S3ErrorCode::MissingContentLength,
            "You must provide the Content-Length HTTP header.",
        ));
    }
    Ok(declared)
}

/// The `[start, end)` a `Range` header selects, or `None` without one.
pub fn byte_range(size: u64, range: Option<&Range>) -> Result<Option<(u64, u64)>, S3Error> {
    let resolved = match range {
        None => return Ok(None),
        Some(Range::Int { first, last }) => resolve_range(size, Some(*first), *last, None),
        Some(Range::Suffix { length }) => resolve_range(size, None, None, Some(*length)),
    };
    resolved.map(Some).map_err(|e| {
        // S3 tells the client the size it should have asked within.
        let mut err = super::errors::s3_error(e);
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
            headers.insert(CONTENT_RANGE, v);
        }
        // These headers replace the response's own, Content-Type included.
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
        err.set_headers(headers);
        err
    })
}

/// The `Content-Range` of a partial response for `[start, end)`; `end > start`.
pub fn content_range(start: u64, end: u64, size: u64) -> String {
    format!("bytes {start}-{}/{size}", end.saturating_sub(1))
}

/// The conditional-request headers of a GET or HEAD.
pub struct Conditions<'a> {
    pub if_match: Option<&'a ETagCondition>,
    pub if_none_match: Option<&'a ETagCondition>,
    pub if_modified_since: Option<&'a Timestamp>,
    pub if_unmodified_since: Option<&'a Timestamp>,
}

fn etag_matches(cond: &ETagCondition, record: &ObjectRecord) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == record.etag,
    }
}

/// Seconds since the epoch: HTTP dates have no finer grain, so comparisons
/// against them must not see the milliseconds.
fn unix_secs(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

/// RFC 9110 §13.2.2 order: an ETag condition, when present, decides and the
/// date condition beside it is ignored.
pub fn check_conditions(record: &ObjectRecord, c: &Conditions<'_>) -> S3Result<()> {
    let modified_secs = record.created_ms.div_euclid(1000);
    let failed = match (c.if_match, c.if_unmodified_since) {
        (Some(m), _) => !etag_matches(m, record),
        (None, Some(t)) => modified_secs > unix_secs(t),
        (None, None) => false,
    };
    if failed {
        return Err(S3Error::with_message(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        ));
    }
    let not_modified = match (c.if_none_match, c.if_modified_since) {
        (Some(m), _) => etag_matches(m, record),
        (None, Some(t)) => modified_secs <= unix_secs(t),
        (None, None) => false,
    };
    if not_modified {
        let mut err = S3Error::new(S3ErrorCode::NotModified);
        let mut headers = HeaderMap::new();
        if let Ok(v) = etag(&record.etag).to_http_header() {
            headers.insert(ETAG, v);
        }
        err.set_headers(headers);
        return Err(err);
    }
    Ok(())
}

fn content_type(record: &ObjectRecord) -> String {
    if record.content_type.is_empty() {
        DEFAULT_CONTENT_TYPE.to_string()
    } else {
        record.content_type.clone()
    }
}

fn metadata(record: &ObjectRecord) -> Option<Metadata> {
    (!record.user_meta.is_empty()).then(|| record.user_meta.clone())
}

/// The stored checksums, when the client asks (`x-amz-checksum-mode:
/// ENABLED`) for the whole object (a range has no stored checksum).
fn whole_object_checksums(
    record: &ObjectRecord,
    mode: Option<&ChecksumMode>,
    range: Option<(u64, u64)>,
) -> Checksum {
    let asked = mode.is_some_and(|m| m.as_str().eq_ignore_ascii_case(ChecksumMode::ENABLED));
    if asked && range.is_none() {
        super::checksum::of_record(record)
    } else {
        Checksum::default()
    }
}

/// `x-amz-mp-parts-count`: answered for reads of a multipart object by
/// part number, as S3 does.
fn parts_count(record: &ObjectRecord, part_number: Option<i32>) -> Option<i32> {
    (part_number.is_some() && record.parts > 0)
        .then(|| i32::try_from(record.parts).unwrap_or(i32::MAX))
}

/// One entry of a DeleteObjects answer.
pub(super) fn deleted_object(
    key: String,
    asked_version: Option<String>,
    d: meridian_core::catalogue::Deleted,
) -> DeletedObject {
    let marker = d.delete_marker.then_some(true);
    match asked_version {
        // A version removed for good (perhaps a delete marker).
        Some(v) => DeletedObject {
            key: Some(key),
            delete_marker: marker,
            delete_marker_version_id: d.delete_marker.then(|| v.clone()),
            version_id: Some(v),
        },
        // A delete marker made, or (no versioning) the object removed.
        None => DeletedObject {
            key: Some(key),
            delete_marker: marker,
            delete_marker_version_id: d.version_id,
            version_id: None,
        },
    }
}

fn len_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl MeridianS3 {
    pub(super) async fn do_put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let who = requester(&req);
        let checksums = meridian_objects::BodyChecksums::default();
        let check = super::checksum::Check::declared(
            &super::checksum::sent_checksums!(req.input),
            req.input.checksum_algorithm.as_ref().map(|a| a.as_str()),
            &req.headers,
            req.trailing_headers.clone(),
            checksums.clone(),
        )?;
        let input = req.input;
        let condition = match (&input.if_match, &input.if_none_match) {
            (None, None) => WriteCondition::Always,
            (None, Some(ETagCondition::Any)) => WriteCondition::IfAbsent,
            (Some(ETagCondition::ETag(e)), None) => WriteCondition::IfEtag(e.value().to_string()),
            _ => {
                return Err(not_implemented(
                    "PutObject conditions other than If-None-Match: * or one If-Match ETag",
                ))
            }
        };
        refuse(input.write_offset_bytes.is_some(), "Appending to an object")?;
        refuse(input.sse_customer_algorithm.is_some(), "SSE-C")?;
        refuse(
            input.server_side_encryption.is_some() || input.ssekms_key_id.is_some(),
            "Server-side encryption",
        )?;
        let tags = input
            .tagging
            .as_deref()
            .map(super::tagging::parse_header)
            .transpose()?
            .unwrap_or_default();
        let expected = required_len(input.content_length, &req.headers)?;
        let md5 = content_md5(input.content_md5.as_deref(), &req.headers)?;
        let (body, fault) = upload_stream(input.body, expected, md5, BODY_IDLE_TIMEOUT);
        let body = super::checksum::checked(body, check, expected, fault.clone());
        let (protection, owner) = self
            .write_protection(&input.bucket, &req.headers, &who, true)
            .await?;
        let obj = NewObject {
            bucket: input.bucket,
            key: input.key,
            content_type: input.content_type.unwrap_or_default(),
            user_meta: input.metadata.unwrap_or_default(),
            owner,
            condition,
            checksums,
            tags,
            protection,
            ..Default::default()
        };
        let (bucket, key) = (obj.bucket.clone(), obj.key.clone());
        let record = self
            .gateway
            .put_object(self.site, obj, body, expected)
            .await
            .map_err(|e| fault.refine(e))?;
        let sums = super::checksum::of_record(&record);
        let expiration = self.expiration_header(&bucket, &key, &record).await;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&record.etag)),
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            checksum_type: sums.checksum_type,
            expiration,
            version_id: super::versioning::written_version_header(&record),
            ..Default::default()
        }))
    }

    /// Looks an object (or one of its versions) up for GET or HEAD:
    /// applies the conditional headers and resolves the `Range` or part
    /// number against its size.
    #[allow(clippy::too_many_arguments)]
    async fn object_for_read(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        conditions: &Conditions<'_>,
        range: Option<&Range>,
        part_number: Option<i32>,
        deferred: Option<&super::auth::Deferred>,
    ) -> S3Result<(ObjectRecord, Option<(u64, u64)>)> {
        let catalogue = self.gateway.catalogue();
        let record = match version_id {
            Some(v) => catalogue.object_version(bucket, key, v).await,
            None => catalogue.object(bucket, key).await,
        };
        let record = match record {
            Ok(r) => r,
            Err(e @ CoreError::NoSuchKey(_)) if version_id.is_none() => {
                let e = self.missing(bucket, key, e).await;
                return Err(super::auth::missing_object(deferred, e));
            }
            Err(e @ CoreError::NoSuchVersion(_)) => {
                return Err(super::auth::missing_object(
                    deferred,
                    super::errors::s3_error(e),
                ))
            }
            // Who may not learn what the key holds learns nothing of a
            // marker either.
            Err(e @ CoreError::DeleteMarker(_)) => {
                let e = super::versioning::read_error(e, version_id);
                return Err(super::auth::missing_object(deferred, e));
            }
            Err(e) => return Err(super::versioning::read_error(e, version_id)),
        };
        super::auth::authorize_object(deferred, &record)?;
        check_conditions(&record, conditions)?;
        let range = match (part_number, range) {
            (Some(_), Some(_)) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    "Cannot specify both Range header and partNumber query parameter",
                ))
            }
            (Some(n), None) => super::versioning::part_range(&record, n)?,
            (None, r) => byte_range(record.size, r)?,
        };
        Ok((record, range))
    }

    /// A key with no current version: 404, with S3's delete-marker headers
    /// when its newest version is a delete marker.
    async fn missing(&self, bucket: &str, key: &str, e: CoreError) -> S3Error {
        let mut err = super::errors::s3_error(e);
        if self.bucket_versioning(bucket).await == meridian_core::records::Versioning::Off {
            return err;
        }
        let q = meridian_core::catalogue::VersionQuery {
            bucket: bucket.to_string(),
            prefix: key.to_string(),
            max_keys: 1,
            ..Default::default()
        };
        // The key's own versions sort before any longer key it prefixes.
        if let Ok(page) = self.gateway.catalogue().list_versions(&q).await {
            if let Some(meridian_core::catalogue::VersionEntry::Version {
                key: k, record, ..
            }) = page.entries.first()
            {
                if k == key && record.delete_marker {
                    err.set_headers(super::versioning::marker_headers(Some(
                        meridian_core::catalogue::s3_version_id(record),
                    )));
                }
            }
        }
        err
    }

    /// `x-amz-expiration` of a GET of the current version.
    async fn current_expiration(
        &self,
        input: &GetObjectInput,
        record: &ObjectRecord,
    ) -> Option<String> {
        if input.version_id.is_some() {
            return None;
        }
        self.expiration_header(&input.bucket, &input.key, record)
            .await
    }

    pub(super) async fn do_get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let deferred = req.extensions.get::<super::auth::Deferred>().cloned();
        let input = req.input;
        refuse(input.sse_customer_algorithm.is_some(), "SSE-C")?;
        let conditions = Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        };
        let (record, range) = self
            .object_for_read(
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                &conditions,
                input.range.as_ref(),
                input.part_number,
                deferred.as_ref(),
            )
            .await?;
        let size = record.size;
        let (start, end) = range.unwrap_or((0, size));
        let len = end - start;
        let sums = whole_object_checksums(&record, input.checksum_mode.as_ref(), range);
        let lock = super::retention::read_lock(&record);
        let mut out = GetObjectOutput {
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            checksum_type: sums.checksum_type,
            accept_ranges: Some("bytes".to_string()),
            content_length: Some(len_i64(len)),
            content_range: range.map(|(s, e)| content_range(s, e, size)),
            content_type: Some(content_type(&record)),
            tag_count: (!record.tags.is_empty())
                .then(|| i32::try_from(record.tags.len()).unwrap_or(i32::MAX)),
            e_tag: Some(etag(&record.etag)),
            last_modified: Some(timestamp(record.created_ms)),
            metadata: metadata(&record),
            version_id: super::versioning::version_header(
                &record,
                input.version_id.as_deref(),
                self.bucket_versioning(&input.bucket).await,
            ),
            parts_count: parts_count(&record, input.part_number),
            expiration: self.current_expiration(&input, &record).await,
            object_lock_mode: lock.0,
            object_lock_retain_until_date: lock.1,
            object_lock_legal_hold_status: lock.2,
            ..Default::default()
        };
        let mut stream = self.gateway.read(self.site, record, start, end);
        // Read the first chunk before answering: until then a failure can
        // still be a proper error status instead of a cut-off body.
        let first = if len > 0 {
            stream.next().await.transpose().or_s3()?
        } else {
            None
        };
        let stream = futures::stream::iter(first.map(Ok::<_, CoreError>))
            .chain(stream)
            .boxed();
        out.body = Some(DownloadBody::new(stream, len).into_blob());
        Ok(S3Response::new(out))
    }

    pub(super) async fn do_head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let deferred = req.extensions.get::<super::auth::Deferred>().cloned();
        let input = req.input;
        refuse(input.sse_customer_algorithm.is_some(), "SSE-C")?;
        let conditions = Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        };
        let (record, range) = self
            .object_for_read(
                &input.bucket,
                &input.key,
                input.version_id.as_deref(),
                &conditions,
                input.range.as_ref(),
                input.part_number,
                deferred.as_ref(),
            )
            .await?;
        let size = record.size;
        let (start, end) = range.unwrap_or((0, size));
        let sums = whole_object_checksums(&record, input.checksum_mode.as_ref(), range);
        let bucket_versioning = self.bucket_versioning(&input.bucket).await;
        let lock = super::retention::read_lock(&record);
        let expiration = if input.version_id.is_none() {
            self.expiration_header(&input.bucket, &input.key, &record)
                .await
        } else {
            None
        };
        Ok(S3Response::new(HeadObjectOutput {
            checksum_crc32: sums.checksum_crc32,
            checksum_crc32c: sums.checksum_crc32c,
            checksum_crc64nvme: sums.checksum_crc64nvme,
            checksum_sha1: sums.checksum_sha1,
            checksum_sha256: sums.checksum_sha256,
            checksum_type: sums.checksum_type,
            accept_ranges: Some("bytes".to_string()),
            content_length: Some(len_i64(end - start)),
            content_range: range.map(|(s, e)| content_range(s, e, size)),
            content_type: Some(content_type(&record)),
            e_tag: Some(etag(&record.etag)),
            last_modified: Some(timestamp(record.created_ms)),
            metadata: metadata(&record),
            version_id: super::versioning::version_header(
                &record,
                input.version_id.as_deref(),
                bucket_versioning,
            ),
            parts_count: parts_count(&record, input.part_number),
            expiration,
            object_lock_mode: lock.0,
            object_lock_retain_until_date: lock.1,
            object_lock_legal_hold_status: lock.2,
            ..Default::default()
        }))
    }

    pub(super) async fn do_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        // The permission to bypass was checked with the request.
        let bypass = super::auth::header_true(&req.headers, "x-amz-bypass-governance-retention");
        let input = req.input;
        refuse(
            input.if_match.is_some()
                || input.if_match_size.is_some()
                || input.if_match_last_modified_time.is_some(),
            "Conditional DeleteObject",
        )?;
        // Deleting an absent key succeeds, but not in an absent bucket.
        self.gateway
            .catalogue()
            .bucket(&input.bucket)
            .await
            .or_s3()?;
        let catalogue = self.gateway.catalogue();
        let d = match input.version_id.as_deref() {
            Some(v) => catalogue
                .delete_version(&input.bucket, &input.key, v, bypass)
                .await
                .or_s3()?,
            None => catalogue
                .delete_object(&input.bucket, &input.key)
                .await
                .or_s3()?,
        };
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: d.delete_marker.then_some(true),
            version_id: d.version_id,
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> Range {
        Range::parse(s).expect("valid range header")
    }

    #[test]
    fn ranges_resolve() {
        assert_eq!(byte_range(100, None).ok(), Some(None));
        assert_eq!(
            byte_range(100, Some(&range("bytes=0-9"))).ok(),
            Some(Some((0, 10)))
        );
        assert_eq!(
            byte_range(100, Some(&range("bytes=90-"))).ok(),
            Some(Some((90, 100)))
        );
        assert_eq!(
            byte_range(100, Some(&range("bytes=-10"))).ok(),
            Some(Some((90, 100)))
        );
        assert_eq!(
            byte_range(100, Some(&range("bytes=95-200"))).ok(),
            Some(Some((95, 100)))
        );
        assert_eq!(
            byte_range(100, Some(&range("bytes=-500"))).ok(),
            Some(Some((0, 100)))
        );
    }

    #[test]
    fn unsatisfiable_ranges_are_416_with_the_size() {
        for (size, r) in [
            (100, "bytes=100-"),
            (100, "bytes=200-300"),
            (0, "bytes=0-"),
            (0, "bytes=-5"),
            (10, "bytes=-0"),
        ] {
            let e = byte_range(size, Some(&range(r))).expect_err(r);
            assert_eq!(e.code(), &S3ErrorCode::InvalidRange, "{r}");
            assert_eq!(
                e.status_code(),
                Some(http::StatusCode::RANGE_NOT_SATISFIABLE)
            );
            let cr = e
                .headers()
                .and_then(|h| h.get(CONTENT_RANGE))
                .expect("Content-Range");
            assert_eq!(cr.to_str().ok(), Some(format!("bytes */{size}").as_str()));
        }
    }

    #[test]
    fn content_range_format() {
        assert_eq!(content_range(0, 10, 100), "bytes 0-9/100");
        assert_eq!(content_range(99, 100, 100), "bytes 99-99/100");
    }

    fn record(etag: &str, created_ms: i64) -> ObjectRecord {
        ObjectRecord {
            etag: etag.to_string(),
            created_ms,
            ..Default::default()
        }
    }

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from(time::OffsetDateTime::from_unix_timestamp(secs).expect("valid time"))
    }

    fn code(r: S3Result<()>) -> Option<S3ErrorCode> {
        r.err().map(|e| e.code().clone())
    }

    #[test]
    fn conditions() {
        let rec = record("abc", 1_000_500); // modified at 1000.5 s
        let same = ETagCondition::ETag(ETag::Strong("abc".into()));
        let other = ETagCondition::ETag(ETag::Strong("xyz".into()));
        let none = Conditions {
            if_match: None,
            if_none_match: None,
            if_modified_since: None,
            if_unmodified_since: None,
        };
        assert_eq!(code(check_conditions(&rec, &none)), None);
        let c = |m, nm, ims, ius| Conditions {
            if_match: m,
            if_none_match: nm,
            if_modified_since: ims,
            if_unmodified_since: ius,
        };
        let (t999, t1000) = (ts(999), ts(1000));
        assert_eq!(
            code(check_conditions(&rec, &c(Some(&same), None, None, None))),
            None
        );
        assert_eq!(
            code(check_conditions(
                &rec,
                &c(Some(&ETagCondition::Any), None, None, None)
            )),
            None
        );
        assert_eq!(
            code(check_conditions(&rec, &c(Some(&other), None, None, None))),
            Some(S3ErrorCode::PreconditionFailed)
        );
        // If-Match decides; the unmodified-since beside it is ignored.
        assert_eq!(
            code(check_conditions(
                &rec,
                &c(Some(&same), None, None, Some(&t999))
            )),
            None
        );
        assert_eq!(
            code(check_conditions(&rec, &c(None, None, None, Some(&t999)))),
            Some(S3ErrorCode::PreconditionFailed)
        );
        // Same second as the modification: not modified since (HTTP dates are whole seconds).
        assert_eq!(
            code(check_conditions(&rec, &c(None, None, None, Some(&t1000)))),
            None
        );
        assert_eq!(
            code(check_conditions(&rec, &c(None, Some(&same), None, None))),
            Some(S3ErrorCode::NotModified)
        );
        assert_eq!(
            code(check_conditions(&rec, &c(None, Some(&other), None, None))),
            None
        );
        assert_eq!(
            code(check_conditions(&rec, &c(None, None, Some(&t1000), None))),
            Some(S3ErrorCode::NotModified)
        );
        assert_eq!(
            code(check_conditions(&rec, &c(None, None, Some(&t999), None))),
            None
        );
        // If-None-Match decides over If-Modified-Since.
        assert_eq!(
            code(check_conditions(
                &rec,
                &c(None, Some(&other), Some(&t1000), None)
            )),
            None
        );
    }

    #[test]
    fn negative_content_length_is_refused() {
        assert_eq!(declared_len(Some(5)).ok(), Some(Some(5)));
        assert_eq!(declared_len(None).ok(), Some(None));
        assert!(declared_len(Some(-1)).is_err());
    }
}
