//! Who may call the gRPC client API, end to end against `meridian dev`:
//! signed requests with the same users and keys as S3, bearer tokens from
//! `meridianctl token create`, the S3 permission rules (owner, grants,
//! bucket policy with an explicit deny), and every bad credential refused
//! with its status and a clear message, writing nothing.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use meridian_api::auth::signed::{self, Signed};
use meridian_chaos_tests::data::blake3_hex;
use meridian_chaos_tests::grpc::{client, Api};
use meridian_chaos_tests::s3::S3Options;
use meridian_chaos_tests::wait::{poll_until, Check};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};
use meridian_proto::v1::object_service_client::ObjectServiceClient;
use meridian_proto::v1::put_request::Frame;
use meridian_proto::v1::*;
use serde_json::Value;
use tonic::metadata::MetadataValue;
use tonic::Code;

struct User {
    access_key: String,
    secret: String,
}

async fn new_user(cluster: &DevCluster, name: &str) -> Result<User> {
    let (access_key, secret) = cluster.ctl().new_user(name).await?;
    Ok(User { access_key, secret })
}

async fn api(cluster: &DevCluster, u: &User) -> Result<Api> {
    Ok(Api(client(
        &cluster.grpc_endpoint(),
        &u.access_key,
        &u.secret,
    )
    .await?))
}

/// A `meridian dev` with users alice and bob (their keys and clients),
/// and alice's bucket `alice-data`.
async fn alice_and_bob() -> Result<(DevCluster, (User, Api), (User, Api))> {
    let cluster = DevCluster::start_serving(DevOptions::default()).await?;
    let alice_key = new_user(&cluster, "alice").await?;
    let bob_key = new_user(&cluster, "bob").await?;
    let mut alice = api(&cluster, &alice_key).await?;
    let bob = api(&cluster, &bob_key).await?;
    alice
        .create_bucket(CreateBucketRequest {
            bucket: "alice-data".into(),
            site: String::new(),
        })
        .await?;
    Ok((cluster, (alice_key, alice), (bob_key, bob)))
}

fn frames(bucket: &str, key: &str, data: &[u8]) -> Vec<PutRequest> {
    vec![
        PutRequest {
            frame: Some(Frame::Header(PutHeader {
                bucket: bucket.into(),
                key: key.into(),
                ..Default::default()
            })),
        },
        PutRequest {
            frame: Some(Frame::Data(bytes::Bytes::copy_from_slice(data))),
        },
    ]
}

fn stat(bucket: &str, key: &str) -> StatRequest {
    StatRequest {
        bucket: bucket.into(),
        key: key.into(),
        max_staleness_ms: 0,
    }
}

/// The call failed with `code`, saying `why`.
fn refused<T: std::fmt::Debug>(
    r: std::result::Result<T, tonic::Status>,
    code: Code,
    why: &str,
) -> Result<()> {
    match r {
        Err(s) if s.code() == code && s.message().contains(why) => Ok(()),
        other => anyhow::bail!("expected {code:?} saying {why:?}, got {other:?}"),
    }
}

/// Nothing is at `bucket/key` (as the administrator sees it).
async fn absent(root: &mut Api, bucket: &str, key: &str) -> Result<()> {
    let s = root.stat(stat(bucket, key)).await;
    ensure!(
        s.as_ref().is_err_and(|s| s.code() == Code::NotFound),
        "{bucket}/{key} was written: {s:?}"
    );
    Ok(())
}

/// A Stat request carrying exactly the signature headers given.
fn hand_signed(s: &Signed, signature: &str) -> tonic::Request<StatRequest> {
    let mut req = tonic::Request::new(stat("alice-data", "raw/a"));
    let m = req.metadata_mut();
    let v = |s: &str| MetadataValue::try_from(s).expect("ascii");
    m.insert(signed::ACCESS_KEY, v(&s.access_key));
    m.insert(signed::TIME, v(&s.time_ms.to_string()));
    m.insert(signed::NONCE, v(&s.nonce));
    m.insert(signed::RESOURCE, v(&s.resource));
    m.insert(signed::SIGNATURE, v(signature));
    req
}

