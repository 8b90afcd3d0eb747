//! The date a header-signed request carries, checked before its signature
//! as AWS checks it: a request without a readable date is refused
//! (`AccessDenied`), one more than [`MAX_SKEW`] away from the server's clock
//! is `RequestTimeTooSkewed`. s3s checks SigV4's `x-amz-date` skew itself
//! but refuses a missing or unreadable one with a different code, and does
//! not look at SigV2 dates at all, which would let a captured SigV2 request
//! be replayed forever.
//!
//! Presigned URLs carry their own expiry: checked here against the
//! gateway's clock (s3s checks it again against the system's, which a test
//! clock cannot move); POST forms carry theirs in the policy.

use http::HeaderMap;
use s3s::{S3Error, S3ErrorCode};
use time::format_description::well_known::Rfc2822;
use time::{OffsetDateTime, PrimitiveDateTime};

/// AWS's allowance between a request's date and the server's clock.
pub const MAX_SKEW: time::Duration = time::Duration::minutes(15);

fn no_date() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::AccessDenied,
        "AWS authentication requires a valid Date or x-amz-date header",
    )
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().unwrap_or("\u{7}"))
}

/// SigV4's `x-amz-date`: `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(s, fmt)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// An HTTP date: RFC 1123 (`Sun, 06 Nov 1994 08:49:37 GMT`), which RFC 2822
/// parsing takes, with the two obsolete forms HTTP still allows.
fn parse_http_date(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc2822) {
        return Some(t);
    }
    let asctime = time::macros::format_description!(
        "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
    );
    PrimitiveDateTime::parse(s, asctime)
        .ok()
        .or_else(|| parse_rfc850(s))
        .map(PrimitiveDateTime::assume_utc)
}

/// RFC 850's `Sunday, 06-Nov-94 08:49:37 GMT`; a two-digit year is taken
/// in 1970..=2069.
fn parse_rfc850(s: &str) -> Option<PrimitiveDateTime> {
    let (_, rest) = s.split_once(", ")?;
    let rest = rest.strip_suffix(" GMT")?;
    let (date, clock) = rest.split_once(' ')?;
    let mut parts = date.split('-');
    let (day, month, yy) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || yy.len() != 2 {
        return None;
    }
    let yy: i32 = yy.parse().ok()?;
    let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
    let fmt = time::macros::format_description!(
        "[day] [month repr:short] [year] [hour]:[minute]:[second]"
    );
    PrimitiveDateTime::parse(&format!("{day} {month} {year} {clock}"), fmt).ok()
}

/// Checks the date of a header-signed request against `now`. Requests
/// signed otherwise (presigned, POST forms) or not at all pass.
pub fn check(headers: &HeaderMap, now: OffsetDateTime) -> Result<(), S3Error> {
    let Some(auth) = header(headers, "authorization") else {
        return Ok(());
    };
    let date = if auth.starts_with("AWS4-HMAC-SHA256") {
        // SigV4 signs x-amz-date; s3s accepts nothing else.
        let raw = header(headers, "x-amz-date").ok_or_else(no_date)?;
        parse_amz_date(raw).ok_or_else(no_date)?
    } else if auth.starts_with("AWS ") {
        let raw = header(headers, "x-amz-date")
            .or_else(|| header(headers, "date"))
            .ok_or_else(no_date)?;
        parse_http_date(raw).ok_or_else(no_date)?
    } else {
        return Ok(());
    };
    if date < OffsetDateTime::UNIX_EPOCH {
        return Err(no_date());
    }
    if (date - now).abs() > MAX_SKEW {
        return Err(S3Error::with_message(
            S3ErrorCode::RequestTimeTooSkewed,
            "The difference between the request time and the current time is too large.",
        ));
    }
    Ok(())
}

