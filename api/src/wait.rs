//! `WaitReplicated`: an object's replica progress, streamed until its
//! placement holds. The catalogue is read at a steady pace (a frame only
//! when something changed), bounded by the caller's timeout.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use meridian_core::records::{ObjectRecord, ReplicaState};
use meridian_objects::Objects;
use meridian_proto::v1::{ReplicationProgress, WaitReplicatedRequest};
use tonic::Status;

use crate::{object_info, status};

/// How often the catalogue is read while waiting.
const POLL: Duration = Duration::from_millis(250);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

pub type ProgressStream = Pin<Box<dyn Stream<Item = Result<ReplicationProgress, Status>> + Send>>;

pub const METHOD: &str = "/meridian.v1.ObjectService/WaitReplicated";

fn progress(gw: &Objects, r: &WaitReplicatedRequest, rec: &ObjectRecord) -> ReplicationProgress {
    let info = object_info(gw.topology(), &r.bucket, &r.key, rec);
    let complete = rec
        .replicas
        .iter()
        .filter(|x| x.state == ReplicaState::Complete)
        .count() as u32;
    let all = rec.replicas.len() as u32;
    let wanted = match r.copies {
        0 => all,
        n => n.min(all),
    };
    ReplicationProgress {
        version_id: rec.version_id.clone(),
        replicas: info.replicas,
        complete,
        wanted,
        done: complete >= wanted,
    }
}

/// The timeout a request asks for, within bounds.
pub fn timeout_of(r: &WaitReplicatedRequest) -> Result<Duration, Status> {
    let t = match r.timeout_seconds {
        0 => DEFAULT_TIMEOUT,
        s => Duration::from_secs(u64::from(s)),
    };
    if t > MAX_TIMEOUT {
        return Err(Status::invalid_argument(format!(
            "timeout_seconds is at most {}",
            MAX_TIMEOUT.as_secs()
        )));
    }
    Ok(t)
}

/// Streams the progress of the version the key holds now (`first`).
pub fn watch(
    gw: Arc<Objects>,
    r: WaitReplicatedRequest,
    first: ObjectRecord,
    timeout: Duration,
) -> ProgressStream {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        let version = first.version_id.clone();
        let mut last: Option<ReplicationProgress> = None;
        let mut rec = first;
        loop {
            let p = progress(&gw, &r, &rec);
            let done = p.done;
            if last.as_ref() != Some(&p) {
                last = Some(p.clone());
                if tx.send(Ok(p)).await.is_err() {
                    return; // the caller is gone
                }
            }
            if done {
                return;
            }
            if tokio::time::Instant::now() + POLL > deadline {
                let p = last.unwrap_or_default();
                let _ = tx
                    .send(Err(Status::deadline_exceeded(format!(
                        "{}/{} has {} of {} replicas complete after {:?}",
                        r.bucket, r.key, p.complete, p.wanted, timeout
                    ))))
                    .await;
                return;
            }
            tokio::time::sleep(POLL).await;
            rec = match gw.catalogue().object(&r.bucket, &r.key).await {
                Ok(now) if now.version_id == version => now,
                Ok(now) => {
                    let _ = tx
                        .send(Err(Status::failed_precondition(format!(
                            "{}/{} was overwritten (version {} became {}) while waiting",
                            r.bucket, r.key, version, now.version_id
                        ))))
                        .await;
                    return;
                }
                // A catalogue between leaders is waited out.
                Err(meridian_core::CoreError::Unavailable(_)) => continue,
                Err(e) => {
                    let _ = tx.send(Err(status(e))).await;
                    return;
                }
            };
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
