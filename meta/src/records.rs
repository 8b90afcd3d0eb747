//! The catalogue's stored records and the domain's, translated both ways.
//! The stored form is protobuf (`meridian-proto`), versioned by `format`;
//! the domain's (`meridian-core`) has real enums and fixed-size hashes. A
//! stored value that does not translate is corruption, named by `what`.

use meridian_core::records as core;
use meridian_core::ChunkHash;
use meridian_proto::v1 as pb;
use meridian_proto::RECORD_FORMAT;

use crate::MetaError;

/// What a translated value is, for the corruption it may report: formatted
/// only then, so a listing pays nothing for it.
pub type What<'a> = &'a dyn std::fmt::Display;

fn corrupt(what: What<'_>, message: String) -> MetaError {
    MetaError::Corrupt {
        key: what.to_string(),
        message,
    }
}

fn hash(what: What<'_>, bytes: &[u8]) -> Result<ChunkHash, MetaError> {
    ChunkHash::try_from(bytes)
        .map_err(|_| corrupt(what, format!("a hash of {} bytes, not 32", bytes.len())))
}

pub fn chunk_from(what: What<'_>, c: &pb::ChunkRef) -> Result<core::ChunkRef, MetaError> {
    Ok(core::ChunkRef {
        hash: hash(what, &c.hash)?,
        size: c.size,
    })
}

pub fn chunk_to(c: &core::ChunkRef) -> pb::ChunkRef {
    pb::ChunkRef {
        hash: c.hash.to_vec(),
        size: c.size,
    }
}

pub fn chunks_from(what: What<'_>, cs: &[pb::ChunkRef]) -> Result<Vec<core::ChunkRef>, MetaError> {
    cs.iter().map(|c| chunk_from(what, c)).collect()
}

pub fn chunks_to(cs: &[core::ChunkRef]) -> Vec<pb::ChunkRef> {
    cs.iter().map(chunk_to).collect()
}

pub fn state_from(what: What<'_>, s: i32) -> Result<core::ReplicaState, MetaError> {
    use core::ReplicaState as S;
    match pb::ReplicaState::try_from(s) {
        Ok(pb::ReplicaState::Pending) => Ok(S::Pending),
        Ok(pb::ReplicaState::Copying) => Ok(S::Copying),
        Ok(pb::ReplicaState::Complete) => Ok(S::Complete),
        Ok(pb::ReplicaState::Suspect) => Ok(S::Suspect),
        Ok(pb::ReplicaState::Lost) => Ok(S::Lost),
        _ => Err(corrupt(what, format!("replica state {s}"))),
    }
}

pub fn state_to(s: core::ReplicaState) -> pb::ReplicaState {
    use core::ReplicaState as S;
    match s {
        S::Pending => pb::ReplicaState::Pending,
        S::Copying => pb::ReplicaState::Copying,
        S::Complete => pb::ReplicaState::Complete,
        S::Suspect => pb::ReplicaState::Suspect,
        S::Lost => pb::ReplicaState::Lost,
    }
}

pub fn versioning_from(what: What<'_>, v: u32) -> Result<core::Versioning, MetaError> {
    match i32::try_from(v).ok().map(pb::Versioning::try_from) {
        Some(Ok(pb::Versioning::Off)) => Ok(core::Versioning::Off),
        Some(Ok(pb::Versioning::Enabled)) => Ok(core::Versioning::Enabled),
        Some(Ok(pb::Versioning::Suspended)) => Ok(core::Versioning::Suspended),
        _ => Err(corrupt(what, format!("versioning {v}"))),
    }
}

pub fn versioning_to(v: core::Versioning) -> u32 {
    (match v {
        core::Versioning::Off => pb::Versioning::Off,
        core::Versioning::Enabled => pb::Versioning::Enabled,
        core::Versioning::Suspended => pb::Versioning::Suspended,
    }) as u32
}

pub fn lock_mode_from(what: What<'_>, m: u32) -> Result<core::LockMode, MetaError> {
    match i32::try_from(m).ok().map(pb::LockMode::try_from) {
        Some(Ok(pb::LockMode::LockNone)) => Ok(core::LockMode::None),
        Some(Ok(pb::LockMode::LockGovernance)) => Ok(core::LockMode::Governance),
        Some(Ok(pb::LockMode::LockCompliance)) => Ok(core::LockMode::Compliance),
        _ => Err(corrupt(what, format!("lock mode {m}"))),
    }
}

