//! The admin API answers the administrator only: meridianctl signs with a
//! credential from its environment or a private file (never an argument);
//! an unsigned call, a user's key or a wrong secret is refused; every admin
//! change and every refused call (on either port) is in the audit log,
//! with who, what, when and from where.

use std::process::Output;
use std::time::Duration;

use anyhow::{ensure, Result};
use meridian_chaos_tests::binaries;
use meridian_chaos_tests::process::run_bounded;
use meridian_chaos_tests::wait::{poll_until, Check};
use meridian_chaos_tests::{DevCluster, DevOptions};
use meridian_proto::v1::admin_service_client::AdminServiceClient;
use serde_json::Value;
use tokio::process::Command;

/// meridianctl with exactly the environment given (no ambient credential).
async fn ctl_with(cluster: &DevCluster, env: &[(&str, &str)], args: &[&str]) -> Result<Output> {
    let mut cmd = Command::new(binaries::meridianctl()?);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .arg("--endpoint")
        .arg(cluster.admin_endpoint())
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_bounded(&mut cmd, Duration::from_secs(30)).await
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_answers_the_administrator_and_keeps_an_audit() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let ctl = cluster.ctl();
    let (carol_ak, carol_sk) = ctl.new_user("carol").await?;

    // Unsigned: refused, whatever it asks.
    let channel = tonic::transport::Endpoint::from_shared(cluster.admin_endpoint())?
        .connect()
        .await?;
    let refused = AdminServiceClient::new(channel)
        .user_create(meridian_proto::v1::UserRequest {
            name: "mallory".into(),
        })
        .await
        .expect_err("an unsigned admin call");
    ensure!(
        refused.code() == tonic::Code::Unauthenticated
            && refused.message().contains("no credential"),
        "{refused:?}"
    );

    // No credential anywhere: meridianctl says how to give one.
    let out = ctl_with(&cluster, &[], &["status"]).await?;
    ensure!(
        !out.status.success() && stderr(&out).contains("no credentials"),
        "{}",
        stderr(&out)
    );
    // A user's key is not the administrator's.
    let out = ctl_with(
        &cluster,
        &[
            ("MERIDIAN_ACCESS_KEY", &carol_ak),
            ("MERIDIAN_SECRET_KEY", &carol_sk),
        ],
        &["user", "create", "mallory"],
    )
    .await?;
    ensure!(
        !out.status.success() && stderr(&out).contains("takes the administrator's key"),
        "{}",
        stderr(&out)
    );
    // The administrator's key with a wrong secret.
    let out = ctl_with(
        &cluster,
        &[
            (
                "MERIDIAN_ACCESS_KEY",
                meridian_chaos_tests::s3::ROOT_ACCESS_KEY,
            ),
            ("MERIDIAN_SECRET_KEY", "guessed"),
        ],
        &["status"],
    )
    .await?;
    ensure!(
        !out.status.success() && stderr(&out).contains("signature does not match"),
        "{}",
        stderr(&out)
    );
    let users: Value = ctl.json(&["user", "list"]).await?;
    ensure!(
        !users.to_string().contains("mallory"),
        "a refused call created a user: {users}"
    );

    // A credential file: used when private, refused when others may read it.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("credentials");
    std::fs::write(
        &file,
        format!(
            "access_key = \"{}\"\nsecret_key = \"{}\"\n",
            meridian_chaos_tests::s3::ROOT_ACCESS_KEY,
            meridian_chaos_tests::s3::ROOT_SECRET_KEY
        ),
    )?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
    let path = file.display().to_string();
    let out = ctl_with(&cluster, &[("MERIDIAN_CREDENTIALS", &path)], &["status"]).await?;
    ensure!(
        !out.status.success() && stderr(&out).contains("readable by others"),
        "{}",
        stderr(&out)
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
    let out = ctl_with(
        &cluster,
        &[("MERIDIAN_CREDENTIALS", &path)],
        &["user", "create", "dave"],
    )
    .await?;
    ensure!(out.status.success(), "{}", stderr(&out));

    // A refused client call, for the audit to show beside the admin's.
    let mut bare = meridian_proto::v1::object_service_client::ObjectServiceClient::connect(
        cluster.grpc_endpoint(),
    )
    .await?;
    let _ = bare
        .stat(meridian_proto::v1::StatRequest {
            bucket: "b".into(),
            key: "k".into(),
            max_staleness_ms: 0,
        })
        .await;

    // The audit: changes by the administrator, refusals with what was
    // presented; each with its time and peer.
    let events = poll_until(
        "the audit log holds the calls above",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let ctl = ctl.clone();
            async move {
                let v: Value = ctl.json(&["audit", "--limit", "1000"]).await?;
                let list = v.as_array().cloned().unwrap_or_default();
                let has = |pred: &dyn Fn(&Value) -> bool| list.iter().any(pred);
                let all = has(&|e| {
                    e["who"] == "admin"
                        && e["method"]
                            .as_str()
                            .is_some_and(|m| m.ends_with("/UserCreate"))
                        && e["outcome"] == "ok"
                }) && has(&|e| {
                    e["port"] == "admin"
                        && e["method"]
                            .as_str()
                            .is_some_and(|m| m.ends_with("/UserCreate"))
                        && e["outcome"]
                            .as_str()
                            .is_some_and(|o| o.contains("PermissionDenied"))
                        && e["who"] == "user carol"
                }) && has(&|e| {
                    e["credential"] == "none"
                        && e["outcome"]
                            .as_str()
                            .is_some_and(|o| o.contains("Unauthenticated"))
                        && e["port"] == "admin"
                }) && has(&|e| {
                    e["port"] == "client"
                        && e["method"].as_str().is_some_and(|m| m.ends_with("/Stat"))
                        && e["outcome"]
                            .as_str()
                            .is_some_and(|o| o.contains("Unauthenticated"))
                });
                Ok(if all {
                    Check::Done(list)
                } else {
                    Check::NotYet(format!("{list:?}"))
                })
            }
        },
    )
    .await?;
    ensure!(
        events.iter().all(|e| e["from"]
            .as_str()
            .is_some_and(|f| f.starts_with("127.0.0.1:"))
            && e["time_ms"].as_i64().is_some_and(|t| t > 0)),
        "every event says when and from where: {events:?}"
    );
    // Reads are not changes: no Status or UserList entries from the
    // administrator.
    ensure!(
        !events
            .iter()
            .any(|e| e["who"] == "admin"
                && e["method"].as_str().is_some_and(|m| m.ends_with("/Status"))),
        "{events:?}"
    );
    Ok(())
}
