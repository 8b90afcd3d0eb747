//! Object Lock on objects over S3: Put/GetObjectRetention,
//! Put/GetObjectLegalHold, the lock headers a write may carry, and the
//! lock headers reads answer. What a lock forbids is enforced by the
//! catalogue's state machine; this module parses and answers.

use super::errors::OrS3;
use http::HeaderMap;
use meridian_core::records::{LockMode, ObjectRecord};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::bucket_protection::{mode_name, parse_mode};
use super::{timestamp, MeridianS3};
use meridian_core::catalogue::VersionChange;
use meridian_objects::Protection;

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Whether a request carries Content-MD5 or names a checksum, as AWS asks
/// of writes that set or fall under Object Lock.
fn has_integrity_header(h: &HeaderMap) -> bool {
    h.contains_key("content-md5")
        || h.contains_key("x-amz-sdk-checksum-algorithm")
        || h.keys().any(|k| k.as_str().starts_with("x-amz-checksum-"))
}

/// AWS requires Content-MD5 or a checksum of requests that set locks.
fn require_integrity(h: &HeaderMap, what: &str) -> S3Result<()> {
    if has_integrity_header(h) {
        return Ok(());
    }
    Err(s3_error!(
        InvalidRequest,
        "Content-MD5 OR x-amz-sdk-checksum-algorithm HTTP header is required for {what} requests"
    ))
}

fn ms_of(t: &Timestamp) -> i64 {
    (time::OffsetDateTime::from(t.clone()).unix_timestamp_nanos() / 1_000_000) as i64
}

/// The retention and legal hold a write asks for in its headers, checked
/// as AWS checks them; `lock`: whether the bucket has Object Lock, and
/// whether it gives new versions a default retention.
pub(super) fn write_lock(
    h: &HeaderMap,
    lock: (bool, bool),
    now_ms: i64,
    with_body: bool,
    into: &mut Protection,
) -> S3Result<()> {
    let (enabled, default_retention) = lock;
    let mode = header(h, "x-amz-object-lock-mode");
    let until = header(h, "x-amz-object-lock-retain-until-date");
    let hold = header(h, "x-amz-object-lock-legal-hold");
    let asked = mode.is_some() || until.is_some() || hold.is_some();
    if asked && !enabled {
        return Err(s3_error!(
            InvalidRequest,
            "Bucket is missing ObjectLockConfiguration"
        ));
    }
    if with_body && (asked || default_retention) && !has_integrity_header(h) {
        return Err(s3_error!(
            InvalidRequest,
            "Content-MD5 OR x-amz-sdk-checksum-algorithm HTTP header is required for Put Object requests with Object Lock parameters"
        ));
    }
    match (mode, until) {
        (None, None) => {}
        (Some(m), Some(u)) => {
            let mode = match m {
                "GOVERNANCE" => LockMode::Governance,
                "COMPLIANCE" => LockMode::Compliance,
                _ => return Err(s3_error!(InvalidArgument, "Unknown wormMode directive.")),
            };
            let at = time::OffsetDateTime::parse(u, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    s3_error!(
                        InvalidArgument,
                        "The retain until date must be provided in ISO 8601 format"
                    )
                })?;
            let until_ms = (at.unix_timestamp_nanos() / 1_000_000) as i64;
            if until_ms <= now_ms {
                return Err(s3_error!(
                    InvalidArgument,
                    "The retain until date must be in the future!"
                ));
            }
            into.lock_mode = mode;
            into.lock_until_ms = until_ms;
        }
        _ => {
            return Err(s3_error!(
            InvalidArgument,
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied"
        ))
        }
    }
    into.legal_hold = match hold {
        None | Some("OFF") => false,
        Some("ON") => true,
        Some(other) => {
            return Err(s3_error!(
                InvalidArgument,
                "Legal Hold must be either of ON or OFF, not {other:?}"
            ))
        }
    };
    Ok(())
}

/// The lock headers of a read: (mode, retain-until, legal hold).
pub(super) fn read_lock(
    rec: &ObjectRecord,
) -> (
    Option<ObjectLockMode>,
    Option<Timestamp>,
    Option<ObjectLockLegalHoldStatus>,
) {
    let mode = mode_name(rec.lock_mode).map(ObjectLockMode::from_static);
    let until = mode.as_ref().map(|_| timestamp(rec.lock_until_ms));
    let hold = rec
        .legal_hold
        .then(|| ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON));
    (mode, until, hold)
}

impl MeridianS3 {
    /// Whether a bucket has Object Lock and a default retention, from the
    /// cached permissions (the state machine decides for itself).
    pub(super) async fn bucket_lock(&self, bucket: &str) -> (bool, bool) {
        match self.gateway.bucket_access(bucket).await {
            Ok(Some(b)) => (b.object_lock, b.default_retention),
            _ => (false, false),
        }
    }

