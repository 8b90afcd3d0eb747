//! Hostile requests at a real S3 endpoint (TCP, the real s3s stack over an
//! in-memory catalogue): random SigV4 Authorization headers, presigned
//! query strings, dates and payload hashes from strangers; and, correctly
//! signed, random XML and JSON documents (lifecycle, CORS, policy,
//! tagging, multi-delete, versioning, ACL, multipart completion) and random
//! aws-chunked framing. Each gets an answer (never a dropped connection,
//! never a 500); a stranger never gets a 2xx; the endpoint serves a normal
//! client afterwards. Cases: `PROPTEST_CASES` (CI's smoke run: the default).

use std::net::SocketAddr;

use meridian_core::Clock;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use ring::{digest, hmac};

use super::tests_http::{client, raw_body, start, AK, SK};

const BUCKET: &str = "hostile";
const REGION: &str = "us-east-1";

/// A fresh runner: one counts its cases across runs.
fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// One of `items`, or a random string now and then.
fn fragment(items: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::sample::select(items).prop_map(str::to_string),
        1 => "\\PC{0,40}",
        1 => "[ -~]{0,200}",
    ]
}

fn auth_header() -> impl Strategy<Value = String> {
    let cred = (
        fragment(&[AK, "AKIDUNKNOWN", "", "a/b/c"]),
        // "2026-1-2": eight bytes, not all digits (the s3s bug in Cargo.toml).
        fragment(&[
            "20261207",
            "99999999",
            "2026-12-07",
            "2026-1-2",
            "20261332",
            "",
        ]),
        fragment(&[REGION, "beijing", "", "x"]),
        fragment(&["s3", "iam", ""]),
        fragment(&["aws4_request", "aws4", ""]),
    )
        .prop_map(|(a, d, r, s, t)| format!("{a}/{d}/{r}/{s}/{t}"));
    (
        fragment(&["AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", "AWS", "Bearer"]),
        cred,
        fragment(&[
            "host;x-amz-date",
            "host",
            "",
            ";;;",
            "host;x-amz-content-sha256;x-amz-date",
        ]),
        fragment(&[
            "0000000000000000000000000000000000000000000000000000000000000000",
            "zz",
            "",
        ]),
        fragment(&[", ", ",", " ", ""]),
    )
        .prop_map(|(alg, cred, signed, sig, sep)| {
            format!("{alg} Credential={cred}{sep}SignedHeaders={signed}{sep}Signature={sig}")
        })
}

fn presigned_query() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            fragment(&[
                "X-Amz-Algorithm",
                "X-Amz-Credential",
                "X-Amz-Date",
                "X-Amz-Expires",
                "X-Amz-SignedHeaders",
                "X-Amz-Signature",
                "X-Amz-Security-Token",
                "AWSAccessKeyId",
                "Expires",
                "Signature",
            ]),
            fragment(&[
                "AWS4-HMAC-SHA256",
                "AKIDMERIDIANTEST%2F20261207%2Fus-east-1%2Fs3%2Faws4_request",
                "20261207T000000Z",
                "604800",
                "-1",
                "99999999999999999999",
                "host",
                "%ZZ",
                "",
            ]),
        ),
        0..8,
    )
    .prop_map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", urlencoding::encode(k), v.replace([' ', '#'], "")))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// A request from a stranger: no valid signature anywhere.
#[derive(Debug, Clone)]
struct Stranger {
    method: &'static str,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn stranger() -> impl Strategy<Value = Stranger> {
    let target = (
        fragment(&[
            "/",
            "/hostile",
            "/hostile/key",
            "/hostile/a%2Fb",
            "/other/x",
            "//",
        ]),
        prop_oneof![
            Just(String::new()),
            presigned_query(),
            fragment(&[
                "acl",
                "policy",
                "uploads",
                "lifecycle",
                "delete",
                "x-id=GetObject"
            ])
        ],
    )
        .prop_map(|(path, q)| {
            let path: String = path.chars().filter(|c| c.is_ascii_graphic()).collect();
            let path = if path.starts_with('/') {
                path
            } else {
                format!("/{path}")
            };
            if q.is_empty() {
                path
            } else {
                format!(
                    "{path}?{}",
                    q.chars()
                        .filter(|c| c.is_ascii_graphic())
                        .collect::<String>()
                )
            }
        });
    let headers = proptest::collection::vec(
        prop_oneof![
            auth_header().prop_map(|v| ("Authorization".to_string(), v)),
            fragment(&["20261207T000000Z", "19700101T000000Z", "not a date", ""])
                .prop_map(|v| ("x-amz-date".to_string(), v)),
            fragment(&[
                "UNSIGNED-PAYLOAD",
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "zz",
            ])
            .prop_map(|v| ("x-amz-content-sha256".to_string(), v)),
            fragment(&["aws-chunked", "gzip"]).prop_map(|v| ("Content-Encoding".to_string(), v)),
            fragment(&["0", "-1", "18446744073709551616", "5"])
                .prop_map(|v| ("x-amz-decoded-content-length".to_string(), v)),
        ],
        0..6,
    );
    (
        proptest::sample::select(&["GET", "PUT", "POST", "DELETE", "HEAD"][..]),
        target,
        headers,
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(method, target, headers, body)| {
            // Header values must be printable for HTTP/1.1 to carry them.
            let headers = headers
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        v.chars()
                            .filter(|c| c.is_ascii_graphic() || *c == ' ')
                            .collect(),
                    )
                })
                .collect();
            Stranger {
                method,
                target,
                headers,
                body,
            }
        })
}

