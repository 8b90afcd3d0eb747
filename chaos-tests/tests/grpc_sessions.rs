//! Upload sessions, WaitReplicated and verified reads through the gRPC
//! client API of a real `meridian dev`: a write whose connection is cut
//! part-way resumes from its last durable chunk (the bytes sent again are
//! less than a chunk), two streams finish it in parallel, the commit checks
//! the declared BLAKE3, replication is waited on, and every chunk read back
//! is checked against its hash.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use futures::StreamExt;
use meridian_chaos_tests::data::{blake3_hex, random_bytes};
use meridian_chaos_tests::grpc::{client, with_resource, Api};
use meridian_chaos_tests::{DevCluster, DevOptions};
use meridian_proto::v1::upload_write_request::Frame;
use meridian_proto::v1::*;

const CHUNK: u64 = 256 * 1024;

async fn api(cluster: &DevCluster) -> Result<Api> {
    Api::connect(&cluster.grpc_endpoint()).await
}

fn begin_req(key: &str, data: &[u8], blake3: String, idle_seconds: u32) -> BeginUploadRequest {
    BeginUploadRequest {
        bucket: "daq".into(),
        key: key.into(),
        site: "Jiangmen".into(),
        content_type: "application/x-root".into(),
        size: data.len() as u64,
        blake3,
        idle_seconds,
        ..Default::default()
    }
}

/// Sends the header and `data[..cut]` in 100,000-byte frames, then holds
/// the stream open as a client whose network went away would, and gives
/// up on the call: the server sees the stream reset.
async fn write_then_cut(c: &mut Api, key: &str, upload_id: &str, data: &[u8], cut: usize) {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let frames = std::iter::once(Frame::Header(UploadWriteHeader {
        upload_id: upload_id.into(),
        offset: 0,
    }))
    .chain(
        data[..cut]
            .chunks(100_000)
            .map(|d| Frame::Data(bytes::Bytes::copy_from_slice(d))),
    );
    for f in frames {
        let _ = tx.send(UploadWriteRequest { frame: Some(f) }).await;
    }
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let call = c.0.write_upload(with_resource(stream, "daq", Some(key)));
    let r = tokio::time::timeout(Duration::from_secs(3), call).await;
    assert!(r.is_err(), "the held stream ended: {r:?}");
    drop(tx);
}

