//! The fields a query may name. An indexed field has a tag (its index);
//! the others are checked on each candidate the plan's walk reads, so a
//! query needs at least one field that can drive the walk.

/// What a query searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Files,
    Datasets,
}

impl Target {
    pub fn byte(self) -> u8 {
        match self {
            Target::Files => b'f',
            Target::Datasets => b'd',
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::Files => "files",
            Target::Datasets => "datasets",
        }
    }
}

/// How a field's values are written and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An integer; in a query with a unit (`1GiB`).
    Bytes,
    /// Ms since the Unix epoch; in a query an RFC 3339 time, a date, or ms.
    Time,
    Float,
    Text,
}

/// One field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    pub name: &'static str,
    pub target: Target,
    pub kind: Kind,
    /// Its index's tag; `None`: checked on candidates only (or, for
    /// `bucket`, `key`, `dataset` and `name`, walked another way).
    pub tag: Option<u8>,
    pub about: &'static str,
}

const fn f(
    name: &'static str,
    target: Target,
    kind: Kind,
    tag: Option<u8>,
    about: &'static str,
) -> FieldDef {
    FieldDef {
        name,
        target,
        kind,
        tag,
        about,
    }
}

use Kind::*;
use Target::*;

/// A file's user metadata (`x-amz-meta-NAME`): `meta.NAME`, indexed.
pub const META_TAG: u8 = b'm';

const FIELDS: &[FieldDef] = &[
    f("size", Files, Bytes, Some(b's'), "bytes"),
    f("created", Files, Time, Some(b't'), "when the version was written"),
    f("format", Files, Text, Some(b'f'), "ROOT, HDF5, FITS, Parquet, ... (from its first bytes)"),
    f("bucket", Files, Text, None, "walks the bucket (with key prefixes and ranges)"),
    f("key", Files, Text, None, "with bucket=: walks that range"),
    f("dataset", Files, Text, None, "walks the files attached to one dataset"),
    f("content_type", Files, Text, None, "checked on candidates"),
    f("site", Files, Text, None, "a complete replica at this site (checked on candidates)"),
    f("replica", Files, Text, None, "some replica in this state: pending, copying, complete, suspect, lost (checked on candidates)"),
    f("name", Datasets, Text, None, "walks datasets by name (prefixes and ranges)"),
    f("state", Datasets, Text, Some(b'S'), "open, closed, published"),
    f("kind", Datasets, Text, Some(b'K'), "project, paper, facility"),
    f("owner", Datasets, Text, Some(b'O'), "user"),
    f("facility", Datasets, Text, Some(b'F'), "a facility dataset's, else the dataset package's"),
    f("publication", Datasets, Text, Some(b'U'), "a paper dataset's DOI or scheme:id"),
    f("created", Datasets, Time, Some(b'C'), "when the dataset was created"),
    f("published", Datasets, Time, Some(b'P'), "when it was published"),
    f("dataset.keywords", Datasets, Text, Some(b'k'), "dataset package"),
    f("dataset.subject_areas", Datasets, Text, Some(b'a'), "dataset package"),
    f("dataset.license", Datasets, Text, Some(b'l'), "dataset package"),
    f("dataset.instrument", Datasets, Text, Some(b'i'), "dataset package"),
    f("dataset.created", Datasets, Text, Some(b'c'), "dataset package (a date)"),
    f("dataset.time_coverage.start", Datasets, Text, Some(b'b'), "dataset package (a time)"),
    f("experiment.detector.name", Datasets, Text, Some(b'd'), "experiment package"),
    f("experiment.detector.type", Datasets, Text, Some(b'y'), "experiment package"),
    f("experiment.acquisition.mode", Datasets, Text, Some(b'q'), "experiment package"),
    f("experiment.acquisition.start", Datasets, Text, Some(b'B'), "experiment package (a time)"),
    f("experiment.subject.proposal_id", Datasets, Text, Some(b'n'), "experiment package"),
    f("experiment.environment.temperature_k", Datasets, Float, Some(b'T'), "experiment package"),
    f("sharing.resource_category", Datasets, Text, Some(b'r'), "sharing package"),
    f("sharing.access.policy", Datasets, Text, Some(b'p'), "sharing package"),
];

/// The definition of `name` in `target`; a file's `meta.NAME` is indexed
/// under [`META_TAG`].
pub fn field(target: Target, name: &str) -> Option<FieldDef> {
    if target == Files {
        if let Some(n) = name.strip_prefix("meta.") {
            if !n.is_empty() && !n.contains('\0') {
                return Some(f("meta.*", Files, Text, Some(META_TAG), "user metadata"));
            }
        }
    }
    FIELDS
        .iter()
        .find(|d| d.target == target && d.name == name)
        .copied()
}

/// Every field of `target`, in the table's order (for help and errors).
pub fn fields_of(target: Target) -> impl Iterator<Item = &'static FieldDef> {
    FIELDS.iter().filter(move |d| d.target == target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_unique_per_target() {
        for t in [Files, Datasets] {
            let mut tags: Vec<u8> = fields_of(t).filter_map(|d| d.tag).collect();
            if t == Files {
                tags.push(META_TAG);
            }
            let n = tags.len();
            tags.sort_unstable();
            tags.dedup();
            assert_eq!(tags.len(), n, "{t:?} has a tag twice");
        }
        assert!(field(Files, "meta.run").is_some_and(|d| d.tag == Some(META_TAG)));
        assert!(field(Datasets, "meta.run").is_none());
    }
}
