//! A multi-process cluster: one `meridian node --config FILE` process per
//! site, voters at Beijing, Huairou and Dongguan (node ids 1-3) and learners
//! at Daocheng and Jiangmen (4, 5), each killable with SIGKILL and
//! restartable on its own data.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

use crate::binaries;
use crate::cluster::{KEEP_DATA_ENV, READY_LINE};
use crate::ctl::Ctl;
use crate::netns::Fabric;
use crate::output::{self, OutputTail};
use crate::ports::{self, PortBlock};
use crate::s3::{self, S3Options};
use crate::sites::Site;

const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Whole-cluster starts retried when a port was taken under us.
const START_ATTEMPTS: usize = 3;

struct Node {
    site: Site,
    config: PathBuf,
    /// Behind a lock so that a node can be killed while the cluster is
    /// shared with writer tasks.
    child: Mutex<Option<Child>>,
    output: OutputTail,
    starts: u32,
}

/// How the five nodes are configured.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    pub chunk_size: String,
    /// Multiplies every emulated link's bandwidth.
    pub link_scale: f64,
    /// A placement policy (TOML) every node starts with.
    pub policy: Option<String>,
    /// Each node in a network namespace of its own, over shaped links
    /// (`crate::netns`), instead of all on loopback.
    pub namespaces: bool,
    /// A site whose chunks live on a file system of this many bytes (a
    /// tmpfs mounted by the test, root only), to be filled.
    pub small_disk: Option<(Site, u64)>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            chunk_size: "256KiB".to_string(),
            link_scale: 1.0,
            policy: None,
            namespaces: false,
            small_disk: None,
        }
    }
}

pub struct NodeCluster {
    meridian: PathBuf,
    meridianctl: PathBuf,
    root: Option<TempDir>,
    /// S3 ports (one per site), client and admin gRPC ports (the first five
    /// of their blocks, one per node; the cluster ports are in the files).
    s3_ports: PortBlock,
    grpc_ports: PortBlock,
    admin_ports: PortBlock,
    nodes: Vec<Node>,
    /// File systems mounted for the nodes, unmounted once they stop.
    mounts: Vec<PathBuf>,
    /// Last: removed after the nodes are stopped.
    fabric: Option<Fabric>,
}

