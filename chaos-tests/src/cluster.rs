//! One `meridian dev` federation (five sites in one process) on a temporary
//! data directory, which can be SIGKILLed and restarted on the same data.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tempfile::TempDir;

use crate::binaries;
use crate::ctl::Ctl;
use crate::output::{self, OutputTail};
use crate::ports::{self, PortBlock};
use crate::s3::{self, S3Options};
use crate::sites::Site;
use crate::wait::{poll_until, Check};

pub const READY_LINE: &str = "meridian: ready";
/// Set to keep the data directory after the test (its path is printed).
pub const KEEP_DATA_ENV: &str = "MERIDIAN_KEEP_DATA";
/// A port taken between our check and the server's bind is retried this often.
const BIND_ATTEMPTS: usize = 3;
const SERVING_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a blocking harness step from async code without stalling the other
/// tasks of a multi-threaded runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[derive(Clone, Debug)]
pub struct DevOptions {
    /// Multiplies every emulated link bandwidth; 1.0 replicates in seconds.
    pub link_scale: f64,
    /// `--chunk-size`, e.g. "256KiB"; None keeps the server's default.
    pub chunk_size: Option<String>,
    /// More arguments after the ones the harness sets.
    pub extra_args: Vec<String>,
    /// A placement policy (TOML text) written beside the data directory
    /// and passed with `--policy`.
    pub policy: Option<String>,
    pub ready_timeout: Duration,
    /// `--tls`: S3 and the client and admin APIs over TLS.
    pub tls: bool,
}

impl Default for DevOptions {
    fn default() -> Self {
        Self {
            link_scale: 1.0,
            chunk_size: None,
            extra_args: Vec::new(),
            policy: None,
            ready_timeout: Duration::from_secs(120),
            tls: false,
        }
    }
}

impl DevOptions {
    pub fn with_chunk_size(mut self, size: &str) -> Self {
        self.chunk_size = Some(size.to_string());
        self
    }

    pub fn with_link_scale(mut self, scale: f64) -> Self {
        self.link_scale = scale;
        self
    }

    pub fn with_tls(mut self) -> Self {
        self.tls = true;
        self
    }

    pub fn with_policy(mut self, toml: &str) -> Self {
        self.policy = Some(toml.to_string());
        self
    }
}

pub struct DevCluster {
    meridian: PathBuf,
    meridianctl: PathBuf,
    /// Option so that Drop can keep it on request.
    root: Option<TempDir>,
    data_dir: PathBuf,
    ports: PortBlock,
    opts: DevOptions,
    child: Option<Child>,
    output: OutputTail,
    starts: u32,
}

impl DevCluster {
    /// Starts `meridian dev` and returns once it printed `meridian: ready`.
    pub fn start(opts: DevOptions) -> Result<Self> {
        let meridian = binaries::meridian()?;
        let meridianctl = binaries::meridianctl()?;
        let root = tempfile::Builder::new()
            .prefix("meridian-chaos-")
            .tempdir()
            .context("creating the data directory")?;
        let data_dir = root.path().join("data");
        let mut opts = opts;
        if let Some(text) = opts.policy.take() {
            let file = root.path().join("policy.toml");
            std::fs::write(&file, text).context("writing the policy file")?;
            opts.extra_args
                .extend(["--policy".to_string(), file.display().to_string()]);
        }
        let mut cluster = DevCluster {
            meridian,
            meridianctl,
            root: Some(root),
            data_dir,
            ports: ports::reserve()?,
            opts,
            child: None,
            output: OutputTail::default(),
            starts: 0,
        };
        let mut last_err = None;
        for attempt in 0..BIND_ATTEMPTS {
            if attempt > 0 {
                cluster.ports = ports::reserve()?;
                // A half-initialised federation from the failed start is not
                // what this test asked for.
                if cluster.data_dir.exists() {
                    std::fs::remove_dir_all(&cluster.data_dir)
                        .context("clearing the data directory")?;
                }
            }
            match cluster.spawn_and_wait() {
                Ok(()) => return Ok(cluster),
                Err(e) if cluster.lost_a_port_race() => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("meridian dev did not start")))
    }

    /// Starts the server again on the same data directory and ports (killing
    /// it first if it still runs) and waits for `meridian: ready`.
    pub fn restart(&mut self) -> Result<()> {
        self.kill9()?;
        let mut last_err = None;
        for attempt in 0..BIND_ATTEMPTS {
            if attempt > 0 {
                // The old process's sockets are gone once it is reaped, but a
                // port can be held by a stranger; give it a moment, bounded.
                std::thread::sleep(Duration::from_secs(1));
            }
            match self.spawn_and_wait() {
                Ok(()) => return Ok(()),
                Err(e) if self.lost_a_port_race() => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("meridian dev did not restart")))
    }

