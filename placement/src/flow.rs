//! Maximum flow over the link graph: the fastest rate at which a set of
//! sites holding some data can, together, feed another site, using every
//! route at once (direct links and relays). The transfer planner's lower
//! bound on completion time is built on it: no plan can deliver B bits to a
//! site faster than B / max_flow.

use std::collections::{BTreeSet, VecDeque};

use crate::topology::{SiteId, Topology};

/// The maximum rate, in bits per second, from `sources` (each able to send
/// without limit) to `sink` over the topology's directed links. `None` when
/// the sink is itself a source (nothing needs to move).
pub fn max_flow_bps(topo: &Topology, sources: &BTreeSet<SiteId>, sink: SiteId) -> Option<u64> {
    if sources.contains(&sink) {
        return None;
    }
    let sites = topo.sites();
    let n = sites.len() + 1; // the last node is a super source
    let index = |id: SiteId| sites.iter().position(|s| s.id == id);
    let Some(t) = index(sink) else {
        return Some(0);
    };
    let s = n - 1;
    let mut cap = vec![vec![0u64; n]; n];
    for l in topo.links() {
        if let (Some(a), Some(b)) = (index(l.from), index(l.to)) {
            cap[a][b] = cap[a][b].saturating_add(l.bandwidth_bps);
        }
    }
    for src in sources {
        if let Some(i) = index(*src) {
            cap[s][i] = u64::MAX;
        }
    }
    // Edmonds-Karp: shortest augmenting paths; at most O(V E) rounds, and
    // the graph is a handful of sites.
    let mut flow = 0u64;
    loop {
        let mut parent = vec![usize::MAX; n];
        parent[s] = s;
        let mut queue = VecDeque::from([s]);
        while let Some(u) = queue.pop_front() {
            for v in 0..n {
                if parent[v] == usize::MAX && cap[u][v] > 0 {
                    parent[v] = u;
                    queue.push_back(v);
                }
            }
        }
        if parent[t] == usize::MAX {
            return Some(flow);
        }
        let mut push = u64::MAX;
        let mut v = t;
        while v != s {
            let u = parent[v];
            push = push.min(cap[u][v]);
            v = u;
        }
        let mut v = t;
        while v != s {
            let u = parent[v];
            cap[u][v] -= push;
            cap[v][u] = cap[v][u].saturating_add(push);
            v = u;
        }
        flow = flow.saturating_add(push);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAR: &str = include_str!("../../node/config/topology.toml");
    const GBPS: u64 = 1_000_000_000;

    fn id(t: &Topology, name: &str) -> SiteId {
        t.site_by_name(name).expect("site").id
    }

    fn flow(t: &Topology, from: &[&str], to: &str) -> Option<u64> {
        let sources = from.iter().map(|n| id(t, n)).collect();
        max_flow_bps(t, &sources, id(t, to))
    }

    #[test]
    fn the_brief_star() {
        let t = Topology::from_toml(STAR, "topology.toml").expect("topology");
        assert_eq!(flow(&t, &["Jiangmen"], "Beijing"), Some(2 * GBPS));
        // Through the hub, bounded by the slower link.
        assert_eq!(flow(&t, &["Jiangmen"], "Dongguan"), Some(2 * GBPS));
        // Two holders feed the hub over both their links.
        assert_eq!(
            flow(&t, &["Jiangmen", "Dongguan"], "Beijing"),
            Some(22 * GBPS)
        );
        // Into Jiangmen nothing beats its one 2 Gb/s link.
        assert_eq!(
            flow(&t, &["Beijing", "Huairou", "Dongguan"], "Jiangmen"),
            Some(2 * GBPS)
        );
        assert_eq!(flow(&t, &["Beijing"], "Beijing"), None);
    }

    #[test]
    fn a_mesh_link_adds_a_route() {
        let mesh = format!(
            "{STAR}\n[[link]]\nfrom = \"Dongguan\"\nto = \"Jiangmen\"\nbandwidth_gbps = 10\n"
        );
        let t = Topology::from_toml(&mesh, "mesh.toml").expect("topology");
        // Direct 10 Gb/s plus 2 Gb/s through the hub.
        assert_eq!(flow(&t, &["Jiangmen"], "Dongguan"), Some(12 * GBPS));
        // Into the hub: its own 2 Gb/s link plus 10 Gb/s relayed by Dongguan
        // (whose 20 Gb/s uplink has room).
        assert_eq!(flow(&t, &["Jiangmen"], "Beijing"), Some(12 * GBPS));
    }
}
