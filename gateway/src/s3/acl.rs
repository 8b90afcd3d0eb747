//! S3 ACLs over Meridian's grants: Get/PutBucketAcl, Get/PutObjectAcl, and
//! the ACL a write asks for (`x-amz-acl` or `x-amz-grant-*`). A bucket's ACL
//! is the ACL bits of its grants (Meridian's own levels are not shown: they
//! are `meridianctl bucket show`'s); an object's is its record's `acl`.
//! The owner always has FULL_CONTROL and is listed first.

use super::errors::OrS3;
use http::HeaderMap;
use meridian_core::records::BucketGrant;
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3Request, S3Response, S3Result};

use super::{owner, MeridianS3};
use meridian_core::access::acl::{
    self as pure, permission_bits, permission_names, AclError, AclGrant, Canned, Grantee,
    FULL_CONTROL,
};
use meridian_core::access::Ownership;
use meridian_core::catalogue::{BucketChange, VersionChange};
use meridian_core::CoreError;

pub use meridian_core::access::acl::grants_of;

/// Grants as stored (ACL bits only).
pub fn to_stored(grants: &[AclGrant]) -> Vec<BucketGrant> {
    grants
        .iter()
        .filter(|g| g.permissions != 0)
        .map(|g| BucketGrant {
            user: g.grantee.stored(),
            level: None,
            acl: g.permissions,
        })
        .collect()
}

fn acl_error(e: AclError) -> S3Error {
    match e {
        AclError::Malformed(m) => s3_error!(MalformedACLError, "{m}"),
        AclError::UnknownCanned(m) => s3_error!(InvalidArgument, "unknown canned ACL {m:?}"),
        AclError::Unsupported(m) => s3_error!(NotImplemented, "not supported by Meridian: {m}"),
        AclError::Email(m) => s3_error!(
            UnresolvableGrantByEmailAddress,
            "The e-mail address you provided does not match any account on record: {m}"
        ),
        AclError::BadId(id) => s3_error!(InvalidArgument, "Invalid id: {id:?}"),
    }
}

/// The grant headers of a request.
fn grant_headers(headers: &HeaderMap) -> Vec<(&str, &str)> {
    headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-amz-grant-"))
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect()
}

/// The ACL a request asks for with `x-amz-acl` (`canned`) or the grant
/// headers; `None` if it asks for none. `bucket_owner` is whom the
/// bucket-owner-* ACLs grant.
pub fn requested(
    canned: Option<&str>,
    headers: &HeaderMap,
    bucket_owner: &str,
) -> S3Result<Option<(Option<Canned>, Vec<AclGrant>)>> {
    let granted = grant_headers(headers);
    match (canned, granted.is_empty()) {
        (Some(_), false) => Err(s3_error!(
            InvalidRequest,
            "Specifying both Canned ACLs and Header Grants is not allowed"
        )),
        (Some(c), true) => {
            let c = Canned::parse(c).map_err(acl_error)?;
            Ok(Some((Some(c), c.grants(bucket_owner))))
        }
        (None, false) => Ok(Some((
            None,
            pure::header_grants(&granted).map_err(acl_error)?,
        ))),
        (None, true) => Ok(None),
    }
}