/// XML under `root` made of the element names S3's documents use, nested
/// at random, with hostile text (huge and negative numbers, entities,
/// CDATA, a DOCTYPE).
fn xml(root: &'static str) -> impl Strategy<Value = String> {
    let names: &'static [&'static str] = &[
        "LifecycleConfiguration",
        "Rule",
        "ID",
        "Filter",
        "Prefix",
        "And",
        "Tag",
        "Key",
        "Value",
        "Status",
        "Expiration",
        "Days",
        "Date",
        "ExpiredObjectDeleteMarker",
        "NoncurrentVersionExpiration",
        "NoncurrentDays",
        "NewerNoncurrentVersions",
        "AbortIncompleteMultipartUpload",
        "DaysAfterInitiation",
        "Transition",
        "StorageClass",
        "ObjectSizeGreaterThan",
        "CORSConfiguration",
        "CORSRule",
        "AllowedOrigin",
        "AllowedMethod",
        "AllowedHeader",
        "ExposeHeader",
        "MaxAgeSeconds",
        "Tagging",
        "TagSet",
        "Delete",
        "Object",
        "VersionId",
        "Quiet",
        "VersioningConfiguration",
        "MfaDelete",
        "AccessControlPolicy",
        "Owner",
        "AccessControlList",
        "Grant",
        "Grantee",
        "Permission",
        "CompleteMultipartUpload",
        "Part",
        "PartNumber",
        "ETag",
        "ObjectLockConfiguration",
        "ObjectLockEnabled",
        "DefaultRetention",
        "Mode",
        "Years",
    ];
    let text = fragment(&[
        "1",
        "0",
        "-1",
        "2147483648",
        "99999999999999999999",
        "Enabled",
        "Disabled",
        "2026-12-07T00:00:00.000Z",
        "not-a-date",
        "*",
        "GET",
        "PUT",
        "&amp;",
        "&#0;",
        "&xxe;",
        "<![CDATA[x]]>",
        "GOVERNANCE",
        "COMPLIANCE",
        "GLACIER",
        "\"etag\"",
        "",
    ]);
    let leaf = (proptest::sample::select(names), text).prop_map(|(n, t)| format!("<{n}>{t}</{n}>"));
    let tree = leaf.prop_recursive(4, 64, 8, move |inner| {
        (
            proptest::sample::select(names),
            proptest::collection::vec(inner, 0..8),
        )
            .prop_map(|(n, kids)| format!("<{n}>{}</{n}>", kids.concat()))
    });
    // Mostly the document's own root, so the parse goes past it.
    let tree = (
        prop_oneof![9 => Just(root), 1 => proptest::sample::select(names)],
        proptest::collection::vec(tree, 0..6),
    )
        .prop_map(|(n, kids)| format!("<{n}>{}</{n}>", kids.concat()));
    (
        prop_oneof![
            6 => Just(String::new()),
            1 => Just("<?xml version=\"1.0\"?>".to_string()),
            1 => Just("<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>".to_string()),
        ],
        tree,
        prop_oneof![8 => Just(String::new()), 1 => "[<>/ a-z]{0,20}"],
    )
        .prop_map(|(head, tree, tail)| format!("{head}{tree}{tail}"))
}

