//! What users and other nodes hand the core, made hostile: bucket and
//! dataset policies (JSON from a stranger with a key), search filters and
//! cursors (from a query string), access-log lines (from a file another
//! process wrote). Each parses or is refused with an error; nothing panics.

use meridian_core::access::BucketPolicy;
use meridian_core::search::{decode_cursor, parse_filter, Target};
use meridian_core::tracking::AccessEvent;
use proptest::prelude::*;
use serde_json::{json, Value};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// JSON built from a policy's own vocabulary, nested at random.
fn policy_json() -> impl Strategy<Value = Value> {
    let words = proptest::sample::select(
        &[
            "2012-10-17",
            "2008-10-17",
            "Allow",
            "Deny",
            "*",
            "s3:GetObject",
            "s3:*",
            "s3:Put*",
            "arn:aws:s3:::b",
            "arn:aws:s3:::b/*",
            "arn:aws:s3:::other/*",
            "aws:SourceIp",
            "10.0.0.0/8",
            "::1/129",
            "aws:CurrentTime",
            "2026-12-07T00:00:00Z",
            "s3:prefix",
            "${aws:username}",
            "",
            "\u{0}",
            "\u{1F600}",
        ][..],
    );
    let leaf = prop_oneof![
        words.prop_map(|w| json!(w)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<bool>().prop_map(|b| json!(b)),
        Just(Value::Null),
    ];
    let keys = proptest::sample::select(
        &[
            "Version",
            "Id",
            "Statement",
            "Sid",
            "Effect",
            "Principal",
            "NotPrincipal",
            "AWS",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
            "StringEquals",
            "StringLike",
            "IpAddress",
            "NotIpAddress",
            "DateLessThan",
            "Bool",
            "Null",
            "ForAnyValue:StringEquals",
            "NumericLessThan",
            "aws:SecureTransport",
        ][..],
    );
    leaf.prop_recursive(5, 96, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((keys.clone(), inner), 0..8).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn policies_parse_or_are_refused(doc in policy_json(), raw in "\\PC{0,300}") {
        let text = doc.to_string();
        for t in [text.as_str(), raw.as_str()] {
            let _ = BucketPolicy::parse(t, "b");
            let _ = BucketPolicy::parse_stored(t, "b");
            let _ = BucketPolicy::parse_dataset(t, "d");
        }
        // The same material as a statement list under a valid envelope.
        let wrapped = json!({"Version": "2012-10-17", "Statement": doc}).to_string();
        let _ = BucketPolicy::parse(&wrapped, "b");
    }

    #[test]
    fn search_filters_and_cursors_parse_or_are_refused(
        text in "[a-z_.:=<>!~*\" 0-9()&|,-]{0,120}",
        raw in "\\PC{0,120}",
    ) {
        for t in [text.as_str(), raw.as_str()] {
            let _ = parse_filter(Target::Files, t);
            let _ = parse_filter(Target::Datasets, t);
            let _ = decode_cursor(t);
        }
    }

    #[test]
    fn access_log_lines_parse_or_are_refused(
        fields in proptest::collection::vec(("[a-z_]{1,8}", "\\PC{0,20}"), 0..10),
        raw in "\\PC{0,200}",
    ) {
        let obj: serde_json::Map<String, Value> =
            fields.into_iter().map(|(k, v)| (k, json!(v))).collect();
        let _ = AccessEvent::from_line(&Value::Object(obj).to_string());
        let _ = AccessEvent::from_line(&raw);
    }
}
