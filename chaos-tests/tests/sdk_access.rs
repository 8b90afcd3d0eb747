//! Regions, bucket names, ACLs, ownership, public access blocks, policies
//! with conditions and Object Lock as the AWS SDK for Rust sees them,
//! against a real `meridian dev`, with users made by `meridianctl`. Unsigned
//! requests go through the SDK too (`allow_no_auth`), as a public reader's
//! would.

use anyhow::{ensure, Context, Result};
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketCannedAcl, DefaultRetention, ObjectCannedAcl, ObjectLockConfiguration, ObjectLockEnabled,
    ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetentionMode,
    ObjectLockRule, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration, Tag, Tagging,
};
use aws_sdk_s3::Client;
use bytes::Bytes;
use meridian_chaos_tests::s3::{self, expect_error, S3Options, SdkResultExt};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};

struct World {
    cluster: DevCluster,
    /// The administrator (the root key), and two users.
    root: Client,
    alice: Client,
    bob: Client,
}

async fn start() -> Result<World> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let ctl = cluster.ctl();
    let mut users = Vec::new();
    for name in ["alice", "bob"] {
        ctl.json(&["user", "create", name]).await?;
        let key = ctl.json(&["key", "create", name]).await?;
        let opts = S3Options::default().without_retries().with_keys(
            key["access_key"].as_str().context("access key")?,
            key["secret"].as_str().context("secret")?,
        );
        users.push(s3::client(&cluster.s3_endpoint(Site::Beijing), &opts));
    }
    let bob = users.pop().context("bob")?;
    let alice = users.pop().context("alice")?;
    let root = s3::client(
        &cluster.s3_endpoint(Site::Beijing),
        &S3Options::default().without_retries(),
    );
    Ok(World {
        cluster,
        root,
        alice,
        bob,
    })
}

impl World {
    fn client(&self, opts: S3Options) -> Client {
        s3::client(&self.cluster.s3_endpoint(Site::Beijing), &opts)
    }

    fn anonymous(&self) -> Client {
        self.client(S3Options::default().without_retries().anonymous())
    }
}

#[tokio::test]
async fn sdk_regions_and_bucket_names() -> Result<()> {
    let w = start().await?;
    // Every region of the federation signs at every site (each bucket is
    // reachable everywhere); a region it lacks is refused.
    for region in ["beijing", "huairou", "us-east-1"] {
        w.client(S3Options::default().with_region(region))
            .list_buckets()
            .send()
            .await
            .sdk_context(region)?;
    }
    expect_error(
        w.client(
            S3Options::default()
                .without_retries()
                .with_region("eu-west-1"),
        )
        .list_buckets()
        .send()
        .await,
        Some(400),
        "AuthorizationHeaderMalformed",
        "ListBuckets signed for a region the federation lacks",
    )?;
    s3::create_bucket(&w.root, "sdk-names").await?;
    expect_error(
        w.root.create_bucket().bucket("sdk-names").send().await,
        Some(409),
        "BucketAlreadyOwnedByYou",
        "the owner creating its bucket again",
    )?;
    expect_error(
        w.alice.create_bucket().bucket("sdk-names").send().await,
        Some(409),
        "BucketAlreadyExists",
        "another user taking the name",
    )?;
    // A bucket goes with its unfinished uploads, as on AWS.
    w.root
        .create_multipart_upload()
        .bucket("sdk-names")
        .key("half")
        .send()
        .await
        .sdk_context("CreateMultipartUpload")?;
    w.root
        .delete_bucket()
        .bucket("sdk-names")
        .send()
        .await
        .sdk_context("DeleteBucket with an unfinished upload")?;
    Ok(())
}