fn now_ms() -> i64 {
    meridian_core::clock::system().now_ms()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_is_someones_and_the_s3_rules_decide() -> Result<()> {
    let (cluster, (alice_key, mut alice), (bob_key, mut bob)) = alice_and_bob().await?;
    let ctl = cluster.ctl();
    let mut root = Api::connect(&cluster.grpc_endpoint()).await?;

    // Alice's bucket and object are hers, as S3 sees them too.
    alice.put(frames("alice-data", "raw/a", b"alpha")).await?;
    alice
        .put(frames("alice-data", "rawdata/b", b"beta"))
        .await?;
    let owners: Vec<(String, String)> = alice
        .list_buckets(ListBucketsRequest {})
        .await?
        .into_inner()
        .buckets
        .into_iter()
        .map(|b| (b.name, b.owner))
        .collect();
    ensure!(
        owners == [("alice-data".to_string(), "alice".to_string())],
        "alice lists her own buckets only: {owners:?}"
    );
    let s3_alice = cluster.s3_with(
        Site::Beijing,
        &S3Options::default().with_keys(&alice_key.access_key, &alice_key.secret),
    );
    let acl = s3_alice
        .get_object_acl()
        .bucket("alice-data")
        .key("raw/a")
        .send()
        .await?;
    let owner = acl.owner().and_then(|o| o.id()).unwrap_or_default();
    ensure!(owner == "alice", "the object's owner is {owner:?}");

    // No credential at all.
    let mut bare = ObjectServiceClient::connect(cluster.grpc_endpoint()).await?;
    refused(
        bare.stat(stat("alice-data", "raw/a")).await,
        Code::Unauthenticated,
        "no credential",
    )?;
    let no_cred = bare
        .put(tokio_stream::iter(frames("alice-data", "raw/anon", b"x")))
        .await;
    refused(no_cred, Code::Unauthenticated, "no credential")?;
    absent(&mut root, "alice-data", "raw/anon").await?;

    // A wrong secret.
    let mut forger = Api(client(&cluster.grpc_endpoint(), &alice_key.access_key, "not-it").await?);
    refused(
        forger.put(frames("alice-data", "raw/forged", b"x")).await,
        Code::Unauthenticated,
        "signature does not match",
    )?;
    absent(&mut root, "alice-data", "raw/forged").await?;

    // A caller without a grant, then with one, then under an explicit deny.
    refused(
        bob.put(frames("alice-data", "raw/bob", b"x")).await,
        Code::PermissionDenied,
        "user bob may not s3:PutObject on /alice-data/raw/bob",
    )?;
    refused(
        bob.stat(stat("alice-data", "raw/a")).await,
        Code::PermissionDenied,
        "may not s3:GetObject",
    )?;
    absent(&mut root, "alice-data", "raw/bob").await?;
    ctl.json(&["bucket", "grant", "alice-data", "bob", "write"])
        .await?;
    bob.put(frames("alice-data", "raw/bob", b"bob's")).await?;
    let deny = r#"{"Version": "2012-10-17", "Statement": [
      {"Effect": "Deny", "Principal": {"AWS": "bob"}, "Action": "s3:PutObject",
       "Resource": "arn:aws:s3:::alice-data/frozen/*"}]}"#;
    let file = cluster.data_dir().join("deny.json");
    std::fs::write(&file, deny)?;
    ctl.json(&[
        "bucket",
        "set-policy",
        "alice-data",
        &file.display().to_string(),
    ])
    .await?;
    refused(
        bob.put(frames("alice-data", "frozen/x", b"x")).await,
        Code::PermissionDenied,
        "may not s3:PutObject",
    )?;
    absent(&mut root, "alice-data", "frozen/x").await?;

    // A signature binds the resource: signed for one key, used on another.
    let mut raw = ObjectServiceClient::connect(cluster.grpc_endpoint()).await?;
    let s = Signed {
        access_key: alice_key.access_key.clone(),
        time_ms: now_ms(),
        nonce: "bound-to-resource-0001".into(),
        method: "/meridian.v1.ObjectService/Stat".into(),
        resource: "/alice-data/raw/other".into(),
    };
    refused(
        raw.stat(hand_signed(&s, &s.sign(&alice_key.secret))).await,
        Code::PermissionDenied,
        "signed for /alice-data/raw/other",
    )?;
    // A replayed request: the same signed call twice.
    let s = Signed {
        resource: "/alice-data/raw/a".into(),
        nonce: "replayed-nonce-00001".into(),
        ..s
    };
    let sig = s.sign(&alice_key.secret);
    raw.stat(hand_signed(&s, &sig)).await?;
    refused(
        raw.stat(hand_signed(&s, &sig)).await,
        Code::Unauthenticated,
        "replayed request",
    )?;
    // An expired one: signed eleven minutes ago.
    let old = Signed {
        time_ms: now_ms() - 11 * 60 * 1000,
        nonce: "expired-nonce-000001".into(),
        ..s.clone()
    };
    refused(
        raw.stat(hand_signed(&old, &old.sign(&alice_key.secret)))
            .await,
        Code::Unauthenticated,
        "outside the 300 s window",
    )?;
    // A hostile time neither overflows nor wraps into the window.
    let hostile = Signed {
        time_ms: i64::MIN,
        nonce: "hostile-time-000001".into(),
        ..s.clone()
    };
    refused(
        raw.stat(hand_signed(&hostile, &hostile.sign(&alice_key.secret)))
            .await,
        Code::Unauthenticated,
        "outside the 300 s window",
    )?;
    // Signed for another method.
    let other = Signed {
        method: "/meridian.v1.ObjectService/Delete".into(),
        nonce: "other-method-000001".into(),
        ..s.clone()
    };
    refused(
        raw.stat(hand_signed(&other, &other.sign(&alice_key.secret)))
            .await,
        Code::Unauthenticated,
        "signature does not match",
    )?;

    // Tokens: scoped to a prefix, read only.
    let t: Value = ctl
        .json(&[
            "token",
            "create",
            "alice",
            "--scope",
            "storage.read:/alice-data/raw",
            "--ttl",
            "10m",
        ])
        .await?;
    let token = t["token"].as_str().context("token")?.to_string();
    let mut with_token = bearer(&cluster, &token).await?;
    with_token
        .stat(tonic::Request::new(stat("alice-data", "raw/a")))
        .await
        .context("a read within the token's scope")?;
    refused(
        with_token
            .put(tokio_stream::iter(frames("alice-data", "raw/t", b"x")))
            .await,
        Code::PermissionDenied,
        "does not allow Create",
    )?;
    absent(&mut root, "alice-data", "raw/t").await?;
    refused(
        with_token
            .stat(tonic::Request::new(stat("alice-data", "frozen/x")))
            .await,
        Code::PermissionDenied,
        "does not allow Read on /alice-data/frozen/x",
    )?;
    // A listing prefix that is not a directory ("raw") shows only what
    // the scope's directory holds, not "rawdata/".
    let listed: Vec<String> = with_token
        .list(tonic::Request::new(ListRequest {
            bucket: "alice-data".into(),
            prefix: "raw".into(),
            ..Default::default()
        }))
        .await?
        .into_inner()
        .objects
        .into_iter()
        .map(|o| o.key)
        .collect();
    ensure!(
        listed == ["raw/a", "raw/bob"],
        "listed beyond the token's scope: {listed:?}"
    );
    // A create-only token writes new objects, never over old ones.
    let t: Value = ctl
        .json(&[
            "token",
            "create",
            "alice",
            "--scope",
            "storage.create:/alice-data/out",
            "--ttl",
            "5m",
        ])
        .await?;
    let mut creator = bearer(&cluster, t["token"].as_str().context("token")?).await?;
    creator
        .put(tokio_stream::iter(frames("alice-data", "out/new", b"new")))
        .await
        .context("a create-scoped token writes a new object")?;
    refused(
        creator
            .put(tokio_stream::iter(frames("alice-data", "out/new", b"over")))
            .await,
        Code::PermissionDenied,
        "may create, not modify",
    )?;
    // Through an upload session too; a commit retried after a lost answer
    // gets the object it made (with the right that made it, not a read).
    let body = b"session bytes".to_vec();
    let begun = creator
        .begin_upload(tonic::Request::new(BeginUploadRequest {
            bucket: "alice-data".into(),
            key: "out/session".into(),
            size: body.len() as u64,
            blake3: blake3_hex(&body),
            ..Default::default()
        }))
        .await
        .context("a create-scoped token begins a session")?
        .into_inner();
    let id = begun.upload_id.clone();
    let writes = [
        upload_write_request::Frame::Header(UploadWriteHeader {
            upload_id: id.clone(),
            offset: 0,
        }),
        upload_write_request::Frame::Data(body.clone().into()),
    ]
    .map(|f| UploadWriteRequest { frame: Some(f) });
    creator.write_upload(tokio_stream::iter(writes)).await?;
    let commit = || UploadRef {
        upload_id: id.clone(),
    };
    let first = creator.commit_upload(commit()).await?.into_inner().info;
    let again = creator
        .commit_upload(commit())
        .await
        .context("a create-scoped token's retried commit")?
        .into_inner()
        .info;
    ensure!(
        first.is_some()
            && first.as_ref().map(|i| &i.version_id) == again.as_ref().map(|i| &i.version_id),
        "{first:?} then {again:?}"
    );
    // A create-only token of a user the bucket refuses is refused by the
    // bucket's rules, before anything says whether the key exists.
    ctl.json(&["user", "create", "eve"]).await?;
    let t: Value = ctl
        .json(&[
            "token",
            "create",
            "eve",
            "--scope",
            "storage.create:/alice-data",
            "--ttl",
            "5m",
        ])
        .await?;
    let mut eves = bearer(&cluster, t["token"].as_str().context("token")?).await?;
    for key in ["raw/a", "raw/not-there"] {
        refused(
            eves.put(tokio_stream::iter(frames("alice-data", key, b"x")))
                .await,
            Code::PermissionDenied,
            "user eve may not s3:PutObject",
        )?;
    }
    // A token does not lift a bucket policy's explicit deny, whatever its
    // scope (bob holds a write grant; the policy denies him frozen/).
    let t: Value = ctl
        .json(&[
            "token",
            "create",
            "bob",
            "--scope",
            "storage.modify:/",
            "--ttl",
            "5m",
        ])
        .await?;
    let mut bobs = bearer(&cluster, t["token"].as_str().context("token")?).await?;
    refused(
        bobs.put(tokio_stream::iter(frames("alice-data", "frozen/y", b"x")))
            .await,
        Code::PermissionDenied,
        "may not s3:PutObject",
    )?;
    // A forged token: this cluster's issuer and audience, bob's name, a
    // wide scope, signed with another key. And garbage.
    let real = t["token"].as_str().context("token")?;
    let forged = forge(real)?;
    refused(
        bearer(&cluster, &forged)
            .await?
            .stat(tonic::Request::new(stat("alice-data", "raw/a")))
            .await,
        Code::Unauthenticated,
        "signature does not verify",
    )?;
    refused(
        bearer(&cluster, "e30.e30.e30")
            .await?
            .stat(tonic::Request::new(stat("alice-data", "raw/a")))
            .await,
        Code::Unauthenticated,
        "token",
    )?;
    // Out-of-range requests for tokens are refused at issue.
    let too_long = ctl
        .json(&[
            "token",
            "create",
            "alice",
            "--scope",
            "storage.read:/",
            "--ttl",
            "2d",
        ])
        .await;
    ensure!(
        too_long
            .as_ref()
            .is_err_and(|e| format!("{e:#}").contains("between 1 s and 86400 s")),
        "{too_long:?}"
    );

    // A revoked key stops working (within the access records' second).
    ctl.json(&["key", "revoke", &bob_key.access_key]).await?;
    poll_until(
        "bob's revoked key refused",
        Duration::from_secs(10),
        Duration::from_millis(200),
        || {
            let mut bob = Api(bob.0.clone());
            async move {
                match bob.stat(stat("alice-data", "raw/a")).await {
                    Err(s) if s.code() == Code::Unauthenticated => Ok(Check::Done(())),
                    other => Ok(Check::NotYet(format!("{other:?}"))),
                }
            }
        },
    )
    .await?;

    // An expired token: the server's clock moves past its end.
    ctl.advance_clock(Duration::from_secs(12 * 60)).await?;
    refused(
        with_token
            .stat(tonic::Request::new(stat("alice-data", "raw/a")))
            .await,
        Code::Unauthenticated,
        "expired",
    )?;
    Ok(())
}

