//! The S3 operations called directly (no HTTP) against the in-memory backends.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures::TryStreamExt;
use md5::{Digest, Md5};
use s3s::auth::{Credentials, SecretKey};
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Result, S3};

use super::testkit::{bytes_of, fixture, Fixture, CHUNK};
use super::MeridianS3;

const SITE: u32 = 1;

fn rq<T>(input: T) -> S3Request<T> {
    rq_as(input, "ak")
}

fn rq_as<T>(input: T, access_key: &str) -> S3Request<T> {
    S3Request {
        input,
        method: http::Method::GET,
        uri: http::Uri::from_static("/"),
        headers: http::HeaderMap::new(),
        extensions: http::Extensions::new(),
        credentials: Some(Credentials {
            access_key: access_key.to_string(),
            secret_key: SecretKey::from("sk"),
        }),
        region: None,
        service: None,
        trailing_headers: None,
    }
}

fn blob(data: &[u8]) -> StreamingBlob {
    // Several frames, as a network body would arrive.
    let frames: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(10_000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    StreamingBlob::wrap(futures::stream::iter(frames))
}

fn code<T>(r: S3Result<T>) -> S3ErrorCode {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.code().clone(),
    }
}

fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

struct T {
    s3: MeridianS3,
    fx: Fixture,
}

fn setup() -> T {
    let fx = fixture();
    T {
        s3: MeridianS3::new(fx.gateway.clone(), SITE),
        fx,
    }
}

impl T {
    async fn bucket(&self, name: &str) {
        let input = CreateBucketInput {
            bucket: name.into(),
            ..Default::default()
        };
        self.s3
            .create_bucket(rq(input))
            .await
            .expect("create bucket");
    }

    async fn put(&self, bucket: &str, key: &str, data: &[u8]) -> S3Result<PutObjectOutput> {
        let input = PutObjectInput {
            bucket: bucket.into(),
            key: key.into(),
            body: Some(blob(data)),
            content_length: Some(data.len() as i64),
            ..Default::default()
        };
        self.s3.put_object(rq(input)).await.map(|r| r.output)
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<&str>,
    ) -> S3Result<(GetObjectOutput, Vec<u8>)> {
        let input = GetObjectInput {
            bucket: bucket.into(),
            key: key.into(),
            range: range.map(|r| Range::parse(r).expect("range")),
            ..Default::default()
        };
        let mut out = self.s3.get_object(rq(input)).await?.output;
        let body = out.body.take().expect("body");
        let frames: Vec<Bytes> = body.try_collect().await.expect("body stream");
        Ok((out, frames.concat()))
    }

    async fn exists(&self, bucket: &str, key: &str) -> bool {
        let input = HeadObjectInput {
            bucket: bucket.into(),
            key: key.into(),
            ..Default::default()
        };
        self.s3.head_object(rq(input)).await.is_ok()
    }
}

#[tokio::test]
async fn bucket_lifecycle() {
    let t = setup();
    t.bucket("photos").await;

    let again = CreateBucketInput {
        bucket: "photos".into(),
        ..Default::default()
    };
    assert_eq!(
        code(t.s3.create_bucket(rq(again.clone())).await),
        S3ErrorCode::BucketAlreadyOwnedByYou
    );
    assert_eq!(
        code(t.s3.create_bucket(rq_as(again, "someone-else")).await),
        S3ErrorCode::BucketAlreadyExists
    );
    let bad = CreateBucketInput {
        bucket: "Bad_Name".into(),
        ..Default::default()
    };
    assert_eq!(
        code(t.s3.create_bucket(rq(bad)).await),
        S3ErrorCode::InvalidBucketName
    );

    let head = |b: &str| HeadBucketInput {
        bucket: b.into(),
        ..Default::default()
    };
    assert!(t.s3.head_bucket(rq(head("photos"))).await.is_ok());
    assert_eq!(
        code(t.s3.head_bucket(rq(head("nope"))).await),
        S3ErrorCode::NoSuchBucket
    );

    let owner =
        t.fx.gateway
            .catalogue()
            .bucket("photos")
            .await
            .expect("bucket")
            .owner;
    assert_eq!(owner, "ak", "the owner is the signing access key");

    t.put("photos", "k", b"x").await.expect("put");
    let del = |b: &str| DeleteBucketInput {
        bucket: b.into(),
        ..Default::default()
    };
    assert_eq!(
        code(t.s3.delete_bucket(rq(del("photos"))).await),
        S3ErrorCode::BucketNotEmpty
    );
    let del_obj = DeleteObjectInput {
        bucket: "photos".into(),
        key: "k".into(),
        ..Default::default()
    };
    t.s3.delete_object(rq(del_obj))
        .await
        .expect("delete object");
    t.s3.delete_bucket(rq(del("photos")))
        .await
        .expect("delete empty bucket");
    assert_eq!(
        code(t.s3.head_bucket(rq(head("photos"))).await),
        S3ErrorCode::NoSuchBucket
    );
}

