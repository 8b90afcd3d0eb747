//! Users, keys and bucket permissions through `meridian dev` with the AWS
//! SDK: each grant level and policy path, for an allowed and a denied
//! caller; a denied request changes nothing; anonymous callers get in only
//! through a public-read policy; a revoked key stops working; secrets are
//! never stored or logged in the clear.

use std::time::Duration;

use anyhow::{ensure, Result};
use aws_sdk_s3::Client;
use bytes::Bytes;
use meridian_chaos_tests::chunks::files_under;
use meridian_chaos_tests::s3::{self, expect_error, S3Options};
use meridian_chaos_tests::wait::{poll_until, Check};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

struct User {
    access_key: String,
    secret: String,
}

async fn new_user(cluster: &DevCluster, name: &str) -> Result<User> {
    let (access_key, secret) = cluster.ctl().new_user(name).await?;
    Ok(User { access_key, secret })
}

fn client(cluster: &DevCluster, u: &User) -> Client {
    cluster.s3_with(
        Site::Beijing,
        &S3Options::default()
            .with_keys(&u.access_key, &u.secret)
            .without_retries(),
    )
}

/// The HTTP status of an unsigned request.
async fn anonymous(cluster: &DevCluster, method: &str, path: &str) -> Result<u16> {
    let ep = cluster.s3_endpoint(Site::Beijing);
    let addr = ep.trim_start_matches("http://");
    Ok(
        meridian_chaos_tests::rawhttp::unsigned(addr, method, path, &[])
            .await?
            .status,
    )
}

