//! Bucket versioning over S3: Put/GetBucketVersioning, ListObjectVersions,
//! and the helpers GET, HEAD and DELETE use for version ids and part
//! numbers.

use super::errors::OrS3;
use http::header::{HeaderMap, HeaderValue};
use meridian_core::records::{ObjectRecord, Versioning};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::errors::{invalid_argument, not_implemented};
use super::list::{page_size, url_encode, wants_url};
use super::{etag, owner, timestamp, MeridianS3};
use meridian_core::catalogue::{s3_version_id, VersionEntry, VersionQuery};
use meridian_core::CoreError;

/// A read's error, with the headers S3 adds when the version asked for
/// is a delete marker (405, only DELETE allowed on it).
pub(super) fn read_error(e: CoreError, version_id: Option<&str>) -> S3Error {
    let marker = matches!(e, CoreError::DeleteMarker(_));
    let mut err = super::errors::s3_error(e);
    if marker {
        let mut headers = marker_headers(version_id);
        headers.insert(http::header::ALLOW, HeaderValue::from_static("DELETE"));
        err.set_headers(headers);
    }
    err
}

/// `x-amz-delete-marker: true` and the marker's version id.
pub(super) fn marker_headers(version_id: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
    if let Some(v) = version_id.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert("x-amz-version-id", v);
    }
    headers
}

/// `x-amz-version-id` of a read: given in a bucket that has (or had)
/// versioning, objects written before it was enabled being `null`, and
/// whenever a version was asked for by id.
pub(super) fn version_header(
    record: &ObjectRecord,
    asked: Option<&str>,
    bucket_versioning: Versioning,
) -> Option<String> {
    (record.versioning != Versioning::Off
        || bucket_versioning != Versioning::Off
        || asked.is_some())
    .then(|| s3_version_id(record).to_string())
}

/// `x-amz-version-id` of a write: the new version's id while versioning
/// is enabled; none otherwise (a suspended bucket's writes are the null
/// version, which S3 does not name in the answer).
pub(super) fn written_version_header(record: &ObjectRecord) -> Option<String> {
    (record.versioning == Versioning::Enabled).then(|| record.version_id.clone())
}

/// The byte range of part `n` (1-based); `None`: the whole object, an
/// empty one (no byte range can name it). A single PUT is one part.
pub(super) fn part_range(record: &ObjectRecord, n: i32) -> S3Result<Option<(u64, u64)>> {
    if !(1..=10_000).contains(&n) {
        return Err(invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive",
        ));
    }
    let bad = || {
        let mut e = S3Error::with_message(
            S3ErrorCode::Custom("InvalidPartNumber".into()),
            "The requested partnumber is not satisfiable",
        );
        e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
        e
    };
    // In 1..=10,000: fits.
    let n = n as usize;
    if record.parts == 0 {
        return match n {
            1 if record.size == 0 => Ok(None),
            1 => Ok(Some((0, record.size))),
            _ => Err(bad()),
        };
    }
    if record.part_sizes.len() != record.parts as usize {
        return Err(not_implemented(
            "partNumber reads of multipart objects completed before part sizes were kept",
        ));
    }
    let size = *record.part_sizes.get(n - 1).ok_or_else(bad)?;
    let start: u64 = record.part_sizes[..n - 1].iter().sum();
    if size == 0 {
        // An empty part cannot be expressed as a byte range.
        return Err(bad());
    }
    Ok(Some((start, start + size)))
}

fn status_of(versioning: Versioning) -> Option<BucketVersioningStatus> {
    match versioning {
        Versioning::Enabled => Some(BucketVersioningStatus::from_static(
            BucketVersioningStatus::ENABLED,
        )),
        Versioning::Suspended => Some(BucketVersioningStatus::from_static(
            BucketVersioningStatus::SUSPENDED,
        )),
        Versioning::Off => None,
    }
}

