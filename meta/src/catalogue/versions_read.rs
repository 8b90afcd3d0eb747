//! Reading versions: one by id, and ListObjectVersions. A listing reads
//! the current versions (`O`) and the history (`H`) of each key
//! separately, so it reads both through one RocksDB snapshot: a write
//! landing between the two reads cannot show a version twice (once
//! current, once noncurrent) or not at all.

use meridian_core::records as core;
use meridian_proto::v1::ObjectRecord;
use rocksdb::{ColumnFamily, Snapshot};

use super::apply::decode;
use super::keys;
use super::refs::corrupt;
use super::versions::s3_version_id;
use super::CatalogueReader;
use crate::records as stored;
use crate::MetaError;

fn to_core(bucket_id: u64, key: &str, r: ObjectRecord) -> Result<core::ObjectRecord, MetaError> {
    stored::object_from(&format_args!("version of object {bucket_id}/{key}"), r)
}

/// One entry of a version listing.
#[derive(Debug, Clone)]
pub enum VersionItem {
    Version {
        key: String,
        record: core::ObjectRecord,
        /// The key's newest version (or delete marker).
        latest: bool,
    },
    Prefix(String),
}

#[derive(Debug, Clone, Default)]
pub struct VersionPage {
    pub items: Vec<VersionItem>,
    pub truncated: bool,
}

impl VersionPage {
    fn push(&mut self, item: VersionItem, max: usize) -> bool {
        if self.items.len() == max {
            self.truncated = true;
            return false;
        }
        self.items.push(item);
        true
    }
}

fn history_key_of(bucket_id: u64, key_bytes: &[u8]) -> Vec<u8> {
    let mut k = keys::history_prefix(bucket_id);
    k.extend_from_slice(key_bytes);
    k
}

/// The creation time a Meridian version id carries (milliseconds in hex,
/// then 8 hex digits of randomness); `None` for "null" and foreign ids.
fn id_time_ms(version_id: &str) -> Option<i64> {
    let ms = version_id.get(..version_id.len().checked_sub(8)?)?;
    i64::from_str_radix(ms, 16).ok()
}

/// The catalogue as of one instant.
struct View<'a> {
    cf: &'a ColumnFamily,
    snap: Snapshot<'a>,
}

impl<'a> View<'a> {
    fn of(reader: &'a CatalogueReader) -> Result<Self, MetaError> {
        Ok(View {
            cf: reader.cf()?,
            snap: reader.db.snapshot(),
        })
    }

    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError> {
        Ok(self.snap.get_cf(self.cf, key)?)
    }

    fn get(&self, key: &[u8]) -> Result<Option<ObjectRecord>, MetaError> {
        self.get_raw(key)?.map(|v| decode(key, &v)).transpose()
    }

    fn object(&self, bucket_id: u64, key: &str) -> Result<Option<ObjectRecord>, MetaError> {
        self.get(&keys::object(bucket_id, key))
    }

    /// Visits `(key, value)` for keys starting with `prefix`, from `start`,
    /// until `f` says stop.
    fn scan(
        &self,
        prefix: &[u8],
        start: &[u8],
        f: impl FnMut(&[u8], &[u8]) -> Result<bool, MetaError>,
    ) -> Result<(), MetaError> {
        let it = self
            .snap
            .raw_iterator_cf_opt(self.cf, super::read::bounded(prefix));
        super::read::walk(it, prefix, start, f)
    }

    fn first_from(&self, prefix: &[u8], start: &[u8]) -> Result<Option<Vec<u8>>, MetaError> {
        let mut found = None;
        self.scan(prefix, start, |k, _| {
            found = Some(k.to_vec());
            Ok(false)
        })?;
        Ok(found)
    }

    fn history_seq(
        &self,
        bucket_id: u64,
        key: &str,
        version_id: &str,
    ) -> Result<Option<u64>, MetaError> {
        let ik = keys::version_index(bucket_id, key, version_id);
        self.get_raw(&ik)?
            .map(|v| {
                <[u8; 8]>::try_from(v.as_slice())
                    .map(u64::from_be_bytes)
                    .map_err(|_| corrupt(&ik, "version index value is not 8 bytes"))
            })
            .transpose()
    }

    fn version(
        &self,
        bucket_id: u64,
        key: &str,
        version_id: &str,
    ) -> Result<Option<ObjectRecord>, MetaError> {
        if let Some(cur) = self.object(bucket_id, key)? {
            if s3_version_id(&cur) == version_id {
                return Ok(Some(cur));
            }
        }
        let Some(seq) = self.history_seq(bucket_id, key, version_id)? else {
            return Ok(None);
        };
        Ok(self
            .get(&keys::history(bucket_id, key, seq))?
            .filter(|r| s3_version_id(r) == version_id))
    }

