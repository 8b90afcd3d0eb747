//! AWS SDK for Rust clients for a site's S3 endpoint, and small helpers
//! around them that the tests share.

use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::EncodingType;
use aws_sdk_s3::Client;
use bytes::Bytes;

use crate::listing::decode_listing_value;

pub const ROOT_ACCESS_KEY: &str = "meridian-dev";
pub const ROOT_SECRET_KEY: &str = "meridian-dev-secret";
pub const REGION: &str = "us-east-1";

#[derive(Clone, Debug)]
pub struct S3Options {
    pub access_key: String,
    pub secret_key: String,
    /// 1 means no retries: a failure is seen as it happened.
    pub max_attempts: u32,
    pub operation_timeout: Duration,
    /// The region requests are signed for.
    pub region: String,
    /// Unsigned requests, as a browser or `curl` sends them.
    pub anonymous: bool,
}

impl Default for S3Options {
    fn default() -> Self {
        Self {
            access_key: ROOT_ACCESS_KEY.to_string(),
            secret_key: ROOT_SECRET_KEY.to_string(),
            max_attempts: 3,
            operation_timeout: Duration::from_secs(300),
            region: REGION.to_string(),
            anonymous: false,
        }
    }
}

impl S3Options {
    pub fn with_keys(mut self, access_key: &str, secret_key: &str) -> Self {
        self.access_key = access_key.to_string();
        self.secret_key = secret_key.to_string();
        self
    }

    pub fn without_retries(mut self) -> Self {
        self.max_attempts = 1;
        self
    }

    pub fn with_region(mut self, region: &str) -> Self {
        self.region = region.to_string();
        self
    }

    pub fn anonymous(mut self) -> Self {
        self.anonymous = true;
        self
    }
}

/// A path-style client over plain HTTP with static credentials.
pub fn client(endpoint: &str, opts: &S3Options) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let creds = Credentials::new(
        &opts.access_key,
        &opts.secret_key,
        None,
        None,
        "meridian-chaos-tests",
    );
    let mut config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(opts.region.clone()))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .http_client(http)
        .retry_config(RetryConfig::standard().with_max_attempts(opts.max_attempts))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_timeout(opts.operation_timeout)
                .build(),
        );
    config = if opts.anonymous {
        config.allow_no_auth()
    } else {
        config.credentials_provider(creds)
    };
    Client::from_conf(config.build())
}

/// The S3 error code of a service error (`NoSuchKey`, ...), if the server sent one.
pub fn error_code<E: ProvideErrorMetadata>(err: &SdkError<E>) -> Option<String> {
    err.as_service_error()
        .and_then(|e| e.code())
        .map(str::to_string)
}

/// The HTTP status of the response behind an error, if there was a response.
pub fn http_status<E>(err: &SdkError<E>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// "status code" for messages; includes the SDK's own description.
pub fn describe_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E>,
) -> String {
    format!(
        "status {:?}, code {:?}: {}",
        http_status(err),
        error_code(err),
        aws_sdk_s3::error::DisplayErrorContext(err)
    )
}

pub async fn put_bytes(client: &Client, bucket: &str, key: &str, data: Bytes) -> Result<String> {
    let out = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("PUT {bucket}/{key}: {}", describe_error(&e)))?;
    Ok(out
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_string())
}

pub async fn get_bytes(client: &Client, bucket: &str, key: &str) -> Result<Bytes> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GET {bucket}/{key}: {}", describe_error(&e)))?;
    let body = out
        .body
        .collect()
        .await
        .with_context(|| format!("reading the body of {bucket}/{key}"))?;
    Ok(body.into_bytes())
}

pub async fn create_bucket(client: &Client, bucket: &str) -> Result<()> {
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("CreateBucket {bucket}: {}", describe_error(&e)))?;
    Ok(())
}

/// One ListObjectsV2 page, with keys and prefixes decoded.
#[derive(Clone, Debug, Default)]
pub struct ListPage {
    pub keys: Vec<String>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
    pub next_token: Option<String>,
}

/// Asks for `encoding-type=url` (as boto3 always does) so that keys with
/// control characters survive the XML, and decodes what comes back.
pub async fn list_page(
    client: &Client,
    bucket: &str,
    prefix: Option<&str>,
    delimiter: Option<&str>,
    max_keys: Option<i32>,
    token: Option<String>,
) -> Result<ListPage> {
    let out = client
        .list_objects_v2()
        .bucket(bucket)
        .set_prefix(prefix.map(str::to_string))
        .set_delimiter(delimiter.map(str::to_string))
        .set_max_keys(max_keys)
        .set_continuation_token(token)
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "ListObjectsV2 {bucket} prefix {prefix:?}: {}",
                describe_error(&e)
            )
        })?;
    let encoded = out.encoding_type() == Some(&EncodingType::Url);
    let mut page = ListPage {
        truncated: out.is_truncated().unwrap_or(false),
        next_token: out.next_continuation_token().map(str::to_string),
        ..ListPage::default()
    };
    for obj in out.contents() {
        let key = obj.key().context("listed object without a key")?;
        page.keys.push(decode_listing_value(key, encoded)?);
    }
    for cp in out.common_prefixes() {
        let p = cp.prefix().context("common prefix without a prefix")?;
        page.prefixes.push(decode_listing_value(p, encoded)?);
    }
    Ok(page)
}

