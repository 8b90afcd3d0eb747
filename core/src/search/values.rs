//! Field values: taken from records and metadata documents, encoded so
//! that byte order is value order, and checked against filters.

use std::cmp::Ordering;

use serde_json::Value as Json;

use super::fields::{FieldDef, Kind, Target, META_TAG};
use super::plan::{Filter, Op};
use crate::dataset::{DatasetKind, DatasetRecord};
use crate::records::ObjectRecord;
use crate::CoreError;

/// Longest text value an index holds (longer ones are checked on
/// candidates but not indexed).
pub const MAX_TEXT: usize = 256;
/// Values of one field of one record an index holds at most (a
/// keyword list).
const MAX_VALUES: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Text(String),
}

impl Value {
    /// The order-preserving encoding; `None`: not indexable (a NaN, text
    /// with a NUL or over [`MAX_TEXT`]).
    pub fn encode(&self) -> Option<Vec<u8>> {
        match self {
            Value::Int(v) => Some(((*v as u64) ^ (1 << 63)).to_be_bytes().to_vec()),
            Value::Float(v) if v.is_nan() => None,
            Value::Float(v) => {
                let bits = v.to_bits();
                let ordered = if v.is_sign_negative() {
                    !bits
                } else {
                    bits ^ (1 << 63)
                };
                Some(ordered.to_be_bytes().to_vec())
            }
            Value::Text(s) if s.len() > MAX_TEXT || s.contains('\0') => None,
            Value::Text(s) => {
                let mut b = s.as_bytes().to_vec();
                b.push(0);
                Some(b)
            }
        }
    }

    fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (Value::Float(a), Value::Float(b)) => a.partial_cmp(b),
            (Value::Int(a), Value::Float(b)) => (*a as f64).partial_cmp(b),
            (Value::Float(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
            (Value::Text(a), Value::Text(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            _ => None,
        }
    }
}

/// The start of a field's index: target, tag (and a metadata name).
pub(super) fn field_prefix(target: Target, tag: u8, meta_name: Option<&str>) -> Vec<u8> {
    let mut k = vec![target.byte(), tag];
    if let Some(n) = meta_name {
        k.extend_from_slice(n.as_bytes());
        k.push(0);
    }
    k
}

fn file_entity(bucket_id: u64, key: &str) -> Vec<u8> {
    let mut e = bucket_id.to_be_bytes().to_vec();
    e.extend_from_slice(key.as_bytes());
    e
}

/// The entity an index key names, after its field prefix of
/// `prefix_len` bytes: a file's bucket id and key bytes, a dataset's name.
pub fn index_entity(kind: Kind, key: &[u8], prefix_len: usize) -> Option<&[u8]> {
    let rest = key.get(prefix_len..)?;
    match kind {
        Kind::Text => {
            let end = rest.iter().position(|b| *b == 0)?;
            rest.get(end + 1..)
        }
        Kind::Bytes | Kind::Time | Kind::Float => rest.get(8..),
    }
}

/// A file as a query sees it.
pub struct FileView<'a> {
    pub bucket: &'a str,
    pub bucket_id: u64,
    pub key: &'a str,
    pub rec: &'a ObjectRecord,
}

impl FileView<'_> {
    /// The values of field `name` (a query's name, `meta.X` included).
    fn values(&self, name: &str) -> Vec<Value> {
        let r = self.rec;
        let text = |s: &str| vec![Value::Text(s.to_string())];
        match name {
            "size" => vec![Value::Int(r.size as i64)],
            "created" => vec![Value::Int(r.created_ms)],
            "format" if !r.file_format.is_empty() => text(&r.file_format),
            "bucket" => text(self.bucket),
            "key" => text(self.key),
            "content_type" => text(&r.content_type),
            // Site filters carry the site's id (the gateway resolves names).
            "site" => r
                .complete_sites()
                .map(|s| Value::Text(s.to_string()))
                .collect(),
            "replica" => r
                .replicas
                .iter()
                .map(|x| Value::Text(x.state.name().to_string()))
                .collect(),
            n => match n.strip_prefix("meta.").and_then(|m| r.user_meta.get(m)) {
                Some(v) => text(v),
                None => Vec::new(),
            },
        }
    }
}

