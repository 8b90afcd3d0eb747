//! The configuration file of `meridian node`: one node of a multi-process
//! cluster. `docs/examples/cluster/` holds a five-site example; the format
//! is documented in `docs/ARCHITECTURE.md` ("Running a cluster").
//!
//! ```toml
//! id = 1                       # node id in the metadata group (non-zero)
//! site = "Beijing"             # the site whose chunks this node keeps
//! data_dir = "/var/lib/meridian"
//!
//! [listen]
//! client = "10.1.0.1:7100"     # the client gRPC API (experiment software)
//! admin = "10.9.0.1:7101"      # the admin gRPC API (a management network)
//! cluster = "10.1.0.1:7102"    # Raft, forwarded writes, chunk reads between nodes
//! s3 = "10.1.0.1:9000"         # optional: no S3 endpoint without it
//! s3_domain = "s3.ihep.example" # optional: BUCKET.s3.ihep.example addresses a bucket too
//! advertise = "meta1.bj:7102"  # optional: where peers reach `cluster`
//!
//! [meta]
//! role = "voter"               # or "learner" (asks the voters to join)
//! snapshot_every = 20000       # optional
//! [meta.voters]                # every voter's cluster address, this node included if voter
//! 1 = "meta1.bj:7102"
//! 2 = "meta2.hr:7102"
//! 3 = "meta3.dg:7102"
//!
//! [data]
//! chunk_size = "4MiB"          # optional
//! transfers = 4                # transfers in flight per link into this site
//! link_scale = 1.0             # optional: < 1 emulates slower links (tests, demos)
//! gc_grace = "1h"              # optional: unreferenced chunks older than this go
//! gc_period = "30s"            # optional: pause between collector passes
//! abandoned_uploads = "7d"     # optional: unfinished multipart uploads aborted then
//! lifecycle_period = "10m"     # optional: pause between bucket lifecycle passes
//! scrub_rate = "32MiB"         # optional: bytes/s the scrubber re-reads (0: off)
//! scrub_rest = "1h"            # optional: pause after a full scrub pass
//! [data.peers]                 # the cluster addresses of the nodes keeping the other sites' chunks
//! Huairou = "meta2.hr:7102"
//!
//! [s3]
//! region = "us-east-1"         # optional: the region clients sign for by default
//!                              # (each site is a region too: "beijing", ...)
//! sigv2 = true                 # optional: false refuses SigV2 signatures
//!
//! [security]
//! cluster_key_file = "cluster.key"  # optional (default <data_dir>/cluster.key,
//!                              # created if absent): seals access keys'
//!                              # secrets; every node of a cluster needs the same file
//!
//! [tls]                        # the cluster port: mutual TLS under the cluster CA
//! cluster_ca = "tls/ca.pem"    # optional (default <data_dir>/tls/ca.pem)
//! cluster_cert = "tls/node-1.pem"  # optional (default <data_dir>/tls/node-ID.pem)
//! cluster_key = "tls/node-1.key"   # optional (default <data_dir>/tls/node-ID.key)
//!                              # all three from `meridianctl cluster init`
//! cert = "/etc/meridian/s3.pem"  # optional: TLS on S3 and the client and admin
//! key = "/etc/meridian/s3.key"   # gRPC APIs (a chain, leaf first, and its key)
//!
//! [auth]                       # bearer tokens (WLCG JWT profile)
//! token_key_file = "token.key" # optional (default <data_dir>/token.key, created
//!                              # if absent): signs this cluster's tokens; the
//!                              # same file on every node
//! issuer = "https://meridian.ihep.example"  # optional: their `iss` (default "meridian")
//! audience = "meridian"        # optional: their `aud`, and what tokens here may name
//! [[auth.trust]]               # optional, repeated: another issuer's tokens
//! issuer = "https://wlcg.example/"
//! public_key = "wlcg-iam.pem"  # EC (ES256) or RSA (RS256) public key
//! user = "cms-prod"            # optional: the user they act for (default: their sub)
//!
//! [datasets]
//! publisher = "IHEP Data Centre" # optional: DataCite's publisher in exports
//!                              # (without it, exports say it is missing)
//!
//! [access]                     # the access log: object requests, JSON lines
//! enabled = true               # optional (default true)
//! dir = "/var/log/meridian/access" # optional (default <data_dir>/access)
//! retention = "30d"            # optional: shipped segments kept this long
//! ship_every = "60s"           # optional: how often it is shipped to the catalogue
//!
//! topology = "topology.toml"   # optional: the brief's five sites
//! policy = "policy.toml"       # optional: three copies
//! ```
//!
//! Relative paths are relative to the file's directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use meridian_placement::{Policy, Topology};
use serde::Deserialize;

