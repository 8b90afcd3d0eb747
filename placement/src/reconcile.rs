//! What an existing object needs when the policy changes: replicas to add
//! and replicas to drop, in that order: a replica is dropped only once the
//! replicas that stay are complete and at least as many as the rule asks,
//! so no object ever has fewer complete copies than its policy's count
//! during a move.

use crate::{place, Load, Policy, SiteId, Subject, Topology};

/// One replica of an object as the catalogue has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub site: SiteId,
    pub complete: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Change {
    pub rule: String,
    /// Sites that must receive a copy.
    pub add: Vec<SiteId>,
    /// Replicas to drop now (the ones that stay already satisfy the rule).
    pub drop: Vec<SiteId>,
    /// Replicas that will be dropped once the added copies are complete.
    pub drop_later: Vec<SiteId>,
    /// Complete replicas that must remain after `drop`.
    pub min_complete: u32,
    /// The rule cannot be met without sites it excludes or that are being
    /// drained: replicas there are kept.
    pub blocked: bool,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.drop.is_empty()
    }
}

/// The change that brings `held` in line with `policy`.
pub fn reconcile(
    topo: &Topology,
    policy: &Policy,
    object: &Subject<'_>,
    ingest: SiteId,
    held: &[Held],
) -> Change {
    let rule = policy.rule_for(object);
    let want = rule.copies as usize;
    let keeps = |s: SiteId| topo.site(s).is_some() && policy.keeps(rule, ingest, s);
    // Placement's order of preference, for this object with no load: the
    // same input always gives the same answer.
    // Beyond placement's own choice, the other sites by route from ingest.
    let mut order = place(topo, policy, object, ingest, &Load::default()).sites;
    let mut rest: Vec<(u64, SiteId)> = topo
        .sites()
        .iter()
        .filter(|s| !order.contains(&s.id))
        .map(|s| {
            let bps = topo.route(ingest, s.id).map_or(0, |r| r.bottleneck_bps);
            (bps, s.id)
        })
        .collect();
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    order.extend(rest.into_iter().map(|(_, s)| s));
    let rank = |s: SiteId| order.iter().position(|o| *o == s).unwrap_or(usize::MAX);

    // The replicas to keep: allowed ones, complete first, then as placement
    // prefers them, up to the count.
    let mut good: Vec<Held> = held.iter().copied().filter(|h| keeps(h.site)).collect();
    good.sort_by_key(|h| (!h.complete, rank(h.site), h.site));
    good.truncate(want);
    let mut add = Vec::new();
    for s in &order {
        if good.len() + add.len() >= want {
            break;
        }
        if keeps(*s) && !held.iter().any(|h| h.site == *s) {
            add.push(*s);
        }
    }
    let blocked = good.len() + add.len() < want;
    let extra: Vec<SiteId> = held
        .iter()
        .map(|h| h.site)
        .filter(|s| !good.iter().any(|g| g.site == *s))
        .collect();
    // Drop only what the complete replicas that stay make unnecessary.
    let complete_kept = good.iter().filter(|g| g.complete).count();
    // Blocked: every replica counts towards a rule that cannot be met
    // without the ones it would rather not have; keep them all.
    let extra = if blocked { Vec::new() } else { extra };
    let (drop, drop_later) = if complete_kept < want || !add.is_empty() {
        (Vec::new(), extra)
    } else {
        (extra, Vec::new())
    };
    Change {
        rule: rule.name.clone(),
        add,
        drop,
        drop_later,
        min_complete: rule.copies,
        blocked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const STAR: &str = include_str!("../../node/config/topology.toml");

    fn held(t: &Topology, sites: &[(&str, bool)]) -> Vec<Held> {
        sites
            .iter()
            .map(|(n, c)| Held {
                site: t.site_by_name(n).expect("site").id,
                complete: *c,
            })
            .collect()
    }

    #[test]
    fn copies_first_then_drops() {
        let t = Topology::from_toml(STAR, "t").expect("topology");
        let id = |n: &str| t.site_by_name(n).expect("site").id;
        let p = Policy::from_toml("[default]\ncopies = 2\nsites = \"Dongguan\"\n", "p", &t)
            .expect("policy");
        let s = Subject::new("b", "k");
        // Born at Jiangmen, held at Jiangmen and Beijing: Dongguan replaces
        // Beijing, which stays until Dongguan's copy is complete.
        let c = reconcile(
            &t,
            &p,
            &s,
            id("Jiangmen"),
            &held(&t, &[("Jiangmen", true), ("Beijing", true)]),
        );
        assert_eq!(c.add, vec![id("Dongguan")]);
        assert!(c.drop.is_empty());
        assert_eq!(c.drop_later, vec![id("Beijing")]);
        let c = reconcile(
            &t,
            &p,
            &s,
            id("Jiangmen"),
            &held(
                &t,
                &[("Jiangmen", true), ("Beijing", true), ("Dongguan", false)],
            ),
        );
        assert!(c.add.is_empty() && c.drop.is_empty());
        let c = reconcile(
            &t,
            &p,
            &s,
            id("Jiangmen"),
            &held(
                &t,
                &[("Jiangmen", true), ("Beijing", true), ("Dongguan", true)],
            ),
        );
        assert_eq!(c.drop, vec![id("Beijing")]);
        assert_eq!(c.min_complete, 2);
    }

    #[test]
    fn a_drain_moves_the_ingest_copy_but_never_below_the_count() {
        let t = Topology::from_toml(STAR, "t").expect("topology");
        let id = |n: &str| t.site_by_name(n).expect("site").id;
        let p = Policy::from_toml("[default]\ncopies = 2\n", "p", &t)
            .expect("policy")
            .with_drained(BTreeSet::from([id("Jiangmen")]));
        let s = Subject::new("b", "k");
        let h = held(&t, &[("Jiangmen", true), ("Beijing", true)]);
        let c = reconcile(&t, &p, &s, id("Jiangmen"), &h);
        assert_eq!(c.add, vec![id("Huairou")]);
        assert_eq!(c.drop_later, vec![id("Jiangmen")]);
        // A rule that needs every site cannot leave the drained one.
        let p = Policy::from_toml("[default]\ncopies = 5\n", "p", &t)
            .expect("policy")
            .with_drained(BTreeSet::from([id("Jiangmen")]));
        let all: Vec<(&str, bool)> = ["Beijing", "Huairou", "Dongguan", "Daocheng", "Jiangmen"]
            .iter()
            .map(|n| (*n, true))
            .collect();
        let c = reconcile(&t, &p, &s, id("Jiangmen"), &held(&t, &all));
        assert!(c.blocked && c.drop.is_empty() && c.add.is_empty() && c.drop_later.is_empty());
    }
}
