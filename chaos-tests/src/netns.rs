//! A network for the five sites, made by the test and removed with it: each
//! site in a network namespace of its own, joined to the others over a
//! backbone (a bridge in a namespace of its own) by a veth pair whose both
//! ends are shaped with `tc tbf` at the site's uplink rate (the brief's
//! ratios, scaled down). Each node listens on an address of its own on its
//! namespace's loopback, reached from the other sites over the backbone and
//! from the test (in the root namespace) over a separate, unshaped veth: a
//! partition cuts the backbone only, so the test can still ask a cut-off
//! node what it does.
//!
//! A partition is made with blackhole routes (this kernel has no netem, and
//! they need no extra module): a cut-off site's packets to the others are
//! dropped at the sender, and theirs to it, so established connections
//! stall as over a cut fibre and new ones fail.
//!
//! Needs root and iproute2; [`Fabric::create`] says why not otherwise, and
//! the test then says it skipped.

use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::sites::Site;

/// Each site's uplink in Mbit/s: the brief's Gb/s to Beijing, divided by
/// a thousand (Beijing, the hub, as fast as its fastest peer).
pub const UPLINK_MBIT: [u32; 5] = [100, 100, 20, 3, 2];

fn run(args: &[&str]) -> Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The five sites' namespaces and links.
pub struct Fabric {
    /// Distinguishes this fabric's names and addresses from another test's.
    tag: u8,
    created: Vec<String>,
    root_links: Vec<String>,
    cut: [bool; 5],
}

impl Fabric {
    fn ns(&self, i: usize) -> String {
        format!("mrd{}s{i}", self.tag)
    }

    fn backbone(&self) -> String {
        format!("mrd{}bb", self.tag)
    }

    /// The address the node at `site` listens on.
    pub fn addr(&self, site: Site) -> Ipv4Addr {
        Ipv4Addr::new(10, 201, self.tag, site.index() as u8 + 1)
    }

