//! The condition keys of a request ([`Facts`]), gathered from its headers,
//! query, signature and where it came from, for bucket policies.

use http::{HeaderMap, Uri};

use meridian_core::access::{Caller, Facts};

/// Where a request came from, put in its extensions by the listener.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub addr: std::net::SocketAddr,
    /// Whether it arrived over TLS.
    pub secure: bool,
}

/// Headers whose value is an `s3:` condition key of the same name.
const HEADER_KEYS: &[&str] = &[
    "x-amz-acl",
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-storage-class",
    "x-amz-content-sha256",
];

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                urlencoding::decode(&s.replace('+', " "))
                    .map(|c| c.into_owned())
                    .unwrap_or_else(|_| s.to_string())
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// The tags of an `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded).
pub fn tagging_pairs(value: &str) -> Vec<(String, String)> {
    let uri: Uri = format!("/?{value}").parse().unwrap_or_default();
    query_pairs(&uri)
}

/// What `caller`'s request says about itself, at `now`.
pub fn gather(
    caller: &Caller,
    headers: &HeaderMap,
    uri: &Uri,
    peer: Option<Peer>,
    now: time::OffsetDateTime,
) -> Facts {
    let mut f = Facts::of_request(
        caller,
        peer.map(|p| p.addr.ip()),
        peer.is_some_and(|p| p.secure),
        now,
    );
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(r) = header("referer") {
        f.set("aws:Referer", r);
    }
    if let Some(a) = header("user-agent") {
        f.set("aws:UserAgent", a);
    }
    for name in HEADER_KEYS {
        if let Some(v) = header(name) {
            f.set(&format!("s3:{name}"), v);
        }
    }
    for (name, key) in [
        ("x-amz-object-lock-mode", "s3:object-lock-mode"),
        (
            "x-amz-object-lock-retain-until-date",
            "s3:object-lock-retain-until-date",
        ),
        ("x-amz-object-lock-legal-hold", "s3:object-lock-legal-hold"),
    ] {
        if let Some(v) = header(name) {
            f.set(key, v);
        }
    }
    if let Some(until) = header("x-amz-object-lock-retain-until-date").and_then(|d| {
        time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339).ok()
    }) {
        let days = (until - now).whole_days().max(0);
        f.set("s3:object-lock-remaining-retention-days", days.to_string());
    }
    let query = query_pairs(uri);
    for (k, v) in &query {
        match k.as_str() {
            "prefix" => f.set("s3:prefix", v.clone()),
            "delimiter" => f.set("s3:delimiter", v.clone()),
            "max-keys" => f.set("s3:max-keys", v.clone()),
            "versionId" => f.set("s3:VersionId", v.clone()),
            _ => {}
        }
    }
    if let Some(t) = header("x-amz-tagging") {
        add_request_tags(&mut f, &tagging_pairs(t).into_iter().collect());
    }
    let auth = header("authorization");
    let presigned_v4 = query.iter().any(|(k, _)| k == "X-Amz-Signature");
    let presigned_v2 = query.iter().any(|(k, _)| k == "Signature");
    let (version, kind) = match auth {
        Some(a) if a.starts_with("AWS4-HMAC-SHA256") => (Some("AWS4-HMAC-SHA256"), "REST-HEADER"),
        Some(a) if a.starts_with("AWS ") => (Some("AWS"), "REST-HEADER"),
        _ if presigned_v4 => (Some("AWS4-HMAC-SHA256"), "REST-QUERY-STRING"),
        _ if presigned_v2 => (Some("AWS"), "REST-QUERY-STRING"),
        _ => (None, "REST-HEADER"),
    };
    if let Some(v) = version {
        f.set("s3:signatureversion", v);
        f.set("s3:authType", kind);
    }
    f
}

/// The tags a request asks for (`x-amz-tagging`, a PutObjectTagging body,
/// a form's `tagging`), as `s3:RequestObjectTag/KEY` and
/// `s3:RequestObjectTagKeys`.
pub fn add_request_tags(f: &mut Facts, tags: &std::collections::HashMap<String, String>) {
    let mut keys: Vec<String> = tags.keys().cloned().collect();
    keys.sort();
    f.set_many("s3:RequestObjectTagKeys", keys);
    for (k, v) in tags {
        f.set(&format!("s3:RequestObjectTag/{k}"), v.clone());
    }
}

/// A form's ACL, lock settings and tags, as the condition keys their
/// headers would be.
pub fn add_form(f: &mut Facts, form: &HeaderMap, tags: &std::collections::HashMap<String, String>) {
    for (name, key) in [
        ("x-amz-acl", "s3:x-amz-acl"),
        ("x-amz-object-lock-mode", "s3:object-lock-mode"),
        (
            "x-amz-object-lock-retain-until-date",
            "s3:object-lock-retain-until-date",
        ),
        ("x-amz-object-lock-legal-hold", "s3:object-lock-legal-hold"),
    ] {
        if let Some(v) = form.get(name).and_then(|v| v.to_str().ok()) {
            f.set(key, v);
        }
    }
    if !tags.is_empty() {
        add_request_tags(f, tags);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_core::access::conditions::Conditions;

    #[test]
    fn requests_become_condition_keys() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-acl", "public-read".parse().expect("value"));
        h.insert(
            "x-amz-tagging",
            "project=juno&stage=raw%20data".parse().expect("value"),
        );
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=x".parse().expect("value"),
        );
        let uri: Uri = "/b?list-type=2&prefix=home%2Falice%2F&max-keys=5"
            .parse()
            .expect("uri");
        let peer = Peer {
            addr: "10.1.2.3:5000".parse().expect("addr"),
            secure: false,
        };
        let f = gather(
            &Caller::User("alice".into()),
            &h,
            &uri,
            Some(peer),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        let holds = |json: &str| {
            Conditions::parse(&serde_json::from_str(json).expect("json"), 1)
                .expect("valid")
                .holds(&f)
                == meridian_core::access::Holds::Yes
        };
        assert!(holds(
            r#"{"StringEquals": {"s3:prefix": "home/alice/", "s3:x-amz-acl": "public-read"}}"#
        ));
        assert!(holds(r#"{"NumericLessThan": {"s3:max-keys": 10}}"#));
        assert!(holds(r#"{"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}"#));
        assert!(holds(r#"{"Bool": {"aws:SecureTransport": "false"}}"#));
        assert!(holds(
            r#"{"StringEquals": {"s3:RequestObjectTag/stage": "raw data", "aws:username": "alice"}}"#
        ));
        assert!(holds(
            r#"{"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["project", "stage"]}}"#
        ));
        assert!(holds(
            r#"{"StringEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256", "s3:authType": "REST-HEADER"}}"#
        ));
        assert!(!holds(r#"{"StringEquals": {"s3:delimiter": "/"}}"#));
    }
}