/// Where the node at `site` listens: its namespace's address, or loopback.
fn host_of(fabric: Option<&Fabric>, site: Site) -> String {
    fabric.map_or("127.0.0.1".to_string(), |f| f.addr(site).to_string())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Node id of a site: voters 1-3, learners 4-5.
pub fn node_id(site: Site) -> u64 {
    u64::from(site.index()) + 1
}

impl NodeCluster {
    /// Writes five node files and starts every node; returns once each has
    /// printed `meridian: ready` (the voters first: learners join them).
    pub fn start(chunk_size: &str) -> Result<Self> {
        Self::start_with(&NodeOptions {
            chunk_size: chunk_size.to_string(),
            ..NodeOptions::default()
        })
    }

    pub fn start_with(opts: &NodeOptions) -> Result<Self> {
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            let mut c = Self::configure(opts)?;
            match c.start_all() {
                Ok(()) => return Ok(c),
                Err(e) if c.lost_a_port_race() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("the cluster did not start")))
    }

    fn configure(opts: &NodeOptions) -> Result<Self> {
        let chunk_size = opts.chunk_size.as_str();
        let root = tempfile::Builder::new()
            .prefix("meridian-nodes-")
            .tempdir()
            .context("creating the cluster directory")?;
        let policy = match &opts.policy {
            Some(text) => {
                std::fs::write(root.path().join("policy.toml"), text)
                    .context("writing the policy file")?;
                "policy = \"policy.toml\"\n"
            }
            None => "",
        };
        let s3_ports = ports::reserve()?;
        let grpc_ports = ports::reserve()?;
        let admin_ports = ports::reserve()?;
        let cluster_ports = ports::reserve()?;
        let fabric = if opts.namespaces {
            Some(Fabric::create()?)
        } else {
            None
        };
        let host = |s: Site| host_of(fabric.as_ref(), s);
        let addr = |block: ports::PortBlock, s: Site| format!("{}:{}", host(s), block.of(s));
        let cluster = |s: Site| addr(cluster_ports, s);
        let voters: String = Site::ALL[..3]
            .iter()
            .map(|s| format!("{} = \"{}\"\n", node_id(*s), cluster(*s)))
            .collect();
        let peers = |me: Site| -> String {
            Site::ALL
                .iter()
                .filter(|s| **s != me)
                .map(|s| format!("{} = \"{}\"\n", s.name(), cluster(*s)))
                .collect()
        };
        // The cluster port's CA and certificates, as an administrator makes
        // them.
        let ids: Vec<(u64, String)> = Site::ALL.iter().map(|s| (node_id(*s), host(*s))).collect();
        crate::certs::init(&root.path().join("tls"), &ids)?;
        let mut mounts = Vec::new();
        if let Some((site, bytes)) = opts.small_disk {
            let dir = root
                .path()
                .join(format!("node-{}", node_id(site)))
                .join("sites");
            std::fs::create_dir_all(&dir).context("creating a node's chunk directory")?;
            let out = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
                .arg(&dir)
                .output()
                .context("running mount")?;
            if !out.status.success() {
                bail!(
                    "mounting a small file system: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            mounts.push(dir);
        }
        let mut nodes = Vec::new();
        for site in Site::ALL {
            let role = if node_id(site) <= 3 {
                "voter"
            } else {
                "learner"
            };
            let text = format!(
                "id = {id}\nsite = \"{site}\"\ndata_dir = \"node-{id}\"\n{policy}\
                 [listen]\nclient = \"{c}\"\nadmin = \"{a}\"\ncluster = \"{g}\"\n\
                 s3 = \"{h}:{s}\"\n\
                 [meta]\nrole = \"{role}\"\nsnapshot_every = 500\n[meta.voters]\n{voters}\
                 [data]\nchunk_size = \"{chunk_size}\"\nlink_scale = {scale}\n[data.peers]\n{peers}\
                 [tls]\ncluster_ca = \"tls/ca.pem\"\ncluster_cert = \"tls/node-{id}.pem\"\n\
                 cluster_key = \"tls/node-{id}.key\"\n",
                scale = opts.link_scale,
                id = node_id(site),
                peers = peers(site),
                c = addr(grpc_ports, site),
                a = addr(admin_ports, site),
                g = cluster(site),
                s = s3_ports.s3(site),
                h = host(site),
            );
            let config = root.path().join(format!("node-{}.toml", node_id(site)));
            std::fs::write(&config, text).context("writing a node file")?;
            nodes.push(Node {
                site,
                config,
                child: Mutex::new(None),
                output: OutputTail::default(),
                starts: 0,
            });
        }
        Ok(NodeCluster {
            meridian: binaries::meridian()?,
            meridianctl: binaries::meridianctl()?,
            root: Some(root),
            s3_ports,
            grpc_ports,
            admin_ports,
            nodes,
            mounts,
            fabric,
        })
    }

    /// The voters start together (none can elect alone), then the learners.
    fn start_all(&mut self) -> Result<()> {
        let (voters, learners): (Vec<Site>, Vec<Site>) =
            Site::ALL.into_iter().partition(|s| node_id(*s) <= 3);
        for group in [voters, learners] {
            let mut waits = Vec::new();
            for site in group {
                waits.push((site, self.spawn(site)?));
            }
            for (site, ready) in waits {
                self.wait_ready(site, ready)?;
            }
        }
        Ok(())
    }

    fn node(&mut self, site: Site) -> &mut Node {
        &mut self.nodes[site.index() as usize]
    }

    fn spawn(&mut self, site: Site) -> Result<mpsc::Receiver<()>> {
        let meridian = self.meridian.clone();
        let dir = self.root_path()?.to_path_buf();
        let mut cmd = match &self.fabric {
            Some(f) => {
                let prefix = f.exec_prefix(site);
                let mut c = Command::new(&prefix[0]);
                c.args(&prefix[1..]).arg(&meridian);
                c
            }
            None => Command::new(&meridian),
        };
        let node = self.node(site);
        node.starts += 1;
        let start = node.starts;
        cmd.arg("node")
            .arg("--config")
            .arg(&node.config)
            // Tests move time forward instead of waiting for it.
            .arg("--test-clock")
            .env("MERIDIAN_ROOT_ACCESS_KEY", s3::ROOT_ACCESS_KEY)
            .env("MERIDIAN_ROOT_SECRET_KEY", s3::ROOT_SECRET_KEY)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("spawning {}", meridian.display()))?;
        node.output
            .push(format!("--- {site} start #{start}: {cmd:?}"));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().context("stdout not piped")?;
        let stderr = child.stderr.take().context("stderr not piped")?;
        let tag = format!("[{site} {start}");
        output::drain(
            stdout,
            format!("{tag} out]"),
            node.output.clone(),
            Some((READY_LINE, tx)),
        )?;
        output::drain(stderr, format!("{tag} err]"), node.output.clone(), None)?;
        *lock(&node.child) = Some(child);
        Ok(rx)
    }

    fn wait_ready(&mut self, site: Site, ready: mpsc::Receiver<()>) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match ready.recv_timeout(Duration::from_millis(200)) {
                Ok(()) => return Ok(()),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(200))
                }
            }
            let node = self.node(site);
            let mut child = lock(&node.child);
            let exited = match child.as_mut() {
                Some(c) => c.try_wait().context("polling a node")?,
                None => None,
            };
            if exited.is_some() {
                *child = None;
            }
            drop(child);
            if let Some(status) = exited {
                std::thread::sleep(Duration::from_millis(300));
                bail!(
                    "node at {site} exited with {status} before it was ready\n{}",
                    self.failure_context()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "node at {site} not ready within {READY_TIMEOUT:?}\n{}",
                    self.failure_context()
                );
            }
        }
    }

    /// SIGKILL the node at `site` and reap it.
    pub fn kill9(&self, site: Site) -> Result<()> {
        let taken = lock(&self.nodes[site.index() as usize].child).take();
        if let Some(mut child) = taken {
            let _ = child.kill();
            child.wait().context("reaping a node")?;
        }
        Ok(())
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to the node at `site`.
    pub fn signal(&self, site: Site, signal: &str) -> Result<()> {
        let pid = lock(&self.nodes[site.index() as usize].child)
            .as_ref()
            .map(Child::id)
            .with_context(|| format!("no node running at {site}"))?;
        let out = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .output()
            .context("running kill")?;
        anyhow::ensure!(
            out.status.success(),
            "kill -{signal} {pid}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// The data directory of the node at `site`.
    pub fn data_dir(&self, site: Site) -> Result<PathBuf> {
        Ok(self.root_path()?.join(format!("node-{}", node_id(site))))
    }

    /// Starts the node at `site` again on its data and waits until ready.
    pub fn restart(&mut self, site: Site) -> Result<()> {
        self.kill9(site)?;
        let ready = self.spawn(site)?;
        self.wait_ready(site, ready)
    }

    pub fn s3(&self, site: Site, opts: &S3Options) -> aws_sdk_s3::Client {
        s3::client(
            &format!("http://{}:{}", self.host(site), self.s3_ports.s3(site)),
            opts,
        )
    }

    /// The client gRPC API of the node at `site`.
    pub fn grpc_endpoint(&self, site: Site) -> String {
        format!("http://{}:{}", self.host(site), self.grpc_ports.of(site))
    }

    pub fn admin_endpoint(&self, site: Site) -> String {
        format!("http://{}:{}", self.host(site), self.admin_ports.of(site))
    }

    pub fn ctl(&self, site: Site) -> Ctl {
        Ctl::new(self.meridianctl.clone(), self.admin_endpoint(site))
    }

    /// Moves every node's clock forward by `by` (all nodes must be up).
    pub async fn advance_clock(&self, by: Duration) -> Result<()> {
        for site in Site::ALL {
            self.ctl(site).advance_clock(by).await?;
        }
        Ok(())
    }

    fn host(&self, site: Site) -> String {
        host_of(self.fabric.as_ref(), site)
    }

    /// The sites' network, when the nodes run in namespaces.
    pub fn fabric(&mut self) -> Option<&mut Fabric> {
        self.fabric.as_mut()
    }

    fn root_path(&self) -> Result<&Path> {
        self.root
            .as_ref()
            .map(TempDir::path)
            .context("cluster directory already released")
    }

    fn lost_a_port_race(&self) -> bool {
        self.nodes.iter().any(|n| {
            n.output.contains("address already in use") || n.output.contains("os error 98")
        })
    }

    /// Every node's last lines.
    pub fn failure_context(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            out.push_str(&format!(
                "--- node at {} ---\n{}\n",
                n.site,
                n.output.text()
            ));
        }
        out
    }
}

impl Drop for NodeCluster {
    fn drop(&mut self) {
        for site in Site::ALL {
            let _ = self.kill9(site);
        }
        for m in self.mounts.drain(..) {
            let _ = Command::new("umount").arg(&m).status();
        }
        eprintln!("{}", self.failure_context());
        if std::env::var_os(KEEP_DATA_ENV).is_some() {
            if let Some(root) = self.root.take() {
                eprintln!("meridian-chaos-tests: kept {}", root.keep().display());
            }
        }
    }
}
