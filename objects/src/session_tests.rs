//! Upload sessions over the core's in-memory catalogue and chunk store.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{stream, StreamExt, TryStreamExt};
use meridian_core::catalogue::WriteCondition;
use meridian_core::clock::ManualClock;
use meridian_core::records::MultipartUpload;
use meridian_core::testkit::{MemCatalogue, MemChunks};
use meridian_core::CoreError;
use meridian_placement::Topology;

use crate::{NewObject, Objects};

const CHUNK: usize = 64 * 1024;
const TOPOLOGY: &str =
    "hub = \"A\"\n[[site]]\nid = 1\nname = \"A\"\n[[site]]\nid = 2\nname = \"B\"\n\
    [[link]]\nfrom = \"A\"\nto = \"B\"\nbandwidth_gbps = 1.0\n";

struct Fx {
    objects: Objects,
    catalogue: Arc<MemCatalogue>,
}

async fn fixture() -> Fx {
    let clock = ManualClock::starting_now();
    let catalogue = Arc::new(MemCatalogue::new(clock.clone()));
    let objects = Objects::new(
        catalogue.clone(),
        Arc::new(MemChunks::default()),
        Arc::new(Topology::from_toml(TOPOLOGY, "test").expect("topology")),
        CHUNK,
        clock,
    );
    objects
        .create_bucket("bkt", "alice", 1, &Default::default())
        .await
        .expect("bucket");
    Fx { objects, catalogue }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 + i / 977) as u8).collect()
}

fn obj(key: &str) -> NewObject {
    NewObject {
        bucket: "bkt".into(),
        key: key.into(),
        owner: "alice".into(),
        ..Default::default()
    }
}

async fn begin(fx: &Fx, body: &[u8], declared: [u8; 32]) -> MultipartUpload {
    fx.objects
        .begin_session(
            1,
            obj("k"),
            (body.len() as u64, declared),
            Duration::from_secs(60),
        )
        .await
        .expect("begin")
}

