//! Queries, their parsing, and the plan: which range of which index (or of
//! a bucket's keys, a dataset's attachments, the dataset names) a query
//! walks. Every filter is also checked on every candidate, so the walk
//! only has to cover the answers, never to be exact.

use super::fields::{field, fields_of, Kind, Target, META_TAG};
use super::values::{field_prefix, Value};
use super::{prefix_end, MAX_LIMIT};
use crate::CoreError;

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Eq(Value),
    /// Text that starts with this.
    Prefix(String),
    /// Within bounds, each inclusive or not.
    Range {
        lo: Option<(Value, bool)>,
        hi: Option<(Value, bool)>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field: String,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub target: Target,
    /// All must hold.
    pub filters: Vec<Filter>,
    /// An indexed field (or `key` with `bucket=`, `name` of datasets) to
    /// order by; `None`: the order of the walk the plan picks.
    pub sort: Option<String>,
    pub descending: bool,
    /// 1..=1000; 0: 100.
    pub limit: usize,
    /// A previous page's cursor.
    pub after: Option<String>,
}

/// What the walk covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drive {
    /// Index keys in `[from, to)`; entities follow `prefix_len` bytes of
    /// field prefix and a value of `kind`.
    Index {
        kind: Kind,
        prefix_len: usize,
        from: Vec<u8>,
        to: Vec<u8>,
    },
    /// A bucket's keys in `[from, to)` (`to` `None`: to its end).
    Bucket {
        bucket: String,
        from: Vec<u8>,
        to: Option<Vec<u8>>,
    },
    /// The files attached to a dataset, in (bucket, key) order.
    Attached { dataset: String },
    /// Dataset names in `[from, to)`.
    Names { from: Vec<u8>, to: Option<Vec<u8>> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub drive: Drive,
    pub descending: bool,
    pub limit: usize,
    /// Continue strictly after (before, descending) this position: an
    /// index key, a key, `bucket\0key`, or a name, as the drive walks.
    pub after: Option<Vec<u8>>,
    /// What is walked, for people.
    pub walked: String,
}

fn invalid(m: impl Into<String>) -> CoreError {
    CoreError::InvalidArgument(m.into())
}

fn parse_bytes(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '-')
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().ok()?;
    let mul: i64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" => 1 << 10,
        "mb" => 1_000_000,
        "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mul)
}

fn parse_time(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok();
    }
    let date = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &date).ok()?;
    Some(d.midnight().assume_utc().unix_timestamp() * 1000)
}

fn parse_value(kind: Kind, name: &str, s: &str) -> Result<Value, CoreError> {
    let bad = |what: &str| invalid(format!("{name}: {s:?} is not {what}"));
    Ok(match kind {
        Kind::Bytes => Value::Int(parse_bytes(s).ok_or_else(|| bad("a size (e.g. 1GiB)"))?),
        Kind::Time => {
            Value::Int(parse_time(s).ok_or_else(|| bad("a time (RFC 3339, YYYY-MM-DD or ms)"))?)
        }
        Kind::Float => Value::Float(s.parse().map_err(|_| bad("a number"))?),
        Kind::Text => Value::Text(s.to_string()),
    })
}

fn known_fields(target: Target) -> String {
    let mut names: Vec<String> = fields_of(target).map(|d| d.name.to_string()).collect();
    if target == Target::Files {
        names.push("meta.NAME".into());
    }
    names.join(", ")
}

/// One filter as a user writes it: `FIELD OP VALUE`, OP one of `=`,
/// `^=` (text prefix), `>`, `>=`, `<`, `<=`.
pub fn parse_filter(target: Target, text: &str) -> Result<Filter, CoreError> {
    let at = text.find(['=', '<', '>', '^']).ok_or_else(|| {
        invalid(format!(
            "{text:?} is not FIELD OP VALUE (=, ^=, >, >=, <, <=)"
        ))
    })?;
    let (name, rest) = text.split_at(at);
    let name = name.trim();
    let def = field(target, name).ok_or_else(|| {
        invalid(format!(
            "{} have no field {name:?}; fields: {}",
            target.name(),
            known_fields(target)
        ))
    })?;
    let (op, value) = ["^=", ">=", "<=", "=", ">", "<"]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v)))
        .ok_or_else(|| invalid(format!("{text:?}: unknown operator")))?;
    let only_eq = matches!(name, "bucket" | "dataset" | "site" | "replica");
    if only_eq && op != "=" {
        return Err(invalid(format!("{name} takes = only")));
    }
    let op = match op {
        "^=" if def.kind != Kind::Text => {
            return Err(invalid(format!("{name} is not text: ^= does not apply")))
        }
        "^=" => Op::Prefix(value.to_string()),
        "=" => Op::Eq(parse_value(def.kind, name, value)?),
        ">" | ">=" => Op::Range {
            lo: Some((parse_value(def.kind, name, value)?, op == ">=")),
            hi: None,
        },
        _ => Op::Range {
            lo: None,
            hi: Some((parse_value(def.kind, name, value)?, op == "<=")),
        },
    };
    Ok(Filter {
        field: name.to_string(),
        op,
    })
}

