//! Request and response bodies: the bridge between s3s byte streams and the
//! streams [`Objects`](meridian_objects::Objects) reads and writes.
//!
//! Uploads: the client's body is passed through as it arrives, with a bound on
//! how long the client may stall and, when the client sent `Content-MD5`, a
//! check of the whole body before its end is reported. Any failure surfaces as
//! a stream error, which the core turns into `IncompleteBody` before anything
//! is committed; [`BodyFault`] remembers which failure it was so the front end
//! can answer with the precise S3 code.
//!
//! Downloads: s3s wants a `Sync` stream of known length; the core's stream is
//! only `Send`. [`DownloadBody`] supplies both.

use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use md5::{Digest, Md5};
use s3s::dto::StreamingBlob;
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{S3Error, S3ErrorCode, StdError};

use meridian_core::CoreError;

/// The longest a client may leave an upload body without sending a byte.
/// Without a bound a stalled client would hold a connection slot forever.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why an upload body stream failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("reading the request body: {0}")]
    Read(String),
    #[error("no body bytes for {0:?}")]
    Idle(Duration),
    #[error("the body does not match its Content-MD5")]
    Md5Mismatch,
    #[error("the body does not match its {0}")]
    ChecksumMismatch(&'static str),
}

/// The kind of upload failure that the core cannot tell apart from a broken
/// connection, recorded by the body stream for the front end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFault {
    Md5Mismatch,
    Idle,
    /// The header (algorithm) whose checksum did not match.
    ChecksumMismatch(&'static str),
}

/// Shared between an upload stream and the request that owns it.
#[derive(Debug, Clone, Default)]
pub struct FaultCell(Arc<OnceLock<BodyFault>>);

impl FaultCell {
    pub(super) fn set(&self, fault: BodyFault) {
        // The first fault ends the stream; there is never a second one.
        let _ = self.0.set(fault);
    }

    pub fn get(&self) -> Option<BodyFault> {
        self.0.get().copied()
    }

    /// Refines the core's error with what the body stream saw: a digest
    /// mismatch is `BadDigest`, a stalled client `RequestTimeout`.
    pub fn refine(&self, e: CoreError) -> S3Error {
        match (&e, self.get()) {
            (CoreError::IncompleteBody(_), Some(BodyFault::Md5Mismatch)) => S3Error::with_message(
                S3ErrorCode::BadDigest,
                "The Content-MD5 you specified did not match what we received.",
            ),
            (CoreError::IncompleteBody(_), Some(BodyFault::ChecksumMismatch(h))) => {
                S3Error::with_message(
                    S3ErrorCode::BadDigest,
                    format!("The {h} you specified did not match the calculated checksum."),
                )
            }
            (CoreError::IncompleteBody(_), Some(BodyFault::Idle)) => S3Error::with_message(
                S3ErrorCode::RequestTimeout,
                format!("no body bytes received for {BODY_IDLE_TIMEOUT:?}"),
            ),
            _ => super::errors::s3_error(e),
        }
    }
}

/// Decodes a `Content-MD5` header (base64 of 16 bytes).
/// The Content-MD5 an upload declares. A header sent empty is refused like
/// a malformed one (s3s passes it on as absent).
pub fn content_md5(
    parsed: Option<&str>,
    headers: &http::HeaderMap,
) -> Result<Option<[u8; 16]>, S3Error> {
    match (parsed, headers.get("content-md5")) {
        (Some(v), _) => parse_content_md5(v).map(Some),
        (None, Some(raw)) => parse_content_md5(raw.to_str().unwrap_or("")).map(Some),
        (None, None) => Ok(None),
    }
}

pub fn parse_content_md5(value: &str) -> Result<[u8; 16], S3Error> {
    let bad = || {
        S3Error::with_message(
            S3ErrorCode::InvalidDigest,
            "The Content-MD5 you specified is not valid.",
        )
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| bad())?;
    raw.as_slice().try_into().map_err(|_| bad())
}

struct UploadState {
    blob: Option<StreamingBlob>,
    md5: Option<(Md5, [u8; 16])>,
    seen: u64,
    expected_len: Option<u64>,
    fault: FaultCell,
    idle: Duration,
    done: bool,
}