#[tokio::test]
async fn sdk_acls_ownership_and_public_blocks() -> Result<()> {
    let w = start().await?;
    let anon = w.anonymous();
    let b = "sdk-acls";
    s3::create_bucket(&w.root, b).await?;
    w.root
        .put_object()
        .bucket(b)
        .key("open")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"for everyone"))
        .send()
        .await
        .sdk_context("PutObject public-read")?;
    s3::put_bytes(&w.root, b, "closed", Bytes::from_static(b"for the owner")).await?;
    let got = anon
        .get_object()
        .bucket(b)
        .key("open")
        .send()
        .await
        .sdk_context("anonymous GET of a public-read object")?;
    let body = got.body.collect().await?.into_bytes();
    ensure!(&body[..] == b"for everyone", "read {body:?}");
    expect_error(
        anon.get_object().bucket(b).key("closed").send().await,
        Some(403),
        "AccessDenied",
        "anonymous GET of a private object",
    )?;
    expect_error(
        anon.list_objects_v2().bucket(b).send().await,
        Some(403),
        "AccessDenied",
        "anonymous listing of a private bucket",
    )?;

    // A grant to a user by id, read back in the ACL.
    w.root
        .put_bucket_acl()
        .bucket(b)
        .grant_read("id=alice")
        .send()
        .await
        .sdk_context("PutBucketAcl")?;
    let acl = w.root.get_bucket_acl().bucket(b).send().await?;
    let grants: Vec<(String, String)> = acl
        .grants()
        .iter()
        .map(|g| {
            let who = g.grantee().and_then(|g| g.id()).unwrap_or_default();
            let what = g.permission().map(|p| p.as_str()).unwrap_or_default();
            (who.to_string(), what.to_string())
        })
        .collect();
    ensure!(
        grants.contains(&("alice".into(), "READ".into()))
            && grants.contains(&("root".into(), "FULL_CONTROL".into())),
        "bucket ACL {grants:?}"
    );
    w.alice
        .list_objects_v2()
        .bucket(b)
        .send()
        .await
        .sdk_context("alice lists with READ")?;
    expect_error(
        w.bob.list_objects_v2().bucket(b).send().await,
        Some(403),
        "AccessDenied",
        "bob lists without a grant",
    )?;
    expect_error(
        w.root
            .put_bucket_acl()
            .bucket(b)
            .grant_read("id=nobody-such")
            .send()
            .await,
        Some(400),
        "InvalidArgument",
        "a grant to a user that does not exist",
    )?;

    // IgnorePublicAcls: the public-read object is no longer public.
    let block = |ignore: bool| {
        PublicAccessBlockConfiguration::builder()
            .ignore_public_acls(ignore)
            .block_public_acls(ignore)
            .build()
    };
    w.root
        .put_public_access_block()
        .bucket(b)
        .public_access_block_configuration(block(true))
        .send()
        .await
        .sdk_context("PutPublicAccessBlock")?;
    expect_error(
        anon.get_object().bucket(b).key("open").send().await,
        Some(403),
        "AccessDenied",
        "a public ACL under IgnorePublicAcls",
    )?;
    expect_error(
        w.root
            .put_object_acl()
            .bucket(b)
            .key("closed")
            .acl(ObjectCannedAcl::PublicRead)
            .send()
            .await,
        Some(403),
        "AccessDenied",
        "a public ACL under BlockPublicAcls",
    )?;
    let got = w
        .root
        .get_public_access_block()
        .bucket(b)
        .send()
        .await?
        .public_access_block_configuration
        .context("configuration")?;
    ensure!(
        got.ignore_public_acls == Some(true) && got.block_public_policy == Some(false),
        "{got:?}"
    );
    w.root
        .delete_public_access_block()
        .bucket(b)
        .send()
        .await
        .sdk_context("DeletePublicAccessBlock")?;
    anon.get_object()
        .bucket(b)
        .key("open")
        .send()
        .await
        .sdk_context("public again")?;

    // BucketOwnerEnforced turns ACLs off; refused while the ACL grants.
    let enforced = OwnershipControls::builder()
        .rules(
            OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                .build()?,
        )
        .build()?;
    expect_error(
        w.root
            .put_bucket_ownership_controls()
            .bucket(b)
            .ownership_controls(enforced.clone())
            .send()
            .await,
        Some(400),
        "InvalidBucketAclWithObjectOwnership",
        "enforced ownership over a granting ACL",
    )?;
    w.root
        .put_bucket_acl()
        .bucket(b)
        .acl(BucketCannedAcl::Private)
        .send()
        .await?;
    w.root
        .put_bucket_ownership_controls()
        .bucket(b)
        .ownership_controls(enforced)
        .send()
        .await
        .sdk_context("PutBucketOwnershipControls")?;
    expect_error(
        w.root
            .put_object()
            .bucket(b)
            .key("x")
            .acl(ObjectCannedAcl::PublicRead)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        Some(400),
        "AccessControlListNotSupported",
        "an ACL under BucketOwnerEnforced",
    )?;
    expect_error(
        anon.get_object().bucket(b).key("open").send().await,
        Some(403),
        "AccessDenied",
        "object ACLs count for nothing under BucketOwnerEnforced",
    )?;
    Ok(())
}