/// A client sending `token` as its bearer credential.
/// A token with `real`'s issuer, audience and subject, a wide scope, and
/// a signature by a key of its own.
fn forge(real: &str) -> Result<String> {
    use base64::Engine;
    let payload = real.split('.').nth(1).context("not a JWT")?;
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?)?;
    let field = |k: &str| {
        claims[k]
            .as_str()
            .map(str::to_string)
            .context(k.to_string())
    };
    let key = meridian_api::auth::token::TokenIssuer::generate_pem().map_err(anyhow::Error::msg)?;
    let issuer =
        meridian_api::auth::token::TokenIssuer::from_pem(&field("iss")?, &field("aud")?, &key)
            .map_err(anyhow::Error::msg)?;
    let scopes =
        meridian_api::auth::scope::Scopes::parse("storage.modify:/").map_err(anyhow::Error::msg)?;
    issuer
        .issue(
            &field("sub")?,
            &scopes,
            Duration::from_secs(300),
            now_ms(),
            "forged-1",
        )
        .map_err(anyhow::Error::msg)
}

async fn bearer(
    cluster: &DevCluster,
    token: &str,
) -> Result<
    ObjectServiceClient<
        tonic::service::interceptor::InterceptedService<
            tonic::transport::Channel,
            impl tonic::service::Interceptor,
        >,
    >,
