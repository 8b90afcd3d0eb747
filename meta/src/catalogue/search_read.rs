//! Answering a search: walk the plan's range (an index, a bucket's keys, a
//! dataset's attachments or the dataset names) forwards or backwards from
//! the cursor, read each candidate's record, keep those every filter
//! allows. Bounded: a page stops at its limit or after
//! `meridian_core::search::MAX_EXAMINED` candidates, with a cursor (the
//! last key walked) to go on from.

use std::collections::HashMap;

use meridian_core::search::{
    dataset_matches, file_matches, index_entity, DatasetView, Drive, FileView, Plan, Query,
    SearchPage, Target, MAX_EXAMINED,
};
use rocksdb::ReadOptions;

use super::keys;
use super::read::CatalogueReader;
use crate::MetaError;

/// One candidate the walk found.
enum Candidate {
    File {
        bucket_id: u64,
        key: String,
    },
    /// A file named by bucket name (an attachment).
    Named {
        bucket: String,
        key: String,
    },
    Dataset(String),
}

/// A walk's range and how a key it meets names its candidate.
type Walk = (
    Vec<u8>,
    Option<Vec<u8>>,
    Box<dyn Fn(&[u8]) -> Option<Candidate>>,
);

/// Bucket names and ids met during one search, each read once.
#[derive(Default)]
struct Buckets {
    names: HashMap<u64, Option<String>>,
    ids: HashMap<String, Option<u64>>,
}

fn text(b: &[u8]) -> Option<String> {
    String::from_utf8(b.to_vec()).ok()
}

impl CatalogueReader {
    /// Visits keys in `[from, to)` after (before, `desc`) `after`, until
    /// `f` says stop.
    fn range_walk(
        &self,
        (from, to): (&[u8], Option<&[u8]>),
        desc: bool,
        after: Option<&[u8]>,
        mut f: impl FnMut(&[u8]) -> Result<bool, MetaError>,
    ) -> Result<(), MetaError> {
        let mut opts = ReadOptions::default();
        opts.set_iterate_lower_bound(from.to_vec());
        if let Some(t) = to {
            opts.set_iterate_upper_bound(t.to_vec());
        }
        let cf = if keys::in_search_family(from) {
            self.search_cf()?
        } else {
            self.cf()?
        };
        let mut it = self.db.raw_iterator_cf_opt(cf, opts);
        let inside = |a: &[u8]| a >= from && to.is_none_or(|t| a < t);
        match (desc, after.filter(|a| inside(a))) {
            (false, Some(a)) => {
                it.seek(a);
                if it.key() == Some(a) {
                    it.next();
                }
            }
            (false, None) => it.seek(from),
            (true, Some(a)) => {
                it.seek_for_prev(a);
                if it.key() == Some(a) {
                    it.prev();
                }
            }
            (true, None) => it.seek_to_last(),
        }
        while it.valid() {
            let Some(k) = it.key() else { break };
            if !f(k)? {
                break;
            }
            if desc {
                it.prev();
            } else {
                it.next();
            }
        }
        it.status()?;
        Ok(())
    }

