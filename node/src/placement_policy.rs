//! The placement policy in force: the file a node started with until the
//! first `meridianctl policy apply`, then whatever the catalogue holds (the
//! same on every node, since it is replicated through Raft).

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use meridian_meta::catalogue::CatalogueReader;
use meridian_placement::{Policy, SiteId, Topology};

pub struct PolicyHandle {
    topology: Arc<Topology>,
    /// (catalogue version, policy); version 0 is the file.
    current: RwLock<(u64, Arc<Policy>)>,
}

impl PolicyHandle {
    pub fn new(topology: Arc<Topology>, initial: Policy) -> Arc<Self> {
        Arc::new(PolicyHandle {
            topology,
            current: RwLock::new((0, Arc::new(initial))),
        })
    }

    /// The policy as of `reader`'s state of the catalogue, and its version.
    pub fn current(&self, reader: &CatalogueReader) -> (u64, Arc<Policy>) {
        let cached = {
            let g = self.current.read().unwrap_or_else(|p| p.into_inner());
            (g.0, g.1.clone())
        };
        let record = match reader.policy() {
            Ok(Some(r)) => r,
            Ok(None) => return cached,
            Err(e) => {
                tracing::warn!(error = %e, "reading the policy; keeping the one in force");
                return cached;
            }
        };
        if record.version == cached.0 {
            return cached;
        }
        match self.parse(&record.text, &record.origin, &record.drained) {
            Ok(p) => {
                let p = Arc::new(p);
                let mut g = self.current.write().unwrap_or_else(|e| e.into_inner());
                if g.0 < record.version {
                    *g = (record.version, p.clone());
                }
                (record.version, p)
            }
            Err(e) => {
                // Only a topology changed under a stored policy gets here:
                // apply checks every policy before storing it.
                tracing::error!(error = %e, version = record.version, "stored policy does not fit this node's topology; keeping the one in force");
                cached
            }
        }
    }

    /// A policy from text, checked against this node's topology.
    pub fn parse(
        &self,
        text: &str,
        origin: &str,
        drained: &[u32],
    ) -> Result<Policy, meridian_placement::PlacementError> {
        let drained: BTreeSet<SiteId> = drained.iter().map(|s| SiteId(*s)).collect();
        Ok(Policy::from_toml(text, origin, &self.topology)?.with_drained(drained))
    }

    pub fn topology(&self) -> &Arc<Topology> {
        &self.topology
    }
}

/// The datasets `policy`'s rules select by, as the catalogue holds them now
/// (one that does not exist selects nothing). Read once per placement or
/// per reconcile page and handed to [`CatalogueReader::belongs_to`].
pub fn named_datasets(
    reader: &CatalogueReader,
    policy: &Policy,
) -> Result<Vec<meridian_core::dataset::DatasetRecord>, meridian_meta::MetaError> {
    let mut out = Vec::new();
    for name in policy.datasets() {
        if let Some(d) = reader.dataset(name)? {
            out.push(d);
        }
    }
    Ok(out)
}
