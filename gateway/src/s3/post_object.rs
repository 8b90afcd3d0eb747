//! POST Object: an upload from a browser form whose policy document and
//! signature s3s has checked (conditions, expiry, content-length-range);
//! the success redirect and status are s3s's too. This module writes the
//! object as PutObject would, with the form's ACL, tags and `${filename}`
//! (see `post_form.rs`).

use http::HeaderValue;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::body::{upload_stream, BODY_IDLE_TIMEOUT};
use super::errors::not_implemented;
use super::post_form::{passed, ACL_HEADER, FILENAME_HEADER, TAGGING_HEADER};
use super::{etag, requester, MeridianS3};
use meridian_objects::NewObject;

/// The text of each `<name>` element in `xml`, unescaped.
fn elements<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(&after[..j]);
        rest = &after[j + close.len()..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// A form's `tagging` field: S3's `<Tagging><TagSet><Tag>...` XML.
fn form_tags(xml: &str) -> S3Result<std::collections::HashMap<String, String>> {
    let malformed = || s3_error!(MalformedXML, "the tagging field is not a Tagging document");
    let doc = xml.trim();
    if !doc.contains("<Tagging") || !doc.contains("<TagSet>") {
        return Err(malformed());
    }
    let mut set = Vec::new();
    for tag in elements(doc, "Tag") {
        let (keys, values) = (elements(tag, "Key"), elements(tag, "Value"));
        let (Some(k), Some(v)) = (keys.first(), values.first()) else {
            return Err(malformed());
        };
        set.push(Tag {
            key: Some(unescape(k)),
            value: Some(unescape(v)),
        });
    }
    super::tagging::from_set(set)
}

/// The ACL and Object Lock settings a form asks for, as the headers the
/// write path reads: from its fields only (s3s has checked them against the
/// form's policy), whatever headers the request carries.
pub(super) fn form_headers(
    request: &http::HeaderMap,
    input: &PostObjectInput,
) -> S3Result<http::HeaderMap> {
    let mut h = http::HeaderMap::new();
    let bad = |what: &str| s3_error!(InvalidArgument, "the {what} field is not valid");
    if let Some(acl) = passed(request, ACL_HEADER) {
        h.insert(
            "x-amz-acl",
            HeaderValue::from_str(&acl).map_err(|_| bad("acl"))?,
        );
    }
    if let Some(m) = &input.object_lock_mode {
        let v = HeaderValue::from_str(m.as_str()).map_err(|_| bad("x-amz-object-lock-mode"))?;
        h.insert("x-amz-object-lock-mode", v);
    }
    if let Some(d) = &input.object_lock_retain_until_date {
        let t = time::OffsetDateTime::from(d.clone())
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|_| bad("x-amz-object-lock-retain-until-date"))?;
        let v =
            HeaderValue::from_str(&t).map_err(|_| bad("x-amz-object-lock-retain-until-date"))?;
        h.insert("x-amz-object-lock-retain-until-date", v);
    }
    if let Some(s) = &input.object_lock_legal_hold_status {
        let v =
            HeaderValue::from_str(s.as_str()).map_err(|_| bad("x-amz-object-lock-legal-hold"))?;
        h.insert("x-amz-object-lock-legal-hold", v);
    }
    Ok(h)
}

/// The tags a form asks for: its `tagging` field (an S3 Tagging document),
/// or s3s's reading of an `x-amz-tagging` field.
pub(super) fn form_tagging(
    request: &http::HeaderMap,
    input: &PostObjectInput,
) -> S3Result<std::collections::HashMap<String, String>> {
    match (passed(request, TAGGING_HEADER), input.tagging.as_deref()) {
        (Some(xml), _) => form_tags(&xml),
        (None, Some(h)) => super::tagging::parse_header(h),
        (None, None) => Ok(Default::default()),
    }
}

/// The key a form names, `${filename}` replaced by the file's name.
pub(super) fn form_key(key: &str, headers: &http::HeaderMap) -> String {
    match passed(headers, FILENAME_HEADER) {
        Some(f) if key.contains("${filename}") => key.replace("${filename}", &f),
        _ => key.to_string(),
    }
}

impl MeridianS3 {
    pub(super) async fn do_post_object(
        &self,
        req: S3Request<PostObjectInput>,
    ) -> S3Result<S3Response<PostObjectOutput>> {
        let who = requester(&req);
        // What the object is written with comes from the form's fields,
        // which its policy covers, never from the request's headers.
        let headers = form_headers(&req.headers, &req.input)?;
        let input = req.input;
        if input.server_side_encryption.is_some()
            || input.sse_customer_algorithm.is_some()
            || input.ssekms_key_id.is_some()
        {
            return Err(not_implemented("Server-side encryption"));
        }
        let key = form_key(&input.key, &req.headers);
        let tags = form_tagging(&req.headers, &input)?;
        let (protection, owner) = self
            .write_protection(&input.bucket, &headers, &who, false)
            .await?;
        // s3s has read the whole file: its length is known.
        let expected = Some(input.content_length.map_or(0, |n| n.max(0) as u64));
        let (body, fault) = upload_stream(input.body, expected, None, BODY_IDLE_TIMEOUT);
        let obj = NewObject {
            bucket: input.bucket.clone(),
            key: key.clone(),
            content_type: input.content_type.unwrap_or_default(),
            user_meta: input.metadata.unwrap_or_default(),
            owner,
            tags,
            protection,
            ..Default::default()
        };
        let record = self
            .gateway
            .put_object(self.site, obj, body, expected)
            .await
            .map_err(|e| fault.refine(e))?;
        let expiration = self.expiration_header(&input.bucket, &key, &record).await;
        Ok(S3Response::new(PostObjectOutput {
            e_tag: Some(etag(&record.etag)),
            version_id: super::versioning::written_version_header(&record),
            expiration,
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_tagging_documents() {
        let tags = form_tags(
            "<Tagging><TagSet><Tag><Key>project</Key><Value>juno &amp; co</Value></Tag></TagSet></Tagging>",
        )
        .expect("valid");
        assert_eq!(tags.get("project").map(String::as_str), Some("juno & co"));
        assert!(form_tags("<Tagging><TagSet></TagSet></Tagging>")
            .expect("empty")
            .is_empty());
        for bad in [
            "project=juno",
            "<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>",
        ] {
            assert_eq!(
                form_tags(bad).expect_err(bad).code(),
                &s3s::S3ErrorCode::MalformedXML
            );
        }
    }

    #[test]
    fn filename_fills_the_key() {
        let mut h = http::HeaderMap::new();
        h.insert(FILENAME_HEADER, HeaderValue::from_static("run%201.h5"));
        assert_eq!(form_key("up/${filename}", &h), "up/run 1.h5");
        assert_eq!(form_key("fixed", &h), "fixed");
    }
}
