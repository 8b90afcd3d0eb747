//! How the core's errors become S3 error responses.
//!
//! Every [`CoreError`] maps onto exactly one S3 error code; the HTTP status
//! comes with the code (s3s knows the status of each). The message is the
//! gateway's own text, so a client sees why, not only what.

use s3s::{S3Error, S3ErrorCode};

use meridian_core::CoreError;

/// The S3 code a core error is reported as.
pub fn s3_code(e: &CoreError) -> S3ErrorCode {
    use CoreError::*;
    match e {
        NoSuchBucket(_) => S3ErrorCode::NoSuchBucket,
        // Whether the caller owns the bucket is decided where that is known
        // (CreateBucket); elsewhere the neutral code is the honest one.
        BucketExists(_) => S3ErrorCode::BucketAlreadyExists,
        BucketNotEmpty(_) => S3ErrorCode::BucketNotEmpty,
        InvalidBucketName(_) => S3ErrorCode::InvalidBucketName,
        NoSuchKey(_) => S3ErrorCode::NoSuchKey,
        InvalidKey(_) => S3ErrorCode::InvalidArgument,
        NoSuchVersion(_) => S3ErrorCode::NoSuchVersion,
        DeleteMarker(_) => S3ErrorCode::MethodNotAllowed,
        NoSuchUpload(_) => S3ErrorCode::NoSuchUpload,
        InvalidPart(_) => S3ErrorCode::InvalidPart,
        InvalidPartOrder(_) => S3ErrorCode::InvalidPartOrder,
        UnknownSite(_) => S3ErrorCode::InvalidLocationConstraint,
        InvalidRange(_) => S3ErrorCode::InvalidRange,
        IncompleteBody(_) => S3ErrorCode::IncompleteBody,
        BadDigest(_) => S3ErrorCode::BadDigest,
        // The core has no variant of its own for a small part; it marks the
        // message instead, and S3 clients expect the specific code.
        InvalidArgument(m) if m.starts_with("EntityTooSmall") => S3ErrorCode::EntityTooSmall,
        InvalidArgument(_) => S3ErrorCode::InvalidArgument,
        PreconditionFailed(_) => S3ErrorCode::PreconditionFailed,
        AclNotSupported(_) => S3ErrorCode::AccessControlListNotSupported,
        AclConflictsWithOwnership(_) => S3ErrorCode::InvalidBucketAclWithObjectOwnership,
        InvalidBucketState(_) => S3ErrorCode::InvalidBucketState,
        NoObjectLock(_) => S3ErrorCode::InvalidRequest,
        ObjectLocked(_) => S3ErrorCode::AccessDenied,
        // S3 has no datasets; what reaches it is a write refused because
        // the key is a published dataset's file, answered as Object Lock's.
        NoSuchDataset(_) | DatasetExists(_) => S3ErrorCode::InvalidRequest,
        DatasetState(_) => S3ErrorCode::AccessDenied,
        Corrupt(_) => S3ErrorCode::InternalError,
        Unavailable(_) => S3ErrorCode::ServiceUnavailable,
        Internal(_) => S3ErrorCode::InternalError,
    }
}

/// Converts a core error into the S3 error a client sees. Server-side
/// faults are logged here, because the client only learns that one happened.
pub fn s3_error(e: CoreError) -> S3Error {
    let code = s3_code(&e);
    match &e {
        CoreError::Corrupt(_) | CoreError::Internal(_) => {
            tracing::error!(error = %e, "S3 request failed")
        }
        CoreError::Unavailable(_) => tracing::warn!(error = %e, "S3 request failed"),
        _ => {}
    }
    S3Error::with_message(code, e.to_string())
}

/// `?` on a core result inside an S3 handler: the core's errors are not
/// the gateway's to convert with `From` (neither type is defined here).
pub(crate) trait OrS3<T> {
    fn or_s3(self) -> Result<T, S3Error>;
}

impl<T> OrS3<T> for Result<T, CoreError> {
    fn or_s3(self) -> Result<T, S3Error> {
        self.map_err(s3_error)
    }
}

/// `InvalidArgument` with a message: the usual answer to a malformed parameter.
pub fn invalid_argument(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg.into())
}

/// An S3 error code s3s does not know, with its status.
pub fn custom(code: &str, status: http::StatusCode, msg: impl Into<String>) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.to_string().into()), msg.into());
    e.set_status_code(status);
    e
}

/// `NotImplemented` naming the feature: a request Meridian would otherwise
/// have to silently ignore (and so answer wrongly) is refused instead.
pub fn not_implemented(what: &str) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NotImplemented,
        format!("{what} is not supported by Meridian"),
    )
}