/// Wraps an upload body for [`Objects::put_object`](meridian_objects::Objects::put_object)
/// and [`Objects::upload_part`](meridian_objects::Objects::upload_part).
pub fn upload_stream(
    blob: Option<StreamingBlob>,
    expected_len: Option<u64>,
    content_md5: Option<[u8; 16]>,
    idle: Duration,
) -> (
    impl Stream<Item = Result<Bytes, BodyError>> + Send + 'static,
    FaultCell,
) {
    let fault = FaultCell::default();
    let state = UploadState {
        blob,
        md5: content_md5.map(|want| (Md5::new(), want)),
        seen: 0,
        expected_len,
        fault: fault.clone(),
        idle,
        done: false,
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let blob = st.blob.as_mut()?;
        let next = match tokio::time::timeout(st.idle, blob.next()).await {
            Ok(next) => next,
            Err(_) => {
                st.done = true;
                st.fault.set(BodyFault::Idle);
                return Some((Err(BodyError::Idle(st.idle)), st));
            }
        };
        match next {
            Some(Ok(data)) => {
                st.seen += data.len() as u64;
                if let Some((h, _)) = st.md5.as_mut() {
                    h.update(&data);
                }
                Some((Ok(data), st))
            }
            Some(Err(e)) => {
                st.done = true;
                Some((Err(BodyError::Read(e.to_string())), st))
            }
            None => {
                st.done = true;
                // A short body is the core's to report (IncompleteBody); the
                // digest only speaks for a body of the declared length.
                let complete = st.expected_len.is_none_or(|n| n == st.seen);
                if let Some((h, want)) = st.md5.take() {
                    if complete && h.finalize().as_slice() != want.as_slice() {
                        st.fault.set(BodyFault::Md5Mismatch);
                        return Some((Err(BodyError::Md5Mismatch), st));
                    }
                }
                None
            }
        }
    });
    (stream, fault)
}

/// An object's verified bytes as a response body of exactly `len` bytes.
pub struct DownloadBody {
    // A Mutex only to make the stream `Sync`: it is reached through `&mut`
    // (`Mutex::get_mut`), so it is never locked and never contended.
    inner: Mutex<BoxStream<'static, Result<Bytes, CoreError>>>,
    remaining: u64,
    failed: bool,
}

impl DownloadBody {
    pub fn new(inner: BoxStream<'static, Result<Bytes, CoreError>>, len: u64) -> Self {
        DownloadBody {
            inner: Mutex::new(inner),
            remaining: len,
            failed: false,
        }
    }

    pub fn into_blob(self) -> StreamingBlob {
        StreamingBlob::new(self)
    }
}

/// A download stream that ended before its declared length.
#[derive(Debug, thiserror::Error)]
#[error("object stream ended {0} bytes early")]
struct EndedEarly(u64);

/// A download stream that produced more than its declared length.
#[derive(Debug, thiserror::Error)]
#[error("object stream produced more than its declared length")]
struct Overrun;

impl Stream for DownloadBody {
    type Item = Result<Bytes, StdError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        let inner = this.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        match inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(data))) => {
                let n = data.len() as u64;
                if n > this.remaining {
                    this.failed = true;
                    return Poll::Ready(Some(Err(Box::new(Overrun))));
                }
                this.remaining -= n;
                Poll::Ready(Some(Ok(data)))
            }
            Poll::Ready(Some(Err(e))) => {
                // The response headers are gone already: all that is left is
                // to cut the body short, so that the client sees a failure
                // rather than a short object.
                tracing::error!(error = %e, "object stream failed mid-response");
                this.failed = true;
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(None) if this.remaining > 0 => {
                this.failed = true;
                Poll::Ready(Some(Err(Box::new(EndedEarly(this.remaining)))))
            }
            Poll::Ready(None) => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, None)
    }
}