pub fn lock_mode_to(m: core::LockMode) -> u32 {
    (match m {
        core::LockMode::None => pb::LockMode::LockNone,
        core::LockMode::Governance => pb::LockMode::LockGovernance,
        core::LockMode::Compliance => pb::LockMode::LockCompliance,
    }) as u32
}

pub fn grant_from(what: What<'_>, g: &pb::BucketGrant) -> Result<core::BucketGrant, MetaError> {
    use meridian_core::access::Level as L;
    let level = match pb::GrantLevel::try_from(g.level) {
        Ok(pb::GrantLevel::GrantNone) => None,
        Ok(pb::GrantLevel::GrantRead) => Some(L::Read),
        Ok(pb::GrantLevel::GrantWrite) => Some(L::Write),
        Ok(pb::GrantLevel::GrantOwner) => Some(L::Owner),
        Err(_) => return Err(corrupt(what, format!("grant level {}", g.level))),
    };
    Ok(core::BucketGrant {
        user: g.user.clone(),
        level,
        acl: g.acl,
    })
}

pub fn grant_to(g: &core::BucketGrant) -> pb::BucketGrant {
    use meridian_core::access::Level as L;
    let level = match g.level {
        None => pb::GrantLevel::GrantNone,
        Some(L::Read) => pb::GrantLevel::GrantRead,
        Some(L::Write) => pb::GrantLevel::GrantWrite,
        Some(L::Owner) => pb::GrantLevel::GrantOwner,
    };
    pb::BucketGrant {
        user: g.user.clone(),
        level: level as i32,
        acl: g.acl,
    }
}

pub fn grants_from(
    what: What<'_>,
    gs: &[pb::BucketGrant],
) -> Result<Vec<core::BucketGrant>, MetaError> {
    gs.iter().map(|g| grant_from(what, g)).collect()
}

pub fn grants_to(gs: &[core::BucketGrant]) -> Vec<pb::BucketGrant> {
    gs.iter().map(grant_to).collect()
}

/// What of a stored object record can fail to translate, translated: read
/// through borrowed fields, so a record is checked without being consumed.
struct ObjectParts {
    blake3: Option<ChunkHash>,
    chunks: Vec<core::ChunkRef>,
    replicas: Vec<core::Replica>,
    versioning: core::Versioning,
    acl: Vec<core::BucketGrant>,
    lock_mode: core::LockMode,
}

fn object_parts(what: What<'_>, r: &pb::ObjectRecord) -> Result<ObjectParts, MetaError> {
    let blake3 = if r.blake3.is_empty() && r.delete_marker {
        None
    } else {
        Some(hash(what, &r.blake3)?)
    };
    let replicas = r
        .replicas
        .iter()
        .map(|x| {
            Ok(core::Replica {
                site: x.site,
                state: state_from(what, x.state)?,
                verified_at_ms: x.verified_at_ms,
                reason: x.reason,
            })
        })
        .collect::<Result<_, MetaError>>()?;
    Ok(ObjectParts {
        blake3,
        chunks: chunks_from(what, &r.chunks)?,
        replicas,
        versioning: versioning_from(what, r.versioning)?,
        acl: grants_from(what, &r.acl)?,
        lock_mode: lock_mode_from(what, r.lock_mode)?,
    })
}

pub fn object_from(what: What<'_>, r: pb::ObjectRecord) -> Result<core::ObjectRecord, MetaError> {
    let ObjectParts {
        blake3,
        chunks,
        replicas,
        versioning,
        acl,
        lock_mode,
    } = object_parts(what, &r)?;
    Ok(core::ObjectRecord {
        size: r.size,
        blake3,
        etag: r.etag,
        content_type: r.content_type,
        user_meta: r.user_meta,
        owner: r.owner,
        chunks,
        chunk_size: r.chunk_size,
        policy: r.policy,
        replicas,
        created_ms: r.created_ms,
        ingest_site: r.ingest_site,
        version_id: r.version_id,
        parts: r.parts,
        expires_ms: r.expires_ms,
        checksums: r.checksums,
        tags: r.tags,
        versioning,
        delete_marker: r.delete_marker,
        part_sizes: r.part_sizes,
        checksum_type: r.checksum_type,
        acl,
        lock_mode,
        lock_until_ms: r.lock_until_ms,
        legal_hold: r.legal_hold,
        file_format: r.file_format,
    })
}

