//! ListObjects (v1) and ListObjectsV2, over [`Catalogue::list_objects`].
//!
//! A page resumes after the last key or common prefix the previous page
//! returned: v2 hands that point to the client as an opaque continuation
//! token, v1 as `NextMarker`. The catalogue must skip every key under a
//! common prefix given as the resume point, or a prefix would repeat.
//!
//! [`Catalogue::list_objects`]: meridian_core::catalogue::Catalogue::list_objects

use super::errors::OrS3;
use base64::Engine;
use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result};

use super::errors::invalid_argument;
use super::{etag, owner, timestamp, MeridianS3};
use meridian_core::catalogue::{ListEntry, ListPage, ListQuery};
use meridian_core::names::MAX_KEY_BYTES;

/// S3's default and largest page.
pub const MAX_KEYS: usize = 1000;

/// Marks the token layout, so that it can change without misreading old tokens.
const TOKEN_VERSION: u8 = 1;

/// An opaque continuation token for "resume after `after`".
pub fn encode_token(after: &str) -> String {
    let mut raw = Vec::with_capacity(after.len() + 1);
    raw.push(TOKEN_VERSION);
    raw.extend_from_slice(after.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// The resume point inside a token from [`encode_token`].
pub fn decode_token(token: &str) -> Result<String, S3Error> {
    let bad = || invalid_argument("The continuation token provided is incorrect");
    // Longer than any token this gateway hands out: refuse before decoding.
    if token.len() > 4 * (MAX_KEY_BYTES + 1).div_ceil(3) {
        return Err(bad());
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    match raw.split_first() {
        Some((&TOKEN_VERSION, rest)) => String::from_utf8(rest.to_vec()).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Parses `max-keys`: absent is 1000, larger is capped at 1000.
pub fn page_size(max_keys: Option<i32>) -> Result<usize, S3Error> {
    match max_keys {
        None => Ok(MAX_KEYS),
        Some(n) if n < 0 => Err(invalid_argument("max-keys must not be negative")),
        Some(n) => Ok(usize::try_from(n).unwrap_or(MAX_KEYS).min(MAX_KEYS)),
    }
}

pub use meridian_core::names::uri_encode as url_encode;

/// Whether the listing is to be URL-encoded; other encodings are refused.
pub(super) fn wants_url(encoding: Option<&EncodingType>) -> Result<bool, S3Error> {
    match encoding.map(|e| e.as_str()) {
        None => Ok(false),
        Some(e) if e.eq_ignore_ascii_case(EncodingType::URL) => Ok(true),
        Some(e) => Err(invalid_argument(format!(
            "Invalid Encoding Method specified in Request: {e}"
        ))),
    }
}

/// One page, with the encoding applied.
struct Listed {
    contents: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
    truncated: bool,
    /// Where the next page starts (bare, never URL-encoded).
    resume_after: Option<String>,
}

impl MeridianS3 {
    async fn list_page(&self, query: ListQuery, with_owner: bool, url: bool) -> S3Result<Listed> {
        // S3 answers NoSuchBucket for a missing bucket; the catalogue's
        // listing contract does not promise to, so ask.
        self.gateway
            .catalogue()
            .bucket(&query.bucket)
            .await
            .or_s3()?;
        if query.max_keys == 0 {
            return Ok(Listed {
                contents: Vec::new(),
                prefixes: Vec::new(),
                truncated: false,
                resume_after: None,
            });
        }
        let page = self
            .gateway
            .catalogue()
            .list_objects(&query)
            .await
            .or_s3()?;
        Ok(shape(page, with_owner, url))
    }

    pub(super) async fn do_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let url = wants_url(input.encoding_type.as_ref())?;
        let max_keys = page_size(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        // A continuation token supersedes start-after: it is further along.
        // An empty one is none (the listing starts over, as AWS does).
        let start = match input
            .continuation_token
            .as_deref()
            .filter(|t| !t.is_empty())
        {
            Some(t) => Some(decode_token(t)?),
            None => input.start_after.clone().filter(|s| !s.is_empty()),
        };
        let query = query(
            &input.bucket,
            &prefix,
            input.delimiter.as_deref(),
            start,
            max_keys,
        );
        let listed = self
            .list_page(query, input.fetch_owner == Some(true), url)
            .await?;
        let key_count = listed.contents.len() + listed.prefixes.len();
        let enc = |s: String| if url { url_encode(&s) } else { s };
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc(prefix)),
            max_keys: Some(i32::try_from(max_keys).unwrap_or(i32::MAX)),
            key_count: Some(i32::try_from(key_count).unwrap_or(i32::MAX)),
            continuation_token: input.continuation_token,
            is_truncated: Some(listed.truncated),
            next_continuation_token: listed.resume_after.as_deref().map(encode_token),
            contents: Some(listed.contents),
            common_prefixes: Some(listed.prefixes),
            delimiter: given(input.delimiter).map(enc),
            encoding_type: input.encoding_type,
            start_after: input.start_after.map(enc),
            request_charged: None,
        }))
    }

    pub(super) async fn do_list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let url = wants_url(input.encoding_type.as_ref())?;
        let max_keys = page_size(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let marker = input.marker.clone().filter(|m| !m.is_empty());
        let query = query(
            &input.bucket,
            &prefix,
            input.delimiter.as_deref(),
            marker,
            max_keys,
        );
        // v1 always shows owners; v2 only when asked (fetch-owner).
        let listed = self.list_page(query, true, url).await?;
        let enc = |s: String| if url { url_encode(&s) } else { s };
        let has_delimiter = input.delimiter.as_deref().is_some_and(|d| !d.is_empty());
        // S3 sends NextMarker only with a delimiter: without one the last key
        // is the marker, and clients take it from the contents.
        let next_marker = if has_delimiter {
            listed.resume_after.clone().map(enc)
        } else {
            None
        };
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            // AWS leaves v1's own Prefix as sent, encoding or not, and
            // clients (botocore) do not decode it.
            prefix: Some(prefix),
            marker: Some(enc(input.marker.unwrap_or_default())),
            max_keys: Some(i32::try_from(max_keys).unwrap_or(i32::MAX)),
            is_truncated: Some(listed.truncated),
            contents: Some(listed.contents),
            common_prefixes: Some(listed.prefixes),
            delimiter: given(input.delimiter).map(enc),
            next_marker,
            encoding_type: input.encoding_type,
            request_charged: None,
        }))
    }
}

