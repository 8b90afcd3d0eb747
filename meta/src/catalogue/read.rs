//! Read paths of the catalogue: point lookups, range-scan listings, the
//! pending-replica index and counters. Reads see the locally applied state;
//! callers that need linearizability call `MetaNode::read_barrier` first.

use std::sync::Arc;

use meridian_core::records::{
    BucketRecord, CompletedUpload, MultipartUpload, ObjectRecord, PartRecord,
};
use meridian_proto::v1 as pb;
use meridian_proto::v1::Counter;
use prost::Message;
use rocksdb::{ReadOptions, DB};

use super::apply::decode;
use super::keys;
use crate::records as stored;
use crate::store::CF_CATALOGUE;
use crate::MetaError;

#[derive(Debug, Clone)]
pub enum ListItem {
    Object { key: String, record: ObjectRecord },
    Prefix(String),
}

#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub items: Vec<ListItem>,
    pub truncated: bool,
}

/// One replica that a site still has to receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReplica {
    pub site: u32,
    pub bucket_id: u64,
    pub key: String,
    /// The index key, to resume a scan after it.
    pub cursor: Vec<u8>,
}

#[derive(Clone)]
pub struct CatalogueReader {
    pub(super) db: Arc<DB>,
}

fn utf8(key: &[u8]) -> Result<String, MetaError> {
    String::from_utf8(key.to_vec()).map_err(|e| MetaError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message: format!("key is not UTF-8: {e}"),
    })
}

/// Read options that stop an iterator at the end of `prefix`'s range.
pub(super) fn bounded(prefix: &[u8]) -> ReadOptions {
    let mut opts = ReadOptions::default();
    if let Some(end) = keys::prefix_end(prefix) {
        opts.set_iterate_upper_bound(end);
    }
    opts
}

/// Visits `(key, value)` for keys starting with `prefix`, from `start`,
/// until `f` says stop.
pub(super) fn walk(
    mut it: rocksdb::DBRawIteratorWithThreadMode<'_, DB>,
    prefix: &[u8],
    start: &[u8],
    mut f: impl FnMut(&[u8], &[u8]) -> Result<bool, MetaError>,
) -> Result<(), MetaError> {
    it.seek(start);
    while it.valid() {
        let (Some(k), Some(v)) = (it.key(), it.value()) else {
            break;
        };
        if !k.starts_with(prefix) || !f(k, v)? {
            break;
        }
        it.next();
    }
    it.status()?;
    Ok(())
}

impl CatalogueReader {
    pub fn new(db: Arc<DB>) -> Self {
        CatalogueReader { db }
    }

    pub(super) fn cf(&self) -> Result<&rocksdb::ColumnFamily, MetaError> {
        self.db
            .cf_handle(CF_CATALOGUE)
            .ok_or_else(|| MetaError::Unavailable("catalogue column family missing".into()))
    }

    pub(super) fn search_cf(&self) -> Result<&rocksdb::ColumnFamily, MetaError> {
        self.db
            .cf_handle(crate::store::CF_SEARCH)
            .ok_or_else(|| MetaError::Unavailable("search column family missing".into()))
    }

    pub(super) fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError> {
        Ok(self.db.get_cf(self.cf()?, key)?)
    }

    pub(super) fn get<M: Message + Default>(&self, key: &[u8]) -> Result<Option<M>, MetaError> {
        let cf = self.cf()?;
        match self.db.get_pinned_cf(cf, key)? {
            Some(v) => Ok(Some(decode(key, &v)?)),
            None => Ok(None),
        }
    }

    /// Visits `(key, value)` for keys starting with `prefix`, from `start`
    /// (inclusive, must itself start with `prefix`), until `f` says stop.
    pub(super) fn scan(
        &self,
        prefix: &[u8],
        start: &[u8],
        f: impl FnMut(&[u8], &[u8]) -> Result<bool, MetaError>,
    ) -> Result<(), MetaError> {
        let it = self.db.raw_iterator_cf_opt(self.cf()?, bounded(prefix));
        walk(it, prefix, start, f)
    }

    pub fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, MetaError> {
        self.get::<pb::BucketRecord>(&keys::bucket(name))?
            .map(stored::bucket_from)
            .transpose()
    }

    pub fn bucket_name(&self, id: u64) -> Result<Option<String>, MetaError> {
        let cf = self.cf()?;
        match self.db.get_cf(cf, keys::bucket_id(id))? {
            Some(v) => Ok(Some(utf8(&v)?)),
            None => Ok(None),
        }
    }

    /// Every bucket, by name. Buckets are few (thousands), unlike objects.
    /// Objects whose lifetime ended at or before `now_ms`, oldest first:
    /// (bucket id, key, when).
    pub fn expired(&self, now_ms: i64, limit: usize) -> Result<Vec<(u64, String, i64)>, MetaError> {
        self.expired_after(now_ms, None, limit)
    }