fn json() -> impl Strategy<Value = String> {
    let leaf = fragment(&[
        "\"2012-10-17\"",
        "\"Allow\"",
        "\"Deny\"",
        "\"*\"",
        "\"s3:GetObject\"",
        "\"s3:*\"",
        "\"arn:aws:s3:::hostile/*\"",
        "{\"AWS\":\"*\"}",
        "null",
        "true",
        "1e309",
        "-0",
        "[]",
        "{}",
    ]);
    let keys: &'static [&'static str] = &[
        "Version",
        "Statement",
        "Effect",
        "Principal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "StringEquals",
        "IpAddress",
        "aws:SourceIp",
        "Sid",
    ];
    let tree = leaf.prop_recursive(4, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6)
                .prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec((proptest::sample::select(keys), inner), 0..6).prop_map(
                |v| {
                    let body: Vec<String> = v.iter().map(|(k, x)| format!("\"{k}\":{x}")).collect();
                    format!("{{{}}}", body.join(","))
                }
            ),
        ]
    });
    let statements = proptest::collection::vec(tree.clone(), 0..4);
    prop_oneof![
        // Inside a well-formed envelope, so the statements are read.
        3 => statements.prop_map(|s| {
            format!("{{\"Version\":\"2012-10-17\",\"Statement\":[{}]}}", s.join(","))
        }),
        1 => (tree, prop_oneof![8 => Just(String::new()), 1 => "[\\]\\[{},\"]{0,5}"])
            .prop_map(|(t, tail)| format!("{t}{tail}")),
    ]
}

/// aws-chunked framing, mostly well-formed, with sizes that lie, bad hex,
/// missing CRLFs and trailers.
fn chunked() -> impl Strategy<Value = (Vec<u8>, u64)> {
    let frame = (
        0usize..64,
        prop_oneof![8 => Just(None), 1 => "[0-9a-fA-Fx-]{0,20}".prop_map(Some)],
        prop_oneof![8 => Just("\r\n"), 1 => Just("\n"), 1 => Just("")],
        any::<u8>(),
    );
    (
        proptest::collection::vec(frame, 0..6),
        prop_oneof![
            Just(String::new()),
            Just("x-amz-checksum-crc32:AAAAAA==\r\n".to_string()),
            "[ -~]{0,40}\r\n",
        ],
        0u64..500,
    )
        .prop_map(|(frames, trailer, decoded)| {
            let mut body = Vec::new();
            for (len, size_text, eol, fill) in frames {
                let size = size_text.unwrap_or_else(|| format!("{len:x}"));
                body.extend_from_slice(format!("{size}{eol}").as_bytes());
                body.extend(std::iter::repeat_n(fill, len));
                body.extend_from_slice(eol.as_bytes());
            }
            body.extend_from_slice(b"0\r\n");
            body.extend_from_slice(trailer.as_bytes());
            body.extend_from_slice(b"\r\n");
            (body, decoded)
        })
}

#[derive(Debug, Clone)]
enum Document {
    Xml(&'static str, String),
    Json(String),
    Chunked(Vec<u8>, u64),
}

fn document() -> impl Strategy<Value = Document> {
    let roots: &'static [(&'static str, &'static str)] = &[
        ("lifecycle", "LifecycleConfiguration"),
        ("cors", "CORSConfiguration"),
        ("tagging", "Tagging"),
        ("delete", "Delete"),
        ("versioning", "VersioningConfiguration"),
        ("acl", "AccessControlPolicy"),
        ("object-lock", "ObjectLockConfiguration"),
    ];
    prop_oneof![
        proptest::sample::select(roots)
            .prop_flat_map(|(q, root)| xml(root).prop_map(move |x| Document::Xml(q, x))),
        json().prop_map(Document::Json),
        chunked().prop_map(|(b, n)| Document::Chunked(b, n)),
    ]
}

fn hmac_sha256(key: &[u8], data: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
        .as_ref()
        .to_vec()
}

fn amz_date(now_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(now_ms / 1000).expect("a representable time");
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    t.format(&f).expect("formats")
}

/// SigV4 headers for a request with `query` (already in canonical order
/// and encoding) and a payload hash (a hex digest or a streaming mode).
fn signed_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    query: &str,
    payload: &str,
    extra: &[(&str, String)],
    now_ms: i64,
) -> Vec<(String, String)> {
    let date_time = amz_date(now_ms);
    let date = &date_time[..8];
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), addr.to_string()),
        ("x-amz-content-sha256".into(), payload.into()),
        ("x-amz-date".into(), date_time.clone()),
    ];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    headers.sort();
    let canonical_headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let canonical = format!("{method}\n{path}\n{query}\n{canonical_headers}\n{signed}\n{payload}");
    let scope = format!("{date}/{REGION}/s3/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date_time}\n{scope}\n{}",
        hex::encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
    );
    let mut key = hmac_sha256(format!("AWS4{SK}").as_bytes(), date);
    for part in [REGION, "s3", "aws4_request"] {
        key = hmac_sha256(&key, part);
    }
    let signature = hex::encode(hmac_sha256(&key, &to_sign));
    headers.push((
        "authorization".into(),
        format!("AWS4-HMAC-SHA256 Credential={AK}/{scope}, SignedHeaders={signed}, Signature={signature}"),
    ));
    headers
}

