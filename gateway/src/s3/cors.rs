//! CORS over S3: Put/Get/DeleteBucketCors, the answers to preflight
//! (`OPTIONS`) requests, and the headers added to cross-origin responses.
//! Browsers send preflights unsigned, so they are answered here, before
//! s3s authenticates anything; they reveal only the bucket's CORS rules.

use super::errors::OrS3;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use meridian_core::records::CorsRule;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::MeridianS3;
use meridian_core::cors::{allow_origin, check_rules, find_rule};
use meridian_objects::Objects;

fn from_dto(r: CORSRule) -> CorsRule {
    CorsRule {
        id: r.id.unwrap_or_default(),
        allowed_origins: r.allowed_origins,
        allowed_methods: r.allowed_methods,
        allowed_headers: r.allowed_headers.unwrap_or_default(),
        expose_headers: r.expose_headers.unwrap_or_default(),
        max_age_seconds: r.max_age_seconds,
    }
}

fn to_dto(r: &CorsRule) -> CORSRule {
    CORSRule {
        id: (!r.id.is_empty()).then(|| r.id.clone()),
        allowed_origins: r.allowed_origins.clone(),
        allowed_methods: r.allowed_methods.clone(),
        allowed_headers: (!r.allowed_headers.is_empty()).then(|| r.allowed_headers.clone()),
        expose_headers: (!r.expose_headers.is_empty()).then(|| r.expose_headers.clone()),
        max_age_seconds: r.max_age_seconds,
    }
}

impl MeridianS3 {
    pub(super) async fn do_put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let input = req.input;
        let rules: Vec<CorsRule> = input
            .cors_configuration
            .cors_rules
            .into_iter()
            .map(from_dto)
            .collect();
        check_rules(&rules).map_err(|m| s3_error!(InvalidRequest, "{m}"))?;
        self.gateway
            .set_bucket_cors(&input.bucket, rules)
            .await
            .or_s3()?;
        Ok(S3Response::new(PutBucketCorsOutput {}))
    }

    pub(super) async fn do_get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let b = self
            .gateway
            .catalogue()
            .bucket(&req.input.bucket)
            .await
            .or_s3()?;
        if b.cors.is_empty() {
            return Err(s3_error!(
                NoSuchCORSConfiguration,
                "The CORS configuration does not exist"
            ));
        }
        Ok(S3Response::new(GetBucketCorsOutput {
            cors_rules: Some(b.cors.iter().map(to_dto).collect()),
        }))
    }

    pub(super) async fn do_delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        let bucket = req.input.bucket;
        self.gateway
            .set_bucket_cors(&bucket, Vec::new())
            .await
            .or_s3()?;
        Ok(S3Response::new(DeleteBucketCorsOutput {}))
    }
}

/// What the HTTP layer needs to apply a bucket's CORS rules.
pub struct CorsFront {
    gateway: Arc<Objects>,
    /// The virtual-host base domain, if any.
    domain: Option<String>,
}

impl std::fmt::Debug for CorsFront {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorsFront")
            .field("domain", &self.domain)
            .finish()
    }
}

fn header_str(h: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn forbidden(message: &str) -> Response<s3s::Body> {
    let mut e = s3s::S3Error::with_message(
        s3s::S3ErrorCode::Custom("AccessForbidden".into()),
        message.to_string(),
    );
    e.set_status_code(StatusCode::FORBIDDEN);
    super::errors::error_response(&e)
}

fn set(h: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// The headers a matching rule grants a cross-origin response.
fn grant(h: &mut HeaderMap, rule: &CorsRule, origin: &str) {
    let allowed = allow_origin(rule, origin);
    set(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
    set(
        h,
        header::ACCESS_CONTROL_ALLOW_METHODS,
        &rule.allowed_methods.join(", "),
    );
    if allowed != "*" {
        set(h, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
    }
    if !rule.expose_headers.is_empty() {
        set(
            h,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            &rule.expose_headers.join(", "),
        );
    }
    if let Some(age) = rule.max_age_seconds {
        set(h, header::ACCESS_CONTROL_MAX_AGE, &age.to_string());
    }
    set(
        h,
        header::VARY,
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    );
}

impl CorsFront {
    pub fn new(gateway: Arc<Objects>, domain: Option<String>) -> Self {
        CorsFront {
            gateway,
            domain: domain.map(|d| d.to_ascii_lowercase()),
        }
    }

    /// The bucket a request addresses, virtual-host or path style.
    pub fn bucket_of<B>(&self, req: &http::Request<B>) -> Option<String> {
        super::front::bucket_of(self.domain.as_deref(), req)
    }

    async fn rules(&self, bucket: &str) -> Option<Vec<CorsRule>> {
        match self.gateway.bucket_access(bucket).await {
            Ok(Some(b)) => Some(b.cors.clone()),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(bucket, error = %e, "CORS rules unavailable");
                None
            }
        }
    }

    /// Answers a preflight request.
    pub async fn preflight<B>(&self, req: &http::Request<B>) -> Response<s3s::Body> {
        let h = req.headers();
        let (Some(origin), Some(method)) = (
            header_str(h, header::ORIGIN),
            header_str(h, header::ACCESS_CONTROL_REQUEST_METHOD),
        ) else {
            let mut resp = forbidden(
                "Insufficient information. Origin request header and Access-Control-Request-Method are needed.",
            );
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            return resp;
        };
        let headers: Vec<&str> = header_str(h, header::ACCESS_CONTROL_REQUEST_HEADERS)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let Some(bucket) = self.bucket_of(req) else {
            return forbidden("CORSResponse: This CORS request is not allowed.");
        };
        let rules = self.rules(&bucket).await.unwrap_or_default();
        if rules.is_empty() {
            return forbidden("CORSResponse: CORS is not enabled for this bucket.");
        }
        let Some(rule) = find_rule(&rules, origin, method, &headers) else {
            return forbidden(
                "CORSResponse: This CORS request is not allowed. This is usually because the evaluation of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            );
        };
        let mut resp = Response::new(s3s::Body::empty());
        grant(resp.headers_mut(), rule, origin);
        if !headers.is_empty() {
            set(
                resp.headers_mut(),
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                &headers.join(", "),
            );
        }
        resp
    }

    /// Adds the CORS headers to the response of a cross-origin request
    /// whose origin and method a rule of `bucket` allows.
    pub async fn decorate(
        &self,
        bucket: &str,
        origin: &str,
        method: &Method,
        resp: &mut Response<s3s::Body>,
    ) {
        let Some(rules) = self.rules(bucket).await else {
            return;
        };
        if let Some(rule) = find_rule(&rules, origin, method.as_str(), &[]) {
            grant(resp.headers_mut(), rule, origin);
        }
    }
}
