//! `meridianctl cluster`: the cluster CA and the nodes' certificates for the
//! cluster port. Offline: these commands write files and call no node.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{bail, Context};
use clap::Subcommand;
use meridian_tls::{ClusterCa, ClusterFiles};

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Make the cluster CA and a certificate for each node, in DIR (which
    /// must not hold a CA already). Copy ca.pem and node-ID.pem/.key to
    /// each node; keep ca.key offline.
    Init {
        /// Directory to write into.
        #[arg(long)]
        out: PathBuf,
        /// The cluster's name, in the CA's subject.
        #[arg(long, default_value = "meridian")]
        name: String,
        /// ID=HOST[,HOST...]: node ID, reached by its peers at these names
        /// or addresses (as in [meta.voters] and [data.peers]). Repeat.
        #[arg(long = "node", required = true)]
        nodes: Vec<String>,
    },
    /// Certificates for more nodes (a node joining, or one whose
    /// certificate is due), signed by the CA in DIR. Files are never
    /// overwritten: a renewal goes to another --out, then replaces the
    /// node's files by hand.
    Issue {
        /// The directory `init` wrote (ca.pem, ca.key).
        #[arg(long)]
        ca: PathBuf,
        /// Where to write node-ID.pem/.key (default: beside the CA).
        #[arg(long)]
        out: Option<PathBuf>,
        /// ID=HOST[,HOST...]. Repeat.
        #[arg(long = "node", required = true)]
        nodes: Vec<String>,
    },
}

/// `ID=HOST[,HOST...]`.
fn parse_node(spec: &str) -> anyhow::Result<(u64, Vec<String>)> {
    let (id, hosts) = spec
        .split_once('=')
        .with_context(|| format!("--node {spec:?}: expected ID=HOST[,HOST...]"))?;
    let id: u64 = id
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .with_context(|| format!("--node {spec:?}: {id:?} is not a node id"))?;
    let hosts: Vec<String> = hosts
        .split(',')
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .collect();
    if hosts.is_empty() {
        bail!("--node {spec:?}: no host name or address");
    }
    Ok((id, hosts))
}

fn issue_all(
    ca: &ClusterCa,
    out: &ClusterFiles,
    nodes: &[(u64, Vec<String>)],
    now: SystemTime,
) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for (id, hosts) in nodes {
        let name = format!("node-{id}");
        ca.issue(&name, hosts, now)?.save(out, &name)?;
        lines.push(format!(
            "  {}  {}  for {}",
            out.node_cert(&name).display(),
            out.node_key(&name).display(),
            hosts.join(", ")
        ));
    }
    Ok(lines)
}

pub fn run(command: ClusterCommand) -> anyhow::Result<String> {
    let now = SystemTime::now();
    match command {
        ClusterCommand::Init { out, name, nodes } => {
            let nodes = nodes
                .iter()
                .map(|s| parse_node(s))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let files = ClusterFiles::new(out);
            let ca = ClusterCa::generate(&name, now)?;
            ca.save(&files)?;
            let lines = issue_all(&ca, &files, &nodes, now)?;
            Ok(format!(
                "cluster CA {} (key {}: keep it offline)\n{}\n\
                 each node: [tls] cluster_ca, cluster_cert, cluster_key in its file, \
                 or these files in <data_dir>/tls/",
                files.ca_cert().display(),
                files.ca_key().display(),
                lines.join("\n")
            ))
        }
        ClusterCommand::Issue { ca, out, nodes } => {
            let nodes = nodes
                .iter()
                .map(|s| parse_node(s))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let ca_files = ClusterFiles::new(&ca);
            let authority = ClusterCa::load(&ca_files, now)
                .with_context(|| format!("loading the cluster CA in {}", ca.display()))?;
            let out = out.map(ClusterFiles::new).unwrap_or(ca_files);
            Ok(issue_all(&authority, &out, &nodes, now)?.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_specs() {
        let (id, hosts) = parse_node("3=10.1.0.3, meta3.dg").expect("valid");
        assert_eq!(id, 3);
        assert_eq!(hosts, ["10.1.0.3", "meta3.dg"]);
        for bad in ["3", "0=h", "x=h", "3=", "3= , "] {
            assert!(parse_node(bad).is_err(), "{bad:?} accepted");
        }
    }
}
