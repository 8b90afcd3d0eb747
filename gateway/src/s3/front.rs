//! What the listener refuses before a request reaches s3s, as AWS refuses
//! it: SigV2 where it is switched off, a header-signed request without a
//! readable or current date ([`super::request_time`]), and a SigV4
//! signature scoped to a region the federation does not have
//! ([`super::region`]). The last must come before s3s, which refuses a
//! malformed region name (s3cmd signs for `US` until told better) with an
//! error clients do not act on; AWS's `AuthorizationHeaderMalformed` names
//! the right region in its body, and s3cmd and botocore sign again for it.

use std::sync::Arc;

use http::header;
use s3s::{S3Error, S3ErrorCode};

use super::errors::error_response_with;
use super::region::{wrong_region_error, Regions};
use meridian_objects::Objects;

pub struct Front {
    gateway: Arc<Objects>,
    /// Base domain of virtual-host addressing (lower case).
    domain: Option<String>,
    regions: Arc<Regions>,
    sigv2: bool,
}

impl std::fmt::Debug for Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Front")
            .field("domain", &self.domain)
            .field("regions", &self.regions)
            .field("sigv2", &self.sigv2)
            .finish()
    }
}

/// The bucket a request addresses, virtual-host style under `domain` or
/// path style.
pub fn bucket_of<B>(domain: Option<&str>, req: &http::Request<B>) -> Option<String> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    if let (Some(d), Some(host)) = (domain, host) {
        if let Some(b) = super::server::bucket_in_host(d, host) {
            return Some(b.to_string());
        }
    }
    let path = req.uri().path().trim_start_matches('/');
    let bucket = path.split('/').next().unwrap_or_default();
    (!bucket.is_empty()).then(|| bucket.to_string())
}

/// Whether a request is signed with SigV2: an `AWS AK:SIG` authorization
/// header, or a presigned URL with `AWSAccessKeyId` and `Signature`.
pub fn is_sigv2<B>(req: &http::Request<B>) -> bool {
    if let Some(auth) = req.headers().get(header::AUTHORIZATION) {
        return auth.as_bytes().starts_with(b"AWS ");
    }
    let Some(q) = req.uri().query() else {
        return false;
    };
    let has = |name: &str| {
        q.split('&')
            .any(|p| p.split('=').next().is_some_and(|k| k == name))
    };
    has("AWSAccessKeyId") && has("Signature")
}

impl Front {
    pub fn new(
        gateway: Arc<Objects>,
        domain: Option<String>,
        regions: Arc<Regions>,
        sigv2: bool,
    ) -> Self {
        Front {
            gateway,
            domain: domain.map(|d| d.to_ascii_lowercase()),
            regions,
            sigv2,
        }
    }

    /// The answer refusing `req`, if it is to be refused here.
    pub async fn refusal<B>(&self, req: &http::Request<B>) -> Option<http::Response<s3s::Body>> {
        if !self.sigv2 && is_sigv2(req) {
            return Some(error_response_with(
                &S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
                ),
                &[],
            ));
        }
        let now = super::utc_now(self.gateway.clock().as_ref());
        let dated = super::request_time::check(req.headers(), now)
            .and_then(|()| super::request_time::check_presigned(req.uri(), now));
        if let Err(e) = dated {
            return Some(error_response_with(&e, &[]));
        }
        let (region, presigned) = self.regions.wrong_region(req.headers(), req.uri())?;
        let bucket = bucket_of(self.domain.as_deref(), req);
        let site = match &bucket {
            Some(b) => match self.gateway.bucket_access(b).await {
                Ok(Some(a)) => Some(a.site),
                _ => None,
            },
            None => None,
        };
        let expected = match site {
            Some(s) => self.regions.of_site(s),
            None => self.regions.default_region(),
        };
        let e = wrong_region_error(&region, presigned, expected);
        Some(error_response_with(&e, &[("Region", expected)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, headers: &[(&str, &str)]) -> http::Request<()> {
        let mut b = http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).expect("request")
    }

    #[test]
    fn buckets_of_requests() {
        let d = Some("s3.example");
        assert_eq!(bucket_of(d, &req("/b/k", &[])).as_deref(), Some("b"));
        assert_eq!(
            bucket_of(d, &req("/k", &[("host", "juno.s3.example")])).as_deref(),
            Some("juno")
        );
        assert_eq!(bucket_of(None, &req("/", &[])), None);
    }

    #[test]
    fn sigv2_requests_are_told_apart() {
        assert!(is_sigv2(&req("/b", &[("authorization", "AWS ak:sig")])));
        assert!(!is_sigv2(&req(
            "/b",
            &[("authorization", "AWS4-HMAC-SHA256 Credential=x")]
        )));
        assert!(is_sigv2(&req(
            "/b/k?AWSAccessKeyId=ak&Expires=1&Signature=s",
            &[]
        )));
        assert!(!is_sigv2(&req("/b/k?X-Amz-Signature=s", &[])));
    }
}
