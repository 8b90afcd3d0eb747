//! Access tracking end to end against `meridian dev`: reads and writes
//! through S3 and gRPC go to the node's access log (JSON lines), are
//! shipped to the catalogue, and add up in `meridianctl access report`
//! for a dataset and for a file; a refused read counts for nothing; user
//! names go to the dataset's owner, counts to its readers.

use std::time::Duration;

use anyhow::{ensure, Result};
use aws_sdk_s3::primitives::ByteStream;
use meridian_chaos_tests::grpc::{client, Api};
use meridian_chaos_tests::s3::S3Options;
use meridian_chaos_tests::wait::{poll_until, Check};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};
use meridian_proto::v1::GetRequest;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_add_up_per_file_and_per_dataset() -> Result<()> {
    let opts = DevOptions {
        extra_args: vec!["--access-ship-every".into(), "1s".into()],
        ..DevOptions::default()
    };
    let cluster = DevCluster::start_serving(opts).await?;
    let ctl = cluster.ctl();
    let mut keys = Vec::new();
    for u in ["alice", "bob", "carol"] {
        keys.push(ctl.new_user(u).await?);
    }
    let s3 = |i: usize| {
        cluster.s3_with(
            Site::Beijing,
            &S3Options::default()
                .with_keys(&keys[i].0, &keys[i].1)
                .without_retries(),
        )
    };
    let (alice, bob, carol) = (s3(0), s3(1), s3(2));
    alice.create_bucket().bucket("juno-run").send().await?;
    let a = vec![7u8; 3000];
    let b = vec![9u8; 500];
    for (k, body) in [("run/a.dat", &a), ("run/b.dat", &b)] {
        alice
            .put_object()
            .bucket("juno-run")
            .key(k)
            .body(ByteStream::from(body.clone()))
            .send()
            .await?;
    }
    ctl.json(&["bucket", "grant", "juno-run", "bob", "read"])
        .await?;
    let alice_ctl = ctl.as_user(&cluster.grpc_endpoint(), (&keys[0].0, &keys[0].1));
    let bob_ctl = ctl.as_user(&cluster.grpc_endpoint(), (&keys[1].0, &keys[1].1));
    alice_ctl
        .json(&["dataset", "create", "juno-run", "--rule", "juno-run/run/"])
        .await?;
    alice_ctl
        .json(&["dataset", "grant", "juno-run", "bob", "read"])
        .await?;

    // Alice reads a twice over S3, Bob a over gRPC and b over S3; Carol is
    // refused.
    for _ in 0..2 {
        alice
            .get_object()
            .bucket("juno-run")
            .key("run/a.dat")
            .send()
            .await?
            .body
            .collect()
            .await?;
    }
    let mut grpc = Api(client(&cluster.grpc_endpoint(), &keys[1].0, &keys[1].1).await?);
    let (_, got, _) = grpc
        .read_verified(GetRequest {
            bucket: "juno-run".into(),
            key: "run/a.dat".into(),
            ..Default::default()
        })
        .await?;
    ensure!(got == a, "gRPC read {} bytes", got.len());
    bob.get_object()
        .bucket("juno-run")
        .key("run/b.dat")
        .send()
        .await?
        .body
        .collect()
        .await?;
    let refused = carol
        .get_object()
        .bucket("juno-run")
        .key("run/a.dat")
        .send()
        .await;
    ensure!(refused.is_err(), "carol read a file she may not");

    let report = |who: &meridian_chaos_tests::ctl::UserCtl| {
        let who = who.clone();
        async move { who.json(&["access", "report", "juno-run"]).await }
    };
    let last = poll_until(
        "the reads add up in the report",
        Duration::from_secs(30),
        Duration::from_millis(300),
        || {
            let r = report(&alice_ctl);
            async move {
                let v = r.await?;
                Ok(if v["total"]["reads"] == 4 {
                    Check::Done(v)
                } else {
                    Check::NotYet(v.to_string())
                })
            }
        },
    )
    .await?;
    let t = &last["total"];
    let bytes = 3 * a.len() + b.len();
    ensure!(
        t["read_bytes"] == bytes && t["writes"] == 2 && t["distinct_users"] == 2,
        "{last}"
    );
    ensure!(t["users"] == serde_json::json!(["alice", "bob"]), "{last}");
    ensure!(
        last["files"][0]["key"] == "run/a.dat" && last["files"][0]["counts"]["reads"] == 3,
        "the most read file first: {last}"
    );
    // Bob reads the dataset: counts, not names.
    let seen = report(&bob_ctl).await?;
    ensure!(
        seen["total"]["distinct_users"] == 2 && seen["total"]["users"] == serde_json::json!([]),
        "{seen}"
    );
    // One file, as the administrator.
    let admin = ctl.as_user(
        &cluster.grpc_endpoint(),
        (
            meridian_chaos_tests::s3::ROOT_ACCESS_KEY,
            meridian_chaos_tests::s3::ROOT_SECRET_KEY,
        ),
    );
    let f = admin
        .json(&["access", "report", "--file", "juno-run/run/b.dat"])
        .await?;
    ensure!(
        f["total"]["reads"] == 1
            && f["total"]["writes"] == 1
            // The writer and the reader.
            && f["total"]["users"] == serde_json::json!(["alice", "bob"]),
        "{f}"
    );

    // The log itself: JSON lines naming who, what, how many bytes, where
    // and how it ended; Carol's refusal is there, counted nowhere.
    let mut lines = Vec::new();
    for e in std::fs::read_dir(cluster.data_dir().join("access"))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            lines.extend(std::fs::read_to_string(&p)?.lines().map(String::from));
        }
    }
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l))
        .collect::<Result<_, _>>()?;
    ensure!(
        events
            .iter()
            .any(|e| e["status"] == 403 && e["op"] == "read" && e["proto"] == "s3"),
        "no refused read in the log: {lines:?}"
    );
    ensure!(
        events
            .iter()
            .any(|e| e["who"] == "bob" && e["proto"] == "grpc" && e["bytes"] == a.len()),
        "no gRPC read of bob's: {lines:?}"
    );
    let status = ctl.json(&["status"]).await?;
    ensure!(
        status["access_log"]["events_shipped"]
            .as_u64()
            .is_some_and(|n| n >= 7)
            && status["access_log"]["events_dropped"] == 0,
        "{}",
        status["access_log"]
    );
    Ok(())
}
