//! The sites of a federation and the links between them.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::PlacementError;

/// Stable numeric id of a site, as written in the topology file and stored in
/// the catalogue. Never reuse an id for another site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SiteId(pub u32);

/// Index of a directed link in [`Topology::links`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub usize);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub id: SiteId,
    pub name: String,
    pub role: String,
    pub attributes: BTreeMap<String, String>,
    pub capacity_bytes: u64,
}

/// One direction of a link. A duplex link in the file becomes two of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub from: SiteId,
    pub to: SiteId,
    pub bandwidth_bps: u64,
    pub latency_ms: u32,
}

/// The links a transfer crosses, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub links: Vec<LinkId>,
    /// The slowest link's bandwidth: what the route can carry at best.
    pub bottleneck_bps: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    sites: Vec<Site>,
    links: Vec<Link>,
    hub: SiteId,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologyFile {
    hub: String,
    #[serde(rename = "site")]
    sites: Vec<SiteFile>,
    #[serde(rename = "link", default)]
    links: Vec<LinkFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    id: u32,
    name: String,
    #[serde(default = "default_role")]
    role: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default)]
    capacity_tb: f64,
}

fn default_role() -> String {
    "site".to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkFile {
    from: String,
    to: String,
    bandwidth_gbps: f64,
    #[serde(default)]
    latency_ms: u32,
    /// Both directions at the same bandwidth unless said otherwise.
    #[serde(default = "yes")]
    duplex: bool,
}

fn yes() -> bool {
    true
}

impl Topology {
    /// Parses and validates a topology file; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, PlacementError> {
        let file: TopologyFile = toml::from_str(text).map_err(|e| PlacementError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        let mut sites = Vec::with_capacity(file.sites.len());
        let mut names = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for s in file.sites {
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return Err(PlacementError::invalid(
                    origin,
                    format!("site name {:?}", s.name),
                    "a site name is non-empty ASCII letters, digits and '-'",
                ));
            }
            if s.id == 0 {
                return Err(PlacementError::invalid(
                    origin,
                    format!("site {} has id 0", s.name),
                    "site ids start at 1",
                ));
            }
            if !names.insert(s.name.to_ascii_lowercase()) {
                return Err(PlacementError::invalid(
                    origin,
                    format!("site {} appears twice", s.name),
                    "site names are unique (case-insensitive)",
                ));
            }
            if !ids.insert(s.id) {
                return Err(PlacementError::invalid(
                    origin,
                    format!("site id {} appears twice", s.id),
                    "site ids are unique",
                ));
            }
            if !(s.capacity_tb.is_finite() && s.capacity_tb >= 0.0) {
                return Err(PlacementError::invalid(
                    origin,
                    format!("site {} capacity_tb = {}", s.name, s.capacity_tb),
                    "capacity_tb is a non-negative number",
                ));
            }
            sites.push(Site {
                id: SiteId(s.id),
                name: s.name,
                role: s.role,
                attributes: s.attributes,
                capacity_bytes: (s.capacity_tb * 1e12) as u64,
            });
        }
        if sites.is_empty() {
            return Err(PlacementError::invalid(
                origin,
                "no [[site]]",
                "a topology has at least one site",
            ));
        }
        let mut topo = Topology {
            sites,
            links: Vec::new(),
            hub: SiteId(0),
        };
        topo.hub = topo
            .site_by_name(&file.hub)
            .ok_or_else(|| {
                PlacementError::invalid(
                    origin,
                    format!("hub = {:?}", file.hub),
                    "the hub is one of the sites",
                )
            })?
            .id;
        let mut seen = BTreeSet::new();
        for l in file.links {
            let from = topo.lookup(origin, &l.from)?;
            let to = topo.lookup(origin, &l.to)?;
            if from == to {
                return Err(PlacementError::invalid(
                    origin,
                    format!("link {} -> {}", l.from, l.to),
                    "a link joins two different sites",
                ));
            }
            // At least 1 kb/s: a link slower than that is a typo, not a link.
            if !(l.bandwidth_gbps.is_finite() && l.bandwidth_gbps >= 1e-6) {
                return Err(PlacementError::invalid(
                    origin,
                    format!(
                        "link {} -> {} bandwidth_gbps = {}",
                        l.from, l.to, l.bandwidth_gbps
                    ),
                    "bandwidth_gbps is a number of at least 0.000001 (1 kb/s)",
                ));
            }
            let bandwidth_bps = (l.bandwidth_gbps * 1e9) as u64;
            let mut dirs = vec![(from, to)];
            if l.duplex {
                dirs.push((to, from));
            }
            for (f, t) in dirs {
                if !seen.insert((f, t)) {
                    return Err(PlacementError::invalid(
                        origin,
                        format!("link {} -> {} declared twice", topo.name(f), topo.name(t)),
                        "at most one link per direction between two sites",
                    ));
                }
                topo.links.push(Link {
                    from: f,
                    to: t,
                    bandwidth_bps,
                    latency_ms: l.latency_ms,
                });
            }
        }
        // Every pair must be reachable: directly or through the hub.
        for a in &topo.sites {
            for b in &topo.sites {
                if a.id != b.id && topo.route(a.id, b.id).is_none() {
                    return Err(PlacementError::invalid(
                        origin,
                        format!("no route from {} to {}", a.name, b.name),
                        "every pair of sites has a link, or links to and from the hub",
                    ));
                }
            }
        }
        Ok(topo)
    }

    fn lookup(&self, origin: &str, name: &str) -> Result<SiteId, PlacementError> {
        self.site_by_name(name).map(|s| s.id).ok_or_else(|| {
            PlacementError::invalid(
                origin,
                format!("unknown site {name:?} in a link"),
                "links join declared sites",
            )
        })
    }

    pub fn sites(&self) -> &[Site] {
        &self.sites
    }

    pub fn links(&self) -> &[Link] {
        &self.links
    }

    pub fn hub(&self) -> SiteId {
        self.hub
    }

    pub fn site(&self, id: SiteId) -> Option<&Site> {
        self.sites.iter().find(|s| s.id == id)
    }

    pub fn site_by_name(&self, name: &str) -> Option<&Site> {
        self.sites
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// The site's name, or `site-N` for an id the topology does not know
    /// (a site removed while the catalogue still mentions it).
    pub fn name(&self, id: SiteId) -> String {
        self.site(id)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| format!("site-{}", id.0))
    }

    pub fn link(&self, id: LinkId) -> Option<&Link> {
        self.links.get(id.0)
    }

    fn direct(&self, from: SiteId, to: SiteId) -> Option<LinkId> {
        self.links
            .iter()
            .position(|l| l.from == from && l.to == to)
            .map(LinkId)
    }

    /// The route a transfer from `from` to `to` takes: the direct link if there
    /// is one, else through the hub. `None` for `from == to` is not an error:
    /// a site reads its own chunks without crossing a link, so the route is empty.
    pub fn route(&self, from: SiteId, to: SiteId) -> Option<Route> {
        if from == to {
            return Some(Route {
                links: Vec::new(),
                bottleneck_bps: u64::MAX,
            });
        }
        let links = if let Some(l) = self.direct(from, to) {
            vec![l]
        } else if from != self.hub && to != self.hub {
            vec![self.direct(from, self.hub)?, self.direct(self.hub, to)?]
        } else {
            return None;
        };
        let bottleneck_bps = links
            .iter()
            .filter_map(|l| self.link(*l))
            .map(|l| l.bandwidth_bps)
            .min()
            .unwrap_or(u64::MAX);
        Some(Route {
            links,
            bottleneck_bps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAR: &str = r#"
hub = "Beijing"
[[site]]
id = 1
name = "Beijing"
role = "hub"
[[site]]
id = 2
name = "Jiangmen"
[[site]]
id = 3
name = "Dongguan"
[[link]]
from = "Beijing"
to = "Jiangmen"
bandwidth_gbps = 2
[[link]]
from = "Beijing"
to = "Dongguan"
bandwidth_gbps = 20
"#;

    #[test]
    fn routes_through_the_hub_when_no_direct_link() {
        let t = Topology::from_toml(STAR, "star.toml").expect("valid");
        let r = t.route(SiteId(2), SiteId(3)).expect("route");
        assert_eq!(r.links.len(), 2);
        assert_eq!(r.bottleneck_bps, 2_000_000_000);
        let names: Vec<_> = r
            .links
            .iter()
            .map(|l| {
                let l = t.link(*l).expect("link");
                (t.name(l.from), t.name(l.to))
            })
            .collect();
        assert_eq!(
            names,
            vec![
                ("Jiangmen".into(), "Beijing".into()),
                ("Beijing".into(), "Dongguan".into())
            ]
        );
        assert_eq!(
            t.route(SiteId(1), SiteId(3)).expect("direct").links.len(),
            1
        );
        assert!(t
            .route(SiteId(1), SiteId(1))
            .expect("self")
            .links
            .is_empty());
    }

    #[test]
    fn unknown_site_in_link_is_named() {
        let bad = STAR.replace("to = \"Dongguan\"", "to = \"Dongguang\"");
        let e = Topology::from_toml(&bad, "t.toml").expect_err("must fail");
        assert!(e.to_string().contains("Dongguang"), "{e}");
        assert!(e.to_string().starts_with("t.toml"), "{e}");
    }

    #[test]
    fn unreachable_site_is_rejected() {
        let bad = format!("{STAR}\n[[site]]\nid = 4\nname = \"Daocheng\"\n");
        let e = Topology::from_toml(&bad, "t.toml").expect_err("must fail");
        assert!(e.to_string().contains("no route"), "{e}");
    }

    #[test]
    fn syntax_error_reports_line() {
        let e = Topology::from_toml("hub = \n", "t.toml").expect_err("must fail");
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn duplicate_ids_rejected() {
        let bad = STAR.replace("id = 3", "id = 2");
        assert!(Topology::from_toml(&bad, "t").is_err());
    }
}