> {
    let channel = tonic::transport::Endpoint::from_shared(cluster.grpc_endpoint())?
        .connect()
        .await?;
    let value = MetadataValue::try_from(format!("Bearer {token}"))?;
    Ok(ObjectServiceClient::with_interceptor(
        channel,
        move |mut req: tonic::Request<()>| {
            req.metadata_mut().insert("authorization", value.clone());
            Ok(req)
        },
    ))
}

/// A bucket policy's conditions on the object's tags and on the time
/// decide gRPC calls as they decide S3's: a deny on a tag the object has,
/// no refusal of a write for a tag condition (a new object has no tags),
/// and `aws:CurrentTime` known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_conditions_on_tags_and_time_hold_over_grpc() -> Result<()> {
    use aws_sdk_s3::types::{Tag, Tagging};
    let (cluster, (_, mut alice), (_, mut bob)) = alice_and_bob().await?;
    let ctl = cluster.ctl();
    alice.put(frames("alice-data", "raw/open", b"o")).await?;
    alice.put(frames("alice-data", "raw/secret", b"s")).await?;
    cluster
        .s3(Site::Beijing)
        .put_object_tagging()
        .bucket("alice-data")
        .key("raw/secret")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("security").value("secret").build()?)
                .build()?,
        )
        .send()
        .await?;
    ctl.json(&["bucket", "grant", "alice-data", "bob", "write"])
        .await?;
    let policy = r#"{"Version": "2012-10-17", "Statement": [
      {"Effect": "Deny", "Principal": {"AWS": "bob"},
       "Action": ["s3:GetObject", "s3:PutObject"],
       "Resource": "arn:aws:s3:::alice-data/*",
       "Condition": {"StringEquals": {"s3:ExistingObjectTag/security": "secret"}}},
      {"Effect": "Deny", "Principal": {"AWS": "bob"}, "Action": "s3:ListBucket",
       "Resource": "arn:aws:s3:::alice-data",
       "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}}}]}"#;
    let file = cluster.data_dir().join("tags.json");
    std::fs::write(&file, policy)?;
    ctl.json(&[
        "bucket",
        "set-policy",
        "alice-data",
        &file.display().to_string(),
    ])
    .await?;
    bob.stat(stat("alice-data", "raw/open")).await?;
    refused(
        bob.stat(stat("alice-data", "raw/secret")).await,
        Code::PermissionDenied,
        "user bob may not s3:GetObject",
    )?;
    bob.put(frames("alice-data", "raw/bob", b"b")).await?;
    refused(
        bob.list(ListRequest {
            bucket: "alice-data".into(),
            ..Default::default()
        })
        .await,
        Code::PermissionDenied,
        "user bob may not s3:ListBucket",
    )?;
    Ok(())
}
