//! Search in memory: every candidate of the plan's walk is found by
//! building the same index keys the state machine keeps (or the same
//! bucket, attachment and name ranges) and sorting them, so both
//! catalogues walk the same order and answer the same pages.

use super::State;
use crate::search::{
    dataset_index_keys, dataset_matches, encode_cursor, file_index_keys, file_matches, plan,
    DatasetView, Drive, FileFields, FileView, Query, SearchPage, Target, MAX_EXAMINED,
};
use crate::CoreError;

enum Found {
    File(String, String),
    Dataset(String),
}

impl State {
    fn docs_of(&self, name: &str) -> Vec<(String, serde_json::Value)> {
        self.metadata
            .range((name.to_string(), String::new())..)
            .take_while(|((n, _), _)| n == name)
            .filter_map(|((_, p), m)| Some((p.clone(), serde_json::from_str(&m.document).ok()?)))
            .collect()
    }

    /// Every position of the walk with what it names, in key order.
    fn positions(&self, q: &Query, drive: &Drive) -> Vec<(Vec<u8>, Found)> {
        let within =
            |k: &[u8], from: &[u8], to: Option<&[u8]>| k >= from && to.is_none_or(|t| k < t);
        let mut out = Vec::new();
        match drive {
            Drive::Index { from, to, .. } => match q.target {
                Target::Files => {
                    for (name, b) in &self.buckets {
                        for (key, rec) in &b.current {
                            for k in file_index_keys(b.rec.id, key, &FileFields::of(rec)) {
                                if within(&k, from, Some(to)) {
                                    out.push((k, Found::File(name.clone(), key.clone())));
                                }
                            }
                        }
                    }
                }
                Target::Datasets => {
                    for (name, d) in &self.datasets {
                        let docs = self.docs_of(name);
                        for k in dataset_index_keys(&DatasetView { d, docs: &docs }) {
                            if within(&k, from, Some(to)) {
                                out.push((k, Found::Dataset(name.clone())));
                            }
                        }
                    }
                }
            },
            Drive::Bucket { bucket, from, to } => {
                if let Some(b) = self.buckets.get(bucket) {
                    for key in b.current.keys() {
                        if within(key.as_bytes(), from, to.as_deref()) {
                            out.push((
                                key.as_bytes().to_vec(),
                                Found::File(bucket.clone(), key.clone()),
                            ));
                        }
                    }
                }
            }
            Drive::Attached { dataset } => {
                for (n, b, k) in &self.attached {
                    if n == dataset {
                        let pos = [b.as_bytes(), &[0], k.as_bytes()].concat();
                        out.push((pos, Found::File(b.clone(), k.clone())));
                    }
                }
            }
            Drive::Names { from, to } => {
                for name in self.datasets.keys() {
                    if within(name.as_bytes(), from, to.as_deref()) {
                        out.push((name.as_bytes().to_vec(), Found::Dataset(name.clone())));
                    }
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub(super) fn search(&self, q: &Query) -> Result<SearchPage, CoreError> {
        let p = plan(q)?;
        let mut page = SearchPage {
            walked: p.walked.clone(),
            ..Default::default()
        };
        let mut walk = self.positions(q, &p.drive);
        if p.descending {
            walk.reverse();
        }
        let after = |pos: &[u8]| match &p.after {
            None => true,
            Some(a) if p.descending => pos < a.as_slice(),
            Some(a) => pos > a.as_slice(),
        };
        let mut stopped = false;
        for (pos, found) in walk.into_iter().filter(|(pos, _)| after(pos)) {
            if page.files.len() + page.datasets.len() >= p.limit
                || page.examined as usize >= MAX_EXAMINED
            {
                stopped = true;
                break;
            }
            page.examined += 1;
            page.next = Some(encode_cursor(&pos));
            match found {
                Found::File(bucket, key) => {
                    let Some(b) = self.buckets.get(&bucket) else {
                        continue;
                    };
                    let Some(rec) = b.current.get(&key).filter(|r| !r.delete_marker) else {
                        continue;
                    };
                    let view = FileView {
                        bucket: &bucket,
                        bucket_id: b.rec.id,
                        key: &key,
                        rec,
                    };
                    if file_matches(&q.filters, &view) {
                        page.files.push((bucket.clone(), key.clone(), rec.clone()));
                    }
                }
                Found::Dataset(name) => {
                    let Some(d) = self.datasets.get(&name) else {
                        continue;
                    };
                    let docs = self.docs_of(&name);
                    if dataset_matches(&q.filters, &DatasetView { d, docs: &docs }) {
                        page.datasets.push(d.clone());
                    }
                }
            }
        }
        // A cursor only when the walk stopped short of its end.
        if !stopped {
            page.next = None;
        }
        Ok(page)
    }
}
