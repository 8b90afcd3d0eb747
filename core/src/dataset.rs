//! Datasets: named, owned collections of objects, the unit the data centre
//! describes, searches, tracks and cites. A dataset has a kind that follows
//! how its data arrives (a research project's, a paper's, a facility's DAQ
//! runs), a life (open, closed, published) and, once published, a manifest
//! of exactly which object versions it holds, fixed by a content hash that
//! users cite. Files join by explicit attachment or by a bucket + prefix
//! rule; a file may belong to several datasets.
//!
//! Pure: the rules of the life and the manifest's encoding. The catalogue
//! keeps the records and applies these rules in the same apply as the
//! change, so no state can be reached that they forbid.

use crate::records::BucketGrant;
use crate::CoreError;

/// A dataset name: 3 to 200 of `[A-Za-z0-9._-]`, beginning with a letter or
/// digit (HEP names like `JUNO_RAW_2026_run0042` fit; no `/`, so a name is
/// never mistaken for a key).
pub const MAX_NAME: usize = 200;

pub fn check_dataset_name(name: &str) -> Result<(), CoreError> {
    let bad = |why: &str| {
        Err(CoreError::InvalidArgument(format!(
            "dataset name {name:?}: {why}"
        )))
    };
    if !(3..=MAX_NAME).contains(&name.len()) {
        return bad("length must be 3 to 200");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("only letters, digits, '.', '_' and '-'");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return bad("must begin with a letter or digit");
    }
    Ok(())
}

/// How the dataset's data arrives: the brief's submission modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetKind {
    /// Data of a research project, assembled by its members.
    Project,
    /// Data behind a publication, bound to its identifier (a DOI, an arXiv
    /// id) and frozen when published.
    Paper { publication: String },
    /// Fed continuously by a facility's DAQ: open while a run writes to it,
    /// closed when the run ends (by call, or after `close_after_idle_ms`
    /// with no file joining).
    Facility {
        facility: String,
        close_after_idle_ms: i64,
    },
}

impl DatasetKind {
    pub fn name(&self) -> &'static str {
        match self {
            DatasetKind::Project => "project",
            DatasetKind::Paper { .. } => "paper",
            DatasetKind::Facility { .. } => "facility",
        }
    }

    pub fn check(&self) -> Result<(), CoreError> {
        match self {
            DatasetKind::Project => Ok(()),
            DatasetKind::Paper { publication } => check_publication(publication),
            DatasetKind::Facility {
                facility,
                close_after_idle_ms,
            } => {
                if facility.trim().is_empty() || facility.len() > 128 {
                    return Err(CoreError::InvalidArgument(
                        "a facility dataset names its facility (1 to 128 characters)".into(),
                    ));
                }
                if *close_after_idle_ms < 0 {
                    return Err(CoreError::InvalidArgument(
                        "close_after_idle must not be negative".into(),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// A publication identifier: a DOI (`10.<registrant>/<suffix>`), an arXiv
/// id (`arXiv:2401.01234`) or another scheme's `scheme:id`; visible ASCII,
/// at most 256 characters.
pub fn check_publication(id: &str) -> Result<(), CoreError> {
    let bad = |why: &str| {
        Err(CoreError::InvalidArgument(format!(
            "publication identifier {id:?}: {why}"
        )))
    };
    if id.is_empty() || id.len() > 256 {
        return bad("1 to 256 characters");
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return bad("visible ASCII only (no spaces)");
    }
    let doi = id
        .strip_prefix("10.")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(registrant, suffix)| {
            !registrant.is_empty()
                && registrant.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && !suffix.is_empty()
        });
    let scheme = id.split_once(':').is_some_and(|(s, rest)| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()) && !rest.is_empty()
    });
    if doi || scheme {
        Ok(())
    } else {
        bad("a DOI (10.NNNN/suffix) or scheme:id (arXiv:2401.01234)")
    }
}

/// Where a dataset is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DatasetState {
    /// Files join and leave.
    #[default]
    Open,
    /// No file joins or leaves; it may be reopened or published.
    Closed,
    /// Immutable: its manifest is fixed and cited by its hash; its files
    /// may not be deleted or overwritten.
    Published,
}

impl DatasetState {
    pub fn name(self) -> &'static str {
        match self {
            DatasetState::Open => "open",
            DatasetState::Closed => "closed",
            DatasetState::Published => "published",
        }
    }
}

/// Files under `prefix` in `bucket` belong to the dataset while it is open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberRule {
    pub bucket: String,
    pub prefix: String,
}