/// What a file's indexes hold, as the state machine has it at hand
/// (its stored form need not become an [`ObjectRecord`] for this).
pub struct FileFields<'a> {
    pub size: u64,
    pub created_ms: i64,
    pub file_format: &'a str,
    pub user_meta: &'a std::collections::HashMap<String, String>,
    pub delete_marker: bool,
}

impl<'a> FileFields<'a> {
    pub fn of(rec: &'a ObjectRecord) -> Self {
        FileFields {
            size: rec.size,
            created_ms: rec.created_ms,
            file_format: &rec.file_format,
            user_meta: &rec.user_meta,
            delete_marker: rec.delete_marker,
        }
    }
}

/// The index keys of a file's current version (none for a delete marker).
pub fn file_index_keys(bucket_id: u64, key: &str, f: &FileFields<'_>) -> Vec<Vec<u8>> {
    if f.delete_marker {
        return Vec::new();
    }
    let entity = file_entity(bucket_id, key);
    let mut out = Vec::with_capacity(3 + f.user_meta.len());
    let mut add = |tag: u8, meta_name: Option<&str>, v: Value| {
        if let Some(enc) = v.encode() {
            let mut k = field_prefix(Target::Files, tag, meta_name);
            k.extend_from_slice(&enc);
            k.extend_from_slice(&entity);
            out.push(k);
        }
    };
    add(b's', None, Value::Int(f.size as i64));
    add(b't', None, Value::Int(f.created_ms));
    if !f.file_format.is_empty() {
        add(b'f', None, Value::Text(f.file_format.to_string()));
    }
    let mut meta: Vec<(&String, &String)> = f.user_meta.iter().collect();
    meta.sort();
    for (n, v) in meta {
        if !n.contains('\0') && n.len() <= MAX_TEXT {
            add(META_TAG, Some(n), Value::Text(v.clone()));
        }
    }
    out
}

fn push_keys(
    out: &mut Vec<Vec<u8>>,
    def: &FieldDef,
    meta_name: Option<&str>,
    values: Vec<Value>,
    entity: &[u8],
) {
    let Some(tag) = def.tag else { return };
    let prefix = field_prefix(def.target, tag, meta_name);
    let mut seen = std::collections::BTreeSet::new();
    for v in values.into_iter().take(MAX_VALUES) {
        if let Some(enc) = v.encode() {
            if seen.insert(enc.clone()) {
                let mut k = prefix.clone();
                k.extend_from_slice(&enc);
                k.extend_from_slice(entity);
                out.push(k);
            }
        }
    }
}

/// A dataset as a query sees it: its record and its metadata documents
/// (package name, parsed document).
pub struct DatasetView<'a> {
    pub d: &'a DatasetRecord,
    pub docs: &'a [(String, Json)],
}

impl DatasetView<'_> {
    fn values(&self, name: &str) -> Vec<Value> {
        let d = self.d;
        let text = |s: &str| vec![Value::Text(s.to_string())];
        match name {
            "name" => text(&d.name),
            "state" => text(d.state.name()),
            "kind" => text(d.kind.name()),
            "owner" => text(&d.owner),
            "created" => vec![Value::Int(d.created_ms)],
            "published" => d
                .published
                .as_ref()
                .map(|p| vec![Value::Int(p.published_ms)])
                .unwrap_or_default(),
            "publication" => match &d.kind {
                DatasetKind::Paper { publication } => text(publication),
                _ => Vec::new(),
            },
            "facility" => match &d.kind {
                DatasetKind::Facility { facility, .. } => text(facility),
                _ => self.document_values("dataset.facility"),
            },
            n => self.document_values(n),
        }
    }

    /// `package.path.to.field`: the scalar there, or each scalar of the
    /// array there.
    fn document_values(&self, name: &str) -> Vec<Value> {
        let mut parts = name.split('.');
        let Some(package) = parts.next() else {
            return Vec::new();
        };
        let Some((_, doc)) = self.docs.iter().find(|(p, _)| p == package) else {
            return Vec::new();
        };
        let mut at = doc;
        for p in parts {
            match at.get(p) {
                Some(v) => at = v,
                None => return Vec::new(),
            }
        }
        let scalar = |v: &Json| match v {
            Json::String(s) => Some(Value::Text(s.clone())),
            Json::Number(n) => n.as_f64().map(Value::Float),
            Json::Bool(b) => Some(Value::Text(b.to_string())),
            _ => None,
        };
        match at {
            Json::Array(items) => items.iter().filter_map(scalar).collect(),
            v => scalar(v).into_iter().collect(),
        }
    }
}