/// Why a command's record would not translate back, if it would not: the
/// state machine stores only what its readers can hand out, so a command
/// carrying such a record is refused rather than stored as corruption.
/// The same translation as [`object_from`]'s, so the two cannot drift.
pub fn object_refused(r: &pb::ObjectRecord) -> Option<String> {
    refusal(object_parts(&"the record", r).map(drop))
}

/// A proposed part as the domain's, or why it is refused
/// ([`part_from`]'s translation).
pub fn part_checked(p: &pb::PartRecord) -> Result<core::PartRecord, String> {
    part_from(&"the part", p.clone()).map_err(reason)
}

/// As [`object_refused`], for an upload ([`upload_from`]'s translation).
pub fn upload_refused(u: &pb::MultipartUpload) -> Option<String> {
    refusal(upload_parts(&"the upload", u).map(drop))
}

fn refusal(r: Result<(), MetaError>) -> Option<String> {
    r.err().map(reason)
}

fn reason(e: MetaError) -> String {
    match e {
        MetaError::Corrupt { key, message } => format!("{key}: {message}"),
        e => e.to_string(),
    }
}

pub fn object_to(r: core::ObjectRecord) -> pb::ObjectRecord {
    pb::ObjectRecord {
        format: RECORD_FORMAT,
        size: r.size,
        blake3: r.blake3.map(|h| h.to_vec()).unwrap_or_default(),
        etag: r.etag,
        content_type: r.content_type,
        user_meta: r.user_meta,
        owner: r.owner,
        chunks: chunks_to(&r.chunks),
        chunk_size: r.chunk_size,
        policy: r.policy,
        replicas: r
            .replicas
            .iter()
            .map(|x| pb::Replica {
                site: x.site,
                state: state_to(x.state) as i32,
                verified_at_ms: x.verified_at_ms,
                reason: x.reason,
            })
            .collect(),
        created_ms: r.created_ms,
        ingest_site: r.ingest_site,
        version_id: r.version_id,
        parts: r.parts,
        expires_ms: r.expires_ms,
        checksums: r.checksums,
        tags: r.tags,
        versioning: versioning_to(r.versioning),
        delete_marker: r.delete_marker,
        part_sizes: r.part_sizes,
        checksum_type: r.checksum_type,
        acl: grants_to(&r.acl),
        lock_mode: lock_mode_to(r.lock_mode),
        lock_until_ms: r.lock_until_ms,
        legal_hold: r.legal_hold,
        file_format: r.file_format,
    }
}

pub fn lock_config_from(
    what: What<'_>,
    c: &pb::ObjectLockConfig,
) -> Result<core::ObjectLockConfig, MetaError> {
    Ok(core::ObjectLockConfig {
        enabled: c.enabled,
        default_mode: lock_mode_from(what, c.default_mode)?,
        default_days: c.default_days,
        default_years: c.default_years,
    })
}

pub fn lock_config_to(c: &core::ObjectLockConfig) -> pb::ObjectLockConfig {
    pb::ObjectLockConfig {
        enabled: c.enabled,
        default_mode: lock_mode_to(c.default_mode),
        default_days: c.default_days,
        default_years: c.default_years,
    }
}

pub fn access_block_from(b: &pb::PublicAccessBlock) -> core::PublicAccessBlock {
    core::PublicAccessBlock {
        block_public_acls: b.block_public_acls,
        ignore_public_acls: b.ignore_public_acls,
        block_public_policy: b.block_public_policy,
        restrict_public_buckets: b.restrict_public_buckets,
    }
}

pub fn access_block_to(b: &core::PublicAccessBlock) -> pb::PublicAccessBlock {
    pb::PublicAccessBlock {
        block_public_acls: b.block_public_acls,
        ignore_public_acls: b.ignore_public_acls,
        block_public_policy: b.block_public_policy,
        restrict_public_buckets: b.restrict_public_buckets,
    }
}

pub fn lifecycle_rule_from(r: pb::LifecycleRule) -> core::LifecycleRule {
    core::LifecycleRule {
        id: r.id,
        enabled: r.enabled,
        prefix: r.prefix,
        tags: r.tags,
        size_greater_than: r.size_greater_than,
        size_less_than: r.size_less_than,
        expiration_days: r.expiration_days,
        expiration_date_ms: r.expiration_date_ms,
        expired_object_delete_marker: r.expired_object_delete_marker,
        noncurrent_days: r.noncurrent_days,
        newer_noncurrent_versions: r.newer_noncurrent_versions,
        abort_incomplete_upload_days: r.abort_incomplete_upload_days,
    }
}