async fn keys(root: &Client, bucket: &str) -> Result<Vec<String>> {
    s3::list_all_keys(root, bucket, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_policies_and_keys_decide_who_does_what() -> Result<()> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let ctl = cluster.ctl();
    let root = cluster.s3(Site::Beijing);
    s3::create_bucket(&root, "juno").await?;
    s3::put_bytes(&root, "juno", "raw/run1", Bytes::from_static(b"run one")).await?;

    let alice = new_user(&cluster, "alice").await?;
    let carol = new_user(&cluster, "carol").await?;
    let daq = new_user(&cluster, "daq").await?;
    let (a, c, d) = (
        client(&cluster, &alice),
        client(&cluster, &carol),
        client(&cluster, &daq),
    );

    // No grant: nothing, and nothing changes.
    let body = || aws_sdk_s3::primitives::ByteStream::from_static(b"x");
    expect_error(
        a.get_object().bucket("juno").key("raw/run1").send().await,
        Some(403),
        "AccessDenied",
        "alice reads without a grant",
    )?;
    expect_error(
        a.put_object()
            .bucket("juno")
            .key("alice")
            .body(body())
            .send()
            .await,
        Some(403),
        "AccessDenied",
        "alice writes without a grant",
    )?;
    expect_error(
        a.list_objects_v2().bucket("juno").send().await,
        Some(403),
        "AccessDenied",
        "alice lists without a grant",
    )?;
    ensure!(
        keys(&root, "juno").await? == ["raw/run1"],
        "nothing written"
    );

    // read: get and list, not put or delete.
    ctl.json(&["bucket", "grant", "juno", "alice", "read"])
        .await?;
    ensure!(s3::get_bytes(&a, "juno", "raw/run1").await? == "run one");
    ensure!(s3::list_all_keys(&a, "juno", None).await? == ["raw/run1"]);
    expect_error(
        a.put_object()
            .bucket("juno")
            .key("alice")
            .body(body())
            .send()
            .await,
        Some(403),
        "AccessDenied",
        "a reader writes",
    )?;
    expect_error(
        a.delete_object()
            .bucket("juno")
            .key("raw/run1")
            .send()
            .await,
        Some(403),
        "AccessDenied",
        "a reader deletes",
    )?;

    // A reader sees the bucket's versions and settings, changes none.
    a.list_object_versions().bucket("juno").send().await?;
    a.get_bucket_versioning().bucket("juno").send().await?;
    expect_error(
        a.get_bucket_cors().bucket("juno").send().await,
        Some(404),
        "NoSuchCORSConfiguration",
        "a reader reads the CORS rules (none)",
    )?;
    let enable = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    expect_error(
        a.put_bucket_versioning()
            .bucket("juno")
            .versioning_configuration(enable.clone())
            .send()
            .await,
        Some(403),
        "AccessDenied",
        "a reader turns versioning on",
    )?;
    expect_error(
        a.delete_bucket_lifecycle().bucket("juno").send().await,
        Some(403),
        "AccessDenied",
        "a reader removes lifecycle rules",
    )?;
    ensure!(
        root.get_bucket_versioning()
            .bucket("juno")
            .send()
            .await?
            .status()
            .is_none(),
        "versioning unchanged"
    );

    // write: also put and delete (by version id too), not the settings.
    ctl.json(&["bucket", "grant", "juno", "carol", "write"])
        .await?;
    s3::put_bytes(&c, "juno", "tmp/c", Bytes::from_static(b"c")).await?;
    c.delete_object().bucket("juno").key("tmp/c").send().await?;
    c.delete_object()
        .bucket("juno")
        .key("tmp/c")
        .version_id("null")
        .send()
        .await?;
    expect_error(
        c.put_bucket_versioning()
            .bucket("juno")
            .versioning_configuration(enable)
            .send()
            .await,
        Some(403),
        "AccessDenied",
        "a writer turns versioning on",
    )?;

    // Policy: only the DAQ key writes raw/, nobody deletes there.
    let policy = r#"{"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Principal": {"AWS": "daq"}, "Action": "s3:PutObject",
       "Resource": "arn:aws:s3:::juno/raw/*"},
      {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
       "Resource": "arn:aws:s3:::juno/raw/*"}]}"#;
    let file = cluster.data_dir().join("juno-policy.json");
    std::fs::write(&file, policy)?;
    ctl.json(&["bucket", "set-policy", "juno", &file.display().to_string()])
        .await?;
    s3::put_bytes(&d, "juno", "raw/run2", Bytes::from_static(b"run two")).await?;
    expect_error(
        d.put_object()
            .bucket("juno")
            .key("calib/x")
            .body(body())
            .send()
            .await,
        Some(403),
        "AccessDenied",
        "the DAQ key outside raw/",
    )?;
    // The DAQ key owns what it wrote (S3's object owner: full control of
    // it), and nothing else.
    ensure!(s3::get_bytes(&d, "juno", "raw/run2").await? == "run two");
    expect_error(
        d.get_object().bucket("juno").key("raw/run1").send().await,
        Some(403),
        "AccessDenied",
        "the DAQ key reads another's object",
    )?;
    expect_error(
        c.delete_object()
            .bucket("juno")
            .key("raw/run2")
            .send()
            .await,
        Some(403),
        "AccessDenied",
        "a writer deletes where the policy denies",
    )?;
    ensure!(keys(&root, "juno").await? == ["raw/run1", "raw/run2"]);
    // DeleteObjects decides key by key: the policy's deny holds for raw/.
    s3::put_bytes(&c, "juno", "tmp/d", Bytes::from_static(b"d")).await?;
    let ids = |keys: &[&str]| -> Result<aws_sdk_s3::types::Delete> {
        let objects = keys
            .iter()
            .map(|k| {
                aws_sdk_s3::types::ObjectIdentifier::builder()
                    .key(*k)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(aws_sdk_s3::types::Delete::builder()
            .set_objects(Some(objects))
            .build()?)
    };
    let out = c
        .delete_objects()
        .bucket("juno")
        .delete(ids(&["raw/run2", "tmp/d"])?)
        .send()
        .await?;
    let deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    let denied: Vec<(&str, &str)> = out
        .errors()
        .iter()
        .filter_map(|e| Some((e.key()?, e.code()?)))
        .collect();
    ensure!(deleted == ["tmp/d"], "{deleted:?}");
    ensure!(denied == [("raw/run2", "AccessDenied")], "{denied:?}");
    // Quiet mode lists only failures.
    let mut quiet = ids(&["tmp/none"])?;
    quiet.quiet = Some(true);
    let out = root
        .delete_objects()
        .bucket("juno")
        .delete(quiet)
        .send()
        .await?;
    ensure!(
        out.deleted().is_empty() && out.errors().is_empty(),
        "{out:?}"
    );
    ensure!(keys(&root, "juno").await? == ["raw/run1", "raw/run2"]);
    // A policy that cannot apply is refused and the old one stays.
    std::fs::write(
        &file,
        r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:Fly", "Resource": "arn:aws:s3:::juno"}}"#,
    )?;
    let refused = ctl
        .json(&["bucket", "set-policy", "juno", &file.display().to_string()])
        .await;
    ensure!(
        format!("{refused:?}").contains("invalid action"),
        "{refused:?}"
    );
    let shown = ctl.json(&["bucket", "show", "juno"]).await?;
    ensure!(shown["policy"].as_str() == Some(policy), "{shown}");

    // Anonymous: denied, until the bucket is made public-read.
    s3::create_bucket(&root, "pub").await?;
    s3::put_bytes(&root, "pub", "open", Bytes::from_static(b"o")).await?;
    ensure!(anonymous(&cluster, "GET", "/pub/open").await? == 403);
    let public = r#"{"Statement": {"Effect": "Allow", "Principal": "*",
        "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": ["arn:aws:s3:::pub", "arn:aws:s3:::pub/*"]}}"#;
    std::fs::write(&file, public)?;
    ctl.json(&["bucket", "set-policy", "pub", &file.display().to_string()])
        .await?;
    ensure!(anonymous(&cluster, "GET", "/pub/open").await? == 200);
    ensure!(anonymous(&cluster, "GET", "/pub?list-type=2").await? == 200);
    ensure!(anonymous(&cluster, "PUT", "/pub/x").await? == 403);
    ensure!(anonymous(&cluster, "GET", "/juno/raw/run1").await? == 403);
    ensure!(keys(&root, "pub").await? == ["open"]);

    // A user's own bucket: it owns it; others see nothing of it.
    s3::create_bucket(&a, "alice-b").await?;
    let shown = ctl.json(&["bucket", "show", "alice-b"]).await?;
    ensure!(shown["owner"] == "alice", "{shown}");
    let mine: Vec<String> = a
        .list_buckets()
        .send()
        .await?
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    ensure!(mine == ["alice-b", "juno"], "alice sees {mine:?}");
    expect_error(
        c.list_objects_v2().bucket("alice-b").send().await,
        Some(403),
        "AccessDenied",
        "carol lists alice's bucket",
    )?;
    // The owner sets its bucket's policy through S3; others may not.
    s3::put_bytes(&a, "alice-b", "x", Bytes::from_static(b"x")).await?;
    let for_daq = r#"{"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["daq"]},
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::alice-b/*"}]}"#;
    expect_error(
        d.get_object().bucket("alice-b").key("x").send().await,
        Some(403),
        "AccessDenied",
        "daq reads alice's bucket before her policy",
    )?;
    a.put_bucket_policy()
        .bucket("alice-b")
        .policy(for_daq)
        .send()
        .await?;
    ensure!(s3::get_bytes(&d, "alice-b", "x").await? == "x");
    let got = a.get_bucket_policy().bucket("alice-b").send().await?;
    ensure!(got.policy() == Some(for_daq));
    expect_error(
        c.put_bucket_policy()
            .bucket("juno")
            .policy(public)
            .send()
            .await,
        Some(403),
        "AccessDenied",
        "a writer sets the policy",
    )?;
    expect_error(
        a.put_bucket_policy()
            .bucket("alice-b")
            .policy("{\"Statement\": 1}")
            .send()
            .await,
        Some(400),
        "MalformedPolicy",
        "a malformed policy",
    )?;
    a.delete_bucket_policy().bucket("alice-b").send().await?;
    expect_error(
        a.get_bucket_policy().bucket("alice-b").send().await,
        Some(404),
        "NoSuchBucketPolicy",
        "the policy was deleted",
    )?;
    expect_error(
        d.get_object().bucket("alice-b").key("x").send().await,
        Some(403),
        "AccessDenied",
        "daq reads after the policy went",
    )?;

    let refused = ctl.json(&["user", "delete", "alice"]).await;
    ensure!(
        format!("{refused:?}").contains("owns buckets"),
        "{refused:?}"
    );

    // A revoked key stops working.
    ctl.json(&["key", "revoke", &carol.access_key]).await?;
    poll_until(
        "carol's revoked key to be refused",
        Duration::from_secs(10),
        Duration::from_millis(200),
        || async {
            let r = c.list_objects_v2().bucket("juno").send().await;
            Ok(match r.as_ref().err().and_then(s3::error_code).as_deref() {
                Some("InvalidAccessKeyId") => Check::Done(()),
                _ => Check::NotYet(format!("{:?}", r.is_ok())),
            })
        },
    )
    .await?;

    // No secret in the clear: not in the catalogue's files, not in the log.
    for u in [&alice, &carol, &daq] {
        ensure!(
            !cluster.logs().contains(&u.secret),
            "a secret is in the log"
        );
        for f in files_under(cluster.data_dir())? {
            let bytes = std::fs::read(&f)?;
            ensure!(
                !bytes
                    .windows(u.secret.len())
                    .any(|w| w == u.secret.as_bytes()),
                "a secret is in the clear in {}",
                f.display()
            );
        }
    }
    Ok(())
}
