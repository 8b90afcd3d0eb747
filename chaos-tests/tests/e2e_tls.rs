//! `meridian dev --tls`: S3 and the client and admin gRPC APIs over TLS,
//! with a certificate the process made under a CA of its own, trusted as
//! the banner says: the aws CLI with `--ca-bundle`, boto3 with `verify=`,
//! tonic clients and meridianctl with the CA. Clients that do not trust the
//! CA, and plain HTTP, are refused.

use anyhow::{ensure, Context, Result};
use meridian_chaos_tests::awscli::{require_aws_cli, AwsCli, SMALL_TIMEOUT};
use meridian_chaos_tests::data::{file_blake3, write_random_file};
use meridian_chaos_tests::grpc::{client_on, Api};
use meridian_chaos_tests::process::run_bounded;
use meridian_chaos_tests::python::{require_boto3, run_script, script};
use meridian_chaos_tests::s3::{ROOT_ACCESS_KEY, ROOT_SECRET_KEY};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};
use meridian_proto::v1::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

fn tls_endpoint(url: &str, ca: &std::path::Path) -> Result<Endpoint> {
    let pem = std::fs::read(ca).with_context(|| ca.display().to_string())?;
    Ok(Endpoint::from_shared(url.to_string())?
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_and_grpc_over_tls_with_the_ca_the_banner_names() -> Result<()> {
    require_aws_cli().await?;
    require_boto3().await?;
    let cluster = DevCluster::start_serving(DevOptions::default().with_tls()).await?;
    let ca = cluster.endpoint_ca();
    let ca_str = ca.to_str().context("a non-UTF-8 path")?;
    let logs = cluster.logs();
    ensure!(
        logs.contains(&format!("aws --ca-bundle {ca_str}")) && logs.contains("verify="),
        "the banner does not say how to trust the CA:\n{logs}"
    );
    let endpoint = cluster.s3_endpoint(Site::Beijing);
    ensure!(endpoint.starts_with("https://"), "{endpoint}");

    // The aws CLI, trusting the CA: a multipart upload and back.
    let aws = AwsCli::new(endpoint.clone())?.with_ca_bundle(ca.clone());
    aws.run(&["s3", "mb", "s3://tls-cli"], SMALL_TIMEOUT)
        .await?;
    let dir = tempfile::tempdir()?;
    let up = dir.path().join("up.bin");
    write_random_file(&up, 7, 9 * 1024 * 1024 + 5)?;
    let down = dir.path().join("down.bin");
    let (up_s, down_s) = (up.to_str().context("path")?, down.to_str().context("path")?);
    aws.run(&["s3", "cp", up_s, "s3://tls-cli/up.bin"], SMALL_TIMEOUT)
        .await?;
    aws.run(&["s3", "cp", "s3://tls-cli/up.bin", down_s], SMALL_TIMEOUT)
        .await?;
    ensure!(file_blake3(&up)? == file_blake3(&down)?, "bytes differ");
    // Without the CA (and with none from the machine's environment), the
    // CLI refuses the endpoint's certificate.
    let untrusting = AwsCli::new(endpoint.clone())?;
    let out = run_bounded(&mut untrusting.command(&["s3", "ls"]), SMALL_TIMEOUT).await?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success() && err.contains("SSL"),
        "a CLI without the CA was served: {err}"
    );

    // boto3 with verify= the CA; and refused without.
    let mut cmd = script("boto3_tls.py");
    cmd.args(["--endpoint", &endpoint, "--ca", ca_str]).args([
        "--access-key",
        ROOT_ACCESS_KEY,
        "--secret-key",
        ROOT_SECRET_KEY,
    ]);
    run_script(&mut cmd, "boto3_tls.py", Some("done")).await?;

    // The client gRPC API over TLS.
    let mut grpc = Api(client_on(
        tls_endpoint(&cluster.grpc_endpoint(), &ca)?,
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
    )
    .await
    .context("the client API over TLS")?);
    let listed = grpc
        .list(ListRequest {
            bucket: "tls-cli".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(
        listed.objects.iter().any(|o| o.key == "up.bin"),
        "{listed:?}"
    );
    // ... and the admin API, with meridianctl given the CA.
    let status = cluster.ctl().json(&["status"]).await?;
    ensure!(
        status["sites"].as_array().is_some_and(|s| s.len() == 5),
        "{status}"
    );

    // Plain HTTP to the S3 port gets no HTTP answer: the handshake fails.
    let mut s =
        tokio::net::TcpStream::connect(format!("127.0.0.1:{}", cluster.ports().s3(Site::Beijing)))
            .await?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await?;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        s.read_to_end(&mut answer),
    )
    .await;
    ensure!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP was answered: {:?}",
        String::from_utf8_lossy(&answer)
    );
    // And a plain gRPC client cannot call the client API.
    let plain = Endpoint::from_shared(format!("http://127.0.0.1:{}", cluster.ports().grpc))?;
    let refused = match client_on(plain, ROOT_ACCESS_KEY, ROOT_SECRET_KEY).await {
        Err(_) => true,
        Ok(c) => Api(c)
            .list_buckets(ListBucketsRequest::default())
            .await
            .is_err(),
    };
    ensure!(refused, "plain HTTP/2 reached the client API");
    Ok(())
}
