//! The S3 endpoint's object requests as access events: taken from the
//! HTTP request and its answer at the listener (so every path through s3s
//! is covered alike), and queued in the node's access log. The caller is
//! named by the access key the request was signed with (`key:AK`; the
//! shipper resolves keys to users), or `anonymous`.

use std::sync::Arc;

use http::Method;
use meridian_core::tracking::{AccessEvent, Action};
use meridian_objects::Objects;

/// Sub-resources whose requests are about an object's settings, not its
/// bytes: not tracked.
const SETTINGS: [&str; 8] = [
    "acl",
    "tagging",
    "retention",
    "legal-hold",
    "attributes",
    "torrent",
    "restore",
    "select",
];

pub struct S3Tracking {
    gateway: Arc<Objects>,
    site: String,
    domain: Option<String>,
}

impl std::fmt::Debug for S3Tracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Tracking")
            .field("site", &self.site)
            .field("domain", &self.domain)
            .finish()
    }
}

/// What is known of a tracked request before its answer.
pub struct Pending {
    who: String,
    action: Action,
    bucket: String,
    key: String,
    /// A write's body length, as declared.
    bytes_in: u64,
}

fn query_keys(uri: &http::Uri) -> impl Iterator<Item = &str> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .map(|kv| kv.split('=').next().unwrap_or_default())
}

fn query_value<'a>(uri: &'a http::Uri, name: &str) -> Option<&'a str> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The access key a request is signed with: SigV4's `Credential=AK/...`
/// (header or presigned), SigV2's `AWS AK:SIG` or `AWSAccessKeyId=AK`.
fn access_key<B>(req: &http::Request<B>) -> Option<String> {
    if let Some(a) = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(rest) = a.split("Credential=").nth(1) {
            return rest.split('/').next().map(String::from);
        }
        if let Some(rest) = a.strip_prefix("AWS ") {
            return rest.split(':').next().map(String::from);
        }
    }
    let uri = req.uri();
    if let Some(c) = query_value(uri, "X-Amz-Credential") {
        let c = urlencoding::decode(c).ok()?;
        return c.split('/').next().map(String::from);
    }
    query_value(uri, "AWSAccessKeyId").map(String::from)
}

fn header_u64(h: &http::HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

impl S3Tracking {
    pub fn new(gateway: Arc<Objects>, site: String, domain: Option<String>) -> Arc<Self> {
        Arc::new(S3Tracking {
            gateway,
            site,
            domain,
        })
    }

    /// The event `req` will make, if it reads, writes or deletes an object.
    pub fn begin<B>(&self, req: &http::Request<B>) -> Option<Pending> {
        if !self.gateway.tracking() {
            return None;
        }
        let uri = req.uri();
        if query_keys(uri).any(|k| SETTINGS.contains(&k)) {
            return None;
        }
        let action = match *req.method() {
            Method::GET => Action::Read,
            Method::PUT => Action::Write,
            Method::DELETE if !query_keys(uri).any(|k| k == "uploadId") => Action::Delete,
            _ => return None,
        };
        let bucket = super::front::bucket_of(self.domain.as_deref(), req)?;
        let path = uri.path().trim_start_matches('/');
        // Path style names the bucket first; a virtual host does not.
        let raw_key = match path.split_once('/') {
            Some((first, rest)) if first == bucket => rest,
            _ if path == bucket => "",
            _ => path,
        };
        let key = urlencoding::decode(raw_key).ok()?.into_owned();
        if key.is_empty() {
            return None;
        }
        let who = access_key(req)
            .map(|k| format!("key:{k}"))
            .unwrap_or_else(|| "anonymous".into());
        let h = req.headers();
        let bytes_in = header_u64(h, "x-amz-decoded-content-length")
            .or_else(|| header_u64(h, http::header::CONTENT_LENGTH.as_str()))
            .unwrap_or(0);
        Some(Pending {
            who,
            action,
            bucket,
            key,
            bytes_in,
        })
    }

    /// Queues the event of `p`, answered with `resp`.
    pub fn finish<B>(&self, p: Pending, resp: &http::Response<B>) {
        let bytes = match p.action {
            Action::Read => {
                header_u64(resp.headers(), http::header::CONTENT_LENGTH.as_str()).unwrap_or(0)
            }
            Action::Write => p.bytes_in,
            Action::Delete => 0,
        };
        self.gateway.track(AccessEvent {
            time_ms: self.gateway.now_ms(),
            who: p.who,
            protocol: "s3",
            action: p.action,
            bucket: p.bucket,
            key: p.key,
            bytes,
            site: self.site.clone(),
            status: u32::from(resp.status().as_u16()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_keys_from_every_signing_form() {
        let r = |auth: Option<&str>, uri: &str| {
            let mut b = http::Request::builder().uri(uri);
            if let Some(a) = auth {
                b = b.header("authorization", a);
            }
            access_key(&b.body(()).expect("request"))
        };
        assert_eq!(
            r(Some("AWS4-HMAC-SHA256 Credential=MKA/20261207/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x"), "/b/k"),
            Some("MKA".into())
        );
        assert_eq!(r(Some("AWS MKB:sig"), "/b/k"), Some("MKB".into()));
        assert_eq!(
            r(None, "/b/k?X-Amz-Credential=MKC%2F20261207%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=x"),
            Some("MKC".into())
        );
        assert_eq!(
            r(None, "/b/k?AWSAccessKeyId=MKD&Signature=x"),
            Some("MKD".into())
        );
        assert_eq!(r(None, "/b/k"), None);
    }
}