use crate::dev_config::{DEFAULT_POLICY, DEFAULT_TOPOLOGY};
use crate::size::parse_size;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    id: u64,
    site: String,
    data_dir: PathBuf,
    listen: Listen,
    meta: Meta,
    #[serde(default)]
    data: Data,
    #[serde(default)]
    s3: S3,
    #[serde(default)]
    security: Security,
    #[serde(default)]
    tls: Tls,
    #[serde(default)]
    auth: Auth,
    #[serde(default)]
    datasets: Datasets,
    #[serde(default)]
    access: Access,
    topology: Option<PathBuf>,
    policy: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Access {
    enabled: Option<bool>,
    dir: Option<PathBuf>,
    retention: Option<String>,
    ship_every: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Datasets {
    publisher: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct S3 {
    /// The federation's default region.
    region: Option<String>,
    /// Whether SigV2 signatures are accepted (default: yes).
    sigv2: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Security {
    cluster_key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tls {
    cluster_ca: Option<PathBuf>,
    cluster_cert: Option<PathBuf>,
    cluster_key: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Auth {
    token_key_file: Option<PathBuf>,
    issuer: Option<String>,
    audience: Option<String>,
    #[serde(default)]
    trust: Vec<Trust>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Trust {
    issuer: String,
    public_key: PathBuf,
    user: Option<String>,
}

/// Where a node finds the cluster CA and its own certificate and key.
#[derive(Debug, Clone)]
pub struct ClusterTlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Listen {
    /// Before the ports were split; refused with what replaced it.
    grpc: Option<SocketAddr>,
    client: Option<SocketAddr>,
    admin: Option<SocketAddr>,
    cluster: Option<SocketAddr>,
    s3: Option<SocketAddr>,
    advertise: Option<String>,
    /// Base domain of virtual-host addressing (`BUCKET.DOMAIN`).
    s3_domain: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MetaRole {
    Voter,
    Learner,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    role: MetaRole,
    voters: BTreeMap<String, String>,
    snapshot_every: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Data {
    chunk_size: Option<String>,
    /// Transfers in flight per link into this site.
    transfers: Option<usize>,
    /// Multiplies every link's bandwidth (emulated links for tests).
    link_scale: Option<f64>,
    gc_grace: Option<String>,
    gc_period: Option<String>,
    abandoned_uploads: Option<String>,
    lifecycle_period: Option<String>,
    scrub_rate: Option<String>,
    scrub_rest: Option<String>,
    /// Site name -> cluster address of the node keeping that site's chunks.
    #[serde(default)]
    peers: BTreeMap<String, String>,
}

/// A validated node configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: u64,
    pub site: u32,
    pub site_name: String,
    pub data_dir: PathBuf,
    /// The client gRPC API.
    pub grpc_addr: SocketAddr,
    /// The admin gRPC API.
    pub admin_addr: SocketAddr,
    /// Raft, forwarded writes and chunk reads between nodes.
    pub cluster_addr: SocketAddr,
    pub s3_addr: Option<SocketAddr>,
    pub s3_domain: Option<String>,
    /// The federation's default S3 region.
    pub s3_region: String,
    /// Whether SigV2 signatures are accepted.
    pub s3_sigv2: bool,
    /// Where the other members reach this node's cluster port.
    pub advertise: String,
    pub role: MetaRole,
    /// Voter id -> address.
    pub voters: BTreeMap<u64, String>,
    pub snapshot_every: u64,
    pub chunk_size: usize,
    pub transfers: usize,
    pub link_scale: f64,
    pub gc: meridian_data::GcConfig,
    pub scrub: meridian_data::ScrubConfig,
    /// The cluster key (seals access keys' secrets); the same on every node.
    pub cluster_key_file: PathBuf,
    /// The cluster port's certificates.
    pub cluster_tls: ClusterTlsFiles,
    /// Bearer tokens: this cluster's issuer and the issuers it trusts.
    pub tokens: crate::tokens::TokenSettings,
    /// The client-facing listeners' certificate chain and key (S3, client
    /// and admin gRPC); `None`: plain.
    pub endpoint_tls: Option<(PathBuf, PathBuf)>,
    /// Site id -> address of the data node keeping that site's chunks.
    pub data_peers: BTreeMap<u32, String>,
    pub topology: Topology,
    pub policy: Policy,
    /// Run on a clock the admin API can move forward (tests only; from the
    /// command line, not the file).
    pub test_clock: bool,
    /// DataCite's publisher of this centre's datasets; empty: unset.
    pub publisher: String,
    /// The access log; `None`: requests are not tracked.
    pub access_log: Option<crate::serve::AccessLogConfig>,
}

fn relative(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn read_or(base: &Path, p: &Option<PathBuf>, default: &str) -> anyhow::Result<(String, String)> {
    match p {
        Some(p) => {
            let p = relative(base, p);
            Ok((
                std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?,
                p.display().to_string(),
            ))
        }
        None => Ok((default.to_string(), "embedded default".into())),
    }
}

impl NodeConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, &path.display().to_string(), base)
    }

    /// Parses and checks every rule; errors name the file and what is wrong.
    pub fn parse(text: &str, origin: &str, base: &Path) -> anyhow::Result<Self> {
        let f: File = toml::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        if f.id == 0 {
            bail!("{origin}: id must be non-zero");
        }
        let (t, o) = read_or(base, &f.topology, DEFAULT_TOPOLOGY)?;
        let topology = Topology::from_toml(&t, &o)?;
        let (p, o) = read_or(base, &f.policy, DEFAULT_POLICY)?;
        let policy = Policy::from_toml(&p, &o, &topology)?;
        let site = topology
            .sites()
            .iter()
            .find(|s| s.name == f.site)
            .map(|s| s.id.0)
            .with_context(|| {
                let names: Vec<&str> = topology.sites().iter().map(|s| s.name.as_str()).collect();
                format!(
                    "{origin}: site {:?} is not in the topology (sites: {})",
                    f.site,
                    names.join(", ")
                )
            })?;
        let mut voters = BTreeMap::new();
        for (id, addr) in &f.meta.voters {
            let n: u64 =
                id.parse().ok().filter(|n| *n > 0).with_context(|| {
                    format!("{origin}: [meta.voters] key {id:?} is not a node id")
                })?;
            if addr.trim().is_empty() {
                bail!("{origin}: voter {n} has an empty address");
            }
            voters.insert(n, addr.clone());
        }
        if voters.is_empty() {
            bail!("{origin}: [meta.voters] names no voter");
        }
        if f.listen.grpc.is_some() {
            bail!(
                "{origin}: listen.grpc is split into listen.client (experiment software), \
                 listen.admin (meridianctl) and listen.cluster (Raft and chunk reads between nodes)"
            );
        }
        let port = |a: Option<SocketAddr>, name: &str| {
            a.with_context(|| format!("{origin}: listen.{name} is missing"))
        };
        let (grpc_addr, admin_addr, cluster_addr) = (
            port(f.listen.client, "client")?,
            port(f.listen.admin, "admin")?,
            port(f.listen.cluster, "cluster")?,
        );
        if grpc_addr == admin_addr || grpc_addr == cluster_addr || admin_addr == cluster_addr {
            bail!(
                "{origin}: listen.client, listen.admin and listen.cluster must be three addresses"
            );
        }
        let advertise = f
            .listen
            .advertise
            .clone()
            .unwrap_or_else(|| cluster_addr.to_string());
        match (f.meta.role, voters.get(&f.id)) {
            (MetaRole::Voter, None) => {
                bail!("{origin}: node {} is a voter but not in [meta.voters]", f.id)
            }
            (MetaRole::Voter, Some(a)) if *a != advertise => bail!(
                "{origin}: [meta.voters] gives node {} the address {a}, but it listens at {advertise} \
                 (set listen.advertise if peers reach it by another name)",
                f.id
            ),
            (MetaRole::Learner, Some(_)) => bail!(
                "{origin}: node {} is a learner but listed in [meta.voters]",
                f.id
            ),
            _ => {}
        }
        let chunk_size = match &f.data.chunk_size {
            Some(s) => {
                parse_size(s).map_err(|e| anyhow::anyhow!("{origin}: data.chunk_size: {e}"))?
            }
            None => 4 << 20,
        };
        if !(64 * 1024..=64 * 1024 * 1024).contains(&chunk_size) {
            bail!("{origin}: data.chunk_size must be between 64KiB and 64MiB, got {chunk_size}");
        }
        let mut data_peers = BTreeMap::new();
        for (name, addr) in &f.data.peers {
            let id = topology
                .site_by_name(name)
                .map(|s| s.id.0)
                .with_context(|| format!("{origin}: [data.peers] names unknown site {name:?}"))?;
            if id != site {
                data_peers.insert(id, addr.clone());
            }
        }
        let transfers = f.data.transfers.unwrap_or(4);
        if transfers == 0 {
            bail!("{origin}: data.transfers must be at least 1");
        }
        let link_scale = f.data.link_scale.unwrap_or(1.0);
        if !(link_scale.is_finite() && link_scale > 0.0 && link_scale <= 1.0) {
            bail!("{origin}: data.link_scale must be in (0, 1], got {link_scale}");
        }
        let secs = |v: &Option<String>, field: &str, default: std::time::Duration| match v {
            Some(t) => meridian_placement::parse_duration(t)
                .map(std::time::Duration::from_secs)
                .map_err(|e| anyhow::anyhow!("{origin}: data.{field}: {e}")),
            None => Ok(default),
        };
        let access_secs = |v: &Option<String>, field: &str, default: u64| match v {
            Some(t) => meridian_placement::parse_duration(t)
                .map(std::time::Duration::from_secs)
                .map_err(|e| anyhow::anyhow!("{origin}: access.{field}: {e}")),
            None => Ok(std::time::Duration::from_secs(default)),
        };
        let defaults = meridian_data::GcConfig::default();
        let gc = meridian_data::GcConfig {
            grace: secs(&f.data.gc_grace, "gc_grace", defaults.grace)?,
            period: secs(&f.data.gc_period, "gc_period", defaults.period)?,
            abandoned_uploads: secs(
                &f.data.abandoned_uploads,
                "abandoned_uploads",
                defaults.abandoned_uploads,
            )?,
            lifecycle_period: secs(
                &f.data.lifecycle_period,
                "lifecycle_period",
                defaults.lifecycle_period,
            )?,
            lifecycle_day: defaults.lifecycle_day,
            lifecycle_walk: defaults.lifecycle_walk,
        };
        gc.validate()
            .map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        let scrub_defaults = meridian_data::ScrubConfig::default();
        let scrub = meridian_data::ScrubConfig {
            rate: match &f.data.scrub_rate {
                Some(s) => {
                    parse_size(s).map_err(|e| anyhow::anyhow!("{origin}: data.scrub_rate: {e}"))?
                }
                None => scrub_defaults.rate,
            },
            rest: secs(&f.data.scrub_rest, "scrub_rest", scrub_defaults.rest)?,
            ..scrub_defaults
        };
        let s3_region =
            f.s3.region
                .clone()
                .unwrap_or_else(|| meridian_core::regions::DEFAULT_REGION.to_string());
        if !meridian_core::regions::is_region_name(&s3_region) {
            bail!(
                "{origin}: s3.region must be lower-case letters, digits and '-', got {s3_region:?}"
            );
        }
        let endpoint_tls = match (&f.tls.cert, &f.tls.key) {
            (Some(c), Some(k)) => Some((relative(base, c), relative(base, k))),
            (None, None) => None,
            _ => bail!("{origin}: tls.cert and tls.key go together"),
        };
        let tokens = crate::tokens::TokenSettings {
            key_file: match &f.auth.token_key_file {
                Some(p) => relative(base, p),
                None => relative(base, &f.data_dir).join("token.key"),
            },
            issuer: f.auth.issuer.clone().unwrap_or_else(|| "meridian".into()),
            audience: f.auth.audience.clone().unwrap_or_else(|| "meridian".into()),
            trusted: f
                .auth
                .trust
                .iter()
                .map(|t| crate::tokens::TrustedFile {
                    issuer: t.issuer.clone(),
                    public_key: relative(base, &t.public_key),
                    user: t.user.clone(),
                })
                .collect(),
        };
        Ok(NodeConfig {
            tokens,
            endpoint_tls,
            id: f.id,
            site,
            site_name: f.site,
            data_dir: relative(base, &f.data_dir),
            grpc_addr,
            admin_addr,
            cluster_addr,
            s3_addr: f.listen.s3,
            s3_domain: f.listen.s3_domain.clone(),
            s3_region,
            s3_sigv2: f.s3.sigv2.unwrap_or(true),
            advertise,
            role: f.meta.role,
            voters,
            snapshot_every: f.meta.snapshot_every.unwrap_or(20_000),
            chunk_size: chunk_size as usize,
            transfers,
            link_scale,
            gc,
            scrub,
            cluster_key_file: match &f.security.cluster_key_file {
                Some(p) => relative(base, p),
                None => relative(base, &f.data_dir).join("cluster.key"),
            },
            cluster_tls: {
                let files =
                    meridian_tls::ClusterFiles::new(relative(base, &f.data_dir).join("tls"));
                let node = format!("node-{}", f.id);
                let or = |p: &Option<PathBuf>, default: PathBuf| match p {
                    Some(p) => relative(base, p),
                    None => default,
                };
                ClusterTlsFiles {
                    ca: or(&f.tls.cluster_ca, files.ca_cert()),
                    cert: or(&f.tls.cluster_cert, files.node_cert(&node)),
                    key: or(&f.tls.cluster_key, files.node_key(&node)),
                }
            },
            data_peers,
            topology,
            policy,
            test_clock: false,
            publisher: f.datasets.publisher.unwrap_or_default(),
            access_log: match f.access.enabled {
                Some(false) => None,
                _ => Some(crate::serve::AccessLogConfig {
                    dir: match &f.access.dir {
                        Some(d) => relative(base, d),
                        None => relative(base, &f.data_dir).join("access"),
                    },
                    retention: access_secs(&f.access.retention, "retention", 30 * 86_400)?,
                    ship_every: access_secs(&f.access.ship_every, "ship_every", 60)?,
                }),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = 4
site = "Daocheng"
data_dir = "d"
[listen]
client = "127.0.0.1:7104"
admin = "127.0.0.1:7204"
cluster = "127.0.0.1:7304"
s3 = "127.0.0.1:9104"
[meta]
role = "learner"
[meta.voters]
1 = "127.0.0.1:7301"
2 = "127.0.0.1:7302"
3 = "127.0.0.1:7303"
"#;

    fn parse(text: &str) -> anyhow::Result<NodeConfig> {
        NodeConfig::parse(text, "node.toml", Path::new("/etc/meridian"))
    }

    #[test]
    fn a_learner_at_daocheng() {
        let c = parse(GOOD).expect("valid");
        assert_eq!(c.role, MetaRole::Learner);
        assert_eq!(c.site_name, "Daocheng");
        assert_eq!(c.voters.len(), 3);
        assert_eq!(c.data_dir, Path::new("/etc/meridian/d"));
        assert_eq!(c.advertise, "127.0.0.1:7304", "the cluster port");
        assert_eq!(c.grpc_addr.port(), 7104);
        assert_eq!(c.admin_addr.port(), 7204);
        assert_eq!(c.chunk_size, 4 << 20);
        assert_eq!(c.s3_region, "us-east-1");
        assert!(c.s3_sigv2);
        assert_eq!(c.cluster_tls.ca, Path::new("/etc/meridian/d/tls/ca.pem"));
        assert_eq!(
            c.cluster_tls.key,
            Path::new("/etc/meridian/d/tls/node-4.key")
        );
        let c = parse(&format!(
            "{GOOD}[s3]\nregion = \"cn-ihep-1\"\nsigv2 = false\n"
        ))
        .expect("valid");
        assert_eq!(c.s3_region, "cn-ihep-1");
        assert!(!c.s3_sigv2);
    }

    #[test]
    fn the_documented_examples_are_valid() {
        let examples = [
            include_str!("../../docs/examples/cluster/node-1.toml"),
            include_str!("../../docs/examples/cluster/node-2.toml"),
            include_str!("../../docs/examples/cluster/node-3.toml"),
            include_str!("../../docs/examples/cluster/node-4.toml"),
            include_str!("../../docs/examples/cluster/node-5.toml"),
        ];
        let roles: Vec<MetaRole> = examples
            .iter()
            .map(|t| parse(t).expect("example parses").role)
            .collect();
        assert_eq!(
            roles,
            [
                MetaRole::Voter,
                MetaRole::Voter,
                MetaRole::Voter,
                MetaRole::Learner,
                MetaRole::Learner
            ]
        );
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (GOOD.replace("Daocheng", "Lhasa"), "not in the topology"),
            (
                GOOD.replace("\"learner\"", "\"voter\""),
                "not in [meta.voters]",
            ),
            (GOOD.replace("id = 4", "id = 2"), "learner but listed"),
            (GOOD.replace("role =", "rolle ="), "unknown field"),
            (GOOD.replace("1 = ", "x = "), "not a node id"),
            (
                GOOD.replace("id = 4", "id = 1")
                    .replace("\"learner\"", "\"voter\"")
                    .replace(
                        "cluster = \"127.0.0.1:7304\"",
                        "cluster = \"127.0.0.1:7999\"",
                    ),
                "listens at",
            ),
            (GOOD.replace("client = ", "grpc = "), "listen.grpc is split"),
            (
                GOOD.replace("admin = \"127.0.0.1:7204\"", "admin = \"127.0.0.1:7104\""),
                "three addresses",
            ),
            (
                GOOD.replace("cluster = \"127.0.0.1:7304\"\n", ""),
                "listen.cluster is missing",
            ),
            (
                format!("{GOOD}[data]\nchunk_size = \"1KiB\"\n"),
                "between 64KiB",
            ),
            (
                format!("{GOOD}[s3]\nregion = \"Beijing\"\n"),
                "s3.region must be",
            ),
            (format!("{GOOD}[tls]\ncert = \"s3.pem\"\n"), "go together"),
        ];
        for (text, want) in cases {
            let err = parse(&text).expect_err(want).to_string();
            assert!(err.contains(want), "{want:?} not in {err:?}");
            assert!(err.contains("node.toml"), "the file is not named: {err}");
        }
    }
}
