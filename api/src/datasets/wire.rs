//! Datasets as the wire says them, both ways.

use meridian_core::access::{acl, Grantee, Level};
use meridian_core::dataset::{
    citation_hash, DatasetKind, DatasetRecord, FileRef, MemberRule, MetadataDoc,
};
use meridian_core::records::BucketGrant;
use meridian_proto::v1 as pb;
use tonic::Status;

pub fn info(d: &DatasetRecord, packages: &[MetadataDoc]) -> pb::DatasetInfo {
    let (publication, facility, close_after_idle_ms) = match &d.kind {
        DatasetKind::Project => (String::new(), String::new(), 0),
        DatasetKind::Paper { publication } => (publication.clone(), String::new(), 0),
        DatasetKind::Facility {
            facility,
            close_after_idle_ms,
        } => (String::new(), facility.clone(), *close_after_idle_ms),
    };
    let mut i = pb::DatasetInfo {
        name: d.name.clone(),
        owner: d.owner.clone(),
        kind: d.kind.name().into(),
        publication,
        facility,
        close_after_idle_ms,
        state: d.state.name().into(),
        version: d.version,
        created_ms: d.created_ms,
        updated_ms: d.updated_ms,
        last_join_ms: d.last_join_ms,
        description: d.description.clone(),
        rules: rules_to(&d.rules),
        grants: d
            .grants
            .iter()
            .filter_map(|g| {
                g.level.map(|l| pb::DatasetGrant {
                    user: g.user.clone(),
                    level: l.name().into(),
                })
            })
            .collect(),
        policy: d.policy.clone(),
        attached_files: d.files,
        metadata_packages: packages.iter().map(|m| m.package.clone()).collect(),
        ..Default::default()
    };
    if let Some(p) = &d.published {
        i.published_ms = p.published_ms;
        i.manifest_files = p.files;
        i.manifest_bytes = p.bytes;
        i.citation = citation_hash(&p.manifest_hash);
    }
    i
}

pub fn rules_to(rules: &[MemberRule]) -> Vec<pb::DatasetRule> {
    rules
        .iter()
        .map(|r| pb::DatasetRule {
            bucket: r.bucket.clone(),
            prefix: r.prefix.clone(),
        })
        .collect()
}

pub fn rules_from(rules: &[pb::DatasetRule]) -> Vec<MemberRule> {
    rules
        .iter()
        .map(|r| MemberRule {
            bucket: r.bucket.clone(),
            prefix: r.prefix.clone(),
        })
        .collect()
}

pub fn kind_from(r: &pb::CreateDatasetRequest) -> Result<DatasetKind, Status> {
    let kind = match r.kind.as_str() {
        "" | "project" => DatasetKind::Project,
        "paper" => DatasetKind::Paper {
            publication: r.publication.clone(),
        },
        "facility" => DatasetKind::Facility {
            facility: r.facility.clone(),
            close_after_idle_ms: r.close_after_idle_ms,
        },
        k => {
            return Err(Status::invalid_argument(format!(
                "dataset kind {k:?} (project, paper or facility)"
            )))
        }
    };
    kind.check().map_err(crate::status)?;
    Ok(kind)
}

/// A grant as the wire names it: a user, or one of the two groups.
pub fn grant_from(g: &pb::DatasetGrant) -> Result<BucketGrant, Status> {
    let level = Level::parse(&g.level).ok_or_else(|| {
        Status::invalid_argument(format!("grant level {:?} (read, write or owner)", g.level))
    })?;
    let grantee = match g.user.as_str() {
        acl::ALL_USERS | acl::AUTHENTICATED_USERS => Grantee::from_stored(&g.user),
        u => Grantee::user(u).map_err(|e| Status::invalid_argument(e.to_string()))?,
    };
    if grantee == Grantee::AllUsers && level != Level::Read {
        return Err(Status::invalid_argument(
            "group:AllUsers (anyone, unsigned) may be granted read only",
        ));
    }
    Ok(BucketGrant {
        user: grantee.stored(),
        level: Some(level),
        acl: 0,
    })
}

pub fn file_from(f: &pb::DatasetFile) -> FileRef {
    FileRef {
        bucket: f.bucket.clone(),
        key: f.key.clone(),
    }
}

pub fn file_to(f: &FileRef) -> pb::DatasetFile {
    pb::DatasetFile {
        bucket: f.bucket.clone(),
        key: f.key.clone(),
    }
}

pub fn document_to(m: &MetadataDoc) -> pb::MetadataDocument {
    pb::MetadataDocument {
        package: m.package.clone(),
        schema_version: m.schema_version,
        document: m.document.clone(),
        set_ms: m.set_ms,
    }
}