    /// The page `q` asks for, walking `plan` (from `meridian_core::search::plan`).
    pub fn search(&self, q: &Query, plan: &Plan) -> Result<SearchPage, MetaError> {
        let mut page = SearchPage {
            walked: plan.walked.clone(),
            ..Default::default()
        };
        let mut buckets = Buckets::default();
        let mut last: Option<Vec<u8>> = None;
        let mut stopped = false;
        let (from, to, candidate): Walk = match &plan.drive {
            Drive::Index {
                kind,
                prefix_len,
                from,
                to,
            } => {
                let (kind, skip, target) = (*kind, *prefix_len, q.target);
                (
                    keys::search(from),
                    Some(keys::search(to)),
                    Box::new(move |k: &[u8]| {
                        let e = index_entity(kind, k.get(1..)?, skip)?;
                        match target {
                            Target::Files => Some(Candidate::File {
                                bucket_id: u64::from_be_bytes(e.get(..8)?.try_into().ok()?),
                                key: text(e.get(8..)?)?,
                            }),
                            Target::Datasets => Some(Candidate::Dataset(text(e)?)),
                        }
                    }),
                )
            }
            Drive::Bucket { bucket, from, to } => {
                let Some(b) = self.bucket(bucket)? else {
                    return Ok(page);
                };
                let base = keys::object_prefix(b.id);
                let join = |k: &[u8]| [base.as_slice(), k].concat();
                let end = match to {
                    Some(t) => join(t),
                    None => keys::prefix_end(&base).unwrap_or_default(),
                };
                let (id, n) = (b.id, base.len());
                (
                    join(from),
                    Some(end),
                    Box::new(move |k: &[u8]| {
                        Some(Candidate::File {
                            bucket_id: id,
                            key: text(k.get(n..)?)?,
                        })
                    }),
                )
            }
            Drive::Attached { dataset } => {
                let prefix = keys::dataset_files_prefix(dataset);
                let end = keys::prefix_end(&prefix);
                (
                    prefix,
                    end,
                    Box::new(|k: &[u8]| {
                        let (_, bucket, key) = keys::parse_dataset_file(k)?;
                        Some(Candidate::Named { bucket, key })
                    }),
                )
            }
            Drive::Names { from, to } => {
                let join = |n: &[u8]| [&[keys::DATASET][..], n].concat();
                let end = match to {
                    Some(t) => join(t),
                    None => keys::prefix_end(&keys::datasets_prefix()).unwrap_or_default(),
                };
                (
                    join(from),
                    Some(end),
                    Box::new(|k: &[u8]| Some(Candidate::Dataset(text(k.get(1..)?)?))),
                )
            }
        };
        self.range_walk(
            (&from, to.as_deref()),
            plan.descending,
            plan.after.as_deref(),
            |k| {
                if page.files.len() + page.datasets.len() >= plan.limit
                    || page.examined as usize >= MAX_EXAMINED
                {
                    stopped = true;
                    return Ok(false);
                }
                page.examined += 1;
                last = Some(k.to_vec());
                let Some(c) = candidate(k) else {
                    return Err(MetaError::Corrupt {
                        key: keys::describe(k),
                        message: "a search walk key that does not parse".into(),
                    });
                };
                self.consider(q, c, &mut page, &mut buckets)?;
                Ok(true)
            },
        )?;
        if stopped {
            page.next = last.map(|l| meridian_core::search::encode_cursor(&l));
        }
        Ok(page)
    }

    /// Adds candidate `c` to `page` if it exists and every filter holds.
    fn consider(
        &self,
        q: &Query,
        c: Candidate,
        page: &mut SearchPage,
        buckets: &mut Buckets,
    ) -> Result<(), MetaError> {
        let (bucket_id, bucket, key) = match c {
            Candidate::Dataset(name) => {
                let Some(d) = self.dataset(&name)? else {
                    return Ok(());
                };
                let docs: Vec<(String, serde_json::Value)> = self
                    .dataset_metadata(&name)?
                    .into_iter()
                    .filter_map(|m| Some((m.package, serde_json::from_str(&m.document).ok()?)))
                    .collect();
                if dataset_matches(&q.filters, &DatasetView { d: &d, docs: &docs }) {
                    page.datasets.push(d);
                }
                return Ok(());
            }
            Candidate::File { bucket_id, key } => {
                let name = match buckets.names.get(&bucket_id) {
                    Some(n) => n.clone(),
                    None => {
                        let n = self.bucket_name(bucket_id)?;
                        buckets.names.insert(bucket_id, n.clone());
                        n
                    }
                };
                let Some(name) = name else { return Ok(()) };
                (bucket_id, name, key)
            }
            Candidate::Named { bucket, key } => {
                let id = match buckets.ids.get(&bucket) {
                    Some(i) => *i,
                    None => {
                        let i = self.bucket(&bucket)?.map(|b| b.id);
                        buckets.ids.insert(bucket.clone(), i);
                        i
                    }
                };
                let Some(id) = id else { return Ok(()) };
                (id, bucket, key)
            }
        };
        let Some(rec) = self.object(bucket_id, &key)? else {
            return Ok(());
        };
        if rec.delete_marker {
            return Ok(());
        }
        let view = FileView {
            bucket: &bucket,
            bucket_id,
            key: &key,
            rec: &rec,
        };
        if file_matches(&q.filters, &view) {
            page.files.push((bucket, key, rec));
        }
        Ok(())
    }
}
