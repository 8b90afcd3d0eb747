//! Object tags (PutObject's `x-amz-tagging`, Put/Get/DeleteObjectTagging)
//! and GetObjectAttributes.

use super::errors::OrS3;
use std::collections::HashMap;

use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::errors::invalid_argument;
use super::{etag, timestamp, MeridianS3};

/// S3's limits: 10 tags, keys up to 128 characters, values up to 256.
pub fn check_tags(tags: &HashMap<String, String>) -> S3Result<()> {
    if tags.len() > 10 {
        return Err(s3_error!(
            InvalidTag,
            "Object tags cannot be greater than 10"
        ));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(s3_error!(
                InvalidTag,
                "A tag key is 1 to 128 characters and its value at most 256"
            ));
        }
    }
    Ok(())
}

fn percent_decode(s: &str) -> S3Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| invalid_argument("x-amz-tagging: bad percent-encoding"))?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| invalid_argument("x-amz-tagging: not UTF-8"))
}

/// `x-amz-tagging: k1=v1&k2=v2` (URL query encoding).
pub fn parse_header(h: &str) -> S3Result<HashMap<String, String>> {
    let mut tags = HashMap::new();
    for pair in h.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k)?;
        if tags.insert(k.clone(), percent_decode(v)?).is_some() {
            return Err(s3_error!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
    }
    check_tags(&tags)?;
    Ok(tags)
}

