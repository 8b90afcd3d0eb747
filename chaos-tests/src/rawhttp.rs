//! Hand-made S3 requests over a raw TCP connection, for what no SDK will do
//! on purpose: promise a body and then hang up part-way.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use aws_sdk_s3::config::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::s3::REGION;

/// How long to wait for the server's answer after hanging up.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_RESPONSE: usize = 64 * 1024;

/// Sends a SigV4-signed (UNSIGNED-PAYLOAD) `PUT /bucket/key` declaring
/// `Content-Length: declared`, writes only `body`, then closes the sending
/// side. Returns whatever the server answered before closing (possibly empty).
pub async fn truncated_put(
    port: u16,
    bucket: &str,
    key: &str,
    access_key: &str,
    secret_key: &str,
    declared: u64,
    body: &[u8],
) -> Result<String> {
    let host = format!("127.0.0.1:{port}");
    let path = format!("/{}/{}", uri_encode(bucket), uri_encode(key));
    let uri = format!("http://{host}{path}");
    let length = declared.to_string();
    let signed_input = [("host", host.as_str()), ("content-length", length.as_str())];
    let signing_headers = sign_headers("PUT", &uri, &signed_input, access_key, secret_key)?;

    let mut head = format!("PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {declared}\r\n");
    for (name, value) in &signing_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");

    let mut stream = TcpStream::connect(&host)
        .await
        .with_context(|| format!("connecting to {host}"))?;
    stream
        .write_all(head.as_bytes())
        .await
        .context("sending request head")?;
    stream
        .write_all(body)
        .await
        .context("sending partial body")?;
    stream.flush().await.context("flushing partial body")?;
    stream
        .shutdown()
        .await
        .context("closing the sending side")?;

    // Reading until the server closes tells us it has seen the end of the body.
    let mut answer = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.len() > MAX_RESPONSE {
                        break;
                    }
                }
            }
        }
    };
    // A server that neither answers nor closes is not what this checks; the
    // caller looks at the catalogue either way.
    let _ = tokio::time::timeout(RESPONSE_TIMEOUT, read).await;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// The headers SigV4 adds (authorization, x-amz-date, x-amz-content-sha256)
/// for an S3 request with an unsigned payload.
fn sign_headers(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    access_key: &str,
    secret_key: &str,
) -> Result<Vec<(String, String)>> {
    sign_headers_as(
        method,
        uri,
        headers,
        (access_key, secret_key),
        REGION,
        SystemTime::now(),
    )
}

/// As `sign_headers`, for a region and a signing time of the caller's.
fn sign_headers_as(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    (access_key, secret_key): (&str, &str),
    region: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>> {
    let identity =
        Credentials::new(access_key, secret_key, None, None, "meridian-chaos-tests").into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .context("building SigV4 parameters")?
        .into();
    let request = SignableRequest::new(
        method,
        uri,
        headers.iter().copied(),
        SignableBody::UnsignedPayload,
    )
    .context("building the signable request")?;
    let (instructions, _signature) = sign(request, &params).context("signing")?.into_parts();
    Ok(instructions
        .headers()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect())
}

pub use meridian_core::names::uri_encode;

/// What an unsigned request got back.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The `<Code>` of an S3 error body.
    pub fn code(&self) -> Option<&str> {
        self.element("Code")
    }

    /// The text of the first `<name>` element of the body.
    pub fn element(&self, name: &str) -> Option<&str> {
        let open = format!("<{name}>");
        let start = self.body.find(&open)? + open.len();
        let end = self.body[start..].find(&format!("</{name}>"))? + start;
        Some(&self.body[start..end])
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A request made by hand, sent as written (no header added but `Host`
/// and `Connection: close`).
#[derive(Debug, Clone, Default)]
pub struct Raw {
    pub method: String,
    /// Path and query, already encoded.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn new(method: &str, target: &str) -> Self {
        Raw {
            method: method.to_string(),
            target: target.to_string(),
            ..Default::default()
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    /// Adds SigV4 headers (unsigned payload) over `Host` and the headers
    /// given so far, for `region` at `time`.
    pub fn sign_v4(
        mut self,
        addr: &str,
        keys: (&str, &str),
        region: &str,
        time: SystemTime,
    ) -> Result<Self> {
        let uri = format!("http://{addr}{}", self.target);
        let mut signed: Vec<(&str, &str)> = vec![("host", addr)];
        signed.extend(self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let added = sign_headers_as(&self.method, &uri, &signed, keys, region, time)?;
        self.headers.extend(added);
        Ok(self)
    }

    /// Sends it to `addr` and reads the whole answer.
    pub async fn send(&self, addr: &str) -> Result<Answer> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n",
            self.method, self.target
        );
        for (n, v) in &self.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut s = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        s.write_all(head.as_bytes())
            .await
            .context("sending request head")?;
        s.write_all(&self.body).await.context("sending body")?;
        read_answer(&mut s).await
    }
}

async fn read_answer(s: &mut TcpStream) -> Result<Answer> {
    let mut out = Vec::new();
    tokio::time::timeout(RESPONSE_TIMEOUT, s.read_to_end(&mut out))
        .await
        .context("no answer in time")?
        .context("reading the answer")?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no status line in {text:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Answer {
        status,
        headers,
        body: body.to_string(),
    })
}

/// Sends an unsigned `method path` with `headers` (and no body) to
/// `addr` (`host:port`) and reads the whole answer (the connection closes
/// after it).
pub async fn unsigned(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Answer> {
    let mut s = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n"
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .await
        .context("sending request")?;
    read_answer(&mut s).await
}
