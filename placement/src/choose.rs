//! Choosing the sites that hold an object: the rule's count and site
//! expression, weighed by how soon each candidate could have its copy (the
//! route from the ingest site and what is already queued on it) and by the
//! room left at each site.

use std::collections::{BTreeMap, HashMap};

use crate::plan::crossing_s;
use crate::{Policy, SiteId, Topology};

/// The object being placed, as far as rules can see it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub metadata: Option<&'a HashMap<String, String>>,
    /// Which of the policy's [`Policy::datasets`] the object belongs to.
    pub datasets: &'a [String],
    pub size: u64,
}

impl<'a> Subject<'a> {
    /// An object known only by name (size 0, no metadata, no dataset).
    pub fn new(bucket: &'a str, key: &'a str) -> Self {
        Subject {
            bucket,
            key,
            metadata: None,
            datasets: &[],
            size: 0,
        }
    }
}

/// What the federation is busy with: the other half of a placement decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Load {
    /// Bytes free at each site; a site not listed has its declared capacity
    /// free (or, with no capacity declared, unlimited room).
    pub free_bytes: BTreeMap<SiteId, u64>,
    /// Seconds of traffic queued on each link, by `LinkId`.
    pub link_backlog_s: Vec<f64>,
}

impl Load {
    fn free(&self, topo: &Topology, site: SiteId) -> u64 {
        match self.free_bytes.get(&site) {
            Some(f) => *f,
            None => match topo.site(site).map(|s| s.capacity_bytes) {
                Some(0) | None => u64::MAX,
                Some(c) => c,
            },
        }
    }
}

/// Why placement chose a site, in a form small enough to record with each
/// replica (the numbers are stored: never renumber).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Ingest = 1,
    Preferred = 2,
    Hub = 3,
    EarliestArrival = 4,
    /// Chosen without room for the object: no site with room was left.
    NoRoomLeft = 5,
    /// Added by a policy change or a drain.
    PolicyChange = 6,
}

impl Reason {
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            1 => Reason::Ingest,
            2 => Reason::Preferred,
            3 => Reason::Hub,
            4 => Reason::EarliestArrival,
            5 => Reason::NoRoomLeft,
            6 => Reason::PolicyChange,
            _ => return None,
        })
    }

    pub fn describe(self) -> &'static str {
        match self {
            Reason::Ingest => "ingest site",
            Reason::Preferred => "preferred by its rule",
            Reason::Hub => "the hub",
            Reason::EarliestArrival => "earliest arrival from ingest",
            Reason::NoRoomLeft => "no site with room was left",
            Reason::PolicyChange => "added by a policy change or drain",
        }
    }
}

/// Where one object must live, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub rule: String,
    /// The ingest site first, then the others in the order they were chosen.
    pub sites: Vec<SiteId>,
    /// One line per chosen site saying why it was chosen.
    pub reasons: Vec<String>,
    /// The same, as codes to record with each replica.
    pub kinds: Vec<Reason>,
}

fn tb(bytes: u64) -> String {
    if bytes == u64::MAX {
        "unbounded room".to_string()
    } else {
        format!("{:.1} TB free", bytes as f64 / 1e12)
    }
}