/// An S3 error answered outside s3s (before a request reaches it): the XML
/// body S3 sends, with the code's status.
pub fn error_response(e: &S3Error) -> http::Response<s3s::Body> {
    error_response_with(e, &[])
}

/// As [`error_response`], with more elements in the body (AWS adds some to
/// certain errors, e.g. `Region`).
pub fn error_response_with(e: &S3Error, extra: &[(&str, &str)]) -> http::Response<s3s::Body> {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>",
        xml_escape(e.code().as_str()),
        xml_escape(e.message().unwrap_or("")),
    );
    for (name, value) in extra {
        xml.push_str(&format!("<{name}>{}</{name}>", xml_escape(value)));
    }
    xml.push_str("</Error>");
    let mut resp = http::Response::new(s3s::Body::from(xml));
    *resp.status_mut() = e
        .status_code()
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    resp
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn status(e: CoreError) -> (S3ErrorCode, StatusCode) {
        let err = s3_error(e);
        let status = err.status_code().expect("every mapped code has a status");
        (err.code().clone(), status)
    }

    #[test]
    fn every_variant_maps_to_its_code_and_status() {
        use CoreError::*;
        let m = || "m".to_string();
        let cases = [
            (NoSuchBucket(m()), S3ErrorCode::NoSuchBucket, 404),
            (BucketExists(m()), S3ErrorCode::BucketAlreadyExists, 409),
            (BucketNotEmpty(m()), S3ErrorCode::BucketNotEmpty, 409),
            (InvalidBucketName(m()), S3ErrorCode::InvalidBucketName, 400),
            (NoSuchKey(m()), S3ErrorCode::NoSuchKey, 404),
            (InvalidKey(m()), S3ErrorCode::InvalidArgument, 400),
            (NoSuchUpload(m()), S3ErrorCode::NoSuchUpload, 404),
            (InvalidPart(m()), S3ErrorCode::InvalidPart, 400),
            (InvalidPartOrder(m()), S3ErrorCode::InvalidPartOrder, 400),
            (
                UnknownSite(m()),
                S3ErrorCode::InvalidLocationConstraint,
                400,
            ),
            (InvalidRange(m()), S3ErrorCode::InvalidRange, 416),
            (IncompleteBody(m()), S3ErrorCode::IncompleteBody, 400),
            (BadDigest(m()), S3ErrorCode::BadDigest, 400),
            (InvalidArgument(m()), S3ErrorCode::InvalidArgument, 400),
            (
                InvalidArgument("EntityTooSmall: part 1 is 3 bytes".into()),
                S3ErrorCode::EntityTooSmall,
                400,
            ),
            (
                PreconditionFailed(m()),
                S3ErrorCode::PreconditionFailed,
                412,
            ),
            (
                AclNotSupported(m()),
                S3ErrorCode::AccessControlListNotSupported,
                400,
            ),
            (
                AclConflictsWithOwnership(m()),
                S3ErrorCode::InvalidBucketAclWithObjectOwnership,
                400,
            ),
            (
                InvalidBucketState(m()),
                S3ErrorCode::InvalidBucketState,
                409,
            ),
            (NoObjectLock(m()), S3ErrorCode::InvalidRequest, 400),
            (ObjectLocked(m()), S3ErrorCode::AccessDenied, 403),
            (NoSuchDataset(m()), S3ErrorCode::InvalidRequest, 400),
            (DatasetExists(m()), S3ErrorCode::InvalidRequest, 400),
            (DatasetState(m()), S3ErrorCode::AccessDenied, 403),
            (Corrupt(m()), S3ErrorCode::InternalError, 500),
            (Unavailable(m()), S3ErrorCode::ServiceUnavailable, 503),
            (Internal(m()), S3ErrorCode::InternalError, 500),
        ];
        for (e, code, st) in cases {
            let shown = format!("{e:?}");
            assert_eq!(
                status(e),
                (code, StatusCode::from_u16(st).expect("valid status")),
                "{shown}"
            );
        }
    }

    #[test]
    fn answers_outside_s3s_are_s3_xml() {
        let e = S3Error::with_message(S3ErrorCode::InvalidRequest, "use <SigV4> & more");
        let r = error_response(&e);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let custom = S3Error::with_message(S3ErrorCode::Custom("AccessForbidden".into()), "m");
        let mut custom = custom;
        custom.set_status_code(StatusCode::FORBIDDEN);
        assert_eq!(error_response(&custom).status(), StatusCode::FORBIDDEN);
        assert_eq!(
            xml_escape("use <SigV4> & more"),
            "use &lt;SigV4&gt; &amp; more"
        );
    }

    #[test]
    fn message_is_kept() {
        let err = s3_error(CoreError::NoSuchKey("photos/cat.jpg".into()));
        assert_eq!(err.message(), Some("no such key: photos/cat.jpg"));
    }
}
