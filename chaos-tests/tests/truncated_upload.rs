//! A client that promises a body and hangs up part-way must leave nothing
//! behind: no object, not even one made of the chunks that did arrive.

use anyhow::{ensure, Result};
use meridian_chaos_tests::data::random_bytes;
use meridian_chaos_tests::rawhttp::truncated_put;
use meridian_chaos_tests::s3::{self, expect_status, ROOT_ACCESS_KEY, ROOT_SECRET_KEY};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

const BUCKET: &str = "truncated";
const CHUNK: usize = 256 * 1024;
const DECLARED: u64 = 1_000_000;

#[tokio::test]
async fn truncated_put_commits_nothing() -> Result<()> {
    let cluster =
        DevCluster::start_serving(DevOptions::default().with_chunk_size("256KiB")).await?;
    let c = cluster.s3(Site::Beijing);
    s3::create_bucket(&c, BUCKET).await?;
    let port = cluster.ports().s3(Site::Beijing);

    // Cut inside the first chunk, and after two whole chunks have arrived.
    for (key, sent) in [
        ("cut-early", 1000usize),
        ("cut-after-two-chunks", 2 * CHUNK + 4321),
    ] {
        let body = random_bytes(sent as u64, sent);
        let answer = truncated_put(
            port,
            BUCKET,
            key,
            ROOT_ACCESS_KEY,
            ROOT_SECRET_KEY,
            DECLARED,
            &body,
        )
        .await?;
        ensure!(
            !answer.starts_with("HTTP/1.1 200"),
            "{key}: the server acknowledged a body cut at {sent} of {DECLARED} bytes:\n{answer}"
        );
        expect_status(
            c.head_object().bucket(BUCKET).key(key).send().await,
            404,
            &format!("HEAD of {key} after a truncated PUT"),
        )?;
    }

    // The server is still healthy, and the cut uploads stayed out of the
    // catalogue after later work went through.
    let whole = random_bytes(9, 3 * CHUNK);
    s3::put_bytes(&c, BUCKET, "whole", whole.clone()).await?;
    ensure!(
        s3::get_bytes(&c, BUCKET, "whole").await? == whole,
        "a complete PUT after the cut reads back wrong"
    );
    let keys = s3::list_all_keys(&c, BUCKET, None).await?;
    ensure!(keys == ["whole"], "listing after truncated PUTs: {keys:?}");
    for key in ["cut-early", "cut-after-two-chunks"] {
        expect_status(
            c.head_object().bucket(BUCKET).key(key).send().await,
            404,
            key,
        )?;
    }
    Ok(())
}
