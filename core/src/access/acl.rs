//! S3 access control lists, as Meridian keeps them: grants in the same
//! list as Meridian's own (`BucketGrant`, and an object's `acl`), each
//! with ACL permission bits beside (or instead of) a Meridian level. A
//! grantee is a user (S3's canonical user id is the user name) or one of
//! S3's two groups that mean something here: everyone (anonymous callers
//! included) and every authenticated caller.

/// ACL permission bits.
pub const READ: u32 = 1;
pub const WRITE: u32 = 2;
pub const READ_ACP: u32 = 4;
pub const WRITE_ACP: u32 = 8;
pub const FULL_CONTROL: u32 = READ | WRITE | READ_ACP | WRITE_ACP;

pub const ALL_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
pub const AUTHENTICATED_USERS_URI: &str =
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// How groups are stored in a grant's user field (user names cannot hold
/// a colon).
pub const ALL_USERS: &str = "group:AllUsers";
pub const AUTHENTICATED_USERS: &str = "group:AuthenticatedUsers";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grantee {
    User(String),
    AllUsers,
    AuthenticatedUsers,
}

impl Grantee {
    /// A user grantee by S3 canonical id (a user name). Ids that look like
    /// a stored group (or hold any colon, which no user name does) are
    /// refused: they must not turn into a group when read back.
    pub fn user(id: &str) -> Result<Grantee, AclError> {
        if id.is_empty() || id.contains(':') {
            return Err(AclError::BadId(id.to_string()));
        }
        Ok(Grantee::User(id.to_string()))
    }

    /// As stored in a grant.
    pub fn stored(&self) -> String {
        match self {
            Grantee::User(u) => u.clone(),
            Grantee::AllUsers => ALL_USERS.to_string(),
            Grantee::AuthenticatedUsers => AUTHENTICATED_USERS.to_string(),
        }
    }

    pub fn from_stored(s: &str) -> Grantee {
        match s {
            ALL_USERS => Grantee::AllUsers,
            AUTHENTICATED_USERS => Grantee::AuthenticatedUsers,
            u => Grantee::User(u.to_string()),
        }
    }

    /// A group's URI.
    pub fn group_uri(&self) -> Option<&'static str> {
        match self {
            Grantee::AllUsers => Some(ALL_USERS_URI),
            Grantee::AuthenticatedUsers => Some(AUTHENTICATED_USERS_URI),
            Grantee::User(_) => None,
        }
    }

    pub fn from_group_uri(uri: &str) -> Result<Grantee, AclError> {
        match uri {
            ALL_USERS_URI => Ok(Grantee::AllUsers),
            AUTHENTICATED_USERS_URI => Ok(Grantee::AuthenticatedUsers),
            other => Err(AclError::Unsupported(format!(
                "group {other:?} (Meridian knows AllUsers and AuthenticatedUsers)"
            ))),
        }
    }

    /// Whether it grants to everyone or every signed caller.
    pub fn is_public(&self) -> bool {
        !matches!(self, Grantee::User(_))
    }
}

/// One ACL grant: a grantee and its permission bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclGrant {
    pub grantee: Grantee,
    pub permissions: u32,
}

/// Why an ACL in a request is refused; the S3 layer picks the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("{0}")]
    Malformed(String),
    #[error("unknown canned ACL {0:?}")]
    UnknownCanned(String),
    #[error("not supported by Meridian: {0}")]
    Unsupported(String),
    #[error("no user has the e-mail address {0:?}")]
    Email(String),
    #[error("Invalid id: {0:?}")]
    BadId(String),
}

/// A permission's name as S3 writes it.
pub fn permission_bits(name: &str) -> Result<u32, AclError> {
    Ok(match name {
        "READ" => READ,
        "WRITE" => WRITE,
        "READ_ACP" => READ_ACP,
        "WRITE_ACP" => WRITE_ACP,
        "FULL_CONTROL" => FULL_CONTROL,
        other => return Err(AclError::Malformed(format!("unknown permission {other:?}"))),
    })
}

