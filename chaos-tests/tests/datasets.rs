//! Datasets end to end against `meridian dev`, through `meridianctl
//! dataset` as each user would run it: a facility dataset fed by a rule and
//! by attachment, its permissions (owner, grants, a policy's deny, files
//! the owner may not read), its metadata validated on write, publication
//! fixing a manifest with the files' BLAKE3 and a hash to cite, and the
//! published files refused to S3 and gRPC writers alike. Every refusal
//! changes nothing.

use anyhow::{ensure, Context, Result};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use meridian_chaos_tests::ctl::UserCtl;
use meridian_chaos_tests::data::blake3_hex;
use meridian_chaos_tests::grpc::{client, Api};
use meridian_chaos_tests::s3::{expect_error, S3Options};
use meridian_chaos_tests::wait::{poll_until, Check};
use meridian_chaos_tests::{DevCluster, DevOptions, Site};
use meridian_proto::v1::put_request::Frame;
use meridian_proto::v1::{DeleteRequest, PutHeader, PutRequest};
use serde_json::Value;
use tonic::Code;

struct User {
    ctl: UserCtl,
    s3: Client,
    keys: (String, String),
}

async fn user(cluster: &DevCluster, name: &str) -> Result<User> {
    let (ak, sk) = cluster.ctl().new_user(name).await?;
    Ok(User {
        ctl: cluster.ctl().as_user(&cluster.grpc_endpoint(), (&ak, &sk)),
        s3: cluster.s3_with(
            Site::Beijing,
            &S3Options::default().with_keys(&ak, &sk).without_retries(),
        ),
        keys: (ak, sk),
    })
}

async fn put(s3: &Client, bucket: &str, key: &str, body: &[u8]) -> Result<()> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .with_context(|| format!("PUT {bucket}/{key}"))?;
    Ok(())
}

fn version(d: &Value) -> u64 {
    d["version"].as_u64().unwrap_or(0)
}

