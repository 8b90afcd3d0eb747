//! A rule's `lifetime`: the object is deleted when it ends; objects under
//! other rules stay.

use std::time::Duration;

use anyhow::{ensure, Result};
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::s3;
use meridian_chaos_tests::wait::{poll_until, Check};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

const POLICY: &str = r#"
[default]
copies = 2

[[rule]]
name = "scratch"
bucket = "scratch"
copies = 1
lifetime = "3s"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_deleted_when_their_lifetime_ends() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default().with_policy(POLICY)).await?;
    let beijing = cluster.s3(Site::Beijing);
    for b in ["scratch", "keep"] {
        s3::create_bucket(&beijing, b).await?;
        s3::put_bytes(&beijing, b, "k", random_bytes(1, 1000)).await?;
    }
    // Readable at first.
    s3::get_bytes(&beijing, "scratch", "k").await?;
    poll_until(
        "scratch/k to be deleted",
        Duration::from_secs(30),
        Duration::from_millis(250),
        || async {
            let keys = s3::list_all_keys(&beijing, "scratch", None).await?;
            Ok(if keys.is_empty() {
                Check::Done(())
            } else {
                Check::NotYet(format!("{keys:?}"))
            })
        },
    )
    .await?;
    let gone = beijing.get_object().bucket("scratch").key("k").send().await;
    ensure!(
        gone.as_ref().err().and_then(s3::error_code).as_deref() == Some("NoSuchKey"),
        "{gone:?}"
    );
    ensure!(s3::get_bytes(&beijing, "keep", "k").await? == random_bytes(1, 1000));
    Ok(())
}
