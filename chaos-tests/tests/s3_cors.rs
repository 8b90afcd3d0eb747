//! Bucket CORS through `meridian dev`: the configuration set, read and
//! removed with the AWS SDK; preflight requests (unsigned OPTIONS, as a
//! browser sends them) answered by the rules, first match wins; the
//! headers on the cross-origin answer itself; refused configurations.

use anyhow::{ensure, Context, Result};
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use meridian_chaos_tests::rawhttp::{unsigned, Answer};
use meridian_chaos_tests::s3::{self, expect_error, S3Options};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

const PORTAL: &str = "https://portal.ihep.ac.cn";

async fn preflight(addr: &str, origin: &str, method: &str, headers: &str) -> Result<Answer> {
    let mut h = vec![
        ("Origin", origin),
        ("Access-Control-Request-Method", method),
    ];
    if !headers.is_empty() {
        h.push(("Access-Control-Request-Headers", headers));
    }
    unsigned(addr, "OPTIONS", "/cors/data.h5", &h).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_rules_answer_preflights_and_cross_origin_requests() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let c = cluster.s3_with(Site::Beijing, &S3Options::default().without_retries());
    let ep = cluster.s3_endpoint(Site::Beijing);
    let addr = ep.trim_start_matches("http://");
    s3::create_bucket(&c, "cors").await?;

    let before = preflight(addr, PORTAL, "GET", "").await?;
    ensure!(before.status == 403, "no rules yet: {before:?}");
    ensure!(before.body.contains("CORS is not enabled"), "{before:?}");
    expect_error(
        c.get_bucket_cors().bucket("cors").send().await,
        Some(404),
        "NoSuchCORSConfiguration",
        "rules of a bucket without them",
    )?;

    let portal = CorsRule::builder()
        .id("portal")
        .allowed_origins("https://*.ihep.ac.cn")
        .allowed_methods("GET")
        .allowed_methods("HEAD")
        .allowed_methods("PUT")
        .allowed_headers("*")
        .expose_headers("ETag")
        .max_age_seconds(600)
        .build()?;
    let public = CorsRule::builder()
        .allowed_origins("*")
        .allowed_methods("GET")
        .build()?;
    c.put_bucket_cors()
        .bucket("cors")
        .cors_configuration(
            CorsConfiguration::builder()
                .cors_rules(portal)
                .cors_rules(public)
                .build()?,
        )
        .send()
        .await?;
    let got = c.get_bucket_cors().bucket("cors").send().await?;
    ensure!(got.cors_rules().len() == 2, "{:?}", got.cors_rules());
    ensure!(got.cors_rules()[0].id() == Some("portal"));
    ensure!(got.cors_rules()[0].max_age_seconds() == Some(600));

    // The portal may PUT with any headers: its own rule answers.
    let ok = preflight(addr, PORTAL, "PUT", "content-type, x-amz-date").await?;
    ensure!(ok.status == 200, "{ok:?}");
    ensure!(
        ok.header("access-control-allow-origin") == Some(PORTAL),
        "{ok:?}"
    );
    ensure!(
        ok.header("access-control-allow-methods")
            .is_some_and(|m| m.contains("PUT")),
        "{ok:?}"
    );
    ensure!(ok.header("access-control-allow-headers") == Some("content-type, x-amz-date"));
    ensure!(ok.header("access-control-max-age") == Some("600"));
    ensure!(ok.header("access-control-expose-headers") == Some("ETag"));
    // Anyone may GET (the catch-all rule answers `*`), nobody else PUT or
    // DELETE.
    let any = preflight(addr, "https://elsewhere.example", "GET", "").await?;
    ensure!(any.status == 200 && any.header("access-control-allow-origin") == Some("*"));
    for (origin, method) in [
        ("https://elsewhere.example", "PUT"),
        (PORTAL, "DELETE"),
        ("https://ihep.ac.cn.elsewhere.example", "PUT"),
    ] {
        let no = preflight(addr, origin, method, "").await?;
        ensure!(no.status == 403, "{origin} {method}: {no:?}");
        ensure!(no.header("access-control-allow-origin").is_none());
    }
    // A request header the catch-all rule does not list.
    let no = preflight(addr, "https://elsewhere.example", "GET", "x-amz-date").await?;
    ensure!(no.status == 403, "{no:?}");
    let bad = unsigned(addr, "OPTIONS", "/cors/data.h5", &[("Origin", PORTAL)]).await?;
    ensure!(bad.status == 400, "no request method: {bad:?}");

    // The cross-origin answer itself carries the headers (an unsigned GET
    // is denied, and the browser still learns it may read the denial).
    let get = unsigned(addr, "GET", "/cors/data.h5", &[("Origin", PORTAL)]).await?;
    ensure!(get.status == 403, "{get:?}");
    ensure!(
        get.header("access-control-allow-origin") == Some(PORTAL),
        "{get:?}"
    );
    let plain = unsigned(addr, "GET", "/cors/data.h5", &[]).await?;
    ensure!(plain.header("access-control-allow-origin").is_none());

    // Refused configurations change nothing.
    let patch = CorsRule::builder()
        .allowed_origins("*")
        .allowed_methods("PATCH")
        .build()?;
    expect_error(
        c.put_bucket_cors()
            .bucket("cors")
            .cors_configuration(CorsConfiguration::builder().cors_rules(patch).build()?)
            .send()
            .await,
        Some(400),
        "InvalidRequest",
        "a rule allowing PATCH",
    )?;
    ensure!(
        c.get_bucket_cors()
            .bucket("cors")
            .send()
            .await?
            .cors_rules()
            .len()
            == 2
    );

    c.delete_bucket_cors().bucket("cors").send().await?;
    let after = preflight(addr, PORTAL, "GET", "").await?;
    ensure!(after.status == 403, "{after:?}");
    let none = c.get_bucket_cors().bucket("cors").send().await;
    ensure!(none.is_err(), "rules still there after DeleteBucketCors");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_for_a_missing_bucket_is_refused() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let ep = cluster.s3_endpoint(Site::Beijing);
    let addr = ep.trim_start_matches("http://");
    let a = preflight(addr, PORTAL, "GET", "")
        .await
        .context("preflight")?;
    ensure!(a.status == 403, "{a:?}");
    Ok(())
}
