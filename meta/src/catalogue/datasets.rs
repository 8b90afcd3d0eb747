//! Datasets in the state machine: creation, the life (close, reopen),
//! description and membership rules, explicit attachment of files (kept in
//! both directions, `Z` and `y`, in the same apply) and deletion. The rules
//! of the life are the core's (`meridian_core::dataset`); the apply checks
//! them against the record it holds, so no replica can reach a state they
//! forbid. Publishing has its own module (it fixes a manifest).

use meridian_core::dataset::{self as core, Change, DatasetState};
use meridian_proto::v1::{
    AttachFilesCmd, CreateDatasetCmd, DatasetRecord, DeleteDatasetCmd, DescribeDatasetCmd,
    ObjectRecord, SetDatasetStateCmd,
};
use prost::Message;

use super::apply::{bucket, get, reject};
use super::keys;
use super::txn::Txn;
use crate::dataset_records::{dataset_from, dataset_to, kind_from, rules_from, state_from};
use crate::types::{Outcome, OutcomeCode};
use crate::MetaError;

/// Files one command attaches or detaches (a run's worth; larger sets go in
/// several commands, or by rule).
pub const MAX_FILES_PER_COMMAND: usize = 10_000;
/// Membership rules per dataset.
pub const MAX_RULES: usize = 100;
const MAX_DESCRIPTION: usize = 16 * 1024;

fn dataset(txn: &Txn<'_>, name: &str) -> Result<Option<core::DatasetRecord>, MetaError> {
    let key = keys::dataset(name);
    get::<DatasetRecord>(txn, &key)?
        .map(|r| dataset_from(&keys::describe(&key), &r))
        .transpose()
}

/// Writes the record and brings its search entries up to date.
pub(super) fn put(txn: &mut Txn<'_>, d: &core::DatasetRecord) -> Result<(), MetaError> {
    let before = super::search_index::dataset_entries(txn, &d.name)?;
    txn.put(keys::dataset(&d.name), dataset_to(d).encode_to_vec());
    super::search_index::reindex_dataset(txn, &d.name, before)
}

/// The dataset `name` if the change is allowed: it exists, its version is
/// the one the caller saw (0: any), and its state allows `change`.
pub(super) fn for_change(
    txn: &Txn<'_>,
    name: &str,
    if_version: u64,
    change: Change,
) -> Result<Result<core::DatasetRecord, Outcome>, MetaError> {
    let Some(d) = dataset(txn, name)? else {
        return Ok(Err(reject(OutcomeCode::NoSuchDataset, name.to_string())));
    };
    if if_version != 0 && if_version != d.version {
        return Ok(Err(reject(
            OutcomeCode::PreconditionFailed,
            format!(
                "{name} is at version {}, not {if_version} as the change expected",
                d.version
            ),
        )));
    }
    if let Err(e) = d.check_change(change) {
        return Ok(Err(reject(OutcomeCode::DatasetState, e.to_string())));
    }
    Ok(Ok(d))
}

fn check_rules(rules: &[core::MemberRule]) -> Result<(), String> {
    if rules.len() > MAX_RULES {
        return Err(format!("at most {MAX_RULES} membership rules"));
    }
    for r in rules {
        meridian_core::names::check_bucket_name(&r.bucket).map_err(|e| e.to_string())?;
        if r.prefix.contains('\0') {
            return Err("a rule's prefix may not hold NUL".into());
        }
    }
    Ok(())
}