/// The grants of an `AccessControlPolicy` body, without the owner's own.
fn from_policy(policy: &AccessControlPolicy, owner: &str) -> S3Result<Vec<AclGrant>> {
    let mut out = Vec::new();
    for g in policy.grants.iter().flatten() {
        let (Some(grantee), Some(permission)) = (&g.grantee, &g.permission) else {
            return Err(s3_error!(
                MalformedACLError,
                "each Grant has a Grantee and a Permission"
            ));
        };
        let bits = permission_bits(permission.as_str()).map_err(acl_error)?;
        let who = match grantee.type_.as_str() {
            Type::CANONICAL_USER => match grantee.id.as_deref() {
                Some(id) if !id.is_empty() => Grantee::user(id).map_err(acl_error)?,
                _ => {
                    return Err(s3_error!(
                        MalformedACLError,
                        "a CanonicalUser grantee has an ID"
                    ))
                }
            },
            Type::GROUP => match grantee.uri.as_deref() {
                Some(uri) => Grantee::from_group_uri(uri).map_err(acl_error)?,
                None => return Err(s3_error!(MalformedACLError, "a Group grantee has a URI")),
            },
            Type::AMAZON_CUSTOMER_BY_EMAIL => {
                return Err(acl_error(AclError::Email(
                    grantee.email_address.clone().unwrap_or_default(),
                )))
            }
            other => {
                return Err(s3_error!(
                    MalformedACLError,
                    "unknown grantee type {other:?}"
                ))
            }
        };
        // The owner's full control is implied; listing it changes nothing.
        if who == Grantee::User(owner.to_string()) && bits == FULL_CONTROL {
            continue;
        }
        pure::add(&mut out, who, bits);
    }
    Ok(out)
}

/// The ACL a Put*Acl request asks for: a canned ACL, grant headers, or an
/// `AccessControlPolicy` body, exactly one of them.
fn put_request(
    canned: Option<&str>,
    policy: Option<&AccessControlPolicy>,
    headers: &HeaderMap,
    owner: &str,
    bucket_owner: &str,
) -> S3Result<Vec<AclGrant>> {
    let by_headers = requested(canned, headers, bucket_owner)?;
    match (by_headers, policy) {
        (Some(_), Some(_)) => Err(s3_error!(
            UnexpectedContent,
            "This request does not support content"
        )),
        (Some((_, g)), None) => Ok(g),
        (None, Some(p)) => from_policy(p, owner),
        (None, None) => Err(s3_error!(
            MissingSecurityHeader,
            "Your request was missing a required header: x-amz-acl"
        )),
    }
}

/// An ACL as S3 shows it: the owner's FULL_CONTROL, then each grant.
fn shown(owner_id: &str, grants: &[AclGrant]) -> (Option<Owner>, Option<Grants>) {
    let user = |id: &str| s3s::dto::Grantee {
        display_name: Some(id.to_string()),
        email_address: None,
        id: Some(id.to_string()),
        type_: Type::from_static(Type::CANONICAL_USER),
        uri: None,
    };
    let mut list = vec![Grant {
        grantee: Some(user(owner_id)),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    }];
    for g in grants {
        let grantee = match g.grantee.group_uri() {
            Some(uri) => s3s::dto::Grantee {
                display_name: None,
                email_address: None,
                id: None,
                type_: Type::from_static(Type::GROUP),
                uri: Some(uri.to_string()),
            },
            None => match &g.grantee {
                Grantee::User(u) => user(u),
                _ => continue,
            },
        };
        for p in permission_names(g.permissions) {
            list.push(Grant {
                grantee: Some(grantee.clone()),
                permission: Some(Permission::from(p.to_string())),
            });
        }
    }
    (Some(owner(owner_id)), Some(list))
}

/// Refuses an ACL that BlockPublicAcls forbids.
pub fn check_public_block(
    access: &meridian_core::access::BucketAccess,
    grants: &[AclGrant],
) -> S3Result<()> {
    if access.public_block.block_public_acls && pure::is_public(grants) {
        return Err(s3_error!(
            AccessDenied,
            "Access Denied: public ACLs are blocked on this bucket (BlockPublicAcls)"
        ));
    }
    Ok(())
}

