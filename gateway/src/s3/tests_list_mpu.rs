//! Listings (v1 and v2, paged) and multipart uploads, called directly.

use bytes::Bytes;
use futures::TryStreamExt;
use md5::{Digest, Md5};
use s3s::auth::{Credentials, SecretKey};
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Result, S3};

use super::testkit::{bytes_of, fixture, Fixture};
use super::MeridianS3;
use meridian_objects::MIN_PART_BYTES;

fn rq<T>(input: T) -> S3Request<T> {
    S3Request {
        input,
        method: http::Method::GET,
        uri: http::Uri::from_static("/"),
        headers: http::HeaderMap::new(),
        extensions: http::Extensions::new(),
        credentials: Some(Credentials {
            access_key: "ak".to_string(),
            secret_key: SecretKey::from("sk"),
        }),
        region: None,
        service: None,
        trailing_headers: None,
    }
}

fn code<T>(r: S3Result<T>) -> S3ErrorCode {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.code().clone(),
    }
}

fn blob(data: &[u8]) -> StreamingBlob {
    let frames: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    StreamingBlob::wrap(futures::stream::iter(frames))
}

async fn with_keys(keys: &[&str]) -> MeridianS3 {
    with_keys_fx(keys).await.0
}

async fn with_keys_fx(keys: &[&str]) -> (MeridianS3, Fixture) {
    let fx = fixture();
    let s3 = MeridianS3::new(fx.gateway.clone(), 1);
    let input = CreateBucketInput {
        bucket: "bkt".into(),
        ..Default::default()
    };
    s3.create_bucket(rq(input)).await.expect("bucket");
    for k in keys {
        let input = PutObjectInput {
            bucket: "bkt".into(),
            key: (*k).into(),
            body: Some(blob(k.as_bytes())),
            content_length: Some(k.len() as i64),
            ..Default::default()
        };
        s3.put_object(rq(input)).await.expect("put");
    }
    (s3, fx)
}

const KEYS: &[&str] = &["a/1", "a/2", "a/b/3", "b", "c/1", "d", "e+f g"];

/// Every page of a v2 listing, as (keys, prefixes) per page.
async fn pages_v2(
    s3: &MeridianS3,
    delimiter: Option<&str>,
    max_keys: i32,
) -> Vec<(Vec<String>, Vec<String>)> {
    let mut pages = Vec::new();
    let mut token = None;
    for _ in 0..100 {
        let input = ListObjectsV2Input {
            bucket: "bkt".into(),
            delimiter: delimiter.map(str::to_string),
            max_keys: Some(max_keys),
            continuation_token: token.clone(),
            ..Default::default()
        };
        let out = s3.list_objects_v2(rq(input)).await.expect("list").output;
        let keys: Vec<String> = out
            .contents
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| o.key)
            .collect();
        let prefixes: Vec<String> = out
            .common_prefixes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| p.prefix)
            .collect();
        assert_eq!(out.key_count, Some((keys.len() + prefixes.len()) as i32));
        assert_eq!(out.continuation_token, token);
        pages.push((keys, prefixes));
        if out.is_truncated != Some(true) {
            assert_eq!(out.next_continuation_token, None);
            return pages;
        }
        token = Some(
            out.next_continuation_token
                .expect("a truncated page has a token"),
        );
    }
    panic!("listing did not end");
}

#[tokio::test]
async fn v2_pages_with_delimiter_visit_everything_once() {
    let s3 = with_keys(KEYS).await;
    let pages = pages_v2(&s3, Some("/"), 2).await;
    let keys: Vec<String> = pages.iter().flat_map(|p| p.0.clone()).collect();
    let prefixes: Vec<String> = pages.iter().flat_map(|p| p.1.clone()).collect();
    assert_eq!(keys, ["b", "d", "e+f g"]);
    assert_eq!(prefixes, ["a/", "c/"]);
    assert!(pages.iter().all(|p| p.0.len() + p.1.len() <= 2));
    assert_eq!(pages.len(), 3);

    let flat = pages_v2(&s3, None, 3).await;
    let keys: Vec<String> = flat.iter().flat_map(|p| p.0.clone()).collect();
    assert_eq!(keys, KEYS);
}