/// `[from, to)` of encoded values that the filters on one field allow.
fn bounds(filters: &[&Filter]) -> Result<(Vec<u8>, Option<Vec<u8>>), CoreError> {
    let unindexable =
        || invalid("a value that cannot be indexed (text over 256 bytes, NUL or NaN)");
    let mut from: Vec<u8> = Vec::new();
    let mut to: Option<Vec<u8>> = None;
    let mut narrow = |lo: Vec<u8>, hi: Option<Vec<u8>>| {
        if lo > from {
            from = lo;
        }
        if let Some(h) = hi {
            if to.as_ref().is_none_or(|t| h < *t) {
                to = Some(h);
            }
        }
    };
    for f in filters {
        match &f.op {
            Op::Eq(v) => {
                let e = v.encode().ok_or_else(unindexable)?;
                let end = prefix_end(&e);
                narrow(e, end);
            }
            Op::Prefix(p) => {
                narrow(p.as_bytes().to_vec(), prefix_end(p.as_bytes()));
            }
            Op::Range { lo, hi } => {
                let lo = match lo {
                    Some((v, true)) => v.encode().ok_or_else(unindexable)?,
                    Some((v, false)) => {
                        let e = v.encode().ok_or_else(unindexable)?;
                        prefix_end(&e).unwrap_or(e)
                    }
                    None => Vec::new(),
                };
                let hi = match hi {
                    Some((v, true)) => prefix_end(&v.encode().ok_or_else(unindexable)?),
                    Some((v, false)) => Some(v.encode().ok_or_else(unindexable)?),
                    None => None,
                };
                narrow(lo, hi);
            }
        }
    }
    Ok((from, to))
}

/// Text bounds without the encoding's NUL (a key or a name as stored).
fn raw_bounds(filters: &[&Filter]) -> Result<(Vec<u8>, Option<Vec<u8>>), CoreError> {
    let (from, to) = bounds(filters)?;
    // The encoding ends text with NUL; keys and names are stored bare, and
    // NUL sorts before any byte they hold, so dropping it keeps the order.
    let strip = |mut b: Vec<u8>| {
        if b.last() == Some(&0) {
            b.pop();
        }
        b
    };
    Ok((strip(from), to.map(strip)))
}