/// Some documents are refused without one: send it, so the parser is reached.
fn content_md5(body: &str) -> (&'static str, String) {
    use base64::Engine;
    use md5::Digest;
    let sum = md5::Md5::digest(body.as_bytes());
    (
        "content-md5",
        base64::engine::general_purpose::STANDARD.encode(sum),
    )
}

fn acceptable(status: u16) -> bool {
    (200..500).contains(&status) || status == 501 || status == 503
}

#[test]
fn hostile_requests_are_answered_and_strangers_get_nothing() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let ep = rt.block_on(start(None, None));
    let c = client(ep.addr, AK, SK);
    rt.block_on(async {
        c.create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("bucket");
        c.put_object()
            .bucket(BUCKET)
            .key("key")
            .body(b"private".to_vec().into())
            .send()
            .await
            .expect("object");
    });
    let addr = ep.addr;
    // What came back, by status, printed at the end (the longer run's
    // figures in docs/benchmarks.md come from here).
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<(&str, u16, String), u32>::new());
    let tally = |what: &'static str, status: u16, body: &str| {
        // The S3 error code, when the answer is an error document.
        let code = body
            .split_once("<Code>")
            .and_then(|(_, rest)| rest.split_once("</Code>"))
            .map_or(String::new(), |(c, _)| c.to_string());
        let message = body
            .split_once("<Message>")
            .and_then(|(_, rest)| rest.split_once("</Message>"))
            .map_or("", |(m, _)| m);
        // Messages name the input; their first words name the check.
        let check: String = message
            .split_whitespace()
            .take(4)
            .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
            .collect::<Vec<_>>()
            .join(" ");
        let code = if check.is_empty() {
            code
        } else {
            format!("{code}: {check}")
        };
        *seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((what, status, code))
            .or_default() += 1;
    };

    runner()
        .run(&stranger(), |s| {
            let (status, body) =
                rt.block_on(raw_body(addr, s.method, &s.target, &s.headers, &s.body));
            tally("stranger", status, &body);
            prop_assert!(
                (400..500).contains(&status) || status == 501 || status == 503,
                "a stranger's {} {} got {status}: {body}",
                s.method,
                s.target
            );
            Ok(())
        })
        .expect("strangers");

    let now_ms = ep.clock.now_ms();
    runner()
        .run(&document(), |d| {
            let (method, path, query, payload, extra, body) = match &d {
                Document::Xml(q, x) => {
                    let method = if *q == "delete" { "POST" } else { "PUT" };
                    let digest = hex::encode(digest::digest(&digest::SHA256, x.as_bytes()));
                    (
                        method,
                        format!("/{BUCKET}"),
                        format!("{q}="),
                        digest,
                        vec![content_md5(x)],
                        x.clone().into_bytes(),
                    )
                }
                Document::Json(j) => {
                    let digest = hex::encode(digest::digest(&digest::SHA256, j.as_bytes()));
                    (
                        "PUT",
                        format!("/{BUCKET}"),
                        "policy=".to_string(),
                        digest,
                        vec![content_md5(j)],
                        j.clone().into_bytes(),
                    )
                }
                Document::Chunked(b, decoded) => (
                    "PUT",
                    format!("/{BUCKET}/chunked"),
                    String::new(),
                    "STREAMING-UNSIGNED-PAYLOAD-TRAILER".to_string(),
                    vec![
                        ("content-encoding", "aws-chunked".to_string()),
                        ("x-amz-decoded-content-length", decoded.to_string()),
                        ("x-amz-trailer", "x-amz-checksum-crc32".to_string()),
                    ],
                    b.clone(),
                ),
            };
            let headers = signed_headers(addr, method, &path, &query, &payload, &extra, now_ms);
            let target = if query.is_empty() {
                path.clone()
            } else {
                format!("{path}?{query}")
            };
            let (status, text) = rt.block_on(raw_body(addr, method, &target, &headers, &body));
            tally(
                match &d {
                    Document::Xml(..) => "signed xml",
                    Document::Json(_) => "signed policy",
                    Document::Chunked(..) => "signed aws-chunked",
                },
                status,
                &text,
            );
            prop_assert!(acceptable(status), "{method} {target} got {status}: {text}");
            prop_assert!(status != 403, "the signature itself was refused: {text}");
            Ok(())
        })
        .expect("signed documents");

    eprintln!(
        "answers by kind and status: {:?}",
        seen.lock().unwrap_or_else(|p| p.into_inner())
    );
    // Still serving, and the object nobody was allowed to touch is intact.
    rt.block_on(async {
        let got = c
            .get_object()
            .bucket(BUCKET)
            .key("key")
            .send()
            .await
            .expect("get");
        let body = got.body.collect().await.expect("body").into_bytes();
        assert_eq!(&body[..], b"private");
    });
    rt.block_on(ep.shut_down());
}