async fn status_until(
    c: &mut Api,
    key: &str,
    upload_id: &str,
    done: impl Fn(&UploadStatus) -> bool,
) -> Result<UploadStatus> {
    for _ in 0..100 {
        let s = c.upload_status(("daq", key, upload_id)).await?.into_inner();
        if done(&s) {
            return Ok(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the session never reached the state waited for")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_upload_resumes_from_its_last_chunk_and_is_read_back_verified() -> Result<()> {
    let cluster =
        DevCluster::start_serving(DevOptions::default().with_chunk_size("256KiB")).await?;
    let mut c = api(&cluster).await?;
    c.create_bucket(CreateBucketRequest {
        bucket: "daq".into(),
        site: "Jiangmen".into(),
    })
    .await?;
    let data = random_bytes(7, (10 * CHUNK + 1000) as usize);
    let key = "run7/raw.root";
    let begun = c
        .begin_upload(begin_req(key, &data, blake3_hex(&data), 0))
        .await?
        .into_inner();
    ensure!(begun.chunk_size as u64 == CHUNK, "{begun:?}");
    ensure!(
        begun.missing.len() == 1 && begun.durable_bytes == 0,
        "{begun:?}"
    );
    let id = begun.upload_id.clone();

    // Cut at 55%: five whole chunks and half of the sixth reached the node.
    let cut = data.len() * 55 / 100;
    write_then_cut(&mut c, key, &id, &data, cut).await;
    let st = status_until(&mut c, key, &id, |s| s.durable_bytes >= 5 * CHUNK).await?;
    ensure!(
        st.durable_bytes == 5 * CHUNK
            && st.missing.len() == 1
            && st.missing[0].start == 5 * CHUNK
            && st.missing[0].end == data.len() as u64,
        "every whole chunk before the cut is kept, nothing after: {st:?}"
    );
    let resent = cut as u64 - st.missing[0].start;
    ensure!(resent < CHUNK, "{resent} bytes to send again");

    // Two streams finish it in parallel, from the status's first gap.
    let mid = 8 * CHUNK;
    let mut c2 = api(&cluster).await?;
    let (a, b) = tokio::join!(
        c.write_upload(
            ("daq", key, &id),
            5 * CHUNK,
            &data[5 * CHUNK as usize..mid as usize],
            65_536
        ),
        c2.write_upload(("daq", key, &id), mid, &data[mid as usize..], 300_000),
    );
    let (a, b) = (a?.into_inner(), b?.into_inner());
    ensure!(
        a.chunks_written == 3 && b.chunks_written == 3 && b.discarded_bytes == 0,
        "{a:?} {b:?}"
    );
    let info = c
        .commit_upload(("daq", key, &id))
        .await?
        .into_inner()
        .info
        .context("no info")?;
    ensure!(
        info.blake3 == blake3_hex(&data) && info.size == data.len() as u64,
        "{info:?}"
    );
    ensure!(info.etag.ends_with("-11"), "{info:?}");

    // Replication, waited on: a frame at each change, the last one done.
    let mut progress = c
        .wait_replicated(WaitReplicatedRequest {
            bucket: "daq".into(),
            key: key.into(),
            timeout_seconds: 120,
            copies: 0,
        })
        .await?
        .into_inner();
    let mut frames = Vec::new();
    while let Some(p) = progress.next().await {
        frames.push(p?);
    }
    let last = frames.last().context("no progress")?;
    ensure!(
        last.done && last.complete == last.wanted && last.wanted == 3,
        "{frames:?}"
    );
    ensure!(
        last.replicas.iter().all(|r| r.state == "complete"),
        "{last:?}"
    );

    // Verified reads: the whole object at Beijing (which holds a copy),
    // every chunk checked; a range that cuts chunks, widened to them.
    let get = |offset: u64, length: Option<u64>, whole_chunks: bool, site: &str| GetRequest {
        bucket: "daq".into(),
        key: key.into(),
        site: site.into(),
        offset,
        length,
        whole_chunks,
        ..Default::default()
    };
    let (info, body, checked) = c.read_verified(get(0, None, false, "Beijing")).await?;
    ensure!(body == data, "the object read back differs");
    ensure!(checked == 11, "{checked} chunks checked");
    ensure!(info.read_site == "Beijing", "{info:?}");
    let (off, len) = (CHUNK + 100, CHUNK);
    let (_, body, checked) = c
        .read_verified(get(off, Some(len), true, "Beijing"))
        .await?;
    ensure!(body == data[off as usize..(off + len) as usize], "range");
    ensure!(
        checked == 2,
        "a range over two chunks checks both: {checked}"
    );
    let (_, _, checked) = c
        .read_verified(get(off, Some(len), false, "Beijing"))
        .await?;
    ensure!(checked == 0, "without whole chunks none arrives whole");
    let mut pinned = get(0, None, false, "Beijing");
    pinned.from_site = "Jiangmen".into();
    let (info, body, _) = c.read_verified(pinned).await?;
    ensure!(info.read_site == "Jiangmen" && body == data, "{info:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_hash_commits_nothing_an_idle_session_expires_and_others_keep_out() -> Result<()> {
    let mut opts = DevOptions::default().with_chunk_size("256KiB");
    opts.extra_args = vec!["--gc-period".into(), "1s".into()];
    let cluster = DevCluster::start_serving(opts).await?;
    let mut c = api(&cluster).await?;
    c.create_bucket(CreateBucketRequest {
        bucket: "daq".into(),
        site: "Jiangmen".into(),
    })
    .await?;
    let data = random_bytes(9, (2 * CHUNK + 5) as usize);

    // Declared one hash, sent other bytes: the commit refuses, nothing is
    // made, the session stays to be written again or aborted.
    let key = "run9/raw.root";
    let s = c
        .begin_upload(begin_req(key, &data, "ab".repeat(32), 0))
        .await?
        .into_inner();
    let id = s.upload_id;
    c.write_upload(("daq", key, &id), 0, &data, 100_000).await?;
    let r = c.commit_upload(("daq", key, &id)).await;
    ensure!(
        r.as_ref().is_err_and(|s| s.code() == tonic::Code::DataLoss),
        "{r:?}"
    );
    let stat = c
        .stat(StatRequest {
            bucket: "daq".into(),
            key: key.into(),
            max_staleness_ms: 0,
        })
        .await;
    ensure!(
        stat.as_ref()
            .is_err_and(|s| s.code() == tonic::Code::NotFound),
        "{stat:?}"
    );
    c.upload_status(("daq", key, &id)).await?;

    // Another user may not write, see or commit the session.
    let (ak, sk) = cluster.ctl().new_user("bob").await?;
    let mut bob = Api(client(&cluster.grpc_endpoint(), &ak, &sk).await?);
    let w = bob.write_upload(("daq", key, &id), 0, &data, 100_000).await;
    ensure!(
        w.as_ref()
            .is_err_and(|s| s.code() == tonic::Code::PermissionDenied),
        "{w:?}"
    );
    let st = bob.upload_status(("daq", key, &id)).await;
    ensure!(
        st.as_ref()
            .is_err_and(|s| s.code() == tonic::Code::PermissionDenied),
        "{st:?}"
    );
    // A write off the chunk grid is refused.
    let off = c
        .write_upload(("daq", key, &id), 100, &data[100..], 100_000)
        .await;
    ensure!(
        off.as_ref()
            .is_err_and(|s| s.code() == tonic::Code::InvalidArgument),
        "{off:?}"
    );
    c.abort_upload(("daq", key, &id)).await?;
    let gone = c.upload_status(("daq", key, &id)).await;
    ensure!(
        gone.as_ref()
            .is_err_and(|s| s.code() == tonic::Code::NotFound),
        "{gone:?}"
    );

    // A session left idle past its time is aborted by the node.
    let key = "run9/idle.root";
    let s = c
        .begin_upload(begin_req(key, &data, blake3_hex(&data), 1))
        .await?
        .into_inner();
    c.write_upload(
        ("daq", key, &s.upload_id),
        0,
        &data[..CHUNK as usize],
        65_536,
    )
    .await?;
    let mut expired = false;
    for _ in 0..100 {
        match c.upload_status(("daq", key, &s.upload_id)).await {
            Err(e) if e.code() == tonic::Code::NotFound => {
                expired = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    ensure!(expired, "the idle session was not aborted");
    Ok(())
}