/// Every key under `prefix`, following continuation tokens (at most `max_pages`).
pub async fn list_all_keys(
    client: &Client,
    bucket: &str,
    prefix: Option<&str>,
) -> Result<Vec<String>> {
    const MAX_PAGES: usize = 10_000;
    let mut keys = Vec::new();
    let mut token = None;
    for _ in 0..MAX_PAGES {
        let page = list_page(client, bucket, prefix, None, None, token).await?;
        keys.extend(page.keys);
        if !page.truncated {
            return Ok(keys);
        }
        token = Some(
            page.next_token
                .context("truncated listing without a continuation token")?,
        );
    }
    anyhow::bail!("listing {bucket} did not end within {MAX_PAGES} pages")
}

/// Checks that `res` failed with `code` (and `status`, if given). A success
/// or another error is reported with `what` and what came back instead.
pub fn expect_error<T, E>(
    res: Result<T, SdkError<E>>,
    status: Option<u16>,
    code: &str,
    what: &str,
) -> Result<()>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match res {
        Ok(_) => anyhow::bail!("{what}: succeeded, expected {code}"),
        Err(e) => {
            let got_code = error_code(&e);
            let got_status = http_status(&e);
            let status_ok = status.is_none() || got_status == status;
            if got_code.as_deref() != Some(code) || !status_ok {
                anyhow::bail!(
                    "{what}: expected {code} ({status:?}), got {}",
                    describe_error(&e)
                );
            }
            Ok(())
        }
    }
}

/// Checks that `res` failed with HTTP `status` whatever the code (HEAD
/// responses carry no body, so no code).
pub fn expect_status<T, E>(res: Result<T, SdkError<E>>, status: u16, what: &str) -> Result<()>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match res {
        Ok(_) => anyhow::bail!("{what}: succeeded, expected HTTP {status}"),
        Err(e) if http_status(&e) == Some(status) => Ok(()),
        Err(e) => anyhow::bail!("{what}: expected HTTP {status}, got {}", describe_error(&e)),
    }
}

/// `.context()` for SDK results that keeps the S3 status and error code in
/// the message (an `SdkError`'s own Display says only "service error").
pub trait SdkResultExt<T> {
    fn sdk_context(self, what: &str) -> Result<T>;
}

impl<T, E> SdkResultExt<T> for Result<T, SdkError<E>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    fn sdk_context(self, what: &str) -> Result<T> {
        self.map_err(|e| anyhow::anyhow!("{what}: {}", describe_error(&e)))
    }
}

/// One entry of ListObjectVersions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    pub key: String,
    pub version_id: String,
    pub delete_marker: bool,
    pub latest: bool,
}

impl std::fmt::Display for VersionEntry {
    /// "key@version[ marker][ latest]"
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}@{}{}{}",
            self.key,
            self.version_id,
            if self.delete_marker { " marker" } else { "" },
            if self.latest { " latest" } else { "" }
        )
    }
}

/// Every version and delete marker under `prefix`, `page` entries per
/// request, in key order and newest first within a key. The XML keeps
/// versions and markers in separate lists; they are merged back by key,
/// then latest, then time (ties keep the server's order).
pub async fn list_versions(
    client: &Client,
    bucket: &str,
    prefix: &str,
    page: i32,
) -> Result<Vec<VersionEntry>> {
    const MAX_PAGES: usize = 1000;
    let mut all = Vec::new();
    let (mut km, mut vm): (Option<String>, Option<String>) = (None, None);
    for _ in 0..MAX_PAGES {
        let out = client
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(page)
            .set_key_marker(km.clone())
            .set_version_id_marker(vm.clone())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("ListObjectVersions {bucket}: {}", describe_error(&e)))?;
        let millis = |t: Option<&aws_sdk_s3::primitives::DateTime>| {
            t.map_or(0, |t| t.to_millis().unwrap_or(0))
        };
        let mut entries: Vec<(VersionEntry, i64)> = Vec::new();
        for v in out.versions() {
            entries.push((
                VersionEntry {
                    key: v.key().unwrap_or_default().to_string(),
                    version_id: v.version_id().unwrap_or_default().to_string(),
                    delete_marker: false,
                    latest: v.is_latest() == Some(true),
                },
                millis(v.last_modified()),
            ));
        }
        for m in out.delete_markers() {
            entries.push((
                VersionEntry {
                    key: m.key().unwrap_or_default().to_string(),
                    version_id: m.version_id().unwrap_or_default().to_string(),
                    delete_marker: true,
                    latest: m.is_latest() == Some(true),
                },
                millis(m.last_modified()),
            ));
        }
        entries.sort_by(|(a, at), (b, bt)| {
            a.key
                .cmp(&b.key)
                .then(b.latest.cmp(&a.latest))
                .then(bt.cmp(at))
        });
        all.extend(entries.into_iter().map(|(e, _)| e));
        if out.is_truncated() != Some(true) {
            return Ok(all);
        }
        km = out.next_key_marker().map(str::to_string);
        vm = out.next_version_id_marker().map(str::to_string);
    }
    anyhow::bail!("ListObjectVersions of {bucket} did not end within {MAX_PAGES} pages")
}
