//! The planner on the brief's topologies: relays, multi-source, priorities
//! and deadlines.

use std::collections::BTreeSet;

use meridian_placement::{plan, Deadline, SiteId, Topology, Transfer, Work};

const STAR: &str = include_str!("../../node/config/topology.toml");
const MESH: &str = include_str!("../../node/config/topology-mesh.toml");
const MB: u64 = 1_000_000;

fn topo(text: &str) -> Topology {
    Topology::from_toml(text, "topology.toml").expect("topology")
}

fn id(t: &Topology, name: &str) -> SiteId {
    t.site_by_name(name).expect("site").id
}

/// `chunks` chunks of `size` bytes held at `at`, wanted at each of `dests`.
fn object(t: &Topology, at: &str, dests: &[&str], chunks: usize, size: u64) -> Work {
    let holders = vec![BTreeSet::from([id(t, at)]); chunks];
    Work {
        chunk_sizes: vec![size; chunks],
        holders,
        transfers: dests
            .iter()
            .map(|d| Transfer {
                dest: id(t, d),
                chunks: (0..chunks).collect(),
                priority: 0,
                deadline_s: None,
            })
            .collect(),
        relays: None,
        link_busy_s: Vec::new(),
    }
}

/// Ten more 8 MB chunks at Beijing, wanted at Jiangmen.
fn add_replica(t: &Topology, w: &mut Work, priority: u8, deadline_s: Option<f64>) {
    let first = w.chunk_sizes.len();
    w.chunk_sizes.extend([8 * MB; 10]);
    w.holders
        .extend(vec![BTreeSet::from([id(t, "Beijing")]); 10]);
    w.transfers.push(Transfer {
        dest: id(t, "Jiangmen"),
        chunks: (first..first + 10).collect(),
        priority,
        deadline_s,
    });
}

#[test]
fn jiangmen_data_crosses_its_uplink_once() {
    let t = topo(STAR);
    let w = object(&t, "Jiangmen", &["Beijing", "Dongguan"], 100, 8 * MB);
    let p = plan(&t, &w).expect("plan");
    let uplink = p
        .hops
        .iter()
        .filter(|h| h.from == id(&t, "Jiangmen"))
        .count();
    assert_eq!(uplink, 100, "each chunk leaves Jiangmen once");
    // Dongguan gets every chunk from Beijing, which keeps it.
    assert!(p
        .hops
        .iter()
        .filter(|h| h.to == id(&t, "Dongguan"))
        .all(|h| h.from == id(&t, "Beijing") && h.keep));
    assert!(p.hops.iter().all(|h| h.keep));
    // 800 MB over 2 Gb/s is 3.2 s; the last chunk's relay adds 3.2 ms.
    assert!((p.lower_bound_s - 3.2).abs() < 1e-9, "{}", p.lower_bound_s);
    assert!(p.ratio_to_bound() < 1.01, "{}", p.ratio_to_bound());
}

#[test]
fn a_relay_that_does_not_want_the_chunk_holds_it_in_passing() {
    let t = topo(STAR);
    let w = object(&t, "Jiangmen", &["Daocheng"], 4, 8 * MB);
    let p = plan(&t, &w).expect("plan");
    assert_eq!(p.hops.len(), 8);
    for h in &p.hops {
        assert_eq!(h.keep, h.to == id(&t, "Daocheng"), "{h:?}");
    }
    // Without relays allowed at Beijing nothing can reach Daocheng.
    let mut w = w;
    w.relays = Some(BTreeSet::new());
    let p = plan(&t, &w).expect("plan");
    assert_eq!(p.undeliverable.len(), 4);
    assert!(p.transfer_done_s[0].is_infinite());
}

#[test]
fn the_mesh_feeds_jiangmen_from_two_sources() {
    let t = topo(MESH);
    let w = object(
        &t,
        "Beijing",
        &["Dongguan", "Jiangmen", "Huairou", "Daocheng"],
        120,
        8 * MB,
    );
    let p = plan(&t, &w).expect("plan");
    let into_jiangmen: BTreeSet<SiteId> = p
        .hops
        .iter()
        .filter(|h| h.to == id(&t, "Jiangmen"))
        .map(|h| h.from)
        .collect();
    assert_eq!(
        into_jiangmen,
        BTreeSet::from([id(&t, "Beijing"), id(&t, "Dongguan")])
    );
    // Daocheng's 3 Gb/s link is the bound: 960 MB in 2.56 s.
    assert!((p.lower_bound_s - 2.56).abs() < 1e-9, "{}", p.lower_bound_s);
    assert!(p.ratio_to_bound() < 1.05, "{}", p.ratio_to_bound());
    // Star: Jiangmen has one 2 Gb/s link, 3.84 s for the same bytes.
    let s = topo(STAR);
    let p = plan(
        &s,
        &object(
            &s,
            "Beijing",
            &["Dongguan", "Jiangmen", "Huairou", "Daocheng"],
            120,
            8 * MB,
        ),
    )
    .expect("plan");
    assert!((p.lower_bound_s - 3.84).abs() < 1e-9, "{}", p.lower_bound_s);
}

#[test]
fn higher_priority_goes_first_on_a_shared_link() {
    let t = topo(STAR);
    let mut w = object(&t, "Beijing", &["Jiangmen"], 10, 8 * MB);
    add_replica(&t, &mut w, 5, None);
    let p = plan(&t, &w).expect("plan");
    assert!(p.transfer_done_s[1] < p.transfer_done_s[0]);
    assert!((p.transfer_done_s[1] - 0.32).abs() < 1e-9);
    assert!((p.transfer_done_s[0] - 0.64).abs() < 1e-9);
}

#[test]
fn deadlines_are_admitted_only_where_the_plan_meets_them() {
    let t = topo(STAR);
    // Two 80 MB replicas to Jiangmen (0.32 s each at 2 Gb/s).
    let mut w = object(&t, "Beijing", &["Jiangmen"], 10, 8 * MB);
    add_replica(&t, &mut w, 0, Some(0.4));
    // Impossible: 80 MB in 0.1 s.
    add_replica(&t, &mut w, 0, Some(0.1));
    let p = plan(&t, &w).expect("plan");
    match p.deadlines[1] {
        Deadline::Admitted { predicted_s, .. } => assert!((predicted_s - 0.32).abs() < 1e-9),
        d => panic!("{d:?}"),
    }
    // Withdrawn, then planned after the admitted one and the rest.
    match p.deadlines[2] {
        Deadline::Infeasible { predicted_s, .. } => assert!((predicted_s - 0.96).abs() < 1e-9),
        d => panic!("{d:?}"),
    }
    assert_eq!(p.deadlines[0], Deadline::None);
}

#[test]
fn bad_work_is_refused() {
    let t = topo(STAR);
    let mut w = object(&t, "Beijing", &["Jiangmen"], 2, MB);
    w.transfers[0].chunks.push(7);
    assert!(plan(&t, &w)
        .expect_err("refused")
        .to_string()
        .contains("chunk 7"));
    let mut w = object(&t, "Beijing", &["Jiangmen"], 2, MB);
    w.transfers[0].dest = SiteId(99);
    assert!(plan(&t, &w)
        .expect_err("refused")
        .to_string()
        .contains("site 99"));
}