    /// [`start`](Self::start), then [`wait_serving`](Self::wait_serving).
    pub async fn start_serving(opts: DevOptions) -> Result<Self> {
        let cluster = blocking(|| Self::start(opts))?;
        cluster.wait_serving().await?;
        Ok(cluster)
    }

    /// [`restart`](Self::restart), then [`wait_serving`](Self::wait_serving).
    pub async fn restart_serving(&mut self) -> Result<()> {
        blocking(|| self.restart())?;
        self.wait_serving().await
    }

    /// Waits until every site answers an authenticated ListBuckets: "ready"
    /// means the listeners are bound, and a catalogue that is still electing
    /// its leader may briefly answer 503.
    pub async fn wait_serving(&self) -> Result<()> {
        if self.opts.tls {
            // The SDK client here speaks plain HTTP only: ask the admin API
            // (over TLS, as meridianctl) instead.
            let ctl = self.ctl();
            return poll_until(
                "the admin API answering status over TLS",
                SERVING_TIMEOUT,
                Duration::from_millis(200),
                || {
                    let ctl = ctl.clone();
                    async move {
                        match ctl.json(&["status"]).await {
                            Ok(_) => Ok(Check::Done(())),
                            Err(e) => Ok(Check::NotYet(format!("{e:#}"))),
                        }
                    }
                },
            )
            .await;
        }
        for site in Site::ALL {
            let client = self.s3(site);
            let what = format!("S3 at {site} answering ListBuckets");
            poll_until(&what, SERVING_TIMEOUT, Duration::from_millis(200), || {
                let client = client.clone();
                async move {
                    match client.list_buckets().send().await {
                        Ok(_) => Ok(Check::Done(())),
                        Err(e) => Ok(Check::NotYet(s3::describe_error(&e))),
                    }
                }
            })
            .await
            .with_context(|| self.failure_context())?;
        }
        Ok(())
    }