impl MemberRule {
    pub fn matches(&self, bucket: &str, key: &str) -> bool {
        self.bucket == bucket && key.starts_with(&self.prefix)
    }
}

/// A dataset and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRecord {
    pub name: String,
    pub owner: String,
    pub kind: DatasetKind,
    pub state: DatasetState,
    /// Moves by one with every change, so a reader can tell two views apart
    /// and a writer can make a change conditional on the one it saw.
    pub version: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// When a file last joined (the facility's idle rule counts from it).
    pub last_join_ms: i64,
    pub description: String,
    pub rules: Vec<MemberRule>,
    /// As a bucket's: one per user or group.
    pub grants: Vec<BucketGrant>,
    /// A policy document as a bucket's (JSON, checked when set); empty: none.
    pub policy: String,
    /// Set when published.
    pub published: Option<Publication>,
    /// Files attached explicitly (a rule's files are counted when listed).
    pub files: u64,
}

/// What publishing fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub published_ms: i64,
    /// BLAKE3 of the manifest's canonical encoding ([`manifest_hash`]).
    pub manifest_hash: [u8; 32],
    pub files: u64,
    pub bytes: u64,
}

/// What a change to a dataset is, for [`DatasetRecord::check_change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Attach or detach files, or change the membership rules.
    Membership,
    Close,
    Reopen,
    Publish,
    /// Description and metadata packages.
    Describe,
    /// Grants and policy: who may read a published dataset can change
    /// (an embargo lifted) without its content changing.
    Access,
    Delete,
}

impl DatasetRecord {
    /// Whether the dataset's state allows `change`; the refusal says why
    /// and what would allow it.
    pub fn check_change(&self, change: Change) -> Result<(), CoreError> {
        use Change::*;
        use DatasetState::*;
        let refuse = |why: String| Err(CoreError::DatasetState(format!("{}: {why}", self.name)));
        match (self.state, change) {
            (_, Access) => Ok(()),
            (Published, _) => refuse(
                "published datasets are immutable (their manifest is cited by its hash)".into(),
            ),
            (Open, Membership | Close | Describe | Delete) => Ok(()),
            (Closed, Reopen | Publish | Describe | Delete) => Ok(()),
            (Closed, Membership) => refuse("closed: reopen it before files join or leave".into()),
            (Open, Publish) => refuse("open: close it before publishing".into()),
            (Open, Reopen) => refuse("already open".into()),
            (Closed, Close) => refuse("already closed".into()),
        }
    }

    /// Whether the facility rule closes the dataset at `now_ms`.
    pub fn idle_close_due(&self, now_ms: i64) -> bool {
        match &self.kind {
            DatasetKind::Facility {
                close_after_idle_ms,
                ..
            } if *close_after_idle_ms > 0 && self.state == DatasetState::Open => {
                now_ms.saturating_sub(self.last_join_ms.max(self.created_ms))
                    >= *close_after_idle_ms
            }
            _ => false,
        }
    }

    /// Whether a membership rule takes `bucket`/`key`.
    pub fn rule_takes(&self, bucket: &str, key: &str) -> bool {
        self.rules.iter().any(|r| r.matches(bucket, key))
    }
}

/// A file named by bucket and key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileRef {
    pub bucket: String,
    pub key: String,
}

/// A new dataset: it starts open, at version 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDataset {
    pub name: String,
    pub owner: String,
    pub kind: DatasetKind,
    pub description: String,
    pub rules: Vec<MemberRule>,
}

impl NewDataset {
    /// The record it starts as: open, version 1, no files.
    pub fn into_record(self, now_ms: i64) -> DatasetRecord {
        DatasetRecord {
            name: self.name,
            owner: self.owner,
            kind: self.kind,
            state: DatasetState::Open,
            version: 1,
            created_ms: now_ms,
            updated_ms: now_ms,
            last_join_ms: 0,
            description: self.description,
            rules: self.rules,
            grants: Vec::new(),
            policy: String::new(),
            published: None,
            files: 0,
        }
    }
}

/// A change to a dataset, as the catalogue applies it (checked against
/// the state with [`DatasetRecord::check_change`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetChange {
    Close,
    Reopen,
    /// New rules are a membership change (open only).
    Describe {
        description: String,
        rules: Vec<MemberRule>,
    },
    /// Stored objects only, all or none; at most 10,000 a change.
    Attach(Vec<FileRef>),
    Detach(Vec<FileRef>),
    /// Closed -> published: the catalogue fixes the manifest.
    Publish,
    /// An unpublished dataset and its attachments (not its files).
    Delete,
    /// Who may do what to it (any state); the policy is checked by the
    /// caller ([`crate::access::BucketPolicy::parse_dataset`]).
    SetAccess {
        grants: Vec<BucketGrant>,
        policy: String,
    },
    /// One metadata package's document (validated by the caller against
    /// its schema); an empty document removes the package.
    SetMetadata(MetadataDoc),
}

