//! Running `meridianctl --json` and reading what it prints.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use tokio::process::Command;

use crate::process;
use crate::sites::Site;
use crate::wait::{poll_until, Check};

const CTL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct Ctl {
    bin: PathBuf,
    endpoint: String,
    /// The CA of an https endpoint's certificate.
    ca: Option<PathBuf>,
}

/// `meridianctl` acting as a user on the client API (datasets): its key
/// signs, as in that user's shell.
#[derive(Clone, Debug)]
pub struct UserCtl {
    pub bin: PathBuf,
    pub client_endpoint: String,
    pub access_key: String,
    pub secret: String,
}

impl UserCtl {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--client-endpoint")
            .arg(&self.client_endpoint)
            .arg("--json")
            .env("MERIDIAN_ACCESS_KEY", &self.access_key)
            .env("MERIDIAN_SECRET_KEY", &self.secret)
            .env_remove("MERIDIAN_CREDENTIALS")
            .args(args);
        cmd
    }

    /// Runs `meridianctl --json ARGS...` and parses the one JSON value it prints.
    pub async fn json(&self, args: &[&str]) -> Result<Value> {
        let out = process::run_ok(&mut self.command(args), CTL_TIMEOUT).await?;
        let text = String::from_utf8(out.stdout).context("meridianctl printed non-UTF-8")?;
        serde_json::from_str(text.trim())
            .with_context(|| format!("meridianctl {args:?} printed no single JSON value:\n{text}"))
    }

    /// Runs `meridianctl ARGS...` expecting it to fail; what it said on stderr.
    pub async fn refused(&self, args: &[&str]) -> Result<String> {
        refused(self.command(args), args).await
    }
}