#[tokio::test]
async fn v2_prefix_start_after_and_defaults() {
    let s3 = with_keys(KEYS).await;
    let input = ListObjectsV2Input {
        bucket: "bkt".into(),
        prefix: Some("a/".into()),
        delimiter: Some("/".into()),
        ..Default::default()
    };
    let out = s3.list_objects_v2(rq(input)).await.expect("list").output;
    let keys: Vec<_> = out
        .contents
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| o.key)
        .collect();
    assert_eq!(keys, ["a/1", "a/2"]);
    let prefixes: Vec<_> = out
        .common_prefixes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.prefix)
        .collect();
    assert_eq!(prefixes, ["a/b/"]);
    assert_eq!(out.max_keys, Some(1000));
    assert_eq!(out.is_truncated, Some(false));

    let input = ListObjectsV2Input {
        bucket: "bkt".into(),
        start_after: Some("c/1".into()),
        max_keys: Some(5000),
        ..Default::default()
    };
    let out = s3.list_objects_v2(rq(input)).await.expect("list").output;
    let keys: Vec<_> = out
        .contents
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| o.key)
        .collect();
    assert_eq!(keys, ["d", "e+f g"]);
    assert_eq!(out.max_keys, Some(1000), "capped");
    assert_eq!(out.start_after.as_deref(), Some("c/1"));

    let bad = ListObjectsV2Input {
        bucket: "bkt".into(),
        continuation_token: Some("not a token".into()),
        ..Default::default()
    };
    assert_eq!(
        code(s3.list_objects_v2(rq(bad)).await),
        S3ErrorCode::InvalidArgument
    );
    let missing = ListObjectsV2Input {
        bucket: "nope".into(),
        ..Default::default()
    };
    assert_eq!(
        code(s3.list_objects_v2(rq(missing)).await),
        S3ErrorCode::NoSuchBucket
    );
}

#[tokio::test]
async fn v2_url_encoding() {
    let s3 = with_keys(KEYS).await;
    let input = ListObjectsV2Input {
        bucket: "bkt".into(),
        prefix: Some("e".into()),
        encoding_type: Some(EncodingType::from_static(EncodingType::URL)),
        ..Default::default()
    };
    let out = s3.list_objects_v2(rq(input)).await.expect("list").output;
    let keys: Vec<_> = out
        .contents
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| o.key)
        .collect();
    assert_eq!(keys, ["e%2Bf%20g"]);
    assert_eq!(out.encoding_type.as_ref().map(|e| e.as_str()), Some("url"));
}

#[tokio::test]
async fn v1_marker_and_next_marker() {
    let s3 = with_keys(KEYS).await;
    let mut marker = None;
    let mut seen = Vec::new();
    for _ in 0..10 {
        let input = ListObjectsInput {
            bucket: "bkt".into(),
            delimiter: Some("/".into()),
            max_keys: Some(2),
            marker: marker.clone(),
            ..Default::default()
        };
        let out = s3.list_objects(rq(input)).await.expect("list").output;
        seen.extend(
            out.contents
                .unwrap_or_default()
                .into_iter()
                .filter_map(|o| o.key),
        );
        seen.extend(
            out.common_prefixes
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.prefix),
        );
        if out.is_truncated != Some(true) {
            assert_eq!(out.next_marker, None);
            break;
        }
        marker = Some(out.next_marker.expect("NextMarker with a delimiter"));
    }
    seen.sort();
    assert_eq!(seen, ["a/", "b", "c/", "d", "e+f g"]);

    // Without a delimiter the client continues from the last key.
    let input = ListObjectsInput {
        bucket: "bkt".into(),
        max_keys: Some(2),
        ..Default::default()
    };
    let out = s3.list_objects(rq(input)).await.expect("list").output;
    assert_eq!(out.is_truncated, Some(true));
    assert_eq!(out.next_marker, None);
    let contents = out.contents.unwrap_or_default();
    assert!(
        contents.iter().all(|o| o.owner.is_some()),
        "v1 shows owners"
    );
}

async fn upload_part(s3: &MeridianS3, id: &str, n: i32, data: &[u8]) -> S3Result<String> {
    let input = UploadPartInput {
        bucket: "bkt".into(),
        key: "big".into(),
        upload_id: id.into(),
        part_number: n,
        body: Some(blob(data)),
        content_length: Some(data.len() as i64),
        ..Default::default()
    };
    let out = s3.upload_part(rq(input)).await?.output;
    Ok(out.e_tag.expect("etag").into_value())
}