    /// The version an Object Lock request names.
    async fn locked_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&ObjectVersionId>,
    ) -> S3Result<ObjectRecord> {
        if !self.bucket_lock(bucket).await.0 {
            self.gateway.catalogue().bucket(bucket).await.or_s3()?;
            return Err(s3_error!(
                InvalidRequest,
                "Bucket is missing Object Lock Configuration"
            ));
        }
        let catalogue = self.gateway.catalogue();
        match version {
            Some(v) => catalogue.object_version(bucket, key, v.as_str()).await,
            None => catalogue.object(bucket, key).await,
        }
        .map_err(|e| super::versioning::read_error(e, version.map(|v| v.as_str())))
    }

    pub(super) async fn do_put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        require_integrity(&req.headers, "Put Object Retention")?;
        let bypass = super::auth::header_true(&req.headers, "x-amz-bypass-governance-retention");
        let input = req.input;
        let (mode, until_ms) = match &input.retention {
            Some(ObjectLockRetention {
                mode: Some(m),
                retain_until_date: Some(d),
            }) => (parse_mode(m.as_str())?, ms_of(d)),
            Some(ObjectLockRetention {
                mode: None,
                retain_until_date: None,
            })
            | None => (LockMode::None, 0),
            _ => {
                return Err(s3_error!(
                    MalformedXML,
                    "a Retention has both a Mode and a RetainUntilDate, or neither"
                ))
            }
        };
        let rec = self
            .locked_version(&input.bucket, &input.key, input.version_id.as_ref())
            .await?;
        self.change_version(
            &input.bucket,
            &input.key,
            &rec,
            VersionChange::Retention {
                mode,
                until_ms,
                bypass_governance: bypass,
            },
        )
        .await?;
        Ok(S3Response::new(PutObjectRetentionOutput {
            request_charged: None,
        }))
    }

    pub(super) async fn do_get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        let input = req.input;
        let rec = self
            .locked_version(&input.bucket, &input.key, input.version_id.as_ref())
            .await?;
        let (mode, until, _) = read_lock(&rec);
        let Some(mode) = mode else {
            return Err(no_lock_configuration());
        };
        Ok(S3Response::new(GetObjectRetentionOutput {
            retention: Some(ObjectLockRetention {
                mode: Some(ObjectLockRetentionMode::from(mode.as_str().to_string())),
                retain_until_date: until,
            }),
        }))
    }

    pub(super) async fn do_put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        require_integrity(&req.headers, "Put Object Legal Hold")?;
        let input = req.input;
        let on = match input
            .legal_hold
            .as_ref()
            .and_then(|h| h.status.as_ref())
            .map(|s| s.as_str())
        {
            Some(ObjectLockLegalHoldStatus::ON) => true,
            Some(ObjectLockLegalHoldStatus::OFF) => false,
            other => {
                return Err(s3_error!(
                    MalformedXML,
                    "a LegalHold Status is ON or OFF, not {other:?}"
                ))
            }
        };
        let rec = self
            .locked_version(&input.bucket, &input.key, input.version_id.as_ref())
            .await?;
        self.change_version(
            &input.bucket,
            &input.key,
            &rec,
            VersionChange::LegalHold(on),
        )
        .await?;
        Ok(S3Response::new(PutObjectLegalHoldOutput {
            request_charged: None,
        }))
    }

    /// OFF when the version has none (whether it never had one or it was
    /// lifted: the record does not tell them apart).
    pub(super) async fn do_get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        let input = req.input;
        let rec = self
            .locked_version(&input.bucket, &input.key, input.version_id.as_ref())
            .await?;
        let status = if rec.legal_hold {
            ObjectLockLegalHoldStatus::ON
        } else {
            ObjectLockLegalHoldStatus::OFF
        };
        Ok(S3Response::new(GetObjectLegalHoldOutput {
            legal_hold: Some(ObjectLockLegalHold {
                status: Some(ObjectLockLegalHoldStatus::from_static(status)),
            }),
        }))
    }
}

/// AWS's answer for a version without retention (400, as AWS and other
/// S3 servers send it; s3s's default is 404).
fn no_lock_configuration() -> s3s::S3Error {
    let mut e = s3_error!(
        NoSuchObjectLockConfiguration,
        "The specified object does not have a ObjectLock configuration"
    );
    e.set_status_code(http::StatusCode::BAD_REQUEST);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        h
    }

    fn code(h: &[(&str, &str)], lock: (bool, bool)) -> Option<String> {
        let mut p = Protection::default();
        write_lock(&headers(h), lock, 1_000, true, &mut p)
            .err()
            .map(|e| e.code().as_str().to_string())
    }

    #[test]
    fn lock_headers_are_checked_as_aws_checks_them() {
        let md5 = ("content-md5", "XUFAKrxLKna5cZ2REBfFkg==");
        let mode = ("x-amz-object-lock-mode", "GOVERNANCE");
        let until = (
            "x-amz-object-lock-retain-until-date",
            "2030-01-01T00:00:00Z",
        );
        assert_eq!(code(&[md5, mode, until], (true, false)), None);
        assert_eq!(
            code(&[md5, mode, until], (false, false)).as_deref(),
            Some("InvalidRequest")
        );
        assert_eq!(
            code(&[mode, until], (true, false)).as_deref(),
            Some("InvalidRequest")
        );
        assert_eq!(
            code(&[], (true, true)).as_deref(),
            Some("InvalidRequest"),
            "default retention needs an MD5 too"
        );
        assert_eq!(
            code(&[md5, mode], (true, false)).as_deref(),
            Some("InvalidArgument")
        );
        assert_eq!(
            code(
                &[md5, ("x-amz-object-lock-mode", "FOREVER"), until],
                (true, false)
            )
            .as_deref(),
            Some("InvalidArgument")
        );
        assert_eq!(
            code(
                &[
                    md5,
                    mode,
                    (
                        "x-amz-object-lock-retain-until-date",
                        "1970-01-01T00:00:00Z"
                    )
                ],
                (true, false)
            )
            .as_deref(),
            Some("InvalidArgument")
        );
        assert_eq!(
            code(
                &[md5, ("x-amz-object-lock-legal-hold", "MAYBE")],
                (true, false)
            )
            .as_deref(),
            Some("InvalidArgument")
        );
        let mut p = Protection::default();
        write_lock(
            &headers(&[md5, mode, until, ("x-amz-object-lock-legal-hold", "ON")]),
            (true, false),
            1_000,
            true,
            &mut p,
        )
        .expect("valid");
        assert_eq!(p.lock_mode, LockMode::Governance);
        assert!(p.legal_hold);
        assert_eq!(p.lock_until_ms, 1_893_456_000_000);
    }
}