/// The S3 permission names of `bits`: `FULL_CONTROL` for all four.
pub fn permission_names(bits: u32) -> Vec<&'static str> {
    if bits & FULL_CONTROL == FULL_CONTROL {
        return vec!["FULL_CONTROL"];
    }
    [
        (READ, "READ"),
        (WRITE, "WRITE"),
        (READ_ACP, "READ_ACP"),
        (WRITE_ACP, "WRITE_ACP"),
    ]
    .into_iter()
    .filter(|(b, _)| bits & b != 0)
    .map(|(_, n)| n)
    .collect()
}

/// S3's canned ACLs that mean something in Meridian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canned {
    Private,
    PublicRead,
    PublicReadWrite,
    AuthenticatedRead,
    BucketOwnerRead,
    BucketOwnerFullControl,
}

impl Canned {
    pub fn parse(name: &str) -> Result<Canned, AclError> {
        Ok(match name {
            "private" => Canned::Private,
            "public-read" => Canned::PublicRead,
            "public-read-write" => Canned::PublicReadWrite,
            "authenticated-read" => Canned::AuthenticatedRead,
            "bucket-owner-read" => Canned::BucketOwnerRead,
            "bucket-owner-full-control" => Canned::BucketOwnerFullControl,
            "log-delivery-write" | "aws-exec-read" => {
                return Err(AclError::Unsupported(format!(
                    "canned ACL {name:?} (no log delivery or EC2 here)"
                )))
            }
            other => return Err(AclError::UnknownCanned(other.to_string())),
        })
    }

    /// The grants it makes besides the owner's full control. The two
    /// bucket-owner ACLs grant the bucket's owner (on a bucket they grant
    /// nothing more than private).
    pub fn grants(self, bucket_owner: &str) -> Vec<AclGrant> {
        let g = |grantee, permissions| AclGrant {
            grantee,
            permissions,
        };
        match self {
            Canned::Private => vec![],
            Canned::PublicRead => vec![g(Grantee::AllUsers, READ)],
            Canned::PublicReadWrite => vec![g(Grantee::AllUsers, READ | WRITE)],
            Canned::AuthenticatedRead => vec![g(Grantee::AuthenticatedUsers, READ)],
            Canned::BucketOwnerRead => vec![g(Grantee::User(bucket_owner.to_string()), READ)],
            Canned::BucketOwnerFullControl => {
                vec![g(Grantee::User(bucket_owner.to_string()), FULL_CONTROL)]
            }
        }
    }
}

/// The grants of the `x-amz-grant-*` headers of a request: each value is a
/// comma-separated list of `id="USER"`, `uri="GROUP URI"` or
/// `emailAddress="..."` (Meridian's users have no e-mail addresses).
pub fn header_grants(headers: &[(&str, &str)]) -> Result<Vec<AclGrant>, AclError> {
    let mut out: Vec<AclGrant> = Vec::new();
    for (name, value) in headers {
        let permissions = match *name {
            "x-amz-grant-read" => READ,
            "x-amz-grant-write" => WRITE,
            "x-amz-grant-read-acp" => READ_ACP,
            "x-amz-grant-write-acp" => WRITE_ACP,
            "x-amz-grant-full-control" => FULL_CONTROL,
            _ => continue,
        };
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (kind, raw) = item.split_once('=').ok_or_else(|| {
                AclError::Malformed(format!("{name}: {item:?} is not type=\"value\""))
            })?;
            let v = raw.trim().trim_matches('"');
            let grantee = match kind.trim() {
                "id" => Grantee::user(v)?,
                "uri" => Grantee::from_group_uri(v)?,
                "emailAddress" => return Err(AclError::Email(v.to_string())),
                other => {
                    return Err(AclError::Malformed(format!(
                        "{name}: unknown grantee type {other:?}"
                    )))
                }
            };
            add(&mut out, grantee, permissions);
        }
    }
    Ok(out)
}

/// Adds `permissions` for `grantee`, merging with a grant it already has.
pub fn add(grants: &mut Vec<AclGrant>, grantee: Grantee, permissions: u32) {
    match grants.iter_mut().find(|g| g.grantee == grantee) {
        Some(g) => g.permissions |= permissions,
        None => grants.push(AclGrant {
            grantee,
            permissions,
        }),
    }
}

/// Whether any grant is to a group (everyone, or every signed caller).
pub fn is_public(grants: &[AclGrant]) -> bool {
    grants
        .iter()
        .any(|g| g.grantee.is_public() && g.permissions != 0)
}