/// The ACL a write asks for, checked against the bucket's settings: with
/// BucketOwnerEnforced only `bucket-owner-full-control` (or none) is
/// accepted, as in AWS; public ones are refused under BlockPublicAcls. Also
/// says who owns the new object: the bucket's owner under
/// BucketOwnerEnforced, or under BucketOwnerPreferred with
/// `bucket-owner-full-control`; else the writer.
pub(super) fn for_write(
    access: Option<&meridian_core::access::BucketAccess>,
    canned: Option<&str>,
    headers: &HeaderMap,
    writer: &str,
) -> S3Result<(Vec<BucketGrant>, String)> {
    let Some(access) = access else {
        // The write answers NoSuchBucket.
        return Ok((Vec::new(), writer.to_string()));
    };
    let asked = requested(canned, headers, &access.owner)?;
    let full = matches!(asked, Some((Some(Canned::BucketOwnerFullControl), _)));
    match access.ownership {
        Ownership::BucketOwnerEnforced => {
            if asked.is_some() && !full {
                return Err(s3_error!(
                    AccessControlListNotSupported,
                    "The bucket does not allow ACLs"
                ));
            }
            Ok((Vec::new(), access.owner.clone()))
        }
        other => {
            let grants = asked.map(|(_, g)| g).unwrap_or_default();
            check_public_block(access, &grants)?;
            let owner = if other == Ownership::BucketOwnerPreferred && full {
                access.owner.clone()
            } else {
                writer.to_string()
            };
            // The owner's own full control is implied.
            let grants: Vec<AclGrant> = grants
                .into_iter()
                .filter(|g| {
                    !(g.grantee == Grantee::User(owner.clone()) && g.permissions == FULL_CONTROL)
                })
                .collect();
            Ok((to_stored(&grants), owner))
        }
    }
}

impl MeridianS3 {
    /// The ACL, owner, retention and legal hold a new object is written
    /// with, from the request's headers and the bucket's settings (cached
    /// with its permissions). `with_body`: the request carries the object's
    /// bytes (and so must carry their MD5 or checksum under Object Lock).
    pub(super) async fn write_protection(
        &self,
        bucket: &str,
        headers: &HeaderMap,
        writer: &str,
        with_body: bool,
    ) -> S3Result<(meridian_objects::Protection, String)> {
        let access = self.gateway.bucket_access(bucket).await.or_s3()?;
        let canned = headers.get("x-amz-acl").and_then(|v| v.to_str().ok());
        let (acl, owner) = for_write(access.as_deref(), canned, headers, writer)?;
        let mut p = meridian_objects::Protection {
            acl,
            ..Default::default()
        };
        let lock = access
            .as_deref()
            .map_or((false, false), |a| (a.object_lock, a.default_retention));
        super::retention::write_lock(headers, lock, self.gateway.now_ms(), with_body, &mut p)?;
        Ok((p, owner))
    }