/// One metadata package of a dataset: the JSON document and the version of
/// the package's schema it was validated against.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataDoc {
    /// `dataset`, `sample`, `experiment`, `preprocessing`, `sharing`, `results`.
    pub package: String,
    pub schema_version: u32,
    pub document: String,
    pub set_ms: i64,
}

/// The six metadata packages, by name (the metadata crate's schemas).
pub const METADATA_PACKAGES: [&str; 6] = [
    "dataset",
    "sample",
    "experiment",
    "preprocessing",
    "sharing",
    "results",
];

/// A metadata document's largest size.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

/// A page of a dataset's attached files, in (bucket, key) order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilePage {
    pub files: Vec<FileRef>,
    /// More follow: ask again after it.
    pub next_after: Option<FileRef>,
}

/// One file of a published dataset: the exact version it holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ManifestEntry {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub size: u64,
    pub blake3: [u8; 32],
}

const MANIFEST_HEADER: &str = "meridian-manifest-v1\n";

/// The manifest's canonical encoding: a header line, then one line per
/// file in (bucket, key) order, fields separated by tabs, bucket, key and
/// version percent-encoded as an S3 path is (so neither a tab nor a newline
/// can forge a line), the BLAKE3 in lower-case hex. Anyone can recompute the hash from
/// a manifest listing.
pub fn manifest_text(entries: &[ManifestEntry]) -> Result<String, CoreError> {
    let mut out = String::from(MANIFEST_HEADER);
    for (i, e) in entries.iter().enumerate() {
        if i > 0 && (&entries[i - 1].bucket, &entries[i - 1].key) >= (&e.bucket, &e.key) {
            return Err(CoreError::Internal(format!(
                "manifest not in (bucket, key) order or a file twice at {}/{}",
                e.bucket, e.key
            )));
        }
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            crate::names::uri_encode(&e.bucket),
            crate::names::uri_encode(&e.key),
            crate::names::uri_encode(&e.version_id),
            e.size,
            hex_lower(&e.blake3)
        ));
    }
    Ok(out)
}

/// BLAKE3 of [`manifest_text`].
pub fn manifest_hash(entries: &[ManifestEntry]) -> Result<[u8; 32], CoreError> {
    Ok(*blake3::hash(manifest_text(entries)?.as_bytes()).as_bytes())
}

/// How a published dataset is cited: `blake3:<hex of its manifest hash>`.
pub fn citation_hash(hash: &[u8; 32]) -> String {
    format!("blake3:{}", hex_lower(hash))
}