pub fn lifecycle_rule_to(r: core::LifecycleRule) -> pb::LifecycleRule {
    pb::LifecycleRule {
        id: r.id,
        enabled: r.enabled,
        prefix: r.prefix,
        tags: r.tags,
        size_greater_than: r.size_greater_than,
        size_less_than: r.size_less_than,
        expiration_days: r.expiration_days,
        expiration_date_ms: r.expiration_date_ms,
        expired_object_delete_marker: r.expired_object_delete_marker,
        noncurrent_days: r.noncurrent_days,
        newer_noncurrent_versions: r.newer_noncurrent_versions,
        abort_incomplete_upload_days: r.abort_incomplete_upload_days,
    }
}

pub fn cors_rule_from(r: pb::CorsRule) -> core::CorsRule {
    core::CorsRule {
        id: r.id,
        allowed_origins: r.allowed_origins,
        allowed_methods: r.allowed_methods,
        allowed_headers: r.allowed_headers,
        expose_headers: r.expose_headers,
        max_age_seconds: r.max_age_seconds,
    }
}

pub fn cors_rule_to(r: core::CorsRule) -> pb::CorsRule {
    pb::CorsRule {
        id: r.id,
        allowed_origins: r.allowed_origins,
        allowed_methods: r.allowed_methods,
        allowed_headers: r.allowed_headers,
        expose_headers: r.expose_headers,
        max_age_seconds: r.max_age_seconds,
    }
}

pub fn bucket_from(r: pb::BucketRecord) -> Result<core::BucketRecord, MetaError> {
    let name = format_args!("bucket {}", r.name);
    let what: What<'_> = &name;
    Ok(core::BucketRecord {
        id: r.id,
        created_ms: r.created_ms,
        owner: r.owner,
        ingest_site: r.ingest_site,
        grants: grants_from(what, &r.grants)?,
        policy: r.policy,
        versioning: versioning_from(what, r.versioning)?,
        tags: r.tags,
        cors: r.cors.into_iter().map(cors_rule_from).collect(),
        lifecycle: r.lifecycle.into_iter().map(lifecycle_rule_from).collect(),
        object_ownership: r.object_ownership,
        public_access_block: r.public_access_block.as_ref().map(access_block_from),
        object_lock: r
            .object_lock
            .as_ref()
            .map(|c| lock_config_from(what, c))
            .transpose()?,
        name: r.name,
    })
}

/// What of an upload can fail to translate: its grants, lock mode and
/// session.
type UploadParts = (
    Vec<core::BucketGrant>,
    core::LockMode,
    Option<meridian_core::session::UploadSession>,
);

fn upload_parts(what: What<'_>, u: &pb::MultipartUpload) -> Result<UploadParts, MetaError> {
    Ok((
        grants_from(what, &u.acl)?,
        lock_mode_from(what, u.lock_mode)?,
        u.session
            .as_ref()
            .map(|s| session_from(what, s))
            .transpose()?,
    ))
}

pub fn session_from(
    what: What<'_>,
    s: &pb::UploadSession,
) -> Result<meridian_core::session::UploadSession, MetaError> {
    let session = meridian_core::session::UploadSession {
        size: s.size,
        blake3: hash(what, &s.blake3)?,
        chunk_size: s.chunk_size,
        idle_ms: s.idle_ms,
        touched_ms: s.touched_ms,
    };
    session.check().map_err(|m| corrupt(what, m))?;
    Ok(session)
}

fn session_to(s: meridian_core::session::UploadSession) -> pb::UploadSession {
    pb::UploadSession {
        size: s.size,
        blake3: s.blake3.to_vec(),
        chunk_size: s.chunk_size,
        idle_ms: s.idle_ms,
        touched_ms: s.touched_ms,
    }
}

pub fn upload_from(u: pb::MultipartUpload) -> Result<core::MultipartUpload, MetaError> {
    let what = format_args!("upload {}", u.upload_id);
    let (acl, lock_mode, session) = upload_parts(&what, &u)?;
    Ok(core::MultipartUpload {
        bucket: u.bucket,
        key: u.key,
        content_type: u.content_type,
        user_meta: u.user_meta,
        created_ms: u.created_ms,
        ingest_site: u.ingest_site,
        owner: u.owner,
        checksum_algorithm: u.checksum_algorithm,
        checksum_type: u.checksum_type,
        acl,
        lock_mode,
        lock_until_ms: u.lock_until_ms,
        legal_hold: u.legal_hold,
        upload_id: u.upload_id,
        session,
    })
}