    pub(super) async fn do_get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let b = self
            .gateway
            .catalogue()
            .bucket(&req.input.bucket)
            .await
            .or_s3()?;
        let grants = if b.object_ownership == Ownership::BucketOwnerEnforced.as_u32() {
            Vec::new()
        } else {
            grants_of(&b.grants)
        };
        let (owner, grants) = shown(&b.owner, &grants);
        Ok(S3Response::new(GetBucketAclOutput { grants, owner }))
    }

    pub(super) async fn do_put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let b = self
            .gateway
            .catalogue()
            .bucket(&req.input.bucket)
            .await
            .or_s3()?;
        let input = &req.input;
        let grants = put_request(
            input.acl.as_ref().map(|a| a.as_str()),
            input.access_control_policy.as_ref(),
            &req.headers,
            &b.owner,
            &b.owner,
        )?;
        if let Some(access) = self.gateway.bucket_access(&input.bucket).await.or_s3()? {
            check_public_block(&access, &grants)?;
        }
        self.gateway
            .update_bucket(&input.bucket, BucketChange::Acl(to_stored(&grants)))
            .await
            .or_s3()?;
        Ok(S3Response::new(PutBucketAclOutput::default()))
    }

    pub(super) async fn do_get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let deferred = req.extensions.get::<super::auth::Deferred>().cloned();
        let input = req.input;
        let rec = self
            .addressed_version(
                &input.bucket,
                &input.key,
                input.version_id.as_ref(),
                deferred.as_ref(),
            )
            .await?;
        let enforced = self.bucket_ownership(&input.bucket).await == Ownership::BucketOwnerEnforced;
        let grants = if enforced {
            Vec::new()
        } else {
            grants_of(&rec.acl)
        };
        let (owner, grants) = shown(&rec.owner, &grants);
        Ok(S3Response::new(GetObjectAclOutput {
            grants,
            owner,
            request_charged: None,
        }))
    }

    pub(super) async fn do_put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let deferred = req.extensions.get::<super::auth::Deferred>().cloned();
        let input = &req.input;
        let access = self
            .gateway
            .bucket_access(&input.bucket)
            .await
            .or_s3()?
            .ok_or_else(|| CoreError::NoSuchBucket(input.bucket.clone()))
            .or_s3()?;
        if access.ownership == Ownership::BucketOwnerEnforced {
            return Err(s3_error!(
                AccessControlListNotSupported,
                "The bucket does not allow ACLs"
            ));
        }
        let rec = self
            .addressed_version(
                &input.bucket,
                &input.key,
                input.version_id.as_ref(),
                deferred.as_ref(),
            )
            .await?;
        let grants = put_request(
            input.acl.as_ref().map(|a| a.as_str()),
            input.access_control_policy.as_ref(),
            &req.headers,
            &rec.owner,
            &access.owner,
        )?;
        check_public_block(&access, &grants)?;
        self.change_version(
            &input.bucket,
            &input.key,
            &rec,
            VersionChange::Acl(to_stored(&grants)),
        )
        .await?;
        Ok(S3Response::new(PutObjectAclOutput {
            request_charged: None,
        }))
    }

    /// A bucket's ownership setting, from the cached permissions.
    pub(super) async fn bucket_ownership(&self, bucket: &str) -> Ownership {
        match self.gateway.bucket_access(bucket).await {
            Ok(Some(b)) => b.ownership,
            _ => Ownership::Unset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_core::access::acl::{READ, WRITE};

    #[test]
    fn canned_and_header_grants_are_exclusive() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-grant-read", "id=\"alice\"".parse().expect("value"));
        let e = requested(Some("public-read"), &h, "ops").expect_err("both");
        assert_eq!(e.code(), &s3s::S3ErrorCode::InvalidRequest);
        let (_, g) = requested(None, &h, "ops").expect("headers").expect("asked");
        assert_eq!(g[0].grantee, Grantee::User("alice".into()));
        assert!(requested(None, &HeaderMap::new(), "ops")
            .expect("none")
            .is_none());
        let e = requested(Some("public-ready"), &HeaderMap::new(), "ops").expect_err("bad");
        assert_eq!(e.code(), &s3s::S3ErrorCode::InvalidArgument);
    }

    #[test]
    fn a_policy_body_becomes_grants_and_is_shown_back() {
        let g = |t: &str, id: Option<&str>, uri: Option<&str>, p: &str| Grant {
            grantee: Some(s3s::dto::Grantee {
                display_name: None,
                email_address: None,
                id: id.map(str::to_string),
                type_: Type::from(t.to_string()),
                uri: uri.map(str::to_string),
            }),
            permission: Some(Permission::from(p.to_string())),
        };
        let body = AccessControlPolicy {
            grants: Some(vec![
                g(Type::CANONICAL_USER, Some("ops"), None, "FULL_CONTROL"),
                g(Type::GROUP, None, Some(pure::ALL_USERS_URI), "READ"),
                g(Type::GROUP, None, Some(pure::ALL_USERS_URI), "WRITE"),
                g(Type::CANONICAL_USER, Some("alice"), None, "READ_ACP"),
            ]),
            owner: None,
        };
        let grants = from_policy(&body, "ops").expect("valid");
        assert_eq!(grants.len(), 2, "the owner's full control is implied");
        assert_eq!(grants[0].permissions, READ | WRITE);
        let (_, shown) = shown("ops", &grants);
        let shown = shown.expect("grants");
        assert_eq!(shown.len(), 4, "owner, READ, WRITE, READ_ACP");
        let bad = AccessControlPolicy {
            grants: Some(vec![g(Type::CANONICAL_USER, Some("a"), None, "EXECUTE")]),
            owner: None,
        };
        assert_eq!(
            from_policy(&bad, "ops").expect_err("bad permission").code(),
            &s3s::S3ErrorCode::MalformedACLError
        );
    }
}