pub(super) fn create(txn: &mut Txn<'_>, c: &CreateDatasetCmd) -> Result<Outcome, MetaError> {
    let Some(r) = &c.dataset else {
        return Ok(reject(OutcomeCode::Invalid, "no dataset in the command"));
    };
    if let Err(e) = core::check_dataset_name(&r.name) {
        return Ok(reject(OutcomeCode::Invalid, e.to_string()));
    }
    let kind = match kind_from(r) {
        Ok(k) => k,
        Err(m) => return Ok(reject(OutcomeCode::Invalid, m)),
    };
    if let Err(e) = kind.check() {
        return Ok(reject(OutcomeCode::Invalid, e.to_string()));
    }
    if r.owner.is_empty() {
        return Ok(reject(OutcomeCode::Invalid, "a dataset has an owner"));
    }
    if r.description.len() > MAX_DESCRIPTION {
        return Ok(reject(OutcomeCode::Invalid, "description over 16 KiB"));
    }
    let rules = rules_from(&r.rules);
    if let Err(m) = check_rules(&rules) {
        return Ok(reject(OutcomeCode::Invalid, m));
    }
    if txn.get(&keys::dataset(&r.name))?.is_some() {
        return Ok(reject(OutcomeCode::DatasetExists, r.name.clone()));
    }
    let d = core::NewDataset {
        name: r.name.clone(),
        owner: r.owner.clone(),
        kind,
        description: r.description.clone(),
        rules,
    }
    .into_record(c.now_ms);
    super::membership_log::log(txn, &d.name, [], &d.rules)?;
    put(txn, &d)?;
    Ok(Outcome::Done)
}

pub(super) fn set_state(txn: &mut Txn<'_>, c: &SetDatasetStateCmd) -> Result<Outcome, MetaError> {
    let to = match state_from(&"the command's state", c.state) {
        Ok(DatasetState::Published) | Err(_) => {
            return Ok(reject(
                OutcomeCode::Invalid,
                "a state change is to open (reopen) or closed; publishing fixes a manifest",
            ))
        }
        Ok(s) => s,
    };
    let change = if to == DatasetState::Closed {
        Change::Close
    } else {
        Change::Reopen
    };
    let mut d = match for_change(txn, &c.name, c.if_version, change)? {
        Ok(d) => d,
        Err(o) => return Ok(o),
    };
    d.state = to;
    d.version += 1;
    d.updated_ms = c.now_ms;
    put(txn, &d)?;
    Ok(Outcome::Done)
}

pub(super) fn describe(txn: &mut Txn<'_>, c: &DescribeDatasetCmd) -> Result<Outcome, MetaError> {
    let rules = rules_from(&c.rules);
    let mut d = match for_change(txn, &c.name, c.if_version, Change::Describe)? {
        Ok(d) => d,
        Err(o) => return Ok(o),
    };
    // New rules change who belongs: a membership change, open only.
    if rules != d.rules {
        if let Err(e) = d.check_change(Change::Membership) {
            return Ok(reject(OutcomeCode::DatasetState, e.to_string()));
        }
        if let Err(m) = check_rules(&rules) {
            return Ok(reject(OutcomeCode::Invalid, m));
        }
    }
    if c.description.len() > MAX_DESCRIPTION {
        return Ok(reject(OutcomeCode::Invalid, "description over 16 KiB"));
    }
    d.description = c.description.clone();
    if rules != d.rules {
        // The files of the rules dropped leave, those of the rules added join.
        let moved: Vec<core::MemberRule> = d
            .rules
            .iter()
            .filter(|r| !rules.contains(r))
            .chain(rules.iter().filter(|r| !d.rules.contains(r)))
            .cloned()
            .collect();
        super::membership_log::log(txn, &c.name, [], &moved)?;
    }
    d.rules = rules;
    d.version += 1;
    d.updated_ms = c.now_ms;
    put(txn, &d)?;
    Ok(Outcome::Done)
}

/// Whether `bucket`/`key` holds a current object (not a delete marker).
fn object_exists(txn: &Txn<'_>, bucket_name: &str, key: &str) -> Result<bool, MetaError> {
    let Some(b) = bucket(txn, bucket_name)? else {
        return Ok(false);
    };
    Ok(get::<ObjectRecord>(txn, &keys::object(b.id, key))?.is_some_and(|r| !r.delete_marker))
}

