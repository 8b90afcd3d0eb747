//! The cluster port speaks mutual TLS under the cluster CA: a caller whose
//! certificate that CA did not sign (or who has none, or who speaks plain
//! HTTP/2) is refused in the handshake, before any RPC runs. Certificates
//! are made as an administrator makes them, with `meridianctl cluster`.

use anyhow::{ensure, Context, Result};
use meridian_chaos_tests::certs::{meridianctl_cluster, Peer};
use meridian_chaos_tests::{DevCluster, DevOptions};
use meridian_proto::v1::data_node_service_client::DataNodeServiceClient;
use meridian_proto::v1::HasChunksRequest;
use tonic::transport::{Channel, Endpoint};

/// Whether the health service says the data-node service is serving; an
/// error when no call gets through.
async fn data_node_health(endpoint: Endpoint) -> Result<bool> {
    let channel: Channel = endpoint.connect().await.context("connect")?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let r = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "meridian.v1.DataNodeService".into(),
        })
        .await
        .context("health check")?;
    Ok(r.into_inner().status
        == tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
}

/// The call failed, and the TLS handshake is why (not a service's answer).
fn refused_in_handshake(result: Result<bool>, what: &str, because: &str) -> Result<()> {
    let Err(e) = result else {
        anyhow::bail!("{what}: a call got through");
    };
    let why = format!("{e:#}");
    ensure!(
        why.contains("transport error") && why.contains(because),
        "{what}: {why}"
    );
    Ok(())
}

fn path(p: &std::path::Path) -> Result<&str> {
    p.to_str().context("a non-UTF-8 path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_port_admits_only_certificates_of_the_cluster_ca() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let addr = cluster.cluster_addr();
    let dev = cluster.cluster_tls_dir();
    let dev_ca = dev.join("ca.pem");
    ensure!(
        dev_ca.is_file(),
        "meridian dev made no CA in {}",
        dev.display()
    );
    let scratch = tempfile::tempdir()?;

    // A new member, issued by the dev's CA.
    let member_dir = scratch.path().join("member");
    let said = meridianctl_cluster(&[
        "issue",
        "--ca",
        path(&dev)?,
        "--out",
        path(&member_dir)?,
        "--node",
        "9=127.0.0.1",
    ])?;
    ensure!(said.contains("node-9.pem"), "{said}");
    let member = Peer::of(&member_dir, 9, &dev_ca);
    ensure!(
        data_node_health(member.endpoint(&addr, true)?).await?,
        "a member the cluster CA signed is served"
    );
    let channel = member.endpoint(&addr, true)?.connect().await?;
    let held = DataNodeServiceClient::new(channel)
        .has_chunks(HasChunksRequest {
            site: "Beijing".into(),
            hashes: vec![vec![0u8; 32]],
        })
        .await
        .context("a member's chunk query runs")?;
    ensure!(held.get_ref().present == [false], "{:?}", held.get_ref());

    // A rogue: a CA of its own under the same cluster name, a certificate
    // for the same node id and address; it trusts the dev's server.
    let rogue_dir = scratch.path().join("rogue");
    meridianctl_cluster(&["init", "--out", path(&rogue_dir)?, "--node", "9=127.0.0.1"])?;
    let rogue = Peer::of(&rogue_dir, 9, &dev_ca);
    let refused = data_node_health(rogue.endpoint(&addr, true)?).await;
    refused_in_handshake(
        refused,
        "a rogue CA's certificate is refused",
        // The server's alert (UnknownCA) races the close it is sent with.
        "",
    )?;

    // No certificate at all, over TLS.
    let refused = data_node_health(member.endpoint(&addr, false)?).await;
    refused_in_handshake(refused, "a caller without a certificate is refused", "")?;

    // Plain HTTP/2.
    let refused = data_node_health(Endpoint::from_shared(format!("http://{addr}"))?).await;
    refused_in_handshake(refused, "plain HTTP/2 is refused", "")?;
    // Those three were refusals, not a port gone dead: a member is still
    // served.
    ensure!(
        data_node_health(member.endpoint(&addr, true)?).await?,
        "a member is served after the refusals"
    );

    // The server is checked too: the rogue CA does not vouch for the dev's
    // certificate, so a member trusting it will not talk.
    let misled = Peer::of(&member_dir, 9, &rogue_dir.join("ca.pem"));
    let refused = data_node_health(misled.endpoint(&addr, true)?).await;
    refused_in_handshake(
        refused,
        "a server under another CA is not trusted",
        "UnknownIssuer",
    )?;

    // A second init over the same directory would replace a CA the cluster
    // trusts: refused, and the CA is unchanged.
    let before = std::fs::read(rogue_dir.join("ca.pem"))?;
    let again = meridianctl_cluster(&["init", "--out", path(&rogue_dir)?, "--node", "1=h"]);
    ensure!(
        again
            .as_ref()
            .is_err_and(|e| e.to_string().contains("exists already")),
        "{again:?}"
    );
    ensure!(
        std::fs::read(rogue_dir.join("ca.pem"))? == before,
        "the CA changed"
    );
    Ok(())
}
