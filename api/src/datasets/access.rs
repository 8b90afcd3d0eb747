//! `AccessReport`: what a dataset's files (or one file) saw, summed from
//! the per-file tallies the nodes' access logs were shipped into. User
//! names go only to who may change the dataset's access (its owners and
//! the administrator); others see how many there were.

use meridian_core::access::dataset::{GET, SET_ACCESS};
use meridian_core::access::Caller;
use meridian_core::tracking::Tally;
use meridian_proto::v1::{
    AccessCounts, AccessReportRequest, AccessReportResponse, FileAccessCounts,
};
use tonic::Status;

use super::{members, DatasetApi};
use crate::auth::scope::Access;
use crate::auth::Identity;
use crate::status;

const DEFAULT_TOP: usize = 20;
const MAX_TOP: usize = 1000;

fn counts(t: &Tally, names: bool) -> AccessCounts {
    AccessCounts {
        reads: t.reads,
        read_bytes: t.read_bytes,
        writes: t.writes,
        write_bytes: t.write_bytes,
        deletes: t.deletes,
        distinct_users: t.users.len() as u64,
        users_overflow: t.users_overflow,
        users: if names {
            t.users.iter().cloned().collect()
        } else {
            Vec::new()
        },
        first_ms: t.first_ms,
        last_ms: t.last_ms,
    }
}

impl DatasetApi {
    pub(super) async fn report(
        &self,
        id: &Identity,
        r: AccessReportRequest,
    ) -> Result<AccessReportResponse, Status> {
        let top = match r.top {
            0 => DEFAULT_TOP,
            n => (n as usize).min(MAX_TOP),
        };
        let c = self.gw.catalogue();
        if r.name.is_empty() {
            let Some(f) = r.file else {
                return Err(Status::invalid_argument("name a dataset or a file"));
            };
            self.auth
                .authorize(
                    id,
                    (&f.bucket, Some(&f.key)),
                    "s3:GetObject",
                    (Access::Read, &f.key),
                )
                .await?;
            let t = c
                .file_access(&f.bucket, &f.key)
                .await
                .map_err(status)?
                .unwrap_or_default();
            let names = id.caller == Caller::Admin;
            return Ok(AccessReportResponse {
                total: Some(counts(&t, names)),
                files: vec![FileAccessCounts {
                    bucket: f.bucket,
                    key: f.key,
                    counts: Some(counts(&t, names)),
                }],
                files_counted: 1,
                truncated: false,
            });
        }
        let d = self.allowed(id, &r.name, GET).await?;
        let names = self.auth.sees_dataset_as(id, &d, SET_ACCESS);
        let walk = members::walk(c.as_ref(), &d).await.map_err(status)?;
        let mut total = Tally::default();
        let mut per_file = Vec::new();
        for m in &walk.files {
            if let Some(t) = c
                .file_access(&m.file.bucket, &m.file.key)
                .await
                .map_err(status)?
            {
                total.merge(&t);
                per_file.push((m.file.clone(), t));
            }
        }
        per_file.sort_by(|a, b| b.1.reads.cmp(&a.1.reads).then(a.0.cmp(&b.0)));
        Ok(AccessReportResponse {
            total: Some(counts(&total, names)),
            files: per_file
                .iter()
                .take(top)
                .map(|(f, t)| FileAccessCounts {
                    bucket: f.bucket.clone(),
                    key: f.key.clone(),
                    counts: Some(counts(t, names)),
                })
                .collect(),
            files_counted: walk.files.len() as u64,
            truncated: walk.truncated,
        })
    }
}
