//! Free loopback ports for one `meridian dev`: five consecutive S3 ports
//! (one per site) and its three gRPC ports (client, admin, cluster).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Mutex;

use anyhow::{bail, Result};
use rand::Rng;

use crate::sites::Site;

/// Bases are drawn below Linux's default ephemeral range (32768..61000) so
/// that the kernel does not hand one of our ports to an outgoing connection
/// between the check here and the server's bind.
const LOW: u16 = 15_000;
const HIGH: u16 = 32_000;
const BLOCK: u16 = Site::ALL.len() as u16 + 3;
const TRIES: usize = 500;

/// Bases handed out by this process, so that tests running in parallel
/// threads of one test binary never share a block.
static TAKEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortBlock {
    /// The S3 port of Beijing; site i listens on `s3_base + i`.
    pub s3_base: u16,
    /// The client gRPC API.
    pub grpc: u16,
    pub admin: u16,
    pub cluster: u16,
}

impl PortBlock {
    pub fn s3(&self, site: Site) -> u16 {
        self.s3_base + site.index()
    }

    /// The block's port for `site`, when it is used as one port per site
    /// (a cluster of nodes).
    pub fn of(&self, site: Site) -> u16 {
        self.s3(site)
    }
}

/// A block whose six ports could all be bound just now. Another process can
/// still take one before the server binds; the caller retries on that.
pub fn reserve() -> Result<PortBlock> {
    let mut rng = rand::rng();
    for _ in 0..TRIES {
        let base = rng.random_range(LOW..HIGH - BLOCK);
        if !claim(base) {
            continue;
        }
        if (base..base + BLOCK).all(bindable) {
            return Ok(PortBlock {
                s3_base: base,
                grpc: base + BLOCK - 3,
                admin: base + BLOCK - 2,
                cluster: base + BLOCK - 1,
            });
        }
        release(base);
    }
    bail!("no block of {BLOCK} free loopback ports found in {LOW}..{HIGH} after {TRIES} tries")
}

fn claim(base: u16) -> bool {
    let mut taken = TAKEN.lock().unwrap_or_else(|p| p.into_inner());
    let overlaps = taken
        .range(base.saturating_sub(BLOCK - 1)..base + BLOCK)
        .next()
        .is_some();
    if overlaps {
        return false;
    }
    taken.insert(base);
    true
}

fn release(base: u16) {
    TAKEN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&base);
}

fn bindable(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_in_one_process_never_overlap() {
        let blocks: Vec<PortBlock> = (0..20).map(|_| reserve().expect("free ports")).collect();
        for (i, a) in blocks.iter().enumerate() {
            for b in &blocks[i + 1..] {
                assert!(
                    a.s3_base.abs_diff(b.s3_base) >= BLOCK,
                    "{a:?} overlaps {b:?}"
                );
            }
            assert_eq!(a.grpc, a.s3(Site::Jiangmen) + 1);
            assert_eq!(a.cluster, a.s3_base + BLOCK - 1);
        }
    }
}
