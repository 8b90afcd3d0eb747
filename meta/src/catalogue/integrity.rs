//! What the integrity jobs keep in the catalogue: each site's scrub
//! progress (so a restarted scrubber resumes where it was, and any node can
//! report it), audit requests (picked up by the node that keeps the site)
//! and the last audit report per site and bucket, and the index of damaged
//! replicas the repair job works through (kept by `apply::replica_effects`).

use meridian_proto::v1::save_integrity_cmd::What;
use meridian_proto::v1::{AuditReport, AuditRequest, Counter, SaveIntegrityCmd, ScrubProgress};
use prost::Message;

use super::apply::{get, reject};
use super::keys;
use super::read::CatalogueReader;
use super::txn::Txn;
use crate::types::{Outcome, OutcomeCode};
use crate::MetaError;

/// Examples a report lists at most (of lost files, of uncounted references).
pub const MAX_EXAMPLES: usize = 20;
/// The longest bucket name S3 allows.
const MAX_BUCKET: usize = 63;

pub(super) fn save(txn: &mut Txn<'_>, c: &SaveIntegrityCmd) -> Result<Outcome, MetaError> {
    match &c.what {
        None => Ok(reject(OutcomeCode::Invalid, "nothing to save")),
        Some(What::Scrub(p)) => {
            let k = keys::scrub_progress(p.site);
            // A save from before a restart that arrives late must not move
            // the cursor back.
            if let Some(old) = get::<ScrubProgress>(txn, &k)? {
                if (old.pass, old.updated_ms) > (p.pass, p.updated_ms) {
                    return Ok(Outcome::Stale);
                }
            }
            txn.put(k, p.encode_to_vec());
            Ok(Outcome::Done)
        }
        Some(What::AuditRequest(r)) => {
            if r.bucket.len() > MAX_BUCKET {
                return Ok(reject(OutcomeCode::Invalid, "bucket name too long"));
            }
            let k = keys::audit_request(r.site);
            if let Some(old) = get::<AuditRequest>(txn, &k)? {
                if old.id >= r.id {
                    return Ok(Outcome::Stale);
                }
            }
            txn.put(k, r.encode_to_vec());
            Ok(Outcome::Done)
        }
        Some(What::Audit(a)) => {
            if a.bucket.len() > MAX_BUCKET
                || a.lost_examples.len() > MAX_EXAMPLES
                || a.legacy_examples.len() > MAX_EXAMPLES
            {
                return Ok(reject(
                    OutcomeCode::Invalid,
                    format!("an audit report names at most {MAX_EXAMPLES} examples of each kind"),
                ));
            }
            txn.put(keys::audit_report(a.site, &a.bucket), a.encode_to_vec());
            Ok(Outcome::Done)
        }
    }
}

impl CatalogueReader {
    pub fn scrub_progress(&self, site: u32) -> Result<Option<ScrubProgress>, MetaError> {
        self.get(&keys::scrub_progress(site))
    }

    pub fn audit_request(&self, site: u32) -> Result<Option<AuditRequest>, MetaError> {
        self.get(&keys::audit_request(site))
    }

    /// The last report of each bucket audited at `site` (the whole site's
    /// first, under the empty name), at most `limit`.
    pub fn audit_reports(&self, site: u32, limit: usize) -> Result<Vec<AuditReport>, MetaError> {
        let prefix = keys::audit_reports_prefix(site);
        let mut out = Vec::new();
        self.scan(&prefix, &prefix, |k, v| {
            out.push(super::apply::decode(k, v)?);
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    pub fn audit_report(&self, site: u32, bucket: &str) -> Result<Option<AuditReport>, MetaError> {
        self.get(&keys::audit_report(site, bucket))
    }

    /// Up to `limit` damaged replicas at `site` as (bucket id, key), after
    /// `after`, in key order.
    pub fn damaged(
        &self,
        site: u32,
        after: Option<(u64, &str)>,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, MetaError> {
        let prefix = keys::damaged_prefix(site);
        let start = match after {
            Some((b, k)) => {
                let mut s = keys::damaged(site, b, k);
                s.push(0);
                s
            }
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        self.scan(&prefix, &start, |k, _| {
            let parsed = keys::parse_damaged(k)
                .ok_or_else(|| super::refs::corrupt(k, "damaged-index key does not parse"))?;
            out.push(parsed);
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// Replicas (objects) and bytes at `site` found suspect or lost.
    pub fn damaged_counter(&self, site: u32) -> Result<Counter, MetaError> {
        Ok(self.get(&keys::damaged_counter(site))?.unwrap_or_default())
    }
}
