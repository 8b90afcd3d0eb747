//! Listings of the in-memory catalogue: current versions with prefixes,
//! delimiters and resume points, and every version with key and version
//! markers, paged as the real catalogue pages them.

use crate::catalogue::{
    s3_version_id, ListEntry, ListPage, ListQuery, VersionEntry, VersionPage, VersionQuery,
};
use crate::CoreError;

use super::rules::no_bucket;
use super::State;

/// The listing name of `key` under `prefix`: the key, or its common prefix.
fn listed_name(key: &str, prefix: &str, delimiter: Option<&str>) -> (String, bool) {
    if let Some(d) = delimiter.filter(|d| !d.is_empty()) {
        if let Some(i) = key[prefix.len()..].find(d) {
            return (key[..prefix.len() + i + d.len()].to_string(), true);
        }
    }
    (key.to_string(), false)
}

impl State {
    pub(super) fn list_versions(&self, q: &VersionQuery) -> Result<VersionPage, CoreError> {
        let b = self
            .buckets
            .get(&q.bucket)
            .ok_or_else(|| no_bucket(&q.bucket))?;
        let max = q.max_keys.clamp(1, 1000);
        let key_marker = q
            .key_marker
            .as_deref()
            .filter(|m| !m.is_empty() && *m >= q.prefix.as_str());
        let version_marker = q.version_marker.as_deref().filter(|v| !v.is_empty());
        let mut page = VersionPage::default();
        let mut last_prefix: Option<String> = None;
        // Within the marker's key, entries up to the marker version are skipped.
        let mut skipping_to: Option<&str> = key_marker.and(version_marker);
        for (key, record, latest) in b.all_versions() {
            if !key.starts_with(&q.prefix) {
                continue;
            }
            let (name, is_prefix) = listed_name(&key, &q.prefix, q.delimiter.as_deref());
            if let Some(m) = key_marker {
                let resume_here = skipping_to.is_some() && key == m && !is_prefix;
                if !resume_here && name.as_str() <= m {
                    continue;
                }
                if resume_here {
                    if let Some(v) = skipping_to {
                        if s3_version_id(&record) == v {
                            skipping_to = None;
                        }
                        continue;
                    }
                }
            }
            let entry = if is_prefix {
                if last_prefix.as_deref() == Some(name.as_str()) {
                    continue;
                }
                last_prefix = Some(name.clone());
                VersionEntry::Prefix(name)
            } else {
                VersionEntry::Version {
                    key,
                    record,
                    latest,
                }
            };
            if page.entries.len() == max {
                page.truncated = true;
                break;
            }
            page.entries.push(entry);
        }
        Ok(page)
    }

    pub(super) fn list_objects(&self, q: &ListQuery) -> Result<ListPage, CoreError> {
        let b = self
            .buckets
            .get(&q.bucket)
            .ok_or_else(|| no_bucket(&q.bucket))?;
        let max = q.max_keys.min(1000);
        let mut page = ListPage::default();
        if max == 0 {
            return Ok(page);
        }
        for (key, record) in b.current.range(q.prefix.clone()..) {
            if !key.starts_with(&q.prefix) {
                break;
            }
            let (name, is_prefix) = listed_name(key, &q.prefix, q.delimiter.as_deref());
            if q.start_after.as_deref().is_some_and(|s| name.as_str() <= s) {
                continue;
            }
            if page.next_after.as_deref() == Some(name.as_str()) {
                continue;
            }
            if page.entries.len() == max {
                page.truncated = true;
                break;
            }
            page.next_after = Some(name.clone());
            page.entries.push(if is_prefix {
                ListEntry::Prefix(name)
            } else {
                ListEntry::Object {
                    key: key.clone(),
                    record: record.clone(),
                }
            });
        }
        if !page.truncated {
            page.next_after = None;
        }
        Ok(page)
    }
}