    /// As [`Self::expired`], after the entry `after` (`(at, bucket id,
    /// key)`, as returned): a pass can go on past entries it leaves.
    pub fn expired_after(
        &self,
        now_ms: i64,
        after: Option<&(u64, String, i64)>,
        limit: usize,
    ) -> Result<Vec<(u64, String, i64)>, MetaError> {
        let prefix = keys::expiry_prefix();
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let start = match after {
            Some((bucket_id, key, at)) => {
                let mut k = keys::expiry(*at, *bucket_id, key);
                k.push(0);
                k
            }
            None => prefix.clone(),
        };
        self.scan(&prefix, &start, |k, _| {
            let (at, bucket_id, key) = keys::parse_expiry(k).ok_or_else(|| MetaError::Corrupt {
                key: String::from_utf8_lossy(k).into_owned(),
                message: "bad expiry key".into(),
            })?;
            if at > now_ms {
                return Ok(false);
            }
            out.push((bucket_id, key, at));
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// Pending transfer orders for `site`, in round and plan order.
    pub fn orders_for(
        &self,
        site: u32,
        limit: usize,
    ) -> Result<Vec<meridian_proto::v1::TransferOrder>, MetaError> {
        let prefix = keys::orders_to_prefix(site);
        let mut ids = Vec::new();
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.scan(&prefix, &prefix, |k, _| {
            if let Some(id) = keys::parse_order_to(k) {
                ids.push(id);
            }
            Ok(ids.len() < limit)
        })?;
        let mut out = Vec::with_capacity(ids.len());
        for (round, index) in ids {
            if let Some(o) = self.order(round, index)? {
                out.push(o);
            }
        }
        Ok(out)
    }

    pub fn order(
        &self,
        round: u64,
        index: u32,
    ) -> Result<Option<meridian_proto::v1::TransferOrder>, MetaError> {
        self.get(&keys::order(round, index))
    }

    /// Every order of `round`, in plan order.
    pub fn orders_of(
        &self,
        round: u64,
    ) -> Result<Vec<meridian_proto::v1::TransferOrder>, MetaError> {
        let prefix = keys::round_prefix(round);
        let mut out = Vec::new();
        self.scan(&prefix, &prefix, |k, v| {
            out.push(decode(k, v)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// The rounds that still have orders, oldest first (at most `limit`).
    pub fn order_rounds(&self, limit: usize) -> Result<Vec<u64>, MetaError> {
        let prefix = keys::orders_prefix();
        let mut rounds: Vec<u64> = Vec::new();
        let mut start = prefix.clone();
        while rounds.len() < limit {
            let mut found = None;
            self.scan(&prefix, &start, |k, _| {
                if k.len() >= 9 {
                    found = k[1..9].try_into().ok().map(u64::from_be_bytes);
                }
                Ok(false)
            })?;
            let Some(r) = found else { break };
            rounds.push(r);
            match r.checked_add(1) {
                Some(next) => start = keys::round_prefix(next),
                None => break,
            }
        }
        Ok(rounds)
    }

    /// The policy set by `policy apply`, if any.
    pub fn policy(&self) -> Result<Option<meridian_proto::v1::PolicyRecord>, MetaError> {
        self.get(&keys::policy())
    }

    pub fn buckets(&self) -> Result<Vec<BucketRecord>, MetaError> {
        let prefix = [keys::BUCKET];
        let mut out = Vec::new();
        self.scan(&prefix, &prefix, |k, v| {
            out.push(stored::bucket_from(decode(k, v)?)?);
            Ok(out.len() < 1_000_000)
        })?;
        Ok(out)
    }

    pub fn object(&self, bucket_id: u64, key: &str) -> Result<Option<ObjectRecord>, MetaError> {
        self.get::<pb::ObjectRecord>(&keys::object(bucket_id, key))?
            .map(|r| stored::object_from(&format_args!("object {bucket_id}/{key}"), r))
            .transpose()
    }

    /// Lists keys under `prefix` after `start_after` (exclusive), grouping
    /// keys that share `prefix` up to `delimiter` into one common prefix.
    /// A common prefix that is `<= start_after` was returned on an earlier
    /// page and is skipped whole.
    pub fn list(
        &self,
        bucket_id: u64,
        prefix: &str,
        delimiter: Option<&str>,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<ListPage, MetaError> {
        let mut page = ListPage::default();
        if max == 0 {
            return Ok(page);
        }
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let base = keys::object_prefix(bucket_id);
        let scan_prefix = keys::object(bucket_id, prefix);
        let mut start = match start_after {
            Some(s) if s >= prefix => {
                let mut k = keys::object(bucket_id, s);
                k.push(0); // exclusive: the smallest key after `s`
                k
            }
            _ => scan_prefix.clone(),
        };
        // Each pass either returns an entry or skips a whole common prefix, so
        // the number of passes is bounded by max + 1 plus the skipped groups,
        // themselves bounded by the entries already returned.
        'outer: loop {
            let mut next_start = None;
            let mut found_more = false;
            self.scan(&scan_prefix, &start, |k, v| {
                let key = utf8(&k[base.len()..])?;
                if let Some(d) = delimiter {
                    if let Some(pos) = key[prefix.len()..].find(d) {
                        let cp = key[..prefix.len() + pos + d.len()].to_string();
                        let skip_to = keys::prefix_end(&keys::object(bucket_id, &cp));
                        if start_after.is_some_and(|s| cp.as_str() <= s) {
                            next_start = skip_to;
                            return Ok(false);
                        }
                        if page.items.len() == max {
                            found_more = true;
                            return Ok(false);
                        }
                        page.items.push(ListItem::Prefix(cp));
                        next_start = skip_to;
                        return Ok(false);
                    }
                }
                if page.items.len() == max {
                    found_more = true;
                    return Ok(false);
                }
                let record =
                    stored::object_from(&format_args!("object {bucket_id}/{key}"), decode(k, v)?)?;
                page.items.push(ListItem::Object { key, record });
                Ok(true)
            })?;
            if found_more {
                page.truncated = true;
                break 'outer;
            }
            match next_start {
                Some(s) => start = s,
                None => break 'outer,
            }
        }
        Ok(page)
    }

    pub fn upload(&self, upload_id: &str) -> Result<Option<MultipartUpload>, MetaError> {
        self.get::<pb::MultipartUpload>(&keys::upload(upload_id))?
            .map(stored::upload_from)
            .transpose()
    }

    /// What a completed upload answered, while it is kept for retries.
    pub fn completed_upload(&self, upload_id: &str) -> Result<Option<CompletedUpload>, MetaError> {
        self.get::<pb::CompletedUpload>(&keys::completed_upload(upload_id))?
            .map(|c| stored::completed_from(&format_args!("completed upload {upload_id}"), c))
            .transpose()
    }

    /// Uploads in progress in upload-id order (ids begin with their
    /// creation time, so oldest first), after `after`, at most `limit`.
    pub fn uploads(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MultipartUpload>, MetaError> {
        let prefix = vec![keys::UPLOAD];
        let start = match after {
            Some(id) => {
                let mut k = keys::upload(id);
                k.push(0);
                k
            }
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        self.scan(&prefix, &start, |k, v| {
            out.push(stored::upload_from(decode(k, v)?)?);
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// Whether a bucket holds objects, noncurrent versions or delete markers.
    pub fn holds_versions(&self, bucket_id: u64) -> Result<bool, MetaError> {
        let mut any = false;
        for prefix in [
            keys::object_prefix(bucket_id),
            keys::history_prefix(bucket_id),
        ] {
            self.scan(&prefix, &prefix, |_, _| {
                any = true;
                Ok(false)
            })?;
        }
        Ok(any)
    }

    /// The ids of a bucket's uploads in progress, at most `limit`.
    pub fn bucket_uploads(&self, bucket_id: u64, limit: usize) -> Result<Vec<String>, MetaError> {
        let prefix = keys::bucket_upload_prefix(bucket_id);
        let mut out = Vec::new();
        self.scan(&prefix, &prefix, |k, _| {
            out.push(utf8(&k[prefix.len()..])?);
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    pub fn parts(&self, upload_id: &str) -> Result<Vec<PartRecord>, MetaError> {
        let prefix = keys::part_prefix(upload_id);
        let mut out = Vec::new();
        self.scan(&prefix, &prefix, |k, v| {
            let what = format_args!("part of upload {upload_id}");
            out.push(stored::part_from(&what, decode(k, v)?)?);
            Ok(out.len() <= super::uploads::MAX_PARTS)
        })?;
        Ok(out)
    }

    /// Up to `limit` replicas that `site` still has to receive, after `cursor`.
    pub fn pending(
        &self,
        site: u32,
        cursor: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<PendingReplica>, MetaError> {
        let prefix = keys::pending_prefix(site);
        let start = match cursor {
            Some(c) => {
                let mut s = c.to_vec();
                s.push(0);
                s
            }
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        self.scan(&prefix, &start, |k, _| {
            let (site, bucket_id, key) =
                keys::parse_pending(k).ok_or_else(|| MetaError::Corrupt {
                    key: String::from_utf8_lossy(k).into_owned(),
                    message: "bad pending-index key".into(),
                })?;
            out.push(PendingReplica {
                site,
                bucket_id,
                key,
                cursor: k.to_vec(),
            });
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    fn counter(&self, key: Vec<u8>) -> Result<Counter, MetaError> {
        Ok(self.get(&key)?.unwrap_or_default())
    }

    /// Complete replicas held at `site`.
    pub fn site_counter(&self, site: u32) -> Result<Counter, MetaError> {
        self.counter(keys::site_counter(site))
    }

    /// Replicas `site` still has to receive.
    pub fn pending_counter(&self, site: u32) -> Result<Counter, MetaError> {
        self.counter(keys::pending_counter(site))
    }

    pub fn bucket_counter(&self, bucket_id: u64) -> Result<Counter, MetaError> {
        self.counter(keys::bucket_counter(bucket_id))
    }
}