fn create_in(bucket: &str, constraint: &str) -> CreateBucketInput {
    CreateBucketInput {
        bucket: bucket.into(),
        create_bucket_configuration: Some(CreateBucketConfiguration {
            location_constraint: Some(BucketLocationConstraint::from(constraint.to_string())),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn location(t: &T, bucket: &str) -> String {
    let input = GetBucketLocationInput {
        bucket: bucket.into(),
        ..Default::default()
    };
    let out =
        t.s3.get_bucket_location(rq(input))
            .await
            .expect("location")
            .output;
    out.location_constraint
        .expect("constraint")
        .as_str()
        .to_string()
}

#[tokio::test]
async fn location_constraint_names_a_site() {
    let t = setup();
    t.s3.create_bucket(rq(create_in("in-beta", "bEtA")))
        .await
        .expect("create at Beta");
    // The location is the site's region: lower case, accepted in signatures.
    assert_eq!(location(&t, "in-beta").await, "beta");

    t.bucket("here").await;
    assert_eq!(
        location(&t, "here").await,
        "alpha",
        "no constraint: the endpoint's site"
    );
    // What GetBucketLocation answers is accepted back as a constraint.
    t.s3.create_bucket(rq(create_in("by-region", "beta")))
        .await
        .expect("create by region");
    assert_eq!(location(&t, "by-region").await, "beta");

    assert_eq!(
        code(t.s3.create_bucket(rq(create_in("nowhere", "Gamma"))).await),
        S3ErrorCode::InvalidLocationConstraint
    );

    // A client configured for a region sends it as the constraint unasked.
    let mut req = rq(create_in("regional", "eu-west-1"));
    req.region = Some(s3s::region::Region::new("eu-west-1".into()).expect("region"));
    t.s3.create_bucket(req)
        .await
        .expect("signing region means no preference");
    assert_eq!(location(&t, "regional").await, "alpha");
    t.s3.create_bucket(rq(create_in("default-region", "us-east-1")))
        .await
        .expect("the default region means no preference");
    assert_eq!(location(&t, "default-region").await, "alpha");
}

#[tokio::test]
async fn list_buckets_pages() {
    let t = setup();
    for b in ["b-one", "a-two", "c-three"] {
        t.bucket(b).await;
    }
    let all =
        t.s3.list_buckets(rq(ListBucketsInput::default()))
            .await
            .expect("list")
            .output;
    let names: Vec<_> = all
        .buckets
        .expect("buckets")
        .into_iter()
        .filter_map(|b| b.name)
        .collect();
    assert_eq!(names, ["a-two", "b-one", "c-three"]);
    assert_eq!(all.owner.and_then(|o| o.id).as_deref(), Some("ak"));

    let mut token = None;
    let mut seen = Vec::new();
    for _ in 0..5 {
        let input = ListBucketsInput {
            max_buckets: Some(2),
            continuation_token: token.clone(),
            ..Default::default()
        };
        let out = t.s3.list_buckets(rq(input)).await.expect("page").output;
        seen.extend(
            out.buckets
                .expect("buckets")
                .into_iter()
                .filter_map(|b| b.name),
        );
        token = out.continuation_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["a-two", "b-one", "c-three"]);
}

#[tokio::test]
async fn put_get_head_round_trip() {
    let t = setup();
    t.bucket("data").await;
    let data = bytes_of(3 * CHUNK + 123, 7);
    let input = PutObjectInput {
        bucket: "data".into(),
        key: "dir/file.bin".into(),
        body: Some(blob(&data)),
        content_length: Some(data.len() as i64),
        content_type: Some("application/x-test".into()),
        metadata: Some([("origin".to_string(), "sensor-7".to_string())].into()),
        ..Default::default()
    };
    let put = t.s3.put_object(rq(input)).await.expect("put").output;
    let want_etag = md5_hex(&data);
    assert_eq!(put.e_tag, Some(ETag::Strong(want_etag.clone())));
    let header = put.e_tag.expect("etag").to_http_header().expect("header");
    assert_eq!(
        header.to_str().ok(),
        Some(format!("\"{want_etag}\"").as_str()),
        "ETag is quoted"
    );

    let (out, body) = t.get("data", "dir/file.bin", None).await.expect("get");
    assert_eq!(body, data);
    assert_eq!(out.content_length, Some(data.len() as i64));
    assert_eq!(out.content_range, None);
    assert_eq!(out.content_type.as_deref(), Some("application/x-test"));
    assert_eq!(out.accept_ranges.as_deref(), Some("bytes"));
    assert_eq!(
        out.metadata
            .as_ref()
            .and_then(|m| m.get("origin"))
            .map(String::as_str),
        Some("sensor-7")
    );
    assert!(out.last_modified.is_some());

    // A range across a chunk boundary.
    let (a, b) = (CHUNK - 10, CHUNK + 20);
    let (out, body) = t
        .get("data", "dir/file.bin", Some(&format!("bytes={a}-{b}")))
        .await
        .expect("range");
    assert_eq!(body, &data[a..=b]);
    assert_eq!(out.content_length, Some((b - a + 1) as i64));
    assert_eq!(
        out.content_range,
        Some(format!("bytes {a}-{b}/{}", data.len()))
    );

    let (_, body) = t
        .get("data", "dir/file.bin", Some("bytes=-5"))
        .await
        .expect("suffix");
    assert_eq!(body, &data[data.len() - 5..]);
    let (_, body) = t
        .get(
            "data",
            "dir/file.bin",
            Some(&format!("bytes={}-", data.len() - 3)),
        )
        .await
        .expect("open");
    assert_eq!(body, &data[data.len() - 3..]);
    let r = t
        .get(
            "data",
            "dir/file.bin",
            Some(&format!("bytes={}-", data.len())),
        )
        .await;
    assert_eq!(code(r), S3ErrorCode::InvalidRange);

    let head = HeadObjectInput {
        bucket: "data".into(),
        key: "dir/file.bin".into(),
        range: Some(Range::parse("bytes=0-9").expect("range")),
        ..Default::default()
    };
    let h = t.s3.head_object(rq(head)).await.expect("head").output;
    assert_eq!(h.content_length, Some(10));
    assert_eq!(h.content_range, Some(format!("bytes 0-9/{}", data.len())));
    assert_eq!(h.e_tag, Some(ETag::Strong(want_etag)));
    assert_eq!(h.content_type.as_deref(), Some("application/x-test"));

    assert_eq!(
        code(t.get("data", "missing", None).await),
        S3ErrorCode::NoSuchKey
    );
    assert_eq!(
        code(t.get("no-bucket", "k", None).await),
        S3ErrorCode::NoSuchBucket
    );
}

#[tokio::test]
async fn empty_object_and_default_content_type() {
    let t = setup();
    t.bucket("data").await;
    t.put("data", "empty", b"").await.expect("put empty");
    let (out, body) = t.get("data", "empty", None).await.expect("get empty");
    assert!(body.is_empty());
    assert_eq!(out.content_length, Some(0));
    assert_eq!(out.content_type.as_deref(), Some("binary/octet-stream"));
    assert_eq!(
        code(t.get("data", "empty", Some("bytes=0-")).await),
        S3ErrorCode::InvalidRange
    );
}

#[tokio::test]
async fn truncated_or_corrupt_uploads_commit_nothing() {
    let t = setup();
    t.bucket("data").await;
    let data = bytes_of(2 * CHUNK, 1);

    // The client declared more than it sent.
    let input = PutObjectInput {
        bucket: "data".into(),
        key: "short".into(),
        body: Some(blob(&data)),
        content_length: Some(data.len() as i64 + 1),
        ..Default::default()
    };
    assert_eq!(
        code(t.s3.put_object(rq(input)).await),
        S3ErrorCode::IncompleteBody
    );
    assert!(!t.exists("data", "short").await);

    // The connection broke mid-body.
    let frames: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::copy_from_slice(&data[..CHUNK + 5])),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset",
        )),
    ];
    let input = PutObjectInput {
        bucket: "data".into(),
        key: "broken".into(),
        body: Some(StreamingBlob::wrap(futures::stream::iter(frames))),
        content_length: Some(data.len() as i64),
        ..Default::default()
    };
    assert_eq!(
        code(t.s3.put_object(rq(input)).await),
        S3ErrorCode::IncompleteBody
    );
    assert!(!t.exists("data", "broken").await);

    // Content-MD5 of other bytes.
    use base64::Engine;
    let wrong = base64::engine::general_purpose::STANDARD.encode(Md5::digest(b"other"));
    let input = PutObjectInput {
        bucket: "data".into(),
        key: "digest".into(),
        body: Some(blob(&data)),
        content_length: Some(data.len() as i64),
        content_md5: Some(wrong),
        ..Default::default()
    };
    assert_eq!(
        code(t.s3.put_object(rq(input)).await),
        S3ErrorCode::BadDigest
    );
    assert!(!t.exists("data", "digest").await);

    let right = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&data));
    let input = PutObjectInput {
        bucket: "data".into(),
        key: "digest".into(),
        body: Some(blob(&data)),
        content_length: Some(data.len() as i64),
        content_md5: Some(right),
        ..Default::default()
    };
    t.s3.put_object(rq(input))
        .await
        .expect("matching Content-MD5");
    assert!(t.exists("data", "digest").await);

    assert_eq!(
        code(t.put("no-bucket", "k", b"x").await),
        S3ErrorCode::NoSuchBucket
    );
}