pub(super) fn attach(txn: &mut Txn<'_>, c: &AttachFilesCmd) -> Result<Outcome, MetaError> {
    if c.files.is_empty() || c.files.len() > MAX_FILES_PER_COMMAND {
        return Ok(reject(
            OutcomeCode::Invalid,
            format!("1 to {MAX_FILES_PER_COMMAND} files per attach or detach"),
        ));
    }
    let mut d = match for_change(txn, &c.name, c.if_version, Change::Membership)? {
        Ok(d) => d,
        Err(o) => return Ok(o),
    };
    // All or none: every file is checked before anything is written.
    for f in &c.files {
        if f.key.contains('\0') || f.key.is_empty() {
            return Ok(reject(OutcomeCode::Invalid, format!("key {:?}", f.key)));
        }
        if !c.detach && !object_exists(txn, &f.bucket, &f.key)? {
            return Ok(reject(
                OutcomeCode::NoSuchKey,
                format!(
                    "{}/{}: only a stored object joins a dataset",
                    f.bucket, f.key
                ),
            ));
        }
    }
    let mut moved = Vec::new();
    for f in &c.files {
        let member = keys::dataset_file(&c.name, &f.bucket, &f.key);
        let present = txn.get(&member)?.is_some();
        if c.detach && present {
            txn.delete(member);
            txn.delete(keys::file_dataset(&f.bucket, &f.key, &c.name));
            moved.push((f.bucket.clone(), f.key.clone()));
        } else if !c.detach && !present {
            txn.put(member, Vec::new());
            txn.put(keys::file_dataset(&f.bucket, &f.key, &c.name), Vec::new());
            moved.push((f.bucket.clone(), f.key.clone()));
        }
    }
    let changed = moved.len() as u64;
    if changed == 0 {
        return Ok(Outcome::Done);
    }
    super::membership_log::log(txn, &c.name, moved, &[])?;
    d.files = if c.detach {
        d.files
            .checked_sub(changed)
            .ok_or_else(|| MetaError::Corrupt {
                key: keys::describe(&keys::dataset(&c.name)),
                message: format!("{} attached files, {changed} detached", d.files),
            })?
    } else {
        d.files + changed
    };
    if !c.detach {
        d.last_join_ms = c.now_ms;
    }
    d.version += 1;
    d.updated_ms = c.now_ms;
    put(txn, &d)?;
    Ok(Outcome::Done)
}

/// Deletes an unpublished dataset and its attachments (not its files).
pub(super) fn delete(txn: &mut Txn<'_>, c: &DeleteDatasetCmd) -> Result<Outcome, MetaError> {
    let d = match for_change(txn, &c.name, c.if_version, Change::Delete)? {
        Ok(d) => d,
        Err(o) => return Ok(o),
    };
    if d.files > MAX_FILES_PER_COMMAND as u64 {
        return Ok(reject(
            OutcomeCode::DatasetState,
            format!(
                "{} has {} attached files: detach them (at most {MAX_FILES_PER_COMMAND} a command) before deleting it",
                c.name, d.files
            ),
        ));
    }
    let prefix = keys::dataset_files_prefix(&c.name);
    let mut left = Vec::new();
    for k in txn.keys_with_prefix(&prefix, MAX_FILES_PER_COMMAND + 1)? {
        let Some((_, bucket, key)) = keys::parse_dataset_file(&k) else {
            return Err(MetaError::Corrupt {
                key: keys::describe(&k),
                message: "an attachment key that does not parse".into(),
            });
        };
        txn.delete(keys::file_dataset(&bucket, &key, &c.name));
        txn.delete(k);
        left.push((bucket, key));
    }
    super::membership_log::log(txn, &c.name, left, &d.rules)?;
    let before = super::search_index::dataset_entries(txn, &c.name)?;
    super::dataset_settings::delete_metadata(txn, &c.name);
    txn.delete(keys::dataset(&c.name));
    super::search_index::reindex_dataset(txn, &c.name, before)?;
    Ok(Outcome::Done)
}
