//! `x-amz-checksum-*`: the additional checksums current SDKs send with
//! uploads (CRC32 by default), as a header or, with aws-chunked bodies, a
//! trailer. The body is hashed as it passes; at its end the checksum is
//! compared with the one the client sent (a mismatch is `BadDigest` and
//! commits nothing) and kept for the record, so GetObject and HeadObject
//! can return it (`x-amz-checksum-mode: ENABLED`).

use std::sync::PoisonError;

use futures::{Stream, StreamExt};
use http::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
use s3s::dto::{Checksum, ChecksumType};
use s3s::TrailingHeaders;

use super::body::{BodyError, BodyFault, FaultCell};
use super::errors::invalid_argument;

/// Algorithm names as S3 spells them, each with its header.
const ALGORITHMS: [(&str, &str); 5] = [
    ("CRC32", "x-amz-checksum-crc32"),
    ("CRC32C", "x-amz-checksum-crc32c"),
    ("CRC64NVME", "x-amz-checksum-crc64nvme"),
    ("SHA1", "x-amz-checksum-sha1"),
    ("SHA256", "x-amz-checksum-sha256"),
];

pub use meridian_objects::BodyChecksums as Checksums;

/// The `x-amz-checksum-*` values an input carries (PutObject, UploadPart,
/// CompleteMultipartUpload all name them alike).
macro_rules! sent_checksums {
    ($input:expr) => {
        s3s::dto::Checksum {
            checksum_crc32: $input.checksum_crc32.clone(),
            checksum_crc32c: $input.checksum_crc32c.clone(),
            checksum_crc64nvme: $input.checksum_crc64nvme.clone(),
            checksum_sha1: $input.checksum_sha1.clone(),
            checksum_sha256: $input.checksum_sha256.clone(),
            checksum_type: None,
        }
    };
}
pub(super) use sent_checksums;

/// The value `c` holds for algorithm `alg` (S3's spelling).
pub(super) fn value_of<'a>(c: &'a Checksum, alg: &str) -> Option<&'a String> {
    match alg {
        "CRC32" => c.checksum_crc32.as_ref(),
        "CRC32C" => c.checksum_crc32c.as_ref(),
        "CRC64NVME" => c.checksum_crc64nvme.as_ref(),
        "SHA1" => c.checksum_sha1.as_ref(),
        "SHA256" => c.checksum_sha256.as_ref(),
        _ => None,
    }
}

/// The checksum fields of a response, from a record's stored values.
pub fn to_dto(stored: &std::collections::HashMap<String, String>) -> Checksum {
    let get = |alg: &str| stored.get(alg).cloned();
    Checksum {
        checksum_crc32: get("CRC32"),
        checksum_crc32c: get("CRC32C"),
        checksum_crc64nvme: get("CRC64NVME"),
        checksum_sha1: get("SHA1"),
        checksum_sha256: get("SHA256"),
        checksum_type: None,
    }
}

/// An object's stored checksums with their type: a multipart object's as
/// completion made it (COMPOSITE or FULL_OBJECT), a single PUT's of the
/// whole content (FULL_OBJECT); no type when there is no checksum.
pub fn of_record(record: &meridian_core::records::ObjectRecord) -> Checksum {
    let mut sums = to_dto(&record.checksums);
    if !record.checksums.is_empty() {
        let ty = if record.checksum_type.is_empty() {
            ChecksumType::FULL_OBJECT
        } else {
            record.checksum_type.as_str()
        };
        sums.checksum_type = Some(ChecksumType::from(ty.to_string()));
    }
    sums
}

/// Whether a request carries a checksum (a value, or a trailer naming one).
pub fn names_one(sent: &Checksum, headers: &HeaderMap) -> bool {
    ALGORITHMS
        .iter()
        .any(|(alg, _)| value_of(sent, alg).is_some())
        || headers.contains_key("x-amz-trailer")
}

/// What one upload asks to be checked.
pub struct Check {
    alg: &'static str,
    header: &'static str,
    hasher: ChecksumHasher,
    /// The value sent as a header; else it comes as a trailer.
    expected: Option<String>,
    trailers: Option<TrailingHeaders>,
    out: Checksums,
}