/// Chooses the sites that must hold an object born at `ingest`.
///
/// The ingest site always holds a copy (the write lands there first). The
/// rule's preferred sites come next, then the hub, then the remaining
/// allowed sites by when the copy could arrive: the route's bandwidth from
/// the ingest site for this size plus the busiest link's queue on that
/// route; ties by room left, then site id, so the choice is deterministic.
/// Sites without room for the object are taken only if nothing else is left.
pub fn place(
    topo: &Topology,
    policy: &Policy,
    object: &Subject<'_>,
    ingest: SiteId,
    load: &Load,
) -> Placement {
    let rule = policy.rule_for(object);
    let want = rule.copies as usize;
    let mut sites = vec![ingest];
    let mut reasons = vec![format!(
        "{}: ingest site, holds the first copy",
        topo.name(ingest)
    )];
    let mut kinds = vec![Reason::Ingest];
    let allowed = |s: SiteId| {
        !policy.drained().contains(&s)
            && rule.sites.as_ref().is_none_or(|(_, set)| set.contains(&s))
    };
    let room = |s: SiteId| load.free(topo, s) >= object.size;
    let mut push = |s: SiteId, kind: Reason, why: String, sites: &mut Vec<SiteId>| {
        if sites.len() < want && !sites.contains(&s) && topo.site(s).is_some() && allowed(s) {
            sites.push(s);
            reasons.push(format!("{}: {why}", topo.name(s)));
            kinds.push(kind);
        }
    };
    for p in &rule.prefer {
        if room(*p) {
            push(
                *p,
                Reason::Preferred,
                format!("preferred by rule {}", rule.name),
                &mut sites,
            );
        }
    }
    if room(topo.hub()) {
        push(topo.hub(), Reason::Hub, "the hub".to_string(), &mut sites);
    }
    // (arrival estimate, room, id) for every other site with a route.
    let mut rest: Vec<(f64, u64, SiteId, String)> = topo
        .sites()
        .iter()
        .filter(|s| !sites.contains(&s.id))
        .filter_map(|s| {
            let r = topo.route(ingest, s.id)?;
            let queued = r
                .links
                .iter()
                .filter_map(|l| load.link_backlog_s.get(l.0))
                .copied()
                .filter(|q| q.is_finite())
                .fold(0.0, f64::max);
            let eta = queued + crossing_s(object.size, r.bottleneck_bps);
            let free = load.free(topo, s.id);
            let why = format!(
                "earliest arrival from ingest: {} Gb/s route, {queued:.1} s queued, {}",
                r.bottleneck_bps as f64 / 1e9,
                tb(free)
            );
            Some((eta, free, s.id, why))
        })
        .collect();
    rest.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    for (_, free, s, why) in &rest {
        if *free >= object.size {
            push(*s, Reason::EarliestArrival, why.clone(), &mut sites);
        }
    }
    // Short of sites with room: the copy is still owed; say so.
    for (_, _, s, why) in rest {
        push(
            s,
            Reason::NoRoomLeft,
            format!("{why}; no site with room was left"),
            &mut sites,
        );
    }
    Placement {
        rule: rule.name.clone(),
        sites,
        reasons,
        kinds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAR: &str = include_str!("../../node/config/topology.toml");

    #[test]
    fn backlog_and_room_move_a_copy() {
        let t = Topology::from_toml(STAR, "t").expect("topology");
        let p = Policy::from_toml("[default]\ncopies = 3\n", "p", &t).expect("policy");
        let id = |n: &str| t.site_by_name(n).expect("site").id;
        let object = Subject {
            size: 10_000_000_000,
            ..Subject::new("b", "k")
        };
        // Idle: Jiangmen's data goes to the hub, then the fastest route
        // from Jiangmen (all through the hub at 2 Gb/s: ties by room, so
        // Huairou's 20 PB beat Dongguan's and Daocheng's 10 PB).
        let idle = place(&t, &p, &object, id("Jiangmen"), &Load::default());
        assert_eq!(idle.sites[2], id("Huairou"));
        // Beijing -> Huairou queued for an hour: Dongguan is sooner.
        let mut load = Load {
            link_backlog_s: vec![0.0; t.links().len()],
            ..Load::default()
        };
        let bj_hr = t
            .links()
            .iter()
            .position(|l| l.from == id("Beijing") && l.to == id("Huairou"))
            .expect("link");
        load.link_backlog_s[bj_hr] = 3600.0;
        let busy = place(&t, &p, &object, id("Jiangmen"), &load);
        assert_eq!(busy.sites[2], id("Dongguan"));
        assert!(
            busy.reasons[2].contains("0.0 s queued"),
            "{:?}",
            busy.reasons
        );
        // Dongguan full too: Daocheng.
        load.free_bytes.insert(id("Dongguan"), 1);
        let full = place(&t, &p, &object, id("Jiangmen"), &load);
        assert_eq!(full.sites[2], id("Daocheng"));
    }

    #[test]
    fn rules_match_on_metadata() {
        let t = Topology::from_toml(STAR, "t").expect("topology");
        let p = Policy::from_toml(
            "[default]\ncopies = 2\n[[rule]]\nname = \"raw\"\nmetadata = { kind = \"raw\" }\ncopies = 4\npriority = 5\nwithin = \"6h\"\nack = 2\n",
            "p",
            &t,
        )
        .expect("policy");
        let raw = HashMap::from([("kind".to_string(), "raw".to_string())]);
        let other = HashMap::from([("kind".to_string(), "derived".to_string())]);
        let subject = |m| Subject {
            metadata: m,
            ..Subject::new("b", "k")
        };
        let r = p.rule_for(&subject(Some(&raw)));
        assert_eq!(
            (r.name.as_str(), r.copies, r.priority, r.within_s, r.ack),
            ("raw", 4, 5, Some(21_600), 2)
        );
        assert_eq!(p.rule_for(&subject(Some(&other))).name, "default");
        assert_eq!(p.rule_for(&subject(None)).name, "default");
    }
}