async fn create_upload(s3: &MeridianS3) -> String {
    let input = CreateMultipartUploadInput {
        bucket: "bkt".into(),
        key: "big".into(),
        content_type: Some("video/mp4".into()),
        ..Default::default()
    };
    let out = s3
        .create_multipart_upload(rq(input))
        .await
        .expect("create upload")
        .output;
    out.upload_id.expect("upload id")
}

async fn complete(
    s3: &MeridianS3,
    id: &str,
    parts: &[(i32, &str)],
) -> S3Result<CompleteMultipartUploadOutput> {
    let parts = parts
        .iter()
        .map(|(n, e)| CompletedPart {
            part_number: Some(*n),
            e_tag: Some(ETag::Strong((*e).to_string())),
            ..Default::default()
        })
        .collect();
    let input = CompleteMultipartUploadInput {
        bucket: "bkt".into(),
        key: "big".into(),
        upload_id: id.into(),
        multipart_upload: Some(CompletedMultipartUpload { parts: Some(parts) }),
        ..Default::default()
    };
    Ok(s3.complete_multipart_upload(rq(input)).await?.output)
}

#[tokio::test]
async fn multipart_round_trip() {
    let s3 = with_keys(&[]).await;
    let id = create_upload(&s3).await;
    let p1 = bytes_of(MIN_PART_BYTES as usize, 1);
    let p2 = bytes_of(1000, 2);
    let e1 = upload_part(&s3, &id, 1, &p1).await.expect("part 1");
    let e2 = upload_part(&s3, &id, 2, &p2).await.expect("part 2");

    let list = |max: Option<i32>, marker: Option<i32>| ListPartsInput {
        bucket: "bkt".into(),
        key: "big".into(),
        upload_id: id.clone(),
        max_parts: max,
        part_number_marker: marker,
        ..Default::default()
    };
    let out = s3
        .list_parts(rq(list(Some(1), None)))
        .await
        .expect("list parts")
        .output;
    let parts = out.parts.unwrap_or_default();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].size, Some(p1.len() as i64));
    assert_eq!(out.is_truncated, Some(true));
    assert_eq!(out.next_part_number_marker, Some(1));
    let out = s3
        .list_parts(rq(list(Some(1), Some(1))))
        .await
        .expect("list parts")
        .output;
    assert_eq!(out.parts.unwrap_or_default()[0].part_number, Some(2));
    assert_eq!(out.is_truncated, Some(false));

    // The upload id belongs to its key.
    let wrong_key = ListPartsInput {
        key: "other".into(),
        ..list(None, None)
    };
    assert_eq!(
        code(s3.list_parts(rq(wrong_key)).await),
        S3ErrorCode::NoSuchUpload
    );

    assert_eq!(
        code(complete(&s3, &id, &[(1, &e1), (2, "0bad")]).await),
        S3ErrorCode::InvalidPart
    );
    assert_eq!(
        code(complete(&s3, &id, &[(1, &e1), (1, &e1)]).await),
        S3ErrorCode::InvalidPartOrder
    );

    let done = complete(&s3, &id, &[(1, &e1), (2, &e2)])
        .await
        .expect("complete");
    let mut md5s = Md5::new();
    md5s.update(Md5::digest(&p1));
    md5s.update(Md5::digest(&p2));
    let want = format!("{}-2", hex::encode(md5s.finalize()));
    assert_eq!(done.e_tag.map(ETag::into_value), Some(want.clone()));

    let input = GetObjectInput {
        bucket: "bkt".into(),
        key: "big".into(),
        ..Default::default()
    };
    let mut out = s3.get_object(rq(input)).await.expect("get").output;
    assert_eq!(out.content_type.as_deref(), Some("video/mp4"));
    let frames: Vec<Bytes> = out
        .body
        .take()
        .expect("body")
        .try_collect()
        .await
        .expect("body");
    assert_eq!(frames.concat(), [p1, p2].concat());

    assert_eq!(
        code(s3.list_parts(rq(list(None, None))).await),
        S3ErrorCode::NoSuchUpload
    );

    // A retry of the completion (its first answer lost) is answered as the
    // first was; one naming other parts is not the same completion.
    let again = complete(&s3, &id, &[(1, &e1), (2, &e2)])
        .await
        .expect("retried completion");
    assert_eq!(again.e_tag.map(ETag::into_value), Some(want));
    assert_eq!(
        code(complete(&s3, &id, &[(1, &e1)]).await),
        S3ErrorCode::NoSuchUpload
    );
}