/// A delimiter as S3 echoes it: an empty one is none, and not shown.
pub(super) fn given(delimiter: Option<String>) -> Option<String> {
    delimiter.filter(|d| !d.is_empty())
}

fn query(
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    start_after: Option<String>,
    max_keys: usize,
) -> ListQuery {
    ListQuery {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        // An empty delimiter groups nothing; S3 treats it as absent.
        delimiter: delimiter.filter(|d| !d.is_empty()).map(str::to_string),
        start_after,
        max_keys,
    }
}

fn shape(page: ListPage, with_owner: bool, url: bool) -> Listed {
    let enc = |s: String| if url { url_encode(&s) } else { s };
    let mut last = None;
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for entry in page.entries {
        match entry {
            ListEntry::Object { key, record } => {
                last = Some(key.clone());
                contents.push(Object {
                    checksum_algorithm: None,
                    checksum_type: None,
                    e_tag: Some(etag(&record.etag)),
                    key: Some(enc(key)),
                    last_modified: Some(timestamp(record.created_ms)),
                    owner: with_owner.then(|| owner(&record.owner)),
                    restore_status: None,
                    size: Some(i64::try_from(record.size).unwrap_or(i64::MAX)),
                    storage_class: Some(ObjectStorageClass::from_static(
                        ObjectStorageClass::STANDARD,
                    )),
                });
            }
            ListEntry::Prefix(p) => {
                last = Some(p.clone());
                prefixes.push(CommonPrefix {
                    prefix: Some(enc(p)),
                });
            }
        }
    }
    // The catalogue names the resume point; the last entry is the same point
    // by its contract, and stands in should an implementation leave it out.
    let resume_after = if page.truncated {
        page.next_after.or(last)
    } else {
        None
    };
    Listed {
        contents,
        prefixes,
        truncated: page.truncated && resume_after.is_some(),
        resume_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_core::records::ObjectRecord;
    use s3s::S3ErrorCode;

    #[test]
    fn tokens_round_trip() {
        for k in [
            "",
            "a",
            "photos/2024/",
            "ключ/ü",
            &"k".repeat(MAX_KEY_BYTES),
        ] {
            let t = encode_token(k);
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{t}"
            );
            assert_eq!(decode_token(&t).ok().as_deref(), Some(k));
        }
    }

    #[test]
    fn bad_tokens_are_invalid_argument() {
        let too_long = "A".repeat(5000);
        let wrong_version = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([9u8, b'a']);
        let not_utf8 =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([TOKEN_VERSION, 0xff]);
        for t in [
            "!!!",
            "",
            too_long.as_str(),
            wrong_version.as_str(),
            not_utf8.as_str(),
        ] {
            let e = decode_token(t).expect_err(t);
            assert_eq!(e.code(), &S3ErrorCode::InvalidArgument);
        }
    }

    #[test]
    fn max_keys_defaults_and_caps() {
        assert_eq!(page_size(None).ok(), Some(1000));
        assert_eq!(page_size(Some(5)).ok(), Some(5));
        assert_eq!(page_size(Some(0)).ok(), Some(0));
        assert_eq!(page_size(Some(100_000)).ok(), Some(1000));
        assert!(page_size(Some(-1)).is_err());
    }

    #[test]
    fn truncated_page_without_resume_point_uses_last_entry() {
        let page = ListPage {
            entries: vec![
                ListEntry::Object {
                    key: "a".into(),
                    record: ObjectRecord::default(),
                },
                ListEntry::Prefix("b/".into()),
            ],
            truncated: true,
            next_after: None,
        };
        let l = shape(page, false, false);
        assert!(l.truncated);
        assert_eq!(l.resume_after.as_deref(), Some("b/"));
        assert_eq!(l.contents.len(), 1);
        assert_eq!(l.prefixes.len(), 1);
    }

    #[test]
    fn last_page_has_no_resume_point() {
        let page = ListPage {
            entries: vec![ListEntry::Prefix("b/".into())],
            truncated: false,
            next_after: Some("b/".into()),
        };
        let l = shape(page, false, true);
        assert!(!l.truncated);
        assert_eq!(l.resume_after, None);
    }
}