/// `body` in frames of 10,000 bytes (not a divisor of the chunk).
fn frames(body: &[u8]) -> impl futures::Stream<Item = Result<Bytes, String>> + Send {
    let v: Vec<Result<Bytes, String>> = body
        .chunks(10_000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(v)
}

async fn status(fx: &Fx, up: &MultipartUpload) -> Result<crate::SessionStatus, CoreError> {
    let now = fx.objects.session(&up.upload_id).await?;
    fx.objects.session_status(now).await
}

async fn read_all(fx: &Fx, key: &str) -> Vec<u8> {
    let rec = fx
        .objects
        .catalogue()
        .object("bkt", key)
        .await
        .expect("rec");
    let size = rec.size;
    let parts: Vec<Bytes> = fx
        .objects
        .read(1, rec, 0, size)
        .try_collect()
        .await
        .expect("read");
    parts.concat()
}

#[tokio::test]
async fn two_streams_out_of_order_fill_a_session_that_commits_to_its_hash() {
    let fx = fixture().await;
    let body = data(3 * CHUNK + 12_345);
    let up = begin(&fx, &body, *blake3::hash(&body).as_bytes()).await;
    let second = fx
        .objects
        .write_session(&up, 2 * CHUNK as u64, frames(&body[2 * CHUNK..]))
        .await
        .expect("second half");
    assert_eq!((second.chunks, second.discarded), (2, 0));
    let first = fx
        .objects
        .write_session(&up, 0, frames(&body[..2 * CHUNK]))
        .await
        .expect("first half");
    assert_eq!(first.bytes, 2 * CHUNK as u64);
    let st = status(&fx, &up).await.expect("st");
    assert!(st.missing.is_empty(), "{:?}", st.missing);
    assert_eq!(st.durable, body.len() as u64);
    let rec = fx
        .objects
        .commit_session(&up, &WriteCondition::Always)
        .await
        .expect("commit");
    assert_eq!(rec.blake3, Some(*blake3::hash(&body).as_bytes()));
    assert_eq!(rec.owner, "alice");
    assert!(rec.etag.ends_with("-4"), "{}", rec.etag);
    assert_eq!(read_all(&fx, "k").await, body);
    // The session is gone; a commit retried after its answer was lost
    // gets the object it made.
    assert!(matches!(
        fx.objects.session(&up.upload_id).await,
        Err(CoreError::NoSuchUpload(_))
    ));
    let (done, again) = fx
        .objects
        .committed_session(&up.upload_id)
        .await
        .expect("retried commit");
    assert_eq!((done.key.as_str(), again.version_id), ("k", rec.version_id));
}

#[tokio::test]
async fn a_broken_stream_keeps_its_whole_chunks_and_the_writer_resumes_there() {
    let fx = fixture().await;
    let body = data(4 * CHUNK + 1);
    let up = begin(&fx, &body, *blake3::hash(&body).as_bytes()).await;
    let cut = 2 * CHUNK + CHUNK / 2;
    let broken = frames(&body[..cut]).chain(stream::iter([Err("connection reset".to_string())]));
    let failed = fx
        .objects
        .write_session(&up, 0, broken)
        .await
        .expect_err("the stream broke");
    assert!(matches!(failed.error, CoreError::IncompleteBody(_)));
    assert_eq!(failed.written.chunks, 2);
    assert_eq!(failed.written.discarded, (CHUNK / 2) as u64);
    let st = status(&fx, &up).await.expect("st");
    assert_eq!(st.missing, vec![(2 * CHUNK as u64, body.len() as u64)]);
    let from = st.missing[0].0;
    fx.objects
        .write_session(&up, from, frames(&body[from as usize..]))
        .await
        .expect("resume");
    fx.objects
        .commit_session(&up, &WriteCondition::Always)
        .await
        .expect("commit");
    assert_eq!(read_all(&fx, "k").await, body);
}

#[tokio::test]
async fn a_stream_that_falls_silent_has_its_whole_chunks_recorded_meanwhile() {
    let fx = fixture().await;
    let body = data(4 * CHUNK);
    let up = begin(&fx, &body, *blake3::hash(&body).as_bytes()).await;
    // Two and a half chunks, then nothing: a network that stalls, neither
    // closed nor reset.
    let stalled = frames(&body[..2 * CHUNK + CHUNK / 2]).chain(stream::pending());
    let write = fx.objects.write_session(&up, 0, stalled);
    let watch = async {
        // Generous: the chunks are in memory; only a write that waits for
        // the stream before recording them fails this.
        for _ in 0..500 {
            let st = status(&fx, &up).await.expect("st");
            if st.durable == 2 * CHUNK as u64 {
                return st;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the whole chunks of a silent stream were not recorded");
    };
    tokio::select! {
        r = write => panic!("a stalled stream ended: {:?}", r.map(|w| w.chunks)),
        st = watch => assert_eq!(st.missing, vec![(2 * CHUNK as u64, body.len() as u64)]),
    }
}

#[tokio::test]
async fn a_session_whose_bytes_are_not_what_it_declared_commits_nothing() {
    let fx = fixture().await;
    let body = data(2 * CHUNK + 7);
    let up = begin(&fx, &body, [7; 32]).await;
    fx.objects
        .write_session(&up, 0, frames(&body))
        .await
        .expect("write");
    let e = fx
        .objects
        .commit_session(&up, &WriteCondition::Always)
        .await
        .expect_err("mismatch");
    assert!(matches!(e, CoreError::BadDigest(_)), "{e:?}");
    assert!(matches!(
        fx.objects.catalogue().object("bkt", "k").await,
        Err(CoreError::NoSuchKey(_))
    ));
    // The session stays, to write again or abort; aborting frees its chunks.
    status(&fx, &up).await.expect("still there");
    fx.objects.abort_session(&up).await.expect("abort");
    assert!(matches!(
        status(&fx, &up).await,
        Err(CoreError::NoSuchUpload(_))
    ));
    assert_eq!(fx.catalogue.reclaimable(1).len(), 3);
}

#[tokio::test]
async fn bad_offsets_overlong_streams_and_early_commits_are_refused() {
    let fx = fixture().await;
    let body = data(2 * CHUNK);
    let up = begin(&fx, &body, *blake3::hash(&body).as_bytes()).await;
    let off_grid = fx
        .objects
        .write_session(&up, 100, frames(&body[100..]))
        .await
        .expect_err("off the grid");
    assert!(matches!(off_grid.error, CoreError::InvalidArgument(_)));
    let mut long = body.clone();
    long.extend_from_slice(b"more");
    let over = fx
        .objects
        .write_session(&up, CHUNK as u64, frames(&long[CHUNK..]))
        .await
        .expect_err("past the end");
    assert!(matches!(over.error, CoreError::InvalidArgument(_)));
    assert_eq!(over.written.chunks, 1, "the whole chunk before stays");
    let early = fx
        .objects
        .commit_session(&up, &WriteCondition::Always)
        .await
        .expect_err("incomplete");
    assert!(matches!(early, CoreError::IncompleteBody(_)), "{early:?}");
}

#[tokio::test]
async fn sessions_and_s3_multipart_uploads_do_not_take_each_other() {
    let fx = fixture().await;
    let body = data(CHUNK);
    let up = begin(&fx, &body, *blake3::hash(&body).as_bytes()).await;
    let part = fx
        .objects
        .upload_part(
            &up.upload_id,
            1,
            frames(&body),
            Some(body.len() as u64),
            Default::default(),
        )
        .await;
    assert!(matches!(part, Err(CoreError::NoSuchUpload(_))), "{part:?}");
    let s3 = fx
        .objects
        .create_upload(1, obj("m"))
        .await
        .expect("s3 upload");
    assert!(matches!(
        fx.objects.session(&s3).await,
        Err(CoreError::NoSuchUpload(_))
    ));
}

#[tokio::test]
async fn a_create_only_commit_is_refused_once_the_key_exists() {
    let fx = fixture().await;
    let body = data(CHUNK + 1);
    let up = begin(&fx, &body, *blake3::hash(&body).as_bytes()).await;
    fx.objects
        .write_session(&up, 0, frames(&body))
        .await
        .expect("write");
    fx.objects
        .put_object(1, obj("k"), frames(b"in the way"), None)
        .await
        .expect("another writer");
    let e = fx
        .objects
        .commit_session(&up, &WriteCondition::IfAbsent)
        .await
        .expect_err("exists");
    assert!(matches!(e, CoreError::PreconditionFailed(_)), "{e:?}");
}
