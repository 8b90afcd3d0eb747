//! Placement rules that select by dataset, against `meridian dev`: a file
//! gets the dataset's rule when it is written under one of the dataset's
//! membership rules, when it is attached later, and when a rule is added;
//! it goes back to the default when it is detached, its copies dropped
//! only once the default's are complete.

use std::time::Duration;

use anyhow::{ensure, Result};
use meridian_chaos_tests::ctl::{Ctl, ObjectStat};
use meridian_chaos_tests::s3::{self, ROOT_ACCESS_KEY, ROOT_SECRET_KEY};
use meridian_chaos_tests::wait::{poll_until, Check};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

const POLICY: &str = r#"
[default]
copies = 2

[[rule]]
name = "golden"
dataset = "juno-golden"
copies = 4
"#;

const WAIT: Duration = Duration::from_secs(120);

/// Polls until `bucket/key` is governed by `rule` with exactly `copies`
/// replicas, all complete.
async fn settles(ctl: &Ctl, key: &str, rule: &str, copies: usize) -> Result<ObjectStat> {
    let what = format!("juno/{key} under rule {rule} with {copies} complete copies");
    poll_until(&what, WAIT, Duration::from_millis(250), || async {
        let e = ctl.json(&["object", "explain", "juno", key]).await?;
        let stat = ctl.object_stat("juno", key).await?;
        if e["recorded_rule"] == rule
            && stat.replicas.len() == copies
            && stat.fully_replicated(copies)
        {
            return Ok(Check::Done(stat));
        }
        Ok(Check::NotYet(format!(
            "rule {} (now {}), {}",
            e["recorded_rule"],
            e["rule"],
            stat.replica_summary()
        )))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_take_their_datasets_rule_as_they_join_and_leave() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let ctl = cluster.ctl();
    let dir = tempfile::tempdir()?;
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY)?;
    ctl.json(&["policy", "apply", &policy.display().to_string()])
        .await?;
    let admin = ctl.as_user(&cluster.grpc_endpoint(), (ROOT_ACCESS_KEY, ROOT_SECRET_KEY));

    let beijing = cluster.s3(Site::Beijing);
    s3::create_bucket(&beijing, "juno").await?;
    for key in ["raw/a", "raw/b", "hot/c"] {
        s3::put_bytes(&beijing, "juno", key, key.as_bytes().repeat(1000).into()).await?;
    }
    for key in ["raw/a", "raw/b", "hot/c"] {
        settles(&ctl, key, "default", 2).await?;
    }

    // A dataset whose rule takes hot/: what is already there is re-placed.
    admin
        .json(&["dataset", "create", "juno-golden", "--rule", "juno/hot/"])
        .await?;
    settles(&ctl, "hot/c", "golden", 4).await?;

    // A file written under the rule is placed by it from the start.
    s3::put_bytes(&beijing, "juno", "hot/d", b"born golden".to_vec().into()).await?;
    let e = ctl.json(&["object", "explain", "juno", "hot/d"]).await?;
    ensure!(e["recorded_rule"] == "golden", "{e}");
    settles(&ctl, "hot/d", "golden", 4).await?;

    // Attaching a file re-places it; a file left alone is not touched.
    admin
        .json(&["dataset", "attach", "juno-golden", "juno/raw/a"])
        .await?;
    settles(&ctl, "raw/a", "golden", 4).await?;
    let b = ctl.object_stat("juno", "raw/b").await?;
    ensure!(b.replicas.len() == 2, "{}", b.replica_summary());

    // Detached, it goes back to the default's two copies.
    admin
        .json(&["dataset", "detach", "juno-golden", "juno/raw/a"])
        .await?;
    settles(&ctl, "raw/a", "default", 2).await?;

    // Every copy that stays still reads back whole.
    for key in ["raw/a", "hot/c"] {
        let body = s3::get_bytes(&beijing, "juno", key).await?;
        ensure!(body == key.as_bytes().repeat(1000), "{key} reads back");
    }
    Ok(())
}