#[tokio::test]
async fn unsupported_options_are_refused_not_ignored() {
    let t = setup();
    t.bucket("data").await;
    let input = PutObjectInput {
        bucket: "data".into(),
        key: "k".into(),
        body: Some(blob(b"x")),
        content_length: Some(1),
        write_offset_bytes: Some(0),
        ..Default::default()
    };
    assert_eq!(
        code(t.s3.put_object(rq(input)).await),
        S3ErrorCode::NotImplemented
    );
    t.put("data", "k", b"x").await.expect("put");
    let input = GetObjectInput {
        bucket: "data".into(),
        key: "k".into(),
        sse_customer_algorithm: Some("AES256".into()),
        ..Default::default()
    };
    assert_eq!(
        code(t.s3.get_object(rq(input)).await),
        S3ErrorCode::NotImplemented
    );
    let input = GetObjectInput {
        bucket: "data".into(),
        key: "k".into(),
        version_id: Some("v1".into()),
        ..Default::default()
    };
    assert_eq!(
        code(t.s3.get_object(rq(input)).await),
        S3ErrorCode::NoSuchVersion
    );
}

#[tokio::test]
async fn conditional_get() {
    let t = setup();
    t.bucket("data").await;
    let put = t.put("data", "k", b"hello").await.expect("put");
    let tag = put.e_tag.expect("etag");
    let input = GetObjectInput {
        bucket: "data".into(),
        key: "k".into(),
        if_none_match: Some(ETagCondition::ETag(tag.clone())),
        ..Default::default()
    };
    assert_eq!(
        code(t.s3.get_object(rq(input)).await),
        S3ErrorCode::NotModified
    );
    let input = GetObjectInput {
        bucket: "data".into(),
        key: "k".into(),
        if_match: Some(ETagCondition::ETag(ETag::Strong("0000".into()))),
        ..Default::default()
    };
    assert_eq!(
        code(t.s3.get_object(rq(input)).await),
        S3ErrorCode::PreconditionFailed
    );
}