/// A bucket's grants with its S3 ACL replaced by `acl`: Meridian levels
/// stay, grants left with neither go; sorted by user name.
pub fn with_acl(
    grants: &[crate::records::BucketGrant],
    acl: &[crate::records::BucketGrant],
) -> Vec<crate::records::BucketGrant> {
    use crate::records::BucketGrant;
    let mut out: Vec<BucketGrant> = grants
        .iter()
        .map(|g| BucketGrant {
            acl: 0,
            ..g.clone()
        })
        .collect();
    for a in acl.iter().filter(|a| a.acl != 0) {
        match out.iter_mut().find(|g| g.user == a.user) {
            Some(g) => g.acl |= a.acl,
            None => out.push(BucketGrant {
                user: a.user.clone(),
                level: None,
                acl: a.acl,
            }),
        }
    }
    out.retain(|g| g.level.is_some() || g.acl != 0);
    out.sort_by(|x, y| x.user.cmp(&y.user));
    out
}

/// The ACL grants stored in a record or bucket.
pub fn grants_of(stored: &[crate::records::BucketGrant]) -> Vec<AclGrant> {
    stored
        .iter()
        .filter(|g| g.acl != 0)
        .map(|g| AclGrant {
            grantee: Grantee::from_stored(&g.user),
            permissions: g.acl,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_acls_make_s3s_grants() {
        assert!(Canned::parse("private")
            .expect("known")
            .grants("o")
            .is_empty());
        let pr = Canned::parse("public-read-write")
            .expect("known")
            .grants("o");
        assert_eq!(
            pr,
            vec![AclGrant {
                grantee: Grantee::AllUsers,
                permissions: READ | WRITE
            }]
        );
        assert!(is_public(&pr));
        let bofc = Canned::BucketOwnerFullControl.grants("ops");
        assert_eq!(bofc[0].grantee, Grantee::User("ops".into()));
        assert_eq!(bofc[0].permissions, FULL_CONTROL);
        assert!(!is_public(&bofc));
        assert_eq!(
            Canned::parse("public-ready"),
            Err(AclError::UnknownCanned("public-ready".into()))
        );
        assert!(matches!(
            Canned::parse("log-delivery-write"),
            Err(AclError::Unsupported(_))
        ));
    }

    #[test]
    fn header_grants_parse_ids_and_groups() {
        let g = header_grants(&[
            (
                "x-amz-grant-read",
                "id=\"alice\", uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"",
            ),
            ("x-amz-grant-write-acp", "id=alice"),
            ("x-amz-meta-x", "ignored"),
        ])
        .expect("valid");
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].grantee, Grantee::User("alice".into()));
        assert_eq!(g[0].permissions, READ | WRITE_ACP);
        assert_eq!(g[1].grantee, Grantee::AllUsers);
        assert!(matches!(
            header_grants(&[("x-amz-grant-read", "emailAddress=\"a@b\"")]),
            Err(AclError::Email(_))
        ));
        assert!(header_grants(&[("x-amz-grant-read", "alice")]).is_err());
        // A user id must not pass for a group once stored.
        assert_eq!(
            header_grants(&[("x-amz-grant-read", "id=\"group:AllUsers\"")]),
            Err(AclError::BadId("group:AllUsers".into()))
        );
        assert!(header_grants(&[(
            "x-amz-grant-read",
            "uri=\"http://acs.amazonaws.com/groups/s3/LogDelivery\""
        )])
        .is_err());
    }

    #[test]
    fn permissions_round_trip_through_their_names() {
        assert_eq!(permission_names(FULL_CONTROL), vec!["FULL_CONTROL"]);
        assert_eq!(
            permission_names(READ | WRITE_ACP),
            vec!["READ", "WRITE_ACP"]
        );
        for n in ["READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL"] {
            let bits = permission_bits(n).expect("known");
            assert!(permission_names(bits).contains(&n));
        }
        assert!(permission_bits("EXECUTE").is_err());
        assert_eq!(
            Grantee::from_stored(&Grantee::AuthenticatedUsers.stored()),
            Grantee::AuthenticatedUsers
        );
        assert_eq!(Grantee::from_stored("alice"), Grantee::User("alice".into()));
    }
}