    /// Adds `key`'s versions (after `after`, an S3 version id) to the page;
    /// false once the page is full with more to come.
    fn key_versions(
        &self,
        bucket_id: u64,
        key: &str,
        after: Option<&str>,
        page: &mut VersionPage,
        max: usize,
    ) -> Result<bool, MetaError> {
        let cur = self.object(bucket_id, key)?;
        let range = keys::key_history(bucket_id, key);
        let mut start = range.clone();
        // Entries at or after this creation time were listed already (a
        // resume whose marker version is gone since).
        let mut older_than: Option<i64> = None;
        // The first noncurrent entry is the newest only with no current
        // version, and only if this page starts the key.
        let mut latest = after.is_none() && cur.is_none();
        let mut cur = cur;
        if let Some(v) = after {
            let marker_is_current = cur.as_ref().is_some_and(|c| s3_version_id(c) == v);
            if marker_is_current {
                cur = None;
            } else if let Some(seq) = self.history_seq(bucket_id, key, v)? {
                start = keys::history(bucket_id, key, seq);
                start.push(0);
                cur = None;
            } else {
                // Removed since the last page (a client deleting what it
                // lists): go on after its time, which the id carries.
                let Some(ms) = id_time_ms(v) else {
                    return Ok(true);
                };
                older_than = Some(ms);
                cur = cur.filter(|c| c.created_ms < ms);
            }
        }
        if let Some(cur) = cur {
            // The current version is always the newest.
            let item = VersionItem::Version {
                key: key.to_string(),
                record: to_core(bucket_id, key, cur)?,
                latest: true,
            };
            if !page.push(item, max) {
                return Ok(false);
            }
        }
        let mut room = true;
        self.scan(&range, &start, |k, v| {
            let record: ObjectRecord = decode(k, v)?;
            if older_than.is_some_and(|ms| record.created_ms >= ms) {
                return Ok(true);
            }
            room = page.push(
                VersionItem::Version {
                    key: key.to_string(),
                    record: to_core(bucket_id, key, record)?,
                    latest,
                },
                max,
            );
            latest = false;
            Ok(room)
        })?;
        Ok(room)
    }
}

impl CatalogueReader {
    /// A version of a key by S3 version id ("null" included), current or
    /// not; delete markers too.
    pub fn object_version(
        &self,
        bucket_id: u64,
        key: &str,
        version_id: &str,
    ) -> Result<Option<core::ObjectRecord>, MetaError> {
        View::of(self)?
            .version(bucket_id, key, version_id)?
            .map(|r| to_core(bucket_id, key, r))
            .transpose()
    }

    /// Lists versions and delete markers under `prefix`: keys in UTF-8
    /// byte order, each key's versions newest first. Resumes after
    /// `key_marker` (all its versions), or, with `version_marker`, after
    /// that version of `key_marker`. Common prefixes as in `list`.
    pub fn list_versions(
        &self,
        bucket_id: u64,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_marker: Option<&str>,
        max: usize,
    ) -> Result<VersionPage, MetaError> {
        let mut page = VersionPage::default();
        if max == 0 {
            return Ok(page);
        }
        let view = View::of(self)?;
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let o_base = keys::object_prefix(bucket_id).len();
        let o_scan = keys::object(bucket_id, prefix);
        let h_scan = history_key_of(bucket_id, prefix.as_bytes());
        let (mut o_seek, mut h_seek) = (o_scan.clone(), h_scan.clone());
        let key_marker = key_marker.filter(|m| !m.is_empty() && *m >= prefix);
        if let Some(m) = key_marker {
            if let Some(v) = version_marker.filter(|v| !v.is_empty()) {
                if m.starts_with(prefix)
                    && !view.key_versions(bucket_id, m, Some(v), &mut page, max)?
                {
                    return Ok(page);
                }
            }
            // Past the marker and all its versions.
            o_seek = keys::object(bucket_id, m);
            o_seek.push(0);
            h_seek = history_key_of(bucket_id, m.as_bytes());
            h_seek.push(1);
        }
        // Each pass returns entries or skips a common prefix; skipped ones
        // are at most the entries already returned, so this is bounded.
        loop {
            let from_o = view
                .first_from(&o_scan, &o_seek)?
                .map(|k| {
                    String::from_utf8(k[o_base..].to_vec())
                        .map_err(|_| corrupt(&k, "key is not UTF-8"))
                })
                .transpose()?;
            let from_h = view
                .first_from(&h_scan, &h_seek)?
                .map(|k| {
                    keys::parse_history(&k)
                        .map(|(key, _)| key)
                        .ok_or_else(|| corrupt(&k, "bad history key"))
                })
                .transpose()?;
            let key = match (from_o, from_h) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => break,
            };
            if let Some(d) = delimiter {
                if let Some(pos) = key[prefix.len()..].find(d) {
                    let cp = key[..prefix.len() + pos + d.len()].to_string();
                    let (Some(o_next), Some(h_next)) = (
                        keys::prefix_end(&keys::object(bucket_id, &cp)),
                        keys::prefix_end(&history_key_of(bucket_id, cp.as_bytes())),
                    ) else {
                        break;
                    };
                    (o_seek, h_seek) = (o_next, h_next);
                    if key_marker.is_some_and(|m| cp.as_str() <= m) {
                        continue;
                    }
                    if !page.push(VersionItem::Prefix(cp), max) {
                        break;
                    }
                    continue;
                }
            }
            if !view.key_versions(bucket_id, &key, None, &mut page, max)? {
                break;
            }
            o_seek = keys::object(bucket_id, &key);
            o_seek.push(0);
            h_seek = history_key_of(bucket_id, key.as_bytes());
            h_seek.push(1);
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_carry_their_time() {
        assert_eq!(id_time_ms("18f2a3b4c5d0a1b2c3d4"), Some(0x18f2a3b4c5d0));
        assert_eq!(id_time_ms("null"), None);
        assert_eq!(id_time_ms("xyz12345678"), None);
    }
}
