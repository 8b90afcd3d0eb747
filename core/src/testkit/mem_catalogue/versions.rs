//! A bucket's keys in the in-memory catalogue: current versions and, newest
//! first, noncurrent versions and delete markers, kept as versioning says.

use std::collections::BTreeSet;

use crate::records::{ObjectRecord, Versioning};

use super::Bucket;

impl Bucket {
    pub(super) fn archive_current(&mut self, key: &str) {
        if let Some(cur) = self.current.remove(key) {
            self.history
                .entry(key.to_string())
                .or_default()
                .insert(0, cur);
        }
    }

    /// Removes the key's null version wherever it is.
    pub(super) fn remove_null(&mut self, key: &str) {
        if self
            .current
            .get(key)
            .is_some_and(|c| c.versioning != Versioning::Enabled)
        {
            self.current.remove(key);
        }
        if let Some(h) = self.history.get_mut(key) {
            h.retain(|r| r.versioning == Versioning::Enabled);
        }
    }

    /// With no current version, the newest noncurrent one becomes current
    /// unless it is a delete marker.
    pub(super) fn promote(&mut self, key: &str) {
        if self.current.contains_key(key) {
            return;
        }
        let Some(h) = self.history.get_mut(key) else {
            return;
        };
        if h.first().is_some_and(|r| !r.delete_marker) {
            let r = h.remove(0);
            self.current.insert(key.to_string(), r);
        }
        if h.is_empty() {
            self.history.remove(key);
        }
    }

    /// Writes `rec` as the key's current version, as versioning says.
    pub(super) fn put(&mut self, key: &str, mut rec: ObjectRecord) -> ObjectRecord {
        rec.versioning = self.rec.versioning;
        rec.delete_marker = false;
        if let Some((mode, until_ms)) = crate::protection::default_retention(
            self.rec.object_lock.as_ref(),
            rec.lock_mode,
            rec.created_ms,
        ) {
            rec.lock_mode = mode;
            rec.lock_until_ms = until_ms;
        }
        match self.rec.versioning {
            Versioning::Enabled => self.archive_current(key),
            Versioning::Suspended => {
                self.remove_null(key);
                self.archive_current(key);
            }
            Versioning::Off => {}
        }
        self.current.insert(key.to_string(), rec.clone());
        rec
    }

    /// The version with internal id `version_id`, current or not (not a
    /// delete marker).
    pub(super) fn version_mut(&mut self, key: &str, version_id: &str) -> Option<&mut ObjectRecord> {
        if self
            .current
            .get(key)
            .is_some_and(|c| c.version_id == version_id)
        {
            return self.current.get_mut(key);
        }
        self.history
            .get_mut(key)?
            .iter_mut()
            .find(|r| r.version_id == version_id && !r.delete_marker)
    }

    /// Every version of the keys in order, each key's newest first.
    pub(super) fn all_versions(&self) -> Vec<(String, ObjectRecord, bool)> {
        let keys: BTreeSet<&String> = self.current.keys().chain(self.history.keys()).collect();
        let mut out = Vec::new();
        for key in keys {
            let cur = self.current.get(key);
            if let Some(c) = cur {
                out.push((key.clone(), c.clone(), true));
            }
            for (i, r) in self.history.get(key).into_iter().flatten().enumerate() {
                out.push((key.clone(), r.clone(), cur.is_none() && i == 0));
            }
        }
        out
    }
}