#[tokio::test]
async fn sdk_policy_with_conditions_and_status() -> Result<()> {
    let w = start().await?;
    let b = "sdk-policy";
    s3::create_bucket(&w.root, b).await?;
    for key in ["tagged", "untagged"] {
        s3::put_bytes(&w.root, b, key, Bytes::from_static(b"data")).await?;
    }
    let public = Tagging::builder()
        .tag_set(Tag::builder().key("security").value("public").build()?)
        .build()?;
    w.root
        .put_object_tagging()
        .bucket(b)
        .key("tagged")
        .tagging(public)
        .send()
        .await?;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "alice"}, "Action": "s3:GetObject",
             "Resource": format!("arn:aws:s3:::{b}/*"),
             "Condition": {"StringEquals": {"s3:ExistingObjectTag/security": "public"}}},
            {"Effect": "Allow", "Principal": {"AWS": "alice"}, "Action": "s3:ListBucket",
             "Resource": format!("arn:aws:s3:::{b}"),
             "Condition": {"StringEquals": {"s3:prefix": ["", "t"]}}}
        ]
    });
    w.root
        .put_bucket_policy()
        .bucket(b)
        .policy(policy.to_string())
        .send()
        .await
        .sdk_context("PutBucketPolicy")?;
    w.alice
        .get_object()
        .bucket(b)
        .key("tagged")
        .send()
        .await
        .sdk_context("alice reads the public-tagged object")?;
    expect_error(
        w.alice.get_object().bucket(b).key("untagged").send().await,
        Some(403),
        "AccessDenied",
        "alice reads an untagged object",
    )?;
    w.alice
        .list_objects_v2()
        .bucket(b)
        .send()
        .await
        .sdk_context("alice lists from the top")?;
    expect_error(
        w.alice.list_objects_v2().bucket(b).prefix("u").send().await,
        Some(403),
        "AccessDenied",
        "alice lists another prefix",
    )?;
    let status = w.root.get_bucket_policy_status().bucket(b).send().await?;
    ensure!(
        status.policy_status().and_then(|s| s.is_public()) == Some(false),
        "a policy naming users is not public: {status:?}"
    );
    expect_error(
        w.root
            .put_bucket_policy()
            .bucket(b)
            .policy(r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::sdk-policy/*", "Condition": {"StringEquals": {"s3:no-such-key": "x"}}}]}"#)
            .send()
            .await,
        Some(400),
        "MalformedPolicy",
        "an unknown condition key",
    )?;
    Ok(())
}

fn days_from_now(days: i64) -> DateTime {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    DateTime::from_secs(now + days * 86_400)
}

#[tokio::test]
async fn sdk_object_lock() -> Result<()> {
    let w = start().await?;
    let b = "sdk-lock";
    w.root
        .create_bucket()
        .bucket(b)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .sdk_context("CreateBucket with Object Lock")?;
    let rule = ObjectLockRule::builder()
        .default_retention(
            DefaultRetention::builder()
                .mode(ObjectLockRetentionMode::Governance)
                .days(1)
                .build(),
        )
        .build();
    w.root
        .put_object_lock_configuration()
        .bucket(b)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(rule)
                .build(),
        )
        .send()
        .await
        .sdk_context("PutObjectLockConfiguration")?;
    // The SDK sends the checksum Object Lock asks for.
    let governed = w
        .root
        .put_object()
        .bucket(b)
        .key("g")
        .body(ByteStream::from_static(b"governed"))
        .send()
        .await
        .sdk_context("PutObject under default retention")?
        .version_id
        .context("a version id")?;
    let r = w
        .root
        .get_object_retention()
        .bucket(b)
        .key("g")
        .version_id(&governed)
        .send()
        .await?
        .retention
        .context("retention")?;
    ensure!(r.mode == Some(ObjectLockRetentionMode::Governance), "{r:?}");
    expect_error(
        w.root
            .delete_object()
            .bucket(b)
            .key("g")
            .version_id(&governed)
            .send()
            .await,
        Some(403),
        "AccessDenied",
        "deleting a governed version",
    )?;
    w.root
        .delete_object()
        .bucket(b)
        .key("g")
        .version_id(&governed)
        .bypass_governance_retention(true)
        .send()
        .await
        .sdk_context("deleting it with the bypass")?;

    let kept = w
        .root
        .put_object()
        .bucket(b)
        .key("c")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(days_from_now(2))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .sdk_context("PutObject under COMPLIANCE with a hold")?
        .version_id
        .context("a version id")?;
    expect_error(
        w.root
            .delete_object()
            .bucket(b)
            .key("c")
            .version_id(&kept)
            .bypass_governance_retention(true)
            .send()
            .await,
        Some(403),
        "AccessDenied",
        "COMPLIANCE has no bypass",
    )?;
    w.root
        .put_object_legal_hold()
        .bucket(b)
        .key("c")
        .version_id(&kept)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .sdk_context("lifting the hold")?;
    let hold = w
        .root
        .get_object_legal_hold()
        .bucket(b)
        .key("c")
        .version_id(&kept)
        .send()
        .await?;
    ensure!(
        hold.legal_hold().and_then(|h| h.status()) == Some(&ObjectLockLegalHoldStatus::Off),
        "{hold:?}"
    );
    expect_error(
        w.root
            .put_object_retention()
            .bucket(b)
            .key("c")
            .version_id(&kept)
            .retention(
                aws_sdk_s3::types::ObjectLockRetention::builder()
                    .mode(ObjectLockRetentionMode::Compliance)
                    .retain_until_date(days_from_now(1))
                    .build(),
            )
            .send()
            .await,
        Some(403),
        "AccessDenied",
        "shortening COMPLIANCE retention",
    )?;
    // Still there, whole.
    let body = s3::get_bytes(&w.root, b, "c").await?;
    ensure!(&body[..] == b"kept", "read {body:?}");
    Ok(())
}