/// Runs `cmd` expecting it to fail; what it said on stderr.
async fn refused(mut cmd: Command, args: &[&str]) -> Result<String> {
    let out = process::run_bounded(&mut cmd, CTL_TIMEOUT).await?;
    anyhow::ensure!(
        !out.status.success(),
        "meridianctl {args:?} succeeded: {}",
        process::describe(&out)
    );
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicaState {
    Pending,
    Copying,
    Complete,
    Suspect,
    Lost,
    Other(String),
}

impl ReplicaState {
    fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "pending" => Self::Pending,
            "copying" => Self::Copying,
            "complete" => Self::Complete,
            "suspect" => Self::Suspect,
            "lost" => Self::Lost,
            _ => Self::Other(s.to_string()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Replica {
    pub site: String,
    pub state: ReplicaState,
}

/// `meridianctl object stat --json`, the fields the tests rely on plus the raw JSON.
#[derive(Clone, Debug)]
pub struct ObjectStat {
    pub size: u64,
    pub blake3: String,
    pub etag: String,
    pub replicas: Vec<Replica>,
    pub raw: Value,
}

impl ObjectStat {
    pub fn from_json(raw: Value) -> Result<Self> {
        let size = raw
            .get("size")
            .and_then(Value::as_u64)
            .with_context(|| format!("object stat has no numeric \"size\": {raw}"))?;
        let blake3 = raw
            .get("blake3")
            .and_then(Value::as_str)
            .with_context(|| format!("object stat has no string \"blake3\": {raw}"))?
            .to_ascii_lowercase();
        let etag = raw
            .get("etag")
            .and_then(Value::as_str)
            .with_context(|| format!("object stat has no string \"etag\": {raw}"))?
            .trim_matches('"')
            .to_string();
        let list = raw
            .get("replicas")
            .and_then(Value::as_array)
            .with_context(|| format!("object stat has no array \"replicas\": {raw}"))?;
        let mut replicas = Vec::with_capacity(list.len());
        for r in list {
            let site = r
                .get("site")
                .and_then(Value::as_str)
                .with_context(|| format!("replica without \"site\": {r}"))?;
            let state = r
                .get("state")
                .and_then(Value::as_str)
                .with_context(|| format!("replica without \"state\": {r}"))?;
            replicas.push(Replica {
                site: site.to_string(),
                state: ReplicaState::parse(state),
            });
        }
        Ok(Self {
            size,
            blake3,
            etag,
            replicas,
            raw,
        })
    }

    pub fn state_at(&self, site: Site) -> Option<&ReplicaState> {
        self.replicas
            .iter()
            .find(|r| Site::from_name(&r.site) == Some(site))
            .map(|r| &r.state)
    }

    /// Sites whose replica is complete.
    pub fn complete_sites(&self) -> Vec<Site> {
        self.replicas
            .iter()
            .filter(|r| r.state == ReplicaState::Complete)
            .filter_map(|r| Site::from_name(&r.site))
            .collect()
    }

    /// Every listed replica is complete and there are at least `copies` of them.
    pub fn fully_replicated(&self, copies: usize) -> bool {
        self.replicas.len() >= copies
            && self
                .replicas
                .iter()
                .all(|r| r.state == ReplicaState::Complete)
    }

    pub fn replica_summary(&self) -> String {
        let parts: Vec<String> = self
            .replicas
            .iter()
            .map(|r| format!("{}={:?}", r.site, r.state))
            .collect();
        format!("[{}]", parts.join(", "))
    }
}

/// Bytes a link carried, from `meridianctl status --json` (0 if unlisted).
/// Each process counts the links it pulls over.
pub fn link_bytes(status: &Value, from: &str, to: &str) -> u64 {
    status["links"]
        .as_array()
        .and_then(|ls| {
            ls.iter()
                .find(|l| l["from"] == from && l["to"] == to)
                .and_then(|l| l["transferred_bytes"].as_u64())
        })
        .unwrap_or(0)
}

impl Ctl {
    pub fn new(bin: PathBuf, endpoint: String) -> Self {
        Self {
            bin,
            endpoint,
            ca: None,
        }
    }

    /// Trusting `ca` for an https endpoint (`--ca-cert`).
    pub fn with_ca(mut self, ca: PathBuf) -> Self {
        self.ca = Some(ca);
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--endpoint").arg(&self.endpoint).arg("--json");
        // The administrator's credential, as an operator's shell has it.
        cmd.env("MERIDIAN_ACCESS_KEY", crate::s3::ROOT_ACCESS_KEY)
            .env("MERIDIAN_SECRET_KEY", crate::s3::ROOT_SECRET_KEY)
            .env_remove("MERIDIAN_CREDENTIALS");
        if let Some(ca) = &self.ca {
            cmd.arg("--ca-cert").arg(ca);
        }
        cmd.args(args);
        cmd
    }

    /// Runs `meridianctl --endpoint E --json ARGS...` and parses its stdout as one JSON value.
    pub async fn json(&self, args: &[&str]) -> Result<Value> {
        let out = process::run_ok(&mut self.command(args), CTL_TIMEOUT).await?;
        let text = String::from_utf8(out.stdout).context("meridianctl printed non-UTF-8")?;
        serde_json::from_str(text.trim())
            .with_context(|| format!("meridianctl {args:?} printed no single JSON value:\n{text}"))
    }

    /// Runs `meridianctl ARGS...` expecting it to fail; what it said on stderr.
    pub async fn refused(&self, args: &[&str]) -> Result<String> {
        refused(self.command(args), args).await
    }

    /// `meridianctl` as user `access_key` against the client API at `client_endpoint`.
    pub fn as_user(&self, client_endpoint: &str, (access_key, secret): (&str, &str)) -> UserCtl {
        UserCtl {
            bin: self.bin.clone(),
            client_endpoint: client_endpoint.to_string(),
            access_key: access_key.to_string(),
            secret: secret.to_string(),
        }
    }

    /// A new user with one access key: (access key, secret).
    pub async fn new_user(&self, name: &str) -> Result<(String, String)> {
        self.json(&["user", "create", name]).await?;
        let k = self.json(&["key", "create", name]).await?;
        Ok((
            k["access_key"].as_str().context("access key")?.to_string(),
            k["secret"].as_str().context("secret")?.to_string(),
        ))
    }

    /// Moves the process's clock forward (it runs with `--test-clock`);
    /// what it reads afterwards, in ms since the Unix epoch.
    pub async fn advance_clock(&self, by: Duration) -> Result<i64> {
        use meridian_proto::v1::admin_service_client::AdminServiceClient;
        let channel = tonic::transport::Endpoint::from_shared(self.endpoint.clone())?
            .connect()
            .await
            .with_context(|| format!("connecting to {}", self.endpoint))?;
        let mut admin = AdminServiceClient::new(meridian_api::auth::client::SigningChannel::new(
            channel,
            crate::s3::ROOT_ACCESS_KEY,
            crate::s3::ROOT_SECRET_KEY,
            meridian_core::clock::system(),
        ));
        let millis = u64::try_from(by.as_millis()).context("a clock step that large")?;
        let reading = admin
            .advance_clock(meridian_proto::v1::AdvanceClockRequest { millis })
            .await
            .with_context(|| format!("advancing the clock of {}", self.endpoint))?
            .into_inner();
        Ok(reading.now_ms)
    }

    /// Passes the answering process's chunk collector has made over
    /// `site`'s queue.
    pub async fn gc_passes(&self, site: Site) -> Result<u64> {
        let status = self.json(&["status"]).await?;
        status["sites"]
            .as_array()
            .and_then(|sites| sites.iter().find(|s| s["name"] == site.name()))
            .and_then(|s| s["gc_passes"].as_u64())
            .with_context(|| format!("no gc_passes for {} in {status}", site.name()))
    }

    /// Waits until the collector has made `more` passes over `site`'s
    /// queue from now: whatever was collectable when this was called has
    /// been looked at by at least one whole pass.
    pub async fn wait_gc_passes(&self, site: Site, more: u64, timeout: Duration) -> Result<()> {
        let from = self.gc_passes(site).await?;
        let what = format!("{more} passes of the collector over {}", site.name());
        poll_until(&what, timeout, Duration::from_millis(100), || async {
            let now = self.gc_passes(site).await?;
            Ok(if now >= from + more {
                Check::Done(())
            } else {
                Check::NotYet(format!("{} of {more}", now - from))
            })
        })
        .await
    }

    /// Waits until the lifecycle job (on the answering process, which
    /// must lead the metadata group) has made `more` passes from now.
    pub async fn wait_lifecycle_passes(&self, more: u64, timeout: Duration) -> Result<()> {
        let passes = || async {
            let status = self.json(&["status"]).await?;
            status["lifecycle"]["passes"]
                .as_u64()
                .with_context(|| format!("no lifecycle passes in {status}"))
        };
        let from = passes().await?;
        poll_until(
            "lifecycle passes",
            timeout,
            Duration::from_millis(100),
            || async {
                let now = passes().await?;
                Ok(if now >= from + more {
                    Check::Done(())
                } else {
                    Check::NotYet(format!("{} of {more}", now - from))
                })
            },
        )
        .await
    }

    /// Waits until the link `from -> to` has carried at least `bytes`, as
    /// the answering process counts it (the puller's); returns the count.
    pub async fn wait_link_bytes(
        &self,
        (from, to): (&str, &str),
        bytes: u64,
        timeout: Duration,
    ) -> Result<u64> {
        let what = format!("{bytes} bytes over the {from} -> {to} link");
        poll_until(&what, timeout, Duration::from_millis(50), || async {
            let n = link_bytes(&self.json(&["status"]).await?, from, to);
            Ok(if n >= bytes {
                Check::Done(n)
            } else {
                Check::NotYet(format!("{n} bytes"))
            })
        })
        .await
    }

    pub async fn object_stat(&self, bucket: &str, key: &str) -> Result<ObjectStat> {
        ObjectStat::from_json(self.json(&["object", "stat", bucket, key]).await?)
    }

    /// Polls `object stat` until at least `copies` replicas exist and all are complete.
    pub async fn wait_replicated(
        &self,
        bucket: &str,
        key: &str,
        copies: usize,
        timeout: Duration,
    ) -> Result<ObjectStat> {
        let what = format!("{copies} complete replicas of {bucket}/{key}");
        poll_until(&what, timeout, Duration::from_millis(250), || async {
            let stat = self.object_stat(bucket, key).await?;
            if stat.fully_replicated(copies) {
                return Ok(Check::Done(stat));
            }
            Ok(Check::NotYet(stat.replica_summary()))
        })
        .await
    }
}
