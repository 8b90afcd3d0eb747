//! Presigned S3 download URLs (SigV4 in the query), signed with the
//! agent's access key, as `aws s3 presign` makes them: whoever holds the
//! URL may GET that one object until it expires, with its signer's rights.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use meridian_core::names::uri_encode;

use crate::McpError;

/// Longest a URL may live (as S3's presigned URLs: a week).
pub const MAX_EXPIRES: Duration = Duration::from_secs(7 * 86_400);

/// A GET URL of `bucket`/`key` at `endpoint` (`http://host:port`), valid
/// for `expires`, signed for `region`.
pub fn download_url(
    endpoint: &str,
    (bucket, key): (&str, &str),
    (access_key, secret): (&str, &str),
    region: &str,
    expires: Duration,
    now: SystemTime,
) -> Result<String, McpError> {
    if expires.is_zero() || expires > MAX_EXPIRES {
        return Err(McpError::Invalid(format!(
            "a URL lives 1 s to {} s",
            MAX_EXPIRES.as_secs()
        )));
    }
    let url = format!(
        "{}/{}/{}",
        endpoint.trim_end_matches('/'),
        uri_encode(bucket),
        uri_encode(key)
    );
    let identity = Credentials::new(access_key, secret, None, None, "meridian-mcp").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires);
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| McpError::Invalid(format!("signing parameters: {e}")))?
        .into();
    let host = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_default()
        .to_string();
    let request = SignableRequest::new(
        "GET",
        &url,
        [("host", host.as_str())].into_iter(),
        SignableBody::UnsignedPayload,
    )
    .map_err(|e| McpError::Invalid(format!("the URL {url}: {e}")))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| McpError::Invalid(format!("signing: {e}")))?
        .into_parts();
    let mut out = url;
    let mut first = true;
    for (name, value) in instructions.params().iter() {
        out.push(if first { '?' } else { '&' });
        first = false;
        out.push_str(name);
        out.push('=');
        out.push_str(&query_encode(value));
    }
    Ok(out)
}

/// A query value as SigV4 encodes it: all but the unreserved characters.
fn query_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_the_query_signature_and_refuse_long_lives() {
        let u = download_url(
            "http://127.0.0.1:9000",
            ("juno", "raw/a b.root"),
            ("MKA", "secret"),
            "us-east-1",
            Duration::from_secs(600),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_600_000),
        )
        .expect("url");
        assert!(
            u.starts_with("http://127.0.0.1:9000/juno/raw/a%20b.root?"),
            "{u}"
        );
        for p in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=MKA%2F",
            "X-Amz-Expires=600",
            "X-Amz-Signature=",
        ] {
            assert!(u.contains(p), "{u} lacks {p}");
        }
        assert!(download_url(
            "http://h",
            ("b", "k"),
            ("a", "s"),
            "r",
            MAX_EXPIRES * 2,
            SystemTime::now()
        )
        .is_err());
    }
}