    fn link_addr(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, self.tag, i as u8 + 1)
    }

    fn in_ns(&self, i: usize, args: &[&str]) -> Result<()> {
        let ns = self.ns(i);
        let mut all = vec!["ip", "netns", "exec", ns.as_str()];
        all.extend_from_slice(args);
        run(&all)
    }

    /// The command prefix that runs a program in `site`'s namespace.
    pub fn exec_prefix(&self, site: Site) -> Vec<String> {
        vec![
            "ip".into(),
            "netns".into(),
            "exec".into(),
            self.ns(site.index() as usize),
        ]
    }

    /// Whether namespaces can be made here (root, iproute2, a kernel that
    /// allows them), by making and removing one.
    pub fn check() -> Result<()> {
        if !is_root() {
            bail!("network namespaces need root");
        }
        run(&["ip", "-V"]).context("iproute2 is needed")?;
        let probe = format!("mrdprobe{}", std::process::id());
        run(&["ip", "netns", "add", &probe])?;
        run(&["ip", "netns", "del", &probe])
    }

    /// Builds the fabric, or says why it cannot be built here.
    pub fn create() -> Result<Fabric> {
        Self::check()?;
        // Unique per process; tests in one process take turns (the cluster
        // tests run one per process under nextest).
        let tag = (std::process::id() % 250) as u8 + 1;
        let mut f = Fabric {
            tag,
            created: Vec::new(),
            root_links: Vec::new(),
            cut: [false; 5],
        };
        f.build().inspect_err(|_| f.remove())?;
        Ok(f)
    }

    fn build(&mut self) -> Result<()> {
        let t = self.tag;
        let bb = self.backbone();
        // Left over by a test that was killed: start clean.
        for i in 0..5 {
            let _ = run(&["ip", "netns", "del", &self.ns(i)]);
            let _ = run(&["ip", "link", "del", &format!("mrd{t}c{i}")]);
        }
        let _ = run(&["ip", "netns", "del", &bb]);
        run(&["ip", "netns", "add", &bb])?;
        self.created.push(bb.clone());
        let inb = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", bb.as_str()];
            all.extend_from_slice(args);
            run(&all)
        };
        inb(&["ip", "link", "add", "br0", "type", "bridge"])?;
        inb(&["ip", "link", "set", "br0", "up"])?;
        for site in Site::ALL {
            let i = site.index() as usize;
            let ns = self.ns(i);
            run(&["ip", "netns", "add", &ns])?;
            self.created.push(ns.clone());
            self.in_ns(i, &["ip", "link", "set", "lo", "up"])?;
            let me = format!("{}/32", self.addr(site));
            self.in_ns(i, &["ip", "addr", "add", &me, "dev", "lo"])?;

            // The backbone link, shaped at both ends.
            let (a, b) = (format!("mrd{t}u{i}"), format!("mrd{t}b{i}"));
            run(&["ip", "link", "add", &a, "type", "veth", "peer", "name", &b])?;
            run(&["ip", "link", "set", &a, "netns", &ns])?;
            run(&["ip", "link", "set", &b, "netns", &bb])?;
            let link = format!("{}/24", self.link_addr(i));
            self.in_ns(i, &["ip", "addr", "add", &link, "dev", &a])?;
            self.in_ns(i, &["ip", "link", "set", &a, "up"])?;
            inb(&["ip", "link", "set", &b, "master", "br0"])?;
            inb(&["ip", "link", "set", &b, "up"])?;
            let rate = format!("{}mbit", UPLINK_MBIT[i]);
            self.in_ns(i, &strs(&tbf("add", &a, &rate)))?;
            inb(&strs(&tbf("add", &b, &rate)))?;

            // The test's own way in, unshaped.
            let (c, d) = (format!("mrd{t}c{i}"), format!("mrd{t}d{i}"));
            run(&["ip", "link", "add", &c, "type", "veth", "peer", "name", &d])?;
            self.root_links.push(c.clone());
            run(&["ip", "link", "set", &d, "netns", &ns])?;
            let (root_side, ns_side) = (
                Ipv4Addr::new(10, 202, t, 4 * i as u8 + 1),
                Ipv4Addr::new(10, 202, t, 4 * i as u8 + 2),
            );
            run(&["ip", "addr", "add", &format!("{root_side}/30"), "dev", &c])?;
            run(&["ip", "link", "set", &c, "up"])?;
            self.in_ns(
                i,
                &["ip", "addr", "add", &format!("{ns_side}/30"), "dev", &d],
            )?;
            self.in_ns(i, &["ip", "link", "set", &d, "up"])?;
            run(&["ip", "route", "replace", &me, "via", &ns_side.to_string()])?;
        }
        // Each site reaches the others' addresses over the backbone.
        for s in Site::ALL {
            self.set_routes(s, false)?;
        }
        Ok(())
    }

    /// Routes from `site` to every other site's address: over the backbone,
    /// or (`cut`) into a blackhole, where a cut-off site also loses theirs.
    fn set_routes(&self, site: Site, cut: bool) -> Result<()> {
        let i = site.index() as usize;
        for other in Site::ALL {
            if other == site {
                continue;
            }
            let j = other.index() as usize;
            let dst = format!("{}/32", self.addr(other));
            let blocked = cut || self.cut[j];
            if blocked {
                self.in_ns(i, &["ip", "route", "replace", "blackhole", &dst])?;
            } else {
                let via = self.link_addr(j).to_string();
                let src = self.addr(site).to_string();
                self.in_ns(
                    i,
                    &["ip", "route", "replace", &dst, "via", &via, "src", &src],
                )?;
            }
        }
        Ok(())
    }

    /// Cuts `site` off from every other site (not from the test).
    pub fn partition(&mut self, site: Site) -> Result<()> {
        self.cut[site.index() as usize] = true;
        self.reroute()
    }

    /// Joins `site` to the others again.
    pub fn heal(&mut self, site: Site) -> Result<()> {
        self.cut[site.index() as usize] = false;
        self.reroute()
    }

    fn reroute(&self) -> Result<()> {
        for s in Site::ALL {
            self.set_routes(s, self.cut[s.index() as usize])?;
        }
        Ok(())
    }

    /// Sets `site`'s uplink to `mbit` (both ends).
    pub fn set_uplink(&self, site: Site, mbit: u32) -> Result<()> {
        let i = site.index() as usize;
        let t = self.tag;
        let rate = format!("{mbit}mbit");
        self.in_ns(i, &strs(&tbf("change", &format!("mrd{t}u{i}"), &rate)))?;
        let bb = self.backbone();
        let mut all = vec!["ip", "netns", "exec", bb.as_str()];
        let args = tbf("change", &format!("mrd{t}b{i}"), &rate);
        all.extend(strs(&args));
        run(&all)
    }

    fn remove(&mut self) {
        for l in self.root_links.drain(..) {
            let _ = run(&["ip", "link", "del", &l]);
        }
        for ns in self.created.drain(..).rev() {
            let _ = run(&["ip", "netns", "del", &ns]);
        }
    }
}

/// `tc qdisc VERB` of a token bucket at `rate` on `dev`.
fn tbf(verb: &str, dev: &str, rate: &str) -> Vec<String> {
    [
        "tc", "qdisc", verb, "dev", dev, "root", "tbf", "rate", rate, "burst", "64kb", "latency",
        "200ms",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

impl Drop for Fabric {
    fn drop(&mut self) {
        self.remove();
    }
}