/// Which walk answers `q`.
pub fn plan(q: &Query) -> Result<Plan, CoreError> {
    let t = q.target;
    let on =
        |name: &str| -> Vec<&Filter> { q.filters.iter().filter(|f| f.field == name).collect() };
    let indexed = |name: &str| field(t, name).and_then(|d| d.tag).is_some();
    let limit = match q.limit {
        0 => 100,
        n => n.min(MAX_LIMIT),
    };
    let after = q.after.as_deref().map(super::decode_cursor).transpose()?;
    let index_drive = |name: &str| -> Result<(Drive, String), CoreError> {
        let def = field(t, name).ok_or_else(|| invalid(format!("no field {name}")))?;
        let tag = def
            .tag
            .ok_or_else(|| invalid(format!("{name} is not indexed")))?;
        let meta_name = (tag == META_TAG).then(|| name.trim_start_matches("meta."));
        let prefix = field_prefix(t, tag, meta_name);
        let (from, to) = bounds(&on(name))?;
        let mut lo = prefix.clone();
        lo.extend_from_slice(&from);
        let hi = match to {
            Some(h) => {
                let mut k = prefix.clone();
                k.extend_from_slice(&h);
                k
            }
            None => prefix_end(&prefix).unwrap_or_default(),
        };
        Ok((
            Drive::Index {
                kind: def.kind,
                prefix_len: prefix.len(),
                from: lo,
                to: hi,
            },
            format!("index {name}"),
        ))
    };
    let key_drive = |bucket: &str| -> Result<(Drive, String), CoreError> {
        let (from, to) = raw_bounds(&on("key"))?;
        Ok((
            Drive::Bucket {
                bucket: bucket.to_string(),
                from,
                to,
            },
            format!("bucket {bucket}"),
        ))
    };
    let eq_text = |name: &str| -> Option<String> {
        on(name).iter().find_map(|f| match &f.op {
            Op::Eq(Value::Text(s)) => Some(s.clone()),
            _ => None,
        })
    };
    let (drive, walked) = match (t, q.sort.as_deref()) {
        (Target::Files, _) if eq_text("dataset").is_some() => {
            if q.sort.as_deref().is_some_and(|s| s != "key") {
                return Err(invalid(
                    "files of a dataset come in (bucket, key) order: sort by key, or by nothing",
                ));
            }
            let dataset = eq_text("dataset").unwrap_or_default();
            (
                Drive::Attached {
                    dataset: dataset.clone(),
                },
                format!("dataset {dataset}'s attached files"),
            )
        }
        (Target::Files, Some("key")) => match eq_text("bucket") {
            Some(b) => key_drive(&b)?,
            None => return Err(invalid("sort by key needs bucket=")),
        },
        (Target::Datasets, Some("name")) => {
            let (from, to) = raw_bounds(&on("name"))?;
            (Drive::Names { from, to }, "dataset names".into())
        }
        (_, Some(s)) if indexed(s) => index_drive(s)?,
        (_, Some(s)) => {
            return Err(invalid(format!(
                "cannot sort {} by {s}: sort by an indexed field ({})",
                t.name(),
                known_fields(t)
            )))
        }
        (_, None) => {
            let first = |pred: &dyn Fn(&Op) -> bool| {
                q.filters
                    .iter()
                    .find(|f| indexed(&f.field) && pred(&f.op))
                    .map(|f| f.field.clone())
            };
            let eq = first(&|o| matches!(o, Op::Eq(_)));
            let prefix = first(&|o| matches!(o, Op::Prefix(_)));
            let range = first(&|o| matches!(o, Op::Range { .. }));
            match (eq, t, eq_text("bucket"), prefix, range) {
                (Some(f), ..) => index_drive(&f)?,
                (None, Target::Files, Some(b), ..) => key_drive(&b)?,
                (None, _, _, Some(f), _) | (None, _, _, None, Some(f)) => index_drive(&f)?,
                (None, Target::Datasets, ..) if !on("name").is_empty() => {
                    let (from, to) = raw_bounds(&on("name"))?;
                    (Drive::Names { from, to }, "dataset names".into())
                }
                _ => {
                    return Err(invalid(format!(
                        "a search of {} needs a filter on an indexed field{}; fields: {}",
                        t.name(),
                        if t == Target::Files {
                            " (or bucket=, or dataset=)"
                        } else {
                            " (or on name)"
                        },
                        fields_of(t)
                            .filter(|d| d.tag.is_some())
                            .map(|d| d.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                            + if t == Target::Files {
                                ", meta.NAME"
                            } else {
                                ""
                            }
                    )))
                }
            }
        }
    };
    Ok(Plan {
        drive,
        descending: q.descending,
        limit,
        after,
        walked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(target: Target, filters: &[&str], sort: Option<&str>) -> Result<Plan, CoreError> {
        let filters = filters
            .iter()
            .map(|f| parse_filter(target, f))
            .collect::<Result<Vec<_>, _>>()?;
        plan(&Query {
            target,
            filters,
            sort: sort.map(String::from),
            descending: false,
            limit: 0,
            after: None,
        })
    }

    #[test]
    fn filters_parse_with_units_times_and_clear_refusals() {
        let f = parse_filter(Target::Files, "size>=2GiB").expect("size");
        assert_eq!(
            f.op,
            Op::Range {
                lo: Some((Value::Int(2 << 30), true)),
                hi: None
            }
        );
        let t = parse_filter(Target::Files, "created<2026-12-01").expect("date");
        assert_eq!(
            t.op,
            Op::Range {
                lo: None,
                hi: Some((Value::Int(1_796_083_200_000), false))
            }
        );
        let e = parse_filter(Target::Files, "colour=red").expect_err("unknown");
        assert!(e.to_string().contains("no field \"colour\""), "{e}");
        assert!(e.to_string().contains("meta.NAME"), "{e}");
        assert!(parse_filter(Target::Files, "size^=1").is_err());
        assert!(parse_filter(Target::Files, "site>3").is_err());
        assert!(parse_filter(Target::Files, "size=lots").is_err());
    }

    #[test]
    fn the_plan_walks_the_most_selective_index_it_can() {
        let p = q(Target::Files, &["size>1MiB", "format=ROOT"], None).expect("plan");
        assert_eq!(p.walked, "index format");
        let Drive::Index { from, to, .. } = p.drive else {
            panic!("{p:?}")
        };
        assert_eq!(from, b"ffROOT\0".to_vec());
        assert_eq!(to, b"ffROOT\x01".to_vec());
        let p = q(Target::Files, &["bucket=juno", "key^=raw/", "size>1"], None).expect("plan");
        assert_eq!(
            p.drive,
            Drive::Bucket {
                bucket: "juno".into(),
                from: b"raw/".to_vec(),
                to: Some(b"raw0".to_vec())
            }
        );
        let p = q(
            Target::Datasets,
            &["dataset.keywords=neutrino"],
            Some("created"),
        )
        .expect("sort");
        assert_eq!(p.walked, "index created");
        let e = q(Target::Files, &["site=3", "replica=pending"], None).expect_err("no driver");
        assert!(
            e.to_string().contains("needs a filter on an indexed field"),
            "{e}"
        );
        let e = q(Target::Files, &["size>1"], Some("site")).expect_err("sort");
        assert!(e.to_string().contains("cannot sort"), "{e}");
    }
}
