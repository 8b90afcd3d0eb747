//! Resume after a cut: an upload session whose write stream is cut at a
//! given fraction of the object, asked where it stands, and finished from
//! the first missing byte. The figure is the bytes sent twice (all the
//! client sent before the cut, past the point the server says to resume
//! from), as a fraction of the object and of a chunk.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use meridian_api::auth::client::with_resource;
use meridian_proto::v1::upload_write_request::Frame;
use meridian_proto::v1::*;
use serde_json::json;

use crate::grpc::GrpcClient;
use crate::size::parse_size;

const FRAME: usize = 1 << 20;

#[derive(Args, Debug, Clone)]
pub struct ResumeArgs {
    /// The client gRPC port, e.g. http://127.0.0.1:50051.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub endpoint: String,
    #[arg(long, value_parser = parse_size, default_value = "1GiB")]
    pub size: u64,
    /// Where to cut, as fractions of the object (comma-separated).
    #[arg(long, default_value = "0.13,0.37,0.5,0.71,0.93", value_delimiter = ',')]
    pub cuts: Vec<f64>,
    #[arg(long, default_value = "meridian-bench")]
    pub bucket: String,
    #[command(flatten)]
    pub creds: crate::cli::Credentials,
}

fn frames(upload_id: &str, offset: u64, data: Bytes) -> Vec<UploadWriteRequest> {
    let mut v = vec![UploadWriteRequest {
        frame: Some(Frame::Header(UploadWriteHeader {
            upload_id: upload_id.into(),
            offset,
        })),
    }];
    let mut o = 0;
    while o < data.len() {
        let e = (o + FRAME).min(data.len());
        v.push(UploadWriteRequest {
            frame: Some(Frame::Data(data.slice(o..e))),
        });
        o = e;
    }
    v
}

/// The session's durable bytes once they stop changing (the node records
/// what it received before the cut a moment after it).
async fn settled(c: &GrpcClient, bucket: &str, key: &str, id: &str) -> Result<UploadStatus> {
    let mut last: Option<UploadStatus> = None;
    for _ in 0..100 {
        let r = UploadRef {
            upload_id: id.into(),
        };
        let s = c
            .inner()
            .get_upload_status(with_resource(r, bucket, Some(key)))
            .await?
            .into_inner();
        if last
            .as_ref()
            .is_some_and(|l| l.durable_bytes == s.durable_bytes)
        {
            return Ok(s);
        }
        last = Some(s);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    last.context("no status")
}

async fn one_cut(
    c: &GrpcClient,
    a: &ResumeArgs,
    data: &Bytes,
    frac: f64,
) -> Result<serde_json::Value> {
    let key = format!("resume/{frac}");
    let begin = BeginUploadRequest {
        bucket: a.bucket.clone(),
        key: key.clone(),
        size: data.len() as u64,
        blake3: hex::encode(blake3::hash(data).as_bytes()),
        ..Default::default()
    };
    let s = c
        .inner()
        .begin_upload(with_resource(begin, &a.bucket, Some(&key)))
        .await?
        .into_inner();
    let chunk = u64::from(s.chunk_size);
    let cut = ((data.len() as f64 * frac) as usize).min(data.len());
    // Everything up to the cut goes out; then the client stops sending
    // and gives up on the call, as one whose network went away.
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let mut client = c.inner();
    let call = client.write_upload(with_resource(
        tokio_stream::wrappers::ReceiverStream::new(rx),
        &a.bucket,
        Some(&key),
    ));
    let feed = async {
        for f in frames(&s.upload_id, 0, data.slice(..cut)) {
            if tx.send(f).await.is_err() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let started = Instant::now();
    tokio::select! {
        r = call => bail!("the write ended before the cut: {r:?}"),
        () = feed => {}
    }
    drop(tx);
    let st = settled(c, &a.bucket, &key, &s.upload_id).await?;
    let from = st.missing.first().map_or(data.len() as u64, |m| m.start);
    let resent = (cut as u64).saturating_sub(from);
    let req = with_resource(
        tokio_stream::iter(frames(&s.upload_id, from, data.slice(from as usize..))),
        &a.bucket,
        Some(&key),
    );
    c.inner().write_upload(req).await?;
    let r = UploadRef {
        upload_id: s.upload_id.clone(),
    };
    let info = c
        .inner()
        .commit_upload(with_resource(r, &a.bucket, Some(&key)))
        .await?
        .into_inner()
        .info
        .context("commit answered no info")?;
    if info.blake3 != hex::encode(blake3::hash(data).as_bytes()) {
        bail!("the resumed object's hash differs");
    }
    Ok(json!({
        "size": data.len(),
        "chunk_size": chunk,
        "cut_at": cut,
        "durable_at_cut": st.durable_bytes,
        "resumed_from": from,
        "bytes_sent_again": resent,
        "fraction_of_object": resent as f64 / data.len() as f64,
        "fraction_of_chunk": resent as f64 / chunk as f64,
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

pub async fn run(a: &ResumeArgs) -> Result<()> {
    let c = GrpcClient::connect(
        &a.endpoint,
        a.creds.ca_cert.as_deref(),
        (&a.creds.access_key, &a.creds.secret_key),
    )
    .await?;
    c.ensure_bucket(&a.bucket).await?;
    let data = Bytes::from(
        (0..a.size)
            .map(|i| (i.wrapping_mul(0x9E37_79B9) >> 13) as u8)
            .collect::<Vec<u8>>(),
    );
    for frac in &a.cuts {
        if !(0.0..1.0).contains(frac) {
            bail!("a cut at {frac} is not inside the object");
        }
        println!("{}", one_cut(&c, a, &data, *frac).await?);
    }
    Ok(())
}