/// The refusal is of gRPC `code` (as meridianctl describes it) and says `why`.
fn says(stderr: &str, code: Code, why: &str) -> Result<()> {
    ensure!(
        stderr.contains(code.description()) && stderr.contains(why),
        "expected {code:?} saying {why:?}, got: {stderr}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataset_lives_is_described_published_and_keeps_its_files() -> Result<()> {
    // Jobs every second: the idle-close pass below.
    let opts = DevOptions {
        extra_args: vec!["--gc-period".into(), "1s".into()],
        ..DevOptions::default()
    };
    let cluster = DevCluster::start_serving(opts).await?;
    let alice = user(&cluster, "alice").await?;
    let bob = user(&cluster, "bob").await?;
    alice.s3.create_bucket().bucket("juno-raw").send().await?;
    bob.s3.create_bucket().bucket("bob-notes").send().await?;
    let files: [(&str, &[u8]); 3] = [
        (
            "run42/a.root",
            b"root\0\0\0\x01 waveforms of run 42, part a",
        ),
        (
            "run42/b.root",
            b"root\0\0\0\x01 waveforms of run 42, part b",
        ),
        ("calib/source.txt", b"Co-60 at the centre"),
    ];
    for (k, body) in files {
        put(&alice.s3, "juno-raw", k, body).await?;
    }
    put(&alice.s3, "juno-raw", "run43/x.root", b"not ours").await?;
    put(&bob.s3, "bob-notes", "private.txt", b"bob's").await?;

    // A facility dataset: the run's prefix joins by rule, a calibration
    // file by attachment.
    let d = alice
        .ctl
        .json(&[
            "dataset",
            "create",
            "juno-run42",
            "--kind",
            "facility",
            "--facility",
            "JUNO",
            "--close-after-idle",
            "30m",
            "--rule",
            "juno-raw/run42/",
        ])
        .await?;
    ensure!(
        d["state"] == "open" && d["owner"] == "alice" && d["close_after_idle_ms"] == 1_800_000,
        "{d}"
    );
    let d = alice
        .ctl
        .json(&[
            "dataset",
            "attach",
            "juno-run42",
            "juno-raw/calib/source.txt",
        ])
        .await?;
    ensure!(d["attached_files"] == 1, "{d}");

    // Bob sees nothing of it, and cannot change it; Alice cannot attach
    // what she may not read.
    says(
        &bob.ctl.refused(&["dataset", "show", "juno-run42"]).await?,
        Code::PermissionDenied,
        "user bob may not meridian:GetDataset",
    )?;
    let listed = bob.ctl.json(&["dataset", "list"]).await?;
    ensure!(
        listed["datasets"].as_array().is_some_and(|a| a.is_empty()),
        "{listed}"
    );
    says(
        &bob.ctl
            .refused(&["dataset", "attach", "juno-run42", "bob-notes/private.txt"])
            .await?,
        Code::PermissionDenied,
        "",
    )?;
    says(
        &alice
            .ctl
            .refused(&["dataset", "attach", "juno-run42", "bob-notes/private.txt"])
            .await?,
        Code::PermissionDenied,
        "s3:GetObject on /bob-notes/private.txt",
    )?;
    let before = alice.ctl.json(&["dataset", "show", "juno-run42"]).await?;
    ensure!(
        before["attached_files"] == 1,
        "a refused attach changed it: {before}"
    );

    // A read grant lets Bob read, not close.
    alice
        .ctl
        .json(&["dataset", "grant", "juno-run42", "bob", "read"])
        .await?;
    let seen = bob.ctl.json(&["dataset", "show", "juno-run42"]).await?;
    ensure!(seen["name"] == "juno-run42", "{seen}");
    says(
        &bob.ctl.refused(&["dataset", "close", "juno-run42"]).await?,
        Code::PermissionDenied,
        "meridian:UpdateDataset",
    )?;

    // Metadata: a document that breaks its schema is refused naming the
    // field, and nothing changes; a valid one is kept.
    let dir = tempfile::tempdir()?;
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"title": "", "creators": [], "licence": "x"}"#)?;
    let at = version(&alice.ctl.json(&["dataset", "show", "juno-run42"]).await?);
    let refusal = alice
        .ctl
        .refused(&[
            "dataset",
            "metadata",
            "set",
            "juno-run42",
            "dataset",
            bad.to_str().context("path")?,
        ])
        .await?;
    says(&refusal, Code::InvalidArgument, "/title")?;
    let after = alice.ctl.json(&["dataset", "show", "juno-run42"]).await?;
    ensure!(
        version(&after) == at && after["metadata_packages"] == serde_json::json!([]),
        "{after}"
    );
    let good = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/metadata/examples/dataset.json"
    );
    let d = alice
        .ctl
        .json(&["dataset", "metadata", "set", "juno-run42", "dataset", good])
        .await?;
    ensure!(
        d["metadata_packages"] == serde_json::json!(["dataset"]),
        "{d}"
    );
    let got = bob
        .ctl
        .json(&["dataset", "metadata", "get", "juno-run42", "dataset"])
        .await?;
    ensure!(
        got["documents"][0]["document"]["title"] == "JUNO commissioning run 42, raw waveforms",
        "{got}"
    );

    // Publishing: closed first; the manifest fixes the rule's and the
    // attached files with their BLAKE3.
    says(
        &alice
            .ctl
            .refused(&["dataset", "publish", "juno-run42"])
            .await?,
        Code::FailedPrecondition,
        "close it before publishing",
    )?;
    alice.ctl.json(&["dataset", "close", "juno-run42"]).await?;
    let p = alice
        .ctl
        .json(&["dataset", "publish", "juno-run42"])
        .await?;
    ensure!(p["state"] == "published" && p["manifest_files"] == 3, "{p}");
    let m = bob.ctl.json(&["dataset", "manifest", "juno-run42"]).await?;
    ensure!(m["citation"] == p["citation"], "{m} vs {p}");
    ensure!(
        m["citation"]
            .as_str()
            .is_some_and(|c| c.starts_with("blake3:") && c.len() == 71),
        "{m}"
    );
    let entries = m["entries"].as_array().context("entries")?;
    let mut want: Vec<(String, String)> = files
        .iter()
        .map(|(k, b)| (format!("juno-raw/{k}"), blake3_hex(b)))
        .collect();
    want.sort();
    let got: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            (
                format!(
                    "{}/{}",
                    e["bucket"].as_str().unwrap_or(""),
                    e["key"].as_str().unwrap_or("")
                ),
                e["blake3"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    ensure!(got == want, "manifest {got:?}, files {want:?}");

    // Its files are kept: S3 and gRPC writers are refused, and the bytes stay.
    expect_error(
        alice
            .s3
            .delete_object()
            .bucket("juno-raw")
            .key("run42/a.root")
            .send()
            .await,
        Some(403),
        "AccessDenied",
        "S3 delete of a published file",
    )?;
    expect_error(
        alice
            .s3
            .put_object()
            .bucket("juno-raw")
            .key("calib/source.txt")
            .body(ByteStream::from_static(b"overwritten"))
            .send()
            .await,
        Some(403),
        "AccessDenied",
        "S3 overwrite of a published file",
    )?;
    let mut grpc = Api(client(&cluster.grpc_endpoint(), &alice.keys.0, &alice.keys.1).await?);
    let del = grpc
        .delete(DeleteRequest {
            bucket: "juno-raw".into(),
            key: "run42/b.root".into(),
        })
        .await;
    ensure!(
        del.as_ref()
            .is_err_and(|s| s.code() == tonic::Code::FailedPrecondition
                && s.message().contains("published dataset juno-run42")),
        "gRPC delete of a published file: {del:?}"
    );
    let body = alice
        .s3
        .get_object()
        .bucket("juno-raw")
        .key("calib/source.txt")
        .send()
        .await?
        .body
        .collect()
        .await?
        .into_bytes();
    ensure!(body.as_ref() == files[2].1, "a kept file changed");
    // A file outside the dataset is anyone's to delete as before.
    alice
        .s3
        .delete_object()
        .bucket("juno-raw")
        .key("run43/x.root")
        .send()
        .await?;

    // Published: metadata and membership are fixed, the dataset stays.
    says(
        &alice
            .ctl
            .refused(&["dataset", "metadata", "set", "juno-run42", "dataset", good])
            .await?,
        Code::FailedPrecondition,
        "immutable",
    )?;
    says(
        &alice
            .ctl
            .refused(&["dataset", "delete", "juno-run42"])
            .await?,
        Code::FailedPrecondition,
        "immutable",
    )?;
    let which = alice
        .ctl
        .json(&["dataset", "which", "juno-raw/calib/source.txt"])
        .await?;
    ensure!(
        which["datasets"] == serde_json::json!(["juno-run42"]),
        "{which}"
    );

    // DataCite export from the packages and the catalogue's facts.
    let out = alice
        .ctl
        .json(&["dataset", "metadata", "export", "juno-run42"])
        .await?;
    ensure!(
        out["titles"][0]["title"] == "JUNO commissioning run 42, raw waveforms"
            && out["publisher"]["name"] == "Meridian dev federation"
            && out["sizes"][0] == "3 files",
        "{out}"
    );

    // Search: files by the format their first bytes show, datasets by
    // their packages' fields and state; answers hold only what the caller
    // may read; an unknown or only-narrowing field is refused.
    let found = alice
        .ctl
        .json(&["dataset", "search", "--files", "format=ROOT", "size>=10"])
        .await?;
    let keys: Vec<&str> = found["files"]
        .as_array()
        .context("files")?
        .iter()
        .filter_map(|f| f["key"].as_str())
        .collect();
    ensure!(keys == ["run42/a.root", "run42/b.root"], "{found}");
    ensure!(
        found["walked"] == "index format" && found["files"][0]["format"] == "ROOT",
        "{found}"
    );
    let hidden = bob
        .ctl
        .json(&["dataset", "search", "--files", "format=ROOT"])
        .await?;
    ensure!(
        hidden["files"] == serde_json::json!([]),
        "bob sees alice's files: {hidden}"
    );
    let ds = alice
        .ctl
        .json(&[
            "dataset",
            "search",
            "dataset.keywords=neutrino",
            "state=published",
        ])
        .await?;
    ensure!(
        ds["datasets"][0]["name"] == "juno-run42"
            && ds["datasets"].as_array().map(Vec::len) == Some(1),
        "{ds}"
    );
    says(
        &alice
            .ctl
            .refused(&["dataset", "search", "colour=red"])
            .await?,
        Code::InvalidArgument,
        "no field \"colour\"",
    )?;
    says(
        &alice
            .ctl
            .refused(&["dataset", "search", "--files", "replica=complete"])
            .await?,
        Code::InvalidArgument,
        "needs a filter on an indexed field",
    )?;

    // The data card and its readiness, computed from the catalogue.
    let card = alice.ctl.json(&["dataset", "card", "juno-run42"]).await?;
    ensure!(
        card["title"] == "JUNO commissioning run 42, raw waveforms"
            && card["files"]["count"] == 3
            && card["citation"]["manifest"] == p["citation"],
        "{card}"
    );
    let formats: Vec<&str> = card["files"]["formats"]
        .as_array()
        .context("formats")?
        .iter()
        .filter_map(|f| f["format"].as_str())
        .collect();
    ensure!(formats == ["unrecognised", "ROOT"], "{card}");
    let levels = alice
        .ctl
        .json(&["dataset", "readiness", "juno-run42"])
        .await?;
    let level = |axis: &str| {
        levels
            .as_array()
            .and_then(|a| a.iter().find(|r| r["axis"] == axis))
            .map(|r| (r["level"].as_u64(), r["next"].as_str().map(String::from)))
    };
    // Metadata: a validated dataset package that exports to DataCite.
    ensure!(
        level("metadata").is_some_and(|(l, _)| l == Some(3)),
        "{levels}"
    );
    // Consistency: checked on every write and read, no scrub report yet.
    ensure!(
        level("consistency")
            .is_some_and(|(l, n)| l == Some(2) && n.is_some_and(|n| n.contains("scrub"))),
        "{levels}"
    );

    // A policy's deny wins over Bob's grant.
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"Statement": {"Effect": "Deny", "Principal": {"AWS": "bob"},
            "Action": "meridian:GetDataset", "Resource": "arn:meridian:dataset:::juno-run42"}}"#,
    )?;
    alice
        .ctl
        .json(&[
            "dataset",
            "policy",
            "juno-run42",
            policy.to_str().context("path")?,
        ])
        .await?;
    says(
        &bob.ctl.refused(&["dataset", "show", "juno-run42"]).await?,
        Code::PermissionDenied,
        "meridian:GetDataset",
    )?;
    let which = bob
        .ctl
        .json(&["dataset", "which", "juno-raw/calib/source.txt"])
        .await;
    // Nor walk the dataset's files through a search.
    says(
        &bob.ctl
            .refused(&["dataset", "search", "--files", "dataset=juno-run42"])
            .await?,
        Code::PermissionDenied,
        "meridian:GetDataset",
    )?;
    // Search cursors go on from where they were and cannot be forged.
    let first = alice
        .ctl
        .json(&[
            "dataset",
            "search",
            "--files",
            "format=ROOT",
            "--limit",
            "1",
        ])
        .await?;
    let cursor = first["cursor"].as_str().context("cursor")?.to_string();
    let next = alice
        .ctl
        .json(&[
            "dataset",
            "search",
            "--files",
            "format=ROOT",
            "--limit",
            "1",
            "--cursor",
            &cursor,
        ])
        .await?;
    ensure!(
        first["files"][0]["key"] == "run42/a.root" && next["files"][0]["key"] == "run42/b.root",
        "{first} then {next}"
    );
    says(
        &alice
            .ctl
            .refused(&[
                "dataset",
                "search",
                "--files",
                "format=ROOT",
                "--cursor",
                "66665254",
            ])
            .await?,
        Code::InvalidArgument,
        "not one this node gave",
    )?;
    // Bob may not read the file either (Alice's bucket): refused.
    ensure!(
        which.is_err(),
        "bob read a file of alice's bucket: {which:?}"
    );

    // Facility datasets close when their run goes idle: one whose prefix
    // got no file for 30 minutes closes; one still written to stays open.
    for run in ["quiet", "busy"] {
        alice
            .ctl
            .json(&[
                "dataset",
                "create",
                &format!("daq-{run}"),
                "--kind",
                "facility",
                "--facility",
                "JUNO",
                "--close-after-idle",
                "30m",
                "--rule",
                &format!("juno-raw/{run}/"),
            ])
            .await?;
        put(
            &alice.s3,
            "juno-raw",
            &format!("{run}/1.root"),
            b"root data",
        )
        .await?;
    }
    cluster
        .ctl()
        .advance_clock(std::time::Duration::from_secs(31 * 60))
        .await?;
    // Over gRPC: its signatures are held against the wall clock, which
    // the test clock's jump leaves where it was (S3's front would refuse
    // a request 31 minutes from the server's time).
    grpc.put(vec![
        PutRequest {
            frame: Some(Frame::Header(PutHeader {
                bucket: "juno-raw".into(),
                key: "busy/2.root".into(),
                ..Default::default()
            })),
        },
        PutRequest {
            frame: Some(Frame::Data(bytes::Bytes::from_static(b"root data"))),
        },
    ])
    .await?;
    poll_until(
        "the quiet run's dataset closes",
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(300),
        || async {
            let d = alice.ctl.json(&["dataset", "show", "daq-quiet"]).await?;
            Ok(if d["state"] == "closed" {
                Check::Done(())
            } else {
                Check::NotYet(d.to_string())
            })
        },
    )
    .await?;
    let busy = alice.ctl.json(&["dataset", "show", "daq-busy"]).await?;
    ensure!(
        busy["state"] == "open",
        "a run still written to was closed: {busy}"
    );
    let status = cluster.ctl().json(&["status"]).await?;
    ensure!(
        status["datasets_closed_idle"] == 1,
        "{}",
        status["datasets_closed_idle"]
    );
    Ok(())
}