impl Check {
    /// The check an upload declares: a checksum header, an algorithm
    /// (`x-amz-sdk-checksum-algorithm`) or a trailer named in
    /// `x-amz-trailer`. At most one algorithm, as S3 allows.
    pub fn declared(
        sent: &Checksum,
        algorithm: Option<&str>,
        headers: &HeaderMap,
        trailers: Option<TrailingHeaders>,
        out: Checksums,
    ) -> Result<Option<Check>, s3s::S3Error> {
        let trailer = headers
            .get("x-amz-trailer")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase());
        let named: Vec<(&'static str, &'static str)> = ALGORITHMS
            .iter()
            .copied()
            .filter(|(alg, header)| {
                value_of(sent, alg).is_some()
                    || algorithm.is_some_and(|a| a.eq_ignore_ascii_case(alg))
                    || trailer.as_deref() == Some(*header)
            })
            .collect();
        if let Some(a) = algorithm {
            if !ALGORITHMS
                .iter()
                .any(|(alg, _)| a.eq_ignore_ascii_case(alg))
            {
                return Err(invalid_argument(format!(
                    "checksum algorithm {a:?}: CRC32, CRC32C, CRC64NVME, SHA1 or SHA256"
                )));
            }
        }
        let (alg, header) = match named.as_slice() {
            [] => return Ok(None),
            [one] => *one,
            _ => {
                return Err(invalid_argument(
                    "more than one checksum algorithm in one request",
                ))
            }
        };
        let mut hasher = ChecksumHasher::default();
        match alg {
            "CRC32" => hasher.crc32 = Some(Crc32::new()),
            "CRC32C" => hasher.crc32c = Some(Crc32c::new()),
            "CRC64NVME" => hasher.crc64nvme = Some(Crc64Nvme::new()),
            "SHA1" => hasher.sha1 = Some(Sha1::new()),
            _ => hasher.sha256 = Some(Sha256::new()),
        }
        Ok(Some(Check {
            alg,
            header,
            hasher,
            expected: value_of(sent, alg).cloned(),
            trailers,
            out,
        }))
    }

    /// Compares at the end of the body; keeps the value if it matches.
    fn finish(self) -> Result<(), &'static str> {
        let computed = self.hasher.finalize();
        let Some(value) = value_of(&computed, self.alg).cloned() else {
            return Err(self.header);
        };
        let expected = self.expected.or_else(|| {
            self.trailers.as_ref().and_then(|t| {
                t.read(|h| {
                    h.get(self.header)
                        .and_then(|v| v.to_str().ok())
                        .map(|v| v.trim().to_string())
                })
                .flatten()
            })
        });
        if expected.as_deref().is_some_and(|e| e != value) {
            return Err(self.header);
        }
        self.out
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self.alg.to_string(), value);
        Ok(())
    }
}

/// Passes `body` through, computing `check`'s checksum (which expects no
/// value: bytes the server reads itself, e.g. a copy's source) and keeping
/// it when the body ends.
pub fn computed<S, E>(body: S, check: Check) -> impl Stream<Item = Result<bytes::Bytes, E>> + Send
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Send,
    E: Send,
{
    let body = Box::pin(body);
    futures::stream::unfold(Some((body, check)), |state| async move {
        let (mut body, mut check) = state?;
        match body.next().await {
            Some(Ok(data)) => {
                check.hasher.update(&data);
                Some((Ok(data), Some((body, check))))
            }
            Some(Err(e)) => Some((Err(e), None)),
            None => {
                // Nothing to compare with: this only keeps the value.
                let _ = check.finish();
                None
            }
        }
    })
}

/// Passes `body` through, hashing it; at its end fails the stream (and
/// records the fault) if the checksum does not match.
/// A body shorter than `expected_len` is not checked: the core reports it
/// as incomplete.
pub fn checked<S>(
    body: S,
    check: Option<Check>,
    expected_len: Option<u64>,
    fault: FaultCell,
) -> impl Stream<Item = Result<bytes::Bytes, BodyError>> + Send + 'static
where
    S: Stream<Item = Result<bytes::Bytes, BodyError>> + Send + 'static,
{
    let body = Box::pin(body);
    futures::stream::unfold(
        (body, check, fault, false, 0u64),
        move |(mut body, mut check, fault, done, seen)| async move {
            if done {
                return None;
            }
            match body.next().await {
                Some(Ok(data)) => {
                    if let Some(c) = check.as_mut() {
                        c.hasher.update(&data);
                    }
                    let seen = seen + data.len() as u64;
                    Some((Ok(data), (body, check, fault, false, seen)))
                }
                Some(Err(e)) => Some((Err(e), (body, None, fault, true, seen))),
                None if expected_len.is_some_and(|n| n != seen) => None,
                None => match check.take().map(Check::finish) {
                    Some(Err(header)) => {
                        fault.set(BodyFault::ChecksumMismatch(header));
                        Some((
                            Err(BodyError::ChecksumMismatch(header)),
                            (body, None, fault, true, seen),
                        ))
                    }
                    _ => None,
                },
            }
        },
    )
}