#[tokio::test]
async fn unreadable_object_is_an_error_status_not_a_cut_body() {
    let t = setup();
    t.bucket("data").await;
    t.put("data", "k", b"hello").await.expect("put");
    t.fx.chunks.fail_reads.store(true, Ordering::SeqCst);
    assert_eq!(
        code(t.get("data", "k", None).await),
        S3ErrorCode::ServiceUnavailable
    );
}

#[tokio::test]
async fn delete_object_semantics() {
    let t = setup();
    t.bucket("data").await;
    t.put("data", "k", b"x").await.expect("put");
    let del = |b: &str, k: &str| DeleteObjectInput {
        bucket: b.into(),
        key: k.into(),
        ..Default::default()
    };
    t.s3.delete_object(rq(del("data", "k")))
        .await
        .expect("delete");
    assert!(!t.exists("data", "k").await);
    t.s3.delete_object(rq(del("data", "k")))
        .await
        .expect("deleting an absent key succeeds");
    assert_eq!(
        code(t.s3.delete_object(rq(del("nope", "k"))).await),
        S3ErrorCode::NoSuchBucket
    );
}

/// Versioning through the S3 operations, on the in-memory catalogue (no
/// process, no cluster): versions kept, read by id, listed, a delete
/// marker hiding the key, and its removal bringing the version back.
#[tokio::test]
async fn versions_are_kept_read_listed_and_uncovered() {
    let t = setup();
    t.bucket("vers").await;
    let enable = PutBucketVersioningInput::builder()
        .bucket("vers".into())
        .versioning_configuration(VersioningConfiguration {
            status: Some(BucketVersioningStatus::from_static(
                BucketVersioningStatus::ENABLED,
            )),
            ..Default::default()
        })
        .build()
        .expect("input");
    t.s3.put_bucket_versioning(rq(enable))
        .await
        .expect("enable versioning");
    let first = t.put("vers", "k", b"first").await.expect("put").version_id;
    let second = t.put("vers", "k", b"second").await.expect("put").version_id;
    let (first, second) = (first.expect("a version id"), second.expect("a version id"));
    assert_ne!(first, second);
    let get_version = |id: &str| GetObjectInput {
        bucket: "vers".into(),
        key: "k".into(),
        version_id: Some(id.to_string()),
        ..Default::default()
    };
    let mut old =
        t.s3.get_object(rq(get_version(&first)))
            .await
            .expect("get by version")
            .output;
    let body: Vec<Bytes> = old
        .body
        .take()
        .expect("body")
        .try_collect()
        .await
        .expect("body");
    assert_eq!(body.concat(), b"first");
    let list = ListObjectVersionsInput {
        bucket: "vers".into(),
        ..Default::default()
    };
    let listed =
        t.s3.list_object_versions(rq(list.clone()))
            .await
            .expect("list versions")
            .output;
    let ids: Vec<String> = listed
        .versions
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| v.version_id)
        .collect();
    assert_eq!(ids, [second.clone(), first.clone()]);
    let del = DeleteObjectInput {
        bucket: "vers".into(),
        key: "k".into(),
        ..Default::default()
    };
    let marker = t.s3.delete_object(rq(del)).await.expect("delete").output;
    assert_eq!(marker.delete_marker, Some(true));
    assert!(
        !t.exists("vers", "k").await,
        "a delete marker hides the key"
    );
    let remove_marker = DeleteObjectInput {
        bucket: "vers".into(),
        key: "k".into(),
        version_id: marker.version_id,
        ..Default::default()
    };
    t.s3.delete_object(rq(remove_marker))
        .await
        .expect("remove the marker");
    let (_, back) = t.get("vers", "k", None).await.expect("get");
    assert_eq!(back, b"second", "the newest version is current again");
}