pub fn upload_to(u: core::MultipartUpload) -> pb::MultipartUpload {
    pb::MultipartUpload {
        format: RECORD_FORMAT,
        upload_id: u.upload_id,
        bucket: u.bucket,
        key: u.key,
        content_type: u.content_type,
        user_meta: u.user_meta,
        created_ms: u.created_ms,
        ingest_site: u.ingest_site,
        owner: u.owner,
        checksum_algorithm: u.checksum_algorithm,
        checksum_type: u.checksum_type,
        acl: grants_to(&u.acl),
        lock_mode: lock_mode_to(u.lock_mode),
        lock_until_ms: u.lock_until_ms,
        legal_hold: u.legal_hold,
        session: u.session.map(session_to),
    }
}

pub fn part_from(what: What<'_>, p: pb::PartRecord) -> Result<core::PartRecord, MetaError> {
    Ok(core::PartRecord {
        part_number: p.part_number,
        etag: p.etag,
        size: p.size,
        chunks: chunks_from(what, &p.chunks)?,
        created_ms: p.created_ms,
        checksums: p.checksums,
        chaining_value: match p.chaining_value.as_slice() {
            [] => None,
            cv => Some(hash(what, cv)?),
        },
        file_format: p.file_format,
    })
}

pub fn part_to(p: core::PartRecord) -> pb::PartRecord {
    pb::PartRecord {
        format: RECORD_FORMAT,
        part_number: p.part_number,
        etag: p.etag,
        size: p.size,
        chunks: chunks_to(&p.chunks),
        created_ms: p.created_ms,
        checksums: p.checksums,
        chaining_value: p.chaining_value.map(|cv| cv.to_vec()).unwrap_or_default(),
        file_format: p.file_format,
    }
}

pub fn completed_from(
    what: What<'_>,
    c: pb::CompletedUpload,
) -> Result<core::CompletedUpload, MetaError> {
    Ok(core::CompletedUpload {
        bucket: c.bucket,
        key: c.key,
        etag: c.etag,
        version_id: c.version_id,
        versioning: versioning_from(what, c.versioning)?,
        checksums: c.checksums,
        checksum_type: c.checksum_type,
        completed_ms: c.completed_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_record_translates_both_ways_unchanged() {
        let rec = core::ObjectRecord {
            size: 70_000,
            blake3: Some([7; 32]),
            etag: "e".into(),
            chunks: vec![
                core::ChunkRef {
                    hash: [1; 32],
                    size: 65_536,
                },
                core::ChunkRef {
                    hash: [2; 32],
                    size: 4_464,
                },
            ],
            replicas: vec![core::Replica {
                site: 3,
                state: core::ReplicaState::Copying,
                verified_at_ms: 5,
                reason: 2,
            }],
            versioning: core::Versioning::Suspended,
            lock_mode: core::LockMode::Governance,
            acl: vec![core::BucketGrant {
                user: "u".into(),
                level: Some(meridian_core::access::Level::Write),
                acl: 9,
            }],
            ..Default::default()
        };
        let back = object_from(&"o", object_to(rec.clone())).expect("translates");
        assert_eq!(back, rec);
        let marker = core::ObjectRecord {
            delete_marker: true,
            ..Default::default()
        };
        assert_eq!(
            object_from(&"m", object_to(marker.clone())).expect("marker"),
            marker
        );
    }

    #[test]
    fn stored_values_that_do_not_translate_are_corruption() {
        let short = pb::ObjectRecord {
            blake3: vec![1; 31],
            ..Default::default()
        };
        assert!(matches!(
            object_from(&"o", short),
            Err(MetaError::Corrupt { .. })
        ));
        let state = pb::ObjectRecord {
            blake3: vec![1; 32],
            replicas: vec![pb::Replica {
                site: 1,
                state: 0,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(matches!(
            object_from(&"o", state),
            Err(MetaError::Corrupt { .. })
        ));
        assert!(matches!(
            versioning_from(&"b", 7),
            Err(MetaError::Corrupt { .. })
        ));
    }
}