/// The index keys of a dataset.
pub fn dataset_index_keys(view: &DatasetView<'_>) -> Vec<Vec<u8>> {
    let entity = view.d.name.as_bytes();
    let mut out = Vec::new();
    for def in super::fields::fields_of(Target::Datasets) {
        push_keys(&mut out, def, None, view.values(def.name), entity);
    }
    out
}

fn holds(op: &Op, values: &[Value]) -> bool {
    values.iter().any(|v| match op {
        Op::Eq(want) => v.compare(want) == Some(Ordering::Equal),
        Op::Prefix(p) => matches!(v, Value::Text(s) if s.starts_with(p.as_str())),
        Op::Range { lo, hi } => {
            let above = match lo {
                None => true,
                Some((b, inclusive)) => match v.compare(b) {
                    Some(Ordering::Greater) => true,
                    Some(Ordering::Equal) => *inclusive,
                    _ => false,
                },
            };
            let below = match hi {
                None => true,
                Some((b, inclusive)) => match v.compare(b) {
                    Some(Ordering::Less) => true,
                    Some(Ordering::Equal) => *inclusive,
                    _ => false,
                },
            };
            above && below
        }
    })
}

/// Whether a file meets every filter.
pub fn file_matches(filters: &[Filter], f: &FileView<'_>) -> bool {
    // `dataset` is the walk itself (its attachments), never a check.
    filters
        .iter()
        .filter(|x| x.field != "dataset")
        .all(|x| holds(&x.op, &f.values(&x.field)))
}

/// Whether a dataset meets every filter.
pub fn dataset_matches(filters: &[Filter], d: &DatasetView<'_>) -> bool {
    filters.iter().all(|x| holds(&x.op, &d.values(&x.field)))
}

/// A cursor as callers carry it.
pub fn encode_cursor(position: &[u8]) -> String {
    hex::encode(position)
}

pub fn decode_cursor(c: &str) -> Result<Vec<u8>, CoreError> {
    hex::decode(c).map_err(|_| {
        CoreError::InvalidArgument(format!("cursor {c:?} is not one this search gave"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_keep_value_order() {
        let ints = [i64::MIN, -5, 0, 7, 1 << 40, i64::MAX];
        for w in ints.windows(2) {
            let (a, b) = (Value::Int(w[0]).encode(), Value::Int(w[1]).encode());
            assert!(a < b, "{w:?}");
        }
        let floats = [f64::NEG_INFINITY, -2.5, -0.0, 0.0, 1e-9, 3.0, f64::INFINITY];
        for w in floats.windows(2) {
            let (a, b) = (Value::Float(w[0]).encode(), Value::Float(w[1]).encode());
            assert!(a <= b, "{w:?}");
        }
        let texts = ["", "a", "ab", "abc", "b"];
        for w in texts.windows(2) {
            let a = Value::Text(w[0].into()).encode();
            let b = Value::Text(w[1].into()).encode();
            assert!(a < b, "{w:?}");
        }
        assert_eq!(Value::Float(f64::NAN).encode(), None);
        assert_eq!(Value::Text("a\0b".into()).encode(), None);
    }

    #[test]
    fn a_file_is_indexed_by_size_time_format_and_user_metadata() {
        let rec = ObjectRecord {
            size: 5,
            created_ms: 9,
            file_format: "ROOT".into(),
            user_meta: [("run".to_string(), "42".to_string())].into(),
            ..Default::default()
        };
        let keys = file_index_keys(3, "raw/a", &FileFields::of(&rec));
        assert_eq!(keys.len(), 4, "{keys:?}");
        let meta = keys.iter().find(|k| k[1] == META_TAG).expect("meta key");
        assert!(meta.starts_with(b"fmrun\x0042\x00"), "{meta:?}");
        let entity = index_entity(Kind::Text, meta, b"fmrun\x00".len()).expect("entity");
        assert_eq!(&entity[..8], &3u64.to_be_bytes());
        assert_eq!(&entity[8..], b"raw/a");
        let marker = ObjectRecord {
            delete_marker: true,
            ..rec
        };
        assert!(file_index_keys(3, "raw/a", &FileFields::of(&marker)).is_empty());
    }
}