impl MeridianS3 {
    pub(super) async fn do_put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let input = req.input;
        let conf = input.versioning_configuration;
        if conf
            .mfa_delete
            .as_ref()
            .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
            || input.mfa.is_some()
        {
            return Err(not_implemented("MFA delete"));
        }
        let state = match conf.status.as_ref().map(|s| s.as_str()) {
            Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
            Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
            other => {
                return Err(S3Error::with_message(
                    S3ErrorCode::MalformedXML,
                    format!("versioning Status is Enabled or Suspended, not {other:?}"),
                ))
            }
        };
        self.gateway
            .set_versioning(&input.bucket, state)
            .await
            .or_s3()?;
        Ok(S3Response::new(PutBucketVersioningOutput {}))
    }

    pub(super) async fn do_get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let b = self
            .gateway
            .catalogue()
            .bucket(&req.input.bucket)
            .await
            .or_s3()?;
        Ok(S3Response::new(GetBucketVersioningOutput {
            status: status_of(b.versioning),
            mfa_delete: None,
        }))
    }

    pub(super) async fn do_list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let url = wants_url(input.encoding_type.as_ref())?;
        let max_keys = page_size(input.max_keys)?;
        if input.version_id_marker.is_some() && input.key_marker.is_none() {
            return Err(invalid_argument(
                "A version-id marker cannot be specified without a key marker.",
            ));
        }
        let b = self
            .gateway
            .catalogue()
            .bucket(&input.bucket)
            .await
            .or_s3()?;
        let query = VersionQuery {
            bucket: input.bucket.clone(),
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            key_marker: input.key_marker.clone(),
            version_marker: input.version_id_marker.clone(),
            max_keys,
        };
        let page = self
            .gateway
            .catalogue()
            .list_versions(&query)
            .await
            .or_s3()?;
        let enc = |s: &str| if url { url_encode(s) } else { s.to_string() };
        let (mut versions, mut markers, mut prefixes) = (Vec::new(), Vec::new(), Vec::new());
        let mut next = (None, None);
        for entry in &page.entries {
            match entry {
                VersionEntry::Version {
                    key,
                    record,
                    latest,
                } => {
                    let id = s3_version_id(record).to_string();
                    next = (Some(key.clone()), Some(id.clone()));
                    let who = if record.owner.is_empty() {
                        &b.owner
                    } else {
                        &record.owner
                    };
                    if record.delete_marker {
                        markers.push(DeleteMarkerEntry {
                            is_latest: Some(*latest),
                            key: Some(enc(key)),
                            last_modified: Some(timestamp(record.created_ms)),
                            owner: Some(owner(who)),
                            version_id: Some(id),
                        });
                    } else {
                        versions.push(ObjectVersion {
                            e_tag: Some(etag(&record.etag)),
                            is_latest: Some(*latest),
                            key: Some(enc(key)),
                            last_modified: Some(timestamp(record.created_ms)),
                            owner: Some(owner(who)),
                            size: Some(i64::try_from(record.size).unwrap_or(i64::MAX)),
                            storage_class: Some(ObjectVersionStorageClass::from_static(
                                ObjectVersionStorageClass::STANDARD,
                            )),
                            version_id: Some(id),
                            ..Default::default()
                        });
                    }
                }
                VersionEntry::Prefix(p) => {
                    next = (Some(p.clone()), None);
                    prefixes.push(CommonPrefix {
                        prefix: Some(enc(p)),
                    });
                }
            }
        }
        let (next_key, next_version) = if page.truncated { next } else { (None, None) };
        Ok(S3Response::new(ListObjectVersionsOutput {
            common_prefixes: Some(prefixes),
            delete_markers: Some(markers),
            versions: Some(versions),
            delimiter: super::list::given(input.delimiter).map(|d| enc(&d)),
            encoding_type: input.encoding_type,
            is_truncated: Some(page.truncated),
            key_marker: Some(input.key_marker.as_deref().map(enc).unwrap_or_default()),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            max_keys: Some(i32::try_from(max_keys).unwrap_or(1000)),
            name: Some(input.bucket),
            next_key_marker: next_key.as_deref().map(enc),
            next_version_id_marker: next_version,
            prefix: Some(input.prefix.as_deref().map(enc).unwrap_or_default()),
            request_charged: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn multipart(sizes: &[u64]) -> ObjectRecord {
        ObjectRecord {
            size: sizes.iter().sum(),
            parts: sizes.len() as u32,
            part_sizes: sizes.to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn part_ranges() {
        let rec = multipart(&[10, 10, 3]);
        assert_eq!(part_range(&rec, 1).ok(), Some(Some((0, 10))));
        assert_eq!(part_range(&rec, 3).ok(), Some(Some((20, 23))));
        // A part the object does not have: 416, as AWS answers.
        for beyond in [4, 10_000] {
            let e = part_range(&rec, beyond).expect_err("beyond the parts");
            assert_eq!(
                e.status_code(),
                Some(http::StatusCode::RANGE_NOT_SATISFIABLE)
            );
            assert_eq!(e.code().as_str(), "InvalidPartNumber");
        }
        // Not a part number at all: 400.
        for bad in [0, -1, 10_001] {
            let e = part_range(&rec, bad).expect_err("out of range");
            assert_eq!(e.code(), &S3ErrorCode::InvalidArgument, "{bad}");
        }
        let single = ObjectRecord {
            size: 7,
            ..Default::default()
        };
        assert_eq!(part_range(&single, 1).ok(), Some(Some((0, 7))));
        assert_eq!(
            part_range(&single, 2)
                .expect_err("one part")
                .code()
                .as_str(),
            "InvalidPartNumber"
        );
        let empty = ObjectRecord::default();
        assert_eq!(part_range(&empty, 1).ok(), Some(None));
        let old = ObjectRecord {
            size: 20,
            parts: 2,
            ..Default::default()
        };
        assert_eq!(
            part_range(&old, 1).expect_err("no sizes").code(),
            &S3ErrorCode::NotImplemented
        );
    }

    #[test]
    fn version_headers() {
        let (off, on) = (Versioning::Off, Versioning::Enabled);
        let mut rec = ObjectRecord {
            version_id: "abc".into(),
            ..Default::default()
        };
        assert_eq!(version_header(&rec, None, off), None);
        assert_eq!(
            version_header(&rec, Some("null"), off).as_deref(),
            Some("null")
        );
        // Written before versioning was enabled: the null version.
        assert_eq!(version_header(&rec, None, on).as_deref(), Some("null"));
        assert_eq!(written_version_header(&rec), None);
        rec.versioning = on;
        assert_eq!(version_header(&rec, None, on).as_deref(), Some("abc"));
        assert_eq!(written_version_header(&rec).as_deref(), Some("abc"));
        rec.versioning = Versioning::Suspended;
        assert_eq!(version_header(&rec, None, on).as_deref(), Some("null"));
        assert_eq!(written_version_header(&rec), None);
    }
}