pub(super) fn from_set(set: TagSet) -> S3Result<HashMap<String, String>> {
    let mut tags = HashMap::new();
    for t in set {
        let k = t.key.unwrap_or_default();
        if tags.insert(k, t.value.unwrap_or_default()).is_some() {
            return Err(s3_error!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
    }
    check_tags(&tags)?;
    Ok(tags)
}

/// A bucket's tag set: up to 50 tags, keys up to 128 characters, values
/// up to 256, no duplicates.
fn bucket_tags(set: TagSet) -> S3Result<HashMap<String, String>> {
    if set.len() > 50 {
        return Err(s3_error!(
            InvalidTag,
            "Bucket tags cannot be greater than 50"
        ));
    }
    let mut tags = HashMap::new();
    for t in set {
        let (k, v) = (t.key.unwrap_or_default(), t.value.unwrap_or_default());
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(s3_error!(
                InvalidTag,
                "A tag key is 1 to 128 characters and its value at most 256"
            ));
        }
        if tags.insert(k, v).is_some() {
            return Err(s3_error!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
    }
    Ok(tags)
}

/// Tags in key order, as S3 lists them.
pub(super) fn to_set(tags: &HashMap<String, String>) -> TagSet {
    let mut v: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect();
    v.sort_by(|a, b| a.key.cmp(&b.key));
    v
}

/// Attempts at replacing tags while the object is being overwritten.
const SET_ATTEMPTS: usize = 3;

impl MeridianS3 {
    /// Replaces the tags of the current object (or a version); the S3
    /// version id of what was tagged.
    async fn replace_tags(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&ObjectVersionId>,
        tags: HashMap<String, String>,
        deferred: Option<&super::auth::Deferred>,
    ) -> S3Result<Option<String>> {
        let cat = self.gateway.catalogue();
        for _ in 0..SET_ATTEMPTS {
            let rec = self
                .addressed_version(bucket, key, version, deferred)
                .await?;
            if cat
                .set_tags(bucket, key, &rec.version_id, tags.clone())
                .await
                .or_s3()?
            {
                return Ok(super::versioning::version_header(
                    &rec,
                    version.map(|v| v.as_str()),
                    self.bucket_versioning(bucket).await,
                ));
            }
        }
        Err(s3_error!(
            OperationAborted,
            "The object changed while its tags were set; retry"
        ))
    }

    pub(super) async fn do_put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let mut deferred = req.extensions.get::<super::auth::Deferred>().cloned();
        let input = req.input;
        let tags = from_set(input.tagging.tag_set)?;
        // Decided with the tags the body asks for (policy conditions on
        // s3:RequestObjectTag) and the object.
        if let Some(d) = deferred.as_mut() {
            super::facts::add_request_tags(&mut d.facts, &tags);
        }
        let version_id = self
            .replace_tags(
                &input.bucket,
                &input.key,
                input.version_id.as_ref(),
                tags,
                deferred.as_ref(),
            )
            .await?;
        Ok(S3Response::new(PutObjectTaggingOutput { version_id }))
    }

    pub(super) async fn do_get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let deferred = req.extensions.get::<super::auth::Deferred>().cloned();
        let input = req.input;
        let rec = self
            .addressed_version(
                &input.bucket,
                &input.key,
                input.version_id.as_ref(),
                deferred.as_ref(),
            )
            .await?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: to_set(&rec.tags),
            version_id: super::versioning::version_header(
                &rec,
                input.version_id.as_deref(),
                self.bucket_versioning(&input.bucket).await,
            ),
        }))
    }

    pub(super) async fn do_delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let deferred = req.extensions.get::<super::auth::Deferred>().cloned();
        let input = req.input;
        let version_id = self
            .replace_tags(
                &input.bucket,
                &input.key,
                input.version_id.as_ref(),
                HashMap::new(),
                deferred.as_ref(),
            )
            .await?;
        Ok(S3Response::new(DeleteObjectTaggingOutput { version_id }))
    }

    pub(super) async fn do_get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let deferred = req.extensions.get::<super::auth::Deferred>().cloned();
        let input = req.input;
        let rec = self
            .addressed_version(
                &input.bucket,
                &input.key,
                input.version_id.as_ref(),
                deferred.as_ref(),
            )
            .await?;
        // One header may carry the whole list, comma-separated (boto3).
        let wants = |a: &str| {
            input
                .object_attributes
                .iter()
                .flat_map(|x| x.as_str().split(','))
                .any(|x| x.trim().eq_ignore_ascii_case(a))
        };
        let mut out = GetObjectAttributesOutput {
            last_modified: Some(timestamp(rec.created_ms)),
            version_id: super::versioning::version_header(
                &rec,
                input.version_id.as_deref(),
                self.bucket_versioning(&input.bucket).await,
            ),
            ..Default::default()
        };
        if wants(ObjectAttributes::ETAG) {
            // s3s quotes it; the listener unquotes it, as AWS answers it
            // (see `server::unquote_attributes_etag`).
            out.e_tag = Some(etag(&rec.etag));
        }
        if wants(ObjectAttributes::OBJECT_SIZE) {
            out.object_size = Some(i64::try_from(rec.size).unwrap_or(i64::MAX));
        }
        if wants(ObjectAttributes::STORAGE_CLASS) {
            out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
        }
        if wants(ObjectAttributes::CHECKSUM) && !rec.checksums.is_empty() {
            out.checksum = Some(super::checksum::of_record(&rec));
        }
        if wants(ObjectAttributes::OBJECT_PARTS) && rec.parts > 0 {
            out.object_parts = Some(GetObjectAttributesParts {
                total_parts_count: Some(i32::try_from(rec.parts).unwrap_or(i32::MAX)),
                ..Default::default()
            });
        }
        Ok(S3Response::new(out))
    }

    pub(super) async fn do_put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let input = req.input;
        let tags = bucket_tags(input.tagging.tag_set)?;
        self.gateway
            .catalogue()
            .set_bucket_tags(&input.bucket, tags)
            .await
            .or_s3()?;
        Ok(S3Response::new(PutBucketTaggingOutput {}))
    }

    pub(super) async fn do_get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let b = self
            .gateway
            .catalogue()
            .bucket(&req.input.bucket)
            .await
            .or_s3()?;
        if b.tags.is_empty() {
            return Err(s3_error!(NoSuchTagSet, "The TagSet does not exist"));
        }
        Ok(S3Response::new(GetBucketTaggingOutput {
            tag_set: to_set(&b.tags),
        }))
    }

    pub(super) async fn do_delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.gateway
            .catalogue()
            .set_bucket_tags(&req.input.bucket, HashMap::new())
            .await
            .or_s3()?;
        Ok(S3Response::new(DeleteBucketTaggingOutput {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagging_header_decodes_and_checks_limits() {
        let t = parse_header("project=juno&run%2Fid=42&empty=&sp=a+b").expect("parses");
        assert_eq!(t["project"], "juno");
        assert_eq!(t["run/id"], "42");
        assert_eq!(t["empty"], "");
        assert_eq!(t["sp"], "a b");
        assert!(parse_header("a=1&a=2").is_err(), "duplicate keys");
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert!(parse_header(&eleven.join("&")).is_err(), "more than 10");
        assert!(parse_header(&format!("{}=v", "k".repeat(129))).is_err());
        assert!(parse_header("bad=%zz").is_err());
    }
}
