//! Properties of the planner over random topologies and workloads.

use std::collections::{BTreeMap, BTreeSet};

use meridian_placement::{plan, Plan, SiteId, Topology, Transfer, Work};
use proptest::prelude::*;

const EPS: f64 = 1e-6;

/// A topology of `n` sites: every site linked to the hub (site 1), plus the
/// extra links given as (from, to, Gb/s, duplex).
fn topology(n: u32, hub_gbps: &[u32], extra: &[(u32, u32, u32, bool)]) -> Topology {
    let mut text = String::from("hub = \"s1\"\n");
    for i in 1..=n {
        text += &format!("[[site]]\nid = {i}\nname = \"s{i}\"\n");
    }
    for i in 2..=n {
        let g = hub_gbps[(i as usize) % hub_gbps.len()];
        text += &format!("[[link]]\nfrom = \"s1\"\nto = \"s{i}\"\nbandwidth_gbps = {g}\n");
    }
    let mut seen = BTreeSet::new();
    for &(a, b, g, duplex) in extra {
        let (a, b) = (a % n + 1, b % n + 1);
        if a == b || a == 1 || b == 1 || !seen.insert((a.min(b), a.max(b))) {
            continue;
        }
        text += &format!(
            "[[link]]\nfrom = \"s{a}\"\nto = \"s{b}\"\nbandwidth_gbps = {g}\nduplex = {duplex}\n"
        );
    }
    Topology::from_toml(&text, "random").expect("generated topology is valid")
}

prop_compose! {
    fn case()(
        n in 2u32..=6,
        hub_gbps in prop::collection::vec(1u32..=100, 1..6),
        extra in prop::collection::vec((0u32..6, 0u32..6, 1u32..=100, any::<bool>()), 0..6),
        sizes in prop::collection::vec(1u64..=64_000_000, 1..24),
        holder_masks in prop::collection::vec(1u32..64, 24),
        transfers in prop::collection::vec(
            (0u32..6, prop::collection::vec(0usize..24, 1..8), 0u8..3, prop::option::of(0.0f64..20.0)),
            1..12,
        ),
        busy in prop::collection::vec(0.0f64..2.0, 0..4),
        relay_mask in prop::option::of(0u32..64),
    ) -> (Topology, Work) {
        let topo = topology(n, &hub_gbps, &extra);
        let chunks = sizes.len();
        let holders = (0..chunks)
            .map(|c| {
                let m = holder_masks[c] % (1 << n);
                let m = if m == 0 { 1 } else { m };
                (0..n).filter(|i| m & (1 << i) != 0).map(|i| SiteId(i + 1)).collect()
            })
            .collect();
        let transfers = transfers
            .into_iter()
            .map(|(d, cs, priority, deadline_s)| Transfer {
                dest: SiteId(d % n + 1),
                chunks: cs.into_iter().map(|c| c % chunks).collect(),
                priority,
                deadline_s,
            })
            .collect();
        let relays = relay_mask.map(|m| (0..n).filter(|i| m & (1 << i) != 0).map(|i| SiteId(i + 1)).collect());
        (topo, Work { chunk_sizes: sizes, holders, transfers, relays, link_busy_s: busy })
    }
}

/// No link carries two chunks at once, nor during its promised busy time,
/// and each crossing takes size / bandwidth.
fn links_within_capacity(topo: &Topology, work: &Work, p: &Plan) {
    let mut per_link: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
    for h in &p.hops {
        let link = topo.link(h.link).expect("hop names a link");
        assert_eq!((link.from, link.to), (h.from, h.to));
        let want = work.chunk_sizes[h.chunk] as f64 * 8.0 / link.bandwidth_bps as f64;
        assert!(((h.end_s - h.start_s) - want).abs() < EPS, "{h:?}");
        let busy = work.link_busy_s.get(h.link.0).copied().unwrap_or(0.0);
        assert!(h.start_s >= busy - EPS, "{h:?} starts inside busy {busy}");
        per_link
            .entry(h.link.0)
            .or_default()
            .push((h.start_s, h.end_s));
    }
    for (l, mut v) in per_link {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        for w in v.windows(2) {
            assert!(w[1].0 >= w[0].1 - EPS, "link {l} overlaps: {w:?}");
        }
    }
}

/// Every hop leaves a site that holds the chunk by then; every wanted chunk
/// arrives (or is reported undeliverable) and is kept there.
fn everything_delivered(work: &Work, p: &Plan) {
    let mut at: BTreeMap<(usize, SiteId), f64> = BTreeMap::new();
    for (c, h) in work.holders.iter().enumerate() {
        for s in h {
            at.insert((c, *s), 0.0);
        }
    }
    let mut hops = p.hops.clone();
    hops.sort_by(|a, b| a.end_s.total_cmp(&b.end_s));
    for h in &hops {
        let have = at.get(&(h.chunk, h.from)).copied();
        assert!(
            have.is_some_and(|t| t <= h.start_s + EPS),
            "{h:?} leaves a site without the chunk ({have:?})"
        );
        let e = at.entry((h.chunk, h.to)).or_insert(f64::INFINITY);
        *e = e.min(h.end_s);
    }
    for (t, tr) in work.transfers.iter().enumerate() {
        for &c in &tr.chunks {
            if p.undeliverable.contains(&(t, c)) {
                continue;
            }
            let held = work.holders[c].contains(&tr.dest);
            let kept = p
                .hops
                .iter()
                .any(|h| h.chunk == c && h.to == tr.dest && h.keep);
            assert!(
                held || kept,
                "transfer {t} chunk {c} never kept at {:?}",
                tr.dest
            );
            let arrive = at.get(&(c, tr.dest)).copied().unwrap_or(f64::INFINITY);
            assert!(arrive <= p.transfer_done_s[t] + EPS);
        }
    }
    // With every site allowed to relay, only chunks no one holds are lost;
    // the generator always gives each chunk a holder.
    if work.relays.is_none() {
        assert!(p.undeliverable.is_empty(), "{:?}", p.undeliverable);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn plans_respect_links_deliver_everything_and_beat_no_bound((topo, work) in case()) {
        let p = plan(&topo, &work).expect("valid work");
        links_within_capacity(&topo, &work, &p);
        everything_delivered(&work, &p);
        prop_assert!(p.completion_s >= p.lower_bound_s - EPS,
            "plan {} below bound {}", p.completion_s, p.lower_bound_s);
        // Same input, same plan.
        prop_assert_eq!(plan(&topo, &work).expect("valid work"), p);
    }
}