#[tokio::test]
async fn a_bucket_with_only_unfinished_uploads_is_deleted_with_them() {
    let s3 = with_keys(&[]).await;
    let id = create_upload(&s3).await;
    upload_part(&s3, &id, 1, b"part").await.expect("part");
    let delete = || DeleteBucketInput {
        bucket: "bkt".into(),
        ..Default::default()
    };
    s3.delete_bucket(rq(delete())).await.expect("deleted");
    assert_eq!(
        code(upload_part(&s3, &id, 2, b"x").await),
        S3ErrorCode::NoSuchUpload
    );
    // Objects keep a bucket, uploads or not.
    let s3 = with_keys(&["k"]).await;
    let id = create_upload(&s3).await;
    assert_eq!(
        code(s3.delete_bucket(rq(delete())).await),
        S3ErrorCode::BucketNotEmpty
    );
    upload_part(&s3, &id, 1, b"still there")
        .await
        .expect("part");
}

#[tokio::test]
async fn multipart_small_part_and_abort() {
    let s3 = with_keys(&[]).await;
    let id = create_upload(&s3).await;
    let e1 = upload_part(&s3, &id, 1, b"tiny").await.expect("part 1");
    let e2 = upload_part(&s3, &id, 2, b"tail").await.expect("part 2");
    assert_eq!(
        code(complete(&s3, &id, &[(1, &e1), (2, &e2)]).await),
        S3ErrorCode::EntityTooSmall
    );
    assert_eq!(
        code(upload_part(&s3, &id, 0, b"x").await),
        S3ErrorCode::InvalidArgument
    );
    assert_eq!(
        code(upload_part(&s3, &id, 10_001, b"x").await),
        S3ErrorCode::InvalidArgument
    );

    let abort = AbortMultipartUploadInput {
        bucket: "bkt".into(),
        key: "big".into(),
        upload_id: id.clone(),
        ..Default::default()
    };
    s3.abort_multipart_upload(rq(abort.clone()))
        .await
        .expect("abort");
    assert_eq!(
        code(s3.abort_multipart_upload(rq(abort)).await),
        S3ErrorCode::NoSuchUpload
    );
    assert_eq!(
        code(upload_part(&s3, &id, 1, b"x").await),
        S3ErrorCode::NoSuchUpload
    );
}

#[tokio::test]
async fn slow_completion_answers_through_the_keep_alive_future() {
    use std::sync::atomic::Ordering;
    let (s3, fx) = with_keys_fx(&[]).await;
    let s3 = s3.with_complete_inline_wait(std::time::Duration::from_millis(10));
    let id = create_upload(&s3).await;
    let e1 = upload_part(&s3, &id, 1, b"only part")
        .await
        .expect("part 1");
    // Completion reads the parts back; slow reads make it outlast the wait.
    fx.chunks.read_delay_ms.store(200, Ordering::SeqCst);

    fx.chunks.fail_reads.store(true, Ordering::SeqCst);
    let out = complete(&s3, &id, &[(1, &e1)])
        .await
        .expect("answered at once");
    let later = out.future.expect("the result comes later");
    assert_eq!(code(later.await), S3ErrorCode::ServiceUnavailable);

    fx.chunks.fail_reads.store(false, Ordering::SeqCst);
    let out = complete(&s3, &id, &[(1, &e1)])
        .await
        .expect("answered at once");
    let done = out
        .future
        .expect("the result comes later")
        .await
        .expect("completed");
    assert_eq!(done.key.as_deref(), Some("big"));
    assert!(done.e_tag.is_some_and(|e| e.value().ends_with("-1")));

    // Errors found before the slow part keep their own status.
    let id = create_upload(&s3).await;
    upload_part(&s3, &id, 1, b"x").await.expect("part 1");
    assert_eq!(
        code(complete(&s3, &id, &[(1, "0bad")]).await),
        S3ErrorCode::InvalidPart
    );
}