impl ByteStream for DownloadBody {
    fn remaining_length(&self) -> RemainingLength {
        match usize::try_from(self.remaining) {
            Ok(n) if !self.failed => RemainingLength::new_exact(n),
            _ => RemainingLength::unknown(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    fn blob(parts: &[&'static [u8]]) -> StreamingBlob {
        let items: Vec<Result<Bytes, std::io::Error>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        StreamingBlob::wrap(futures::stream::iter(items))
    }

    fn md5_of(data: &[u8]) -> [u8; 16] {
        Md5::digest(data).into()
    }

    #[tokio::test]
    async fn upload_passes_bytes_through() {
        let (s, fault) = upload_stream(
            Some(blob(&[b"ab", b"cd"])),
            Some(4),
            Some(md5_of(b"abcd")),
            BODY_IDLE_TIMEOUT,
        );
        let got: Vec<Bytes> = s.try_collect().await.expect("body is good");
        assert_eq!(got.concat(), b"abcd");
        assert_eq!(fault.get(), None);
    }

    #[tokio::test]
    async fn upload_md5_mismatch_is_an_error_at_the_end() {
        let (s, fault) = upload_stream(
            Some(blob(&[b"ab", b"cd"])),
            Some(4),
            Some(md5_of(b"abce")),
            BODY_IDLE_TIMEOUT,
        );
        let r: Result<Vec<Bytes>, _> = s.try_collect().await;
        assert!(matches!(r, Err(BodyError::Md5Mismatch)));
        assert_eq!(fault.get(), Some(BodyFault::Md5Mismatch));
        let e = fault.refine(CoreError::IncompleteBody("x".into()));
        assert_eq!(e.code(), &S3ErrorCode::BadDigest);
    }

    #[tokio::test]
    async fn short_body_is_left_to_the_core() {
        // Declared 5, got 4: not a digest problem but an incomplete body.
        let (s, fault) = upload_stream(
            Some(blob(&[b"abcd"])),
            Some(5),
            Some(md5_of(b"abcde")),
            BODY_IDLE_TIMEOUT,
        );
        let got: Vec<Bytes> = s.try_collect().await.expect("stream itself ends cleanly");
        assert_eq!(got.concat(), b"abcd");
        assert_eq!(fault.get(), None);
        let e = fault.refine(CoreError::IncompleteBody("x".into()));
        assert_eq!(e.code(), &S3ErrorCode::IncompleteBody);
    }

    #[tokio::test]
    async fn stalled_upload_times_out() {
        let stalled = futures::stream::pending::<Result<Bytes, std::io::Error>>();
        let (s, fault) = upload_stream(
            Some(StreamingBlob::wrap(stalled)),
            Some(1),
            None,
            Duration::from_millis(20),
        );
        let r: Result<Vec<Bytes>, _> = s.try_collect().await;
        assert!(matches!(r, Err(BodyError::Idle(_))));
        assert_eq!(fault.get(), Some(BodyFault::Idle));
        let e = fault.refine(CoreError::IncompleteBody("x".into()));
        assert_eq!(e.code(), &S3ErrorCode::RequestTimeout);
    }

    #[tokio::test]
    async fn missing_body_is_empty() {
        let (s, _) = upload_stream(None, Some(0), None, BODY_IDLE_TIMEOUT);
        let got: Vec<Bytes> = s.try_collect().await.expect("empty");
        assert!(got.is_empty());
    }

    #[test]
    fn content_md5_parsing() {
        let good = base64::engine::general_purpose::STANDARD.encode(md5_of(b"x"));
        assert_eq!(parse_content_md5(&good).ok(), Some(md5_of(b"x")));
        assert!(parse_content_md5("not base64!").is_err());
        assert!(parse_content_md5("AAAA").is_err());
    }

    #[tokio::test]
    async fn download_reports_exact_length_and_short_streams() {
        let items = vec![
            Ok(Bytes::from_static(b"abc")),
            Ok(Bytes::from_static(b"de")),
        ];
        let body = DownloadBody::new(futures::stream::iter(items).boxed(), 5);
        assert_eq!(body.remaining_length().exact(), Some(5));
        let got: Vec<Bytes> = body.try_collect().await.expect("whole");
        assert_eq!(got.concat(), b"abcde");

        let items = vec![Ok(Bytes::from_static(b"abc"))];
        let body = DownloadBody::new(futures::stream::iter(items).boxed(), 5);
        let r: Result<Vec<Bytes>, _> = body.try_collect().await;
        assert!(r.is_err(), "a stream short of its length must fail");

        let items = vec![
            Ok(Bytes::from_static(b"abc")),
            Err(CoreError::Corrupt("c".into())),
        ];
        let body = DownloadBody::new(futures::stream::iter(items).boxed(), 5);
        let r: Result<Vec<Bytes>, _> = body.try_collect().await;
        assert!(r.is_err());
    }

    #[test]
    fn download_body_is_sync() {
        fn sync<T: Sync + Send>() {}
        sync::<DownloadBody>();
    }
}