    /// SIGKILL (no chance to flush or clean up), then reap. A no-op if the
    /// server is not running.
    pub fn kill9(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            match child.kill() {
                Ok(()) => {}
                // Already exited: reaping below still applies.
                Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {}
                Err(e) => return Err(e).context("sending SIGKILL to meridian"),
            }
            child.wait().context("reaping meridian after SIGKILL")?;
        }
        Ok(())
    }

    /// Whether the server process is alive (it may have crashed on its own).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where a site's chunk files live: `<data-dir>/sites/<Site>/chunks`.
    pub fn chunk_dir(&self, site: Site) -> PathBuf {
        self.data_dir.join("sites").join(site.name()).join("chunks")
    }

    pub fn ports(&self) -> PortBlock {
        self.ports
    }

    fn scheme(&self) -> &'static str {
        if self.opts.tls {
            "https"
        } else {
            "http"
        }
    }

    pub fn s3_endpoint(&self, site: Site) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.ports.s3(site))
    }

    /// The client gRPC API.
    pub fn grpc_endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.ports.grpc)
    }

    pub fn admin_endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme(), self.ports.admin)
    }

    /// With `--tls`: the CA that signed the endpoints' certificate.
    pub fn endpoint_ca(&self) -> PathBuf {
        self.data_dir.join("tls").join("endpoints").join("ca.pem")
    }

    /// The cluster port (mutual TLS): host:port.
    pub fn cluster_addr(&self) -> String {
        format!("127.0.0.1:{}", self.ports.cluster)
    }

    /// Where `meridian dev` keeps its cluster CA (ca.pem, ca.key) and its
    /// own certificate.
    pub fn cluster_tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }

    /// An S3 client for `site` with the root credentials and default retries.
    pub fn s3(&self, site: Site) -> aws_sdk_s3::Client {
        s3::client(&self.s3_endpoint(site), &S3Options::default())
    }

    pub fn s3_with(&self, site: Site, opts: &S3Options) -> aws_sdk_s3::Client {
        s3::client(&self.s3_endpoint(site), opts)
    }

    pub fn ctl(&self) -> Ctl {
        let ctl = Ctl::new(self.meridianctl.clone(), self.admin_endpoint());
        if self.opts.tls {
            ctl.with_ca(self.endpoint_ca())
        } else {
            ctl
        }
    }

    /// The last lines the server printed, across restarts.
    pub fn logs(&self) -> String {
        self.output.text()
    }

    fn spawn_and_wait(&mut self) -> Result<()> {
        self.starts += 1;
        let start = self.starts;
        let mut cmd = Command::new(&self.meridian);
        cmd.arg("dev")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--s3-addr")
            .arg(format!("127.0.0.1:{}", self.ports.s3_base))
            .arg("--grpc-addr")
            .arg(format!("127.0.0.1:{}", self.ports.grpc))
            .arg("--admin-addr")
            .arg(format!("127.0.0.1:{}", self.ports.admin))
            .arg("--cluster-addr")
            .arg(format!("127.0.0.1:{}", self.ports.cluster))
            .arg("--link-scale")
            .arg(self.opts.link_scale.to_string())
            // Tests move time forward instead of waiting for it.
            .arg("--test-clock");
        if let Some(size) = &self.opts.chunk_size {
            cmd.arg("--chunk-size").arg(size);
        }
        if self.opts.tls {
            cmd.arg("--tls");
        }
        cmd.args(&self.opts.extra_args)
            // Pinned so that ambient settings cannot change what the tests sign with.
            .env("MERIDIAN_ROOT_ACCESS_KEY", s3::ROOT_ACCESS_KEY)
            .env("MERIDIAN_ROOT_SECRET_KEY", s3::ROOT_SECRET_KEY)
            .current_dir(self.root_path()?)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", self.meridian.display()))?;
        self.output.push(format!("--- start #{start}: {cmd:?}"));

        let (ready_tx, ready_rx) = mpsc::channel();
        let stdout = child.stdout.take().context("child stdout was not piped")?;
        let stderr = child.stderr.take().context("child stderr was not piped")?;
        let readers = [
            output::drain(
                stdout,
                format!("[{start} out]"),
                self.output.clone(),
                Some((READY_LINE, ready_tx)),
            )
            .context("spawning the stdout reader")?,
            output::drain(stderr, format!("[{start} err]"), self.output.clone(), None)
                .context("spawning the stderr reader")?,
        ];
        self.child = Some(child);

        let deadline = Instant::now() + self.opts.ready_timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let tick = left.min(Duration::from_millis(200));
            match ready_rx.recv_timeout(tick) {
                Ok(()) => return Ok(()),
                Err(RecvTimeoutError::Timeout) => {}
                // Stdout closed without the line: wait for the exit status
                // below without spinning.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(tick),
            }
            if let Some(status) = self.exit_status()? {
                self.child = None;
                // The last lines (the reason it died) may still be in the pipes.
                let drained = Instant::now() + Duration::from_secs(5);
                while !readers.iter().all(|r| r.is_finished()) && Instant::now() < drained {
                    std::thread::sleep(Duration::from_millis(20));
                }
                bail!(
                    "meridian dev (start #{start}) exited with {status} before printing {READY_LINE:?}\n{}",
                    self.failure_context()
                );
            }
            if left.is_zero() {
                self.kill9()?;
                bail!(
                    "meridian dev (start #{start}) did not print {READY_LINE:?} within {:?}\n{}",
                    self.opts.ready_timeout,
                    self.failure_context()
                );
            }
        }
    }

    fn exit_status(&mut self) -> Result<Option<std::process::ExitStatus>> {
        match self.child.as_mut() {
            Some(child) => child.try_wait().context("polling meridian"),
            None => Ok(None),
        }
    }

    fn lost_a_port_race(&self) -> bool {
        self.child.is_none()
            && (self.output.contains("address already in use")
                || self.output.contains("os error 98"))
    }

    fn root_path(&self) -> Result<&Path> {
        self.root
            .as_ref()
            .map(TempDir::path)
            .context("data directory already released")
    }

    /// What to print when a check fails: where the data is and what the server said.
    pub fn failure_context(&self) -> String {
        format!(
            "data dir: {}\n--- last lines of meridian output ---\n{}",
            self.data_dir.display(),
            self.output.text()
        )
    }
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        if let Err(e) = self.kill9() {
            eprintln!("meridian-chaos-tests: could not stop meridian: {e:#}");
        }
        // Always printed: the test harness shows captured output only for
        // failing tests, and a test that returns Err does not panic.
        eprintln!("{}", self.failure_context());
        if std::env::var_os(KEEP_DATA_ENV).is_some() {
            if let Some(root) = self.root.take() {
                let path = root.keep();
                eprintln!("meridian-chaos-tests: kept {}", path.display());
            }
        }
    }
}
