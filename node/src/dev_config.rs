//! Configuration of `meridian dev`, validated before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;

use meridian_placement::{Policy, Topology};

/// The embedded default topology: the five sites of the brief.
pub const DEFAULT_TOPOLOGY: &str = include_str!("../config/topology.toml");
/// The embedded default policy: three copies.
pub const DEFAULT_POLICY: &str = include_str!("../config/policy.toml");

/// Documented development credentials, used when the environment sets none.
pub const DEV_ACCESS_KEY: &str = "meridian-dev";
pub const DEV_SECRET_KEY: &str = "meridian-dev-secret";

#[derive(Debug, Clone)]
pub struct DevConfig {
    pub data_dir: PathBuf,
    /// S3 endpoint of the first site; site i listens on port + i.
    pub s3_addr: SocketAddr,
    /// The client gRPC API (experiment software).
    pub grpc_addr: SocketAddr,
    /// The admin gRPC API (`meridianctl`).
    pub admin_addr: SocketAddr,
    /// The cluster's own gRPC traffic (data-node chunk reads; Raft between
    /// the voters of a multi-process cluster).
    pub cluster_addr: SocketAddr,
    /// Every link's bandwidth is multiplied by this.
    pub link_scale: f64,
    pub chunk_size: usize,
    pub topology: Topology,
    pub policy: Policy,
    pub access_key: String,
    pub secret_key: String,
    /// Transfers in flight per link.
    pub transfers_per_site: usize,
    /// Metadata voters in this process: 1, or 3 (or 5) over loopback gRPC.
    pub meta_voters: u64,
    pub gc: meridian_data::GcConfig,
    pub scrub: meridian_data::ScrubConfig,
    /// Base domain of virtual-host addressing (`BUCKET.domain`), if any.
    pub s3_domain: Option<String>,
    /// The federation's default S3 region.
    pub s3_region: String,
    /// Whether SigV2 signatures are accepted.
    pub s3_sigv2: bool,
    /// Run on a clock the admin API can move forward (tests only).
    pub test_clock: bool,
    /// TLS on S3 and the client and admin APIs (a certificate of its own).
    pub tls: bool,
    /// The access log; `None`: requests are not tracked.
    pub access_log: Option<crate::serve::AccessLogConfig>,
}

impl DevConfig {
    /// Checks every rule and says which one failed.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.link_scale.is_finite() && self.link_scale > 0.0) {
            return Err(format!(
                "--link-scale must be a positive number, got {}",
                self.link_scale
            ));
        }
        self.gc.validate()?;
        let grpc = [
            ("--grpc-addr", self.grpc_addr),
            ("--admin-addr", self.admin_addr),
            ("--cluster-addr", self.cluster_addr),
        ];
        for (i, (a, x)) in grpc.iter().enumerate() {
            for (b, y) in &grpc[i + 1..] {
                if x == y && x.port() != 0 {
                    return Err(format!(
                        "{a} and {b} are both {x}: the client, admin and cluster ports are apart"
                    ));
                }
            }
        }
        if !(64 * 1024..=64 * 1024 * 1024).contains(&self.chunk_size) {
            return Err(format!(
                "--chunk-size must be between 64KiB and 64MiB, got {}",
                self.chunk_size
            ));
        }
        let last_port = u32::from(self.s3_addr.port()) + self.topology.sites().len() as u32 - 1;
        if last_port > u32::from(u16::MAX) {
            return Err(format!(
                "--s3-addr port {} leaves no room for one port per site",
                self.s3_addr.port()
            ));
        }
        if self.access_key.is_empty() || self.secret_key.is_empty() {
            return Err(
                "MERIDIAN_ROOT_ACCESS_KEY and MERIDIAN_ROOT_SECRET_KEY must not be empty".into(),
            );
        }
        if !matches!(self.meta_voters, 1 | 3 | 5) {
            return Err(format!(
                "--meta-voters must be 1, 3 or 5, got {}",
                self.meta_voters
            ));
        }
        if self.transfers_per_site == 0 {
            return Err("transfers per site must be at least 1".into());
        }
        if !meridian_core::regions::is_region_name(&self.s3_region) {
            return Err(format!(
                "--s3-region must be lower-case letters, digits and '-', got {:?}",
                self.s3_region
            ));
        }
        Ok(())
    }

    /// The S3 address of the i-th site in topology order.
    pub fn s3_addr_of(&self, index: usize) -> SocketAddr {
        let mut a = self.s3_addr;
        a.set_port(self.s3_addr.port() + index as u16);
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_valid() {
        let t = Topology::from_toml(DEFAULT_TOPOLOGY, "embedded topology").expect("topology");
        assert_eq!(t.sites().len(), 5);
        assert_eq!(t.name(t.hub()), "Beijing");
        let names: Vec<_> = t.sites().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["Beijing", "Huairou", "Dongguan", "Daocheng", "Jiangmen"]
        );
        Policy::from_toml(DEFAULT_POLICY, "embedded policy", &t).expect("policy");
    }
}