fn hex_lower(b: &[u8; 32]) -> String {
    blake3::Hash::from_bytes(*b).to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(state: DatasetState) -> DatasetRecord {
        DatasetRecord {
            name: "juno-run42".into(),
            owner: "alice".into(),
            kind: DatasetKind::Project,
            state,
            version: 1,
            created_ms: 1_000,
            updated_ms: 1_000,
            last_join_ms: 0,
            description: String::new(),
            rules: vec![],
            grants: vec![],
            policy: String::new(),
            published: None,
            files: 0,
        }
    }

    #[test]
    fn names() {
        for ok in [
            "abc",
            "JUNO_RAW_2026_run0042",
            "lhaaso.wcda-2025",
            &"a".repeat(200),
        ] {
            assert!(check_dataset_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "-abc",
            ".abc",
            "a/b",
            "a b",
            "数据集",
            &"a".repeat(201),
        ] {
            assert!(check_dataset_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn publication_identifiers() {
        for ok in [
            "10.1103/PhysRevLett.108.171803",
            "10.5281/zenodo.1234567",
            "arXiv:2401.01234",
            "hdl:20.500.12345/678",
        ] {
            assert!(check_publication(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "10.1103",
            "10./x",
            "10.ab/x",
            "doi 10.1/x",
            "just-a-name",
            ":x",
            "x:",
        ] {
            assert!(check_publication(bad).is_err(), "{bad}");
        }
        assert!(DatasetKind::Paper {
            publication: "nope".into()
        }
        .check()
        .is_err());
        assert!(DatasetKind::Facility {
            facility: String::new(),
            close_after_idle_ms: 0
        }
        .check()
        .is_err());
        assert!(DatasetKind::Facility {
            facility: "JUNO".into(),
            close_after_idle_ms: -1
        }
        .check()
        .is_err());
    }

    #[test]
    fn the_life_of_a_dataset() {
        use Change::*;
        use DatasetState::*;
        let allowed = |s, c| record(s).check_change(c).is_ok();
        // Open: files join and leave; it closes; it is described or deleted.
        for c in [Membership, Close, Describe, Delete] {
            assert!(allowed(Open, c), "open {c:?}");
        }
        for c in [Reopen, Publish] {
            assert!(!allowed(Open, c), "open {c:?}");
        }
        // Closed: no file joins; reopened or published.
        for c in [Reopen, Publish, Describe, Delete] {
            assert!(allowed(Closed, c), "closed {c:?}");
        }
        for c in [Membership, Close] {
            assert!(!allowed(Closed, c), "closed {c:?}");
        }
        // Published: nothing.
        for c in [Membership, Close, Reopen, Publish, Describe, Delete] {
            let r = record(Published).check_change(c);
            assert!(
                matches!(&r, Err(CoreError::DatasetState(m)) if m.contains("immutable")),
                "{c:?}: {r:?}"
            );
        }
        let r = record(Closed).check_change(Membership);
        assert!(
            matches!(&r, Err(CoreError::DatasetState(m)) if m.contains("reopen")),
            "{r:?}"
        );
    }

    #[test]
    fn a_facility_dataset_closes_after_its_idle_time() {
        let mut r = record(DatasetState::Open);
        r.kind = DatasetKind::Facility {
            facility: "JUNO".into(),
            close_after_idle_ms: 60_000,
        };
        r.last_join_ms = 10_000;
        assert!(!r.idle_close_due(69_999));
        assert!(r.idle_close_due(70_000));
        r.state = DatasetState::Closed;
        assert!(!r.idle_close_due(1_000_000));
        r.state = DatasetState::Open;
        r.kind = DatasetKind::Facility {
            facility: "JUNO".into(),
            close_after_idle_ms: 0,
        };
        assert!(!r.idle_close_due(i64::MAX), "0: closed by call only");
    }

    #[test]
    fn rules_take_their_prefix_in_their_bucket() {
        let mut r = record(DatasetState::Open);
        r.rules = vec![MemberRule {
            bucket: "juno".into(),
            prefix: "raw/run42/".into(),
        }];
        assert!(r.rule_takes("juno", "raw/run42/f1.root"));
        assert!(!r.rule_takes("juno", "raw/run43/f1.root"));
        assert!(!r.rule_takes("lhaaso", "raw/run42/f1.root"));
    }

    fn entry(bucket: &str, key: &str, size: u64) -> ManifestEntry {
        ManifestEntry {
            bucket: bucket.into(),
            key: key.into(),
            version_id: format!("v-{key}"),
            size,
            blake3: *blake3::hash(key.as_bytes()).as_bytes(),
        }
    }

    #[test]
    fn the_manifest_hash_is_of_a_canonical_text_anyone_can_rebuild() {
        let files = vec![entry("juno", "raw/a", 10), entry("juno", "raw/b", 20)];
        let text = manifest_text(&files).expect("text");
        assert_eq!(
            text,
            format!(
                "meridian-manifest-v1\njuno\traw/a\tv-raw/a\t10\t{}\njuno\traw/b\tv-raw/b\t20\t{}\n",
                blake3::hash(b"raw/a").to_hex(),
                blake3::hash(b"raw/b").to_hex()
            )
        );
        let h = manifest_hash(&files).expect("hash");
        assert_eq!(h, *blake3::hash(text.as_bytes()).as_bytes());
        assert_eq!(
            citation_hash(&h),
            format!("blake3:{}", blake3::hash(text.as_bytes()).to_hex())
        );
        // Any change to any field changes it.
        let mut other = files.clone();
        other[1].size += 1;
        assert_ne!(manifest_hash(&other).expect("hash"), h);
        let mut other = files.clone();
        other[0].version_id.push('x');
        assert_ne!(manifest_hash(&other).expect("hash"), h);
        // Order and uniqueness are the caller's to keep, and checked.
        let swapped = vec![files[1].clone(), files[0].clone()];
        assert!(manifest_text(&swapped).is_err());
        assert!(manifest_text(&[files[0].clone(), files[0].clone()]).is_err());
        // A key with a tab or a newline cannot forge a line.
        let forged = vec![entry("juno", "a\tb\nc", 1)];
        assert_eq!(manifest_text(&forged).expect("text").lines().count(), 2);
    }
}