/// A presigned URL's expiry, against `now`: SigV4's `X-Amz-Date` plus
/// `X-Amz-Expires` seconds, SigV2's `Expires` (seconds since the epoch).
/// Values that do not parse are left to the signature check to refuse.
pub fn check_presigned(uri: &http::Uri, now: OffsetDateTime) -> Result<(), S3Error> {
    let Some(query) = uri.query() else {
        return Ok(());
    };
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    };
    let expires_at = if let (Some(date), Some(secs)) = (param("X-Amz-Date"), param("X-Amz-Expires"))
    {
        let Some(date) = parse_amz_date(date) else {
            return Ok(());
        };
        let Ok(secs) = secs.parse::<i64>() else {
            return Ok(());
        };
        date.checked_add(time::Duration::seconds(secs))
    } else if let (Some(at), Some(_)) = (param("Expires"), param("AWSAccessKeyId")) {
        at.parse::<i64>()
            .ok()
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
    } else {
        None
    };
    match expires_at {
        Some(at) if now > at => Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Request has expired",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        // 2026-12-07 00:00:00 UTC
        OffsetDateTime::from_unix_timestamp(1_796_601_600).expect("time")
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                http::HeaderValue::from_bytes(v.as_bytes()).expect("value"),
            );
        }
        h
    }

    fn code(pairs: &[(&str, &str)]) -> Option<S3ErrorCode> {
        check(&headers(pairs), now())
            .err()
            .map(|e| e.code().clone())
    }

    const V2: (&str, &str) = ("authorization", "AWS ak:c2lnbmF0dXJl");
    const V4: (&str, &str) = (
        "authorization",
        "AWS4-HMAC-SHA256 Credential=ak/20261207/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
    );

    #[test]
    fn sigv2_dates_as_aws_checks_them() {
        let denied = Some(S3ErrorCode::AccessDenied);
        let skewed = Some(S3ErrorCode::RequestTimeTooSkewed);
        assert_eq!(code(&[V2, ("date", "Mon, 07 Dec 2026 00:05:00 GMT")]), None);
        assert_eq!(
            code(&[V2, ("date", "Monday, 07-Dec-26 00:05:00 GMT")]),
            None
        );
        assert_eq!(code(&[V2, ("date", "Mon Dec  7 00:05:00 2026")]), None);
        // x-amz-date, when sent, is the date that counts.
        assert_eq!(
            code(&[
                V2,
                ("date", "Bad Date"),
                ("x-amz-date", "Mon, 07 Dec 2026 00:05:00 +0000")
            ]),
            None
        );
        assert_eq!(code(&[V2]), denied);
        assert_eq!(code(&[V2, ("date", "")]), denied);
        assert_eq!(code(&[V2, ("date", "Bad Date")]), denied);
        assert_eq!(
            code(&[V2, ("date", "Tue, 07 Jul 1950 21:53:04 GMT")]),
            denied
        );
        assert_eq!(
            code(&[V2, ("date", "Tue, 07 Jul 2010 21:53:04 GMT")]),
            skewed
        );
        assert_eq!(
            code(&[V2, ("date", "Tue, 07 Jul 2030 21:53:04 GMT")]),
            skewed
        );
        assert_eq!(
            code(&[V2, ("date", "Fri, 31 Dec 9999 21:53:04 GMT")]),
            skewed
        );
        assert_eq!(
            code(&[V2, ("date", "Sun, 06 Dec 2026 23:44:00 GMT")]),
            skewed
        );
    }

    #[test]
    fn sigv4_needs_a_readable_x_amz_date() {
        assert_eq!(code(&[V4, ("x-amz-date", "20261207T000500Z")]), None);
        assert_eq!(code(&[V4]), Some(S3ErrorCode::AccessDenied));
        assert_eq!(
            code(&[V4, ("x-amz-date", "Bad Date")]),
            Some(S3ErrorCode::AccessDenied)
        );
        assert_eq!(
            code(&[V4, ("x-amz-date", "20100707T215304Z")]),
            Some(S3ErrorCode::RequestTimeTooSkewed)
        );
    }

    fn presigned(uri: &str, now: OffsetDateTime) -> Option<S3ErrorCode> {
        let uri: http::Uri = uri.parse().expect("uri");
        check_presigned(&uri, now).err().map(|e| e.code().clone())
    }

    #[test]
    fn presigned_urls_expire_by_the_clock_given() {
        let v4 = "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261207T000000Z&X-Amz-Expires=60&X-Amz-Signature=00";
        assert_eq!(presigned(v4, now()), None);
        assert_eq!(presigned(v4, now() + time::Duration::seconds(60)), None);
        assert_eq!(
            presigned(v4, now() + time::Duration::seconds(61)),
            Some(S3ErrorCode::AccessDenied)
        );
        let v2 = "/b/k?AWSAccessKeyId=ak&Expires=1796601660&Signature=s";
        assert_eq!(presigned(v2, now()), None);
        assert_eq!(
            presigned(v2, now() + time::Duration::seconds(61)),
            Some(S3ErrorCode::AccessDenied)
        );
        // Left to the signature check: unreadable values, other queries.
        assert_eq!(presigned("/b/k?X-Amz-Date=x&X-Amz-Expires=60", now()), None);
        assert_eq!(presigned("/b/k?Expires=1", now()), None);
        assert_eq!(presigned("/b?list-type=2", now()), None);
    }

    #[test]
    fn unsigned_and_presigned_requests_pass() {
        assert_eq!(code(&[]), None);
        assert_eq!(code(&[("date", "Bad Date")]), None);
    }
}
