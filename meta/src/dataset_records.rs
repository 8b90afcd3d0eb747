//! Datasets, stored and in the domain, translated both ways (as
//! `records.rs` does for buckets and objects).

use meridian_core::dataset as core;
use meridian_proto::v1 as pb;
use meridian_proto::RECORD_FORMAT;

use crate::records::{grants_from, grants_to, What};
use crate::MetaError;

fn corrupt(what: What<'_>, message: String) -> MetaError {
    MetaError::Corrupt {
        key: what.to_string(),
        message,
    }
}

pub fn state_from(what: What<'_>, s: u32) -> Result<core::DatasetState, MetaError> {
    match s {
        0 => Ok(core::DatasetState::Open),
        1 => Ok(core::DatasetState::Closed),
        2 => Ok(core::DatasetState::Published),
        n => Err(corrupt(what, format!("dataset state {n}"))),
    }
}

pub fn state_to(s: core::DatasetState) -> u32 {
    match s {
        core::DatasetState::Open => 0,
        core::DatasetState::Closed => 1,
        core::DatasetState::Published => 2,
    }
}

pub fn kind_from(r: &pb::DatasetRecord) -> Result<core::DatasetKind, String> {
    match r.kind.as_str() {
        "project" => Ok(core::DatasetKind::Project),
        "paper" => Ok(core::DatasetKind::Paper {
            publication: r.publication.clone(),
        }),
        "facility" => Ok(core::DatasetKind::Facility {
            facility: r.facility.clone(),
            close_after_idle_ms: r.close_after_idle_ms,
        }),
        k => Err(format!("dataset kind {k:?} (project, paper or facility)")),
    }
}

fn kind_to(k: &core::DatasetKind, r: &mut pb::DatasetRecord) {
    r.kind = k.name().to_string();
    match k {
        core::DatasetKind::Project => {}
        core::DatasetKind::Paper { publication } => r.publication = publication.clone(),
        core::DatasetKind::Facility {
            facility,
            close_after_idle_ms,
        } => {
            r.facility = facility.clone();
            r.close_after_idle_ms = *close_after_idle_ms;
        }
    }
}

pub fn rules_from(rs: &[pb::MemberRule]) -> Vec<core::MemberRule> {
    rs.iter()
        .map(|r| core::MemberRule {
            bucket: r.bucket.clone(),
            prefix: r.prefix.clone(),
        })
        .collect()
}

pub fn rules_to(rs: &[core::MemberRule]) -> Vec<pb::MemberRule> {
    rs.iter()
        .map(|r| pb::MemberRule {
            bucket: r.bucket.clone(),
            prefix: r.prefix.clone(),
        })
        .collect()
}

pub fn dataset_from(
    what: What<'_>,
    r: &pb::DatasetRecord,
) -> Result<core::DatasetRecord, MetaError> {
    let published = if state_from(what, r.state)? == core::DatasetState::Published {
        Some(core::Publication {
            published_ms: r.published_ms,
            manifest_hash: r.manifest_hash.as_slice().try_into().map_err(|_| {
                corrupt(what, "a published dataset without its manifest hash".into())
            })?,
            files: r.manifest_files,
            bytes: r.manifest_bytes,
        })
    } else {
        None
    };
    Ok(core::DatasetRecord {
        name: r.name.clone(),
        owner: r.owner.clone(),
        kind: kind_from(r).map_err(|m| corrupt(what, m))?,
        state: state_from(what, r.state)?,
        version: r.version,
        created_ms: r.created_ms,
        updated_ms: r.updated_ms,
        last_join_ms: r.last_join_ms,
        description: r.description.clone(),
        rules: rules_from(&r.rules),
        grants: grants_from(what, &r.grants)?,
        policy: r.policy.clone(),
        published,
        files: r.files,
    })
}

pub fn dataset_to(d: &core::DatasetRecord) -> pb::DatasetRecord {
    let mut r = pb::DatasetRecord {
        format: RECORD_FORMAT,
        name: d.name.clone(),
        owner: d.owner.clone(),
        state: state_to(d.state),
        version: d.version,
        created_ms: d.created_ms,
        updated_ms: d.updated_ms,
        last_join_ms: d.last_join_ms,
        description: d.description.clone(),
        rules: rules_to(&d.rules),
        grants: grants_to(&d.grants),
        policy: d.policy.clone(),
        files: d.files,
        ..Default::default()
    };
    kind_to(&d.kind, &mut r);
    if let Some(p) = &d.published {
        r.published_ms = p.published_ms;
        r.manifest_hash = p.manifest_hash.to_vec();
        r.manifest_files = p.files;
        r.manifest_bytes = p.bytes;
    }
    r
}
