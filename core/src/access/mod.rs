//! Who may do what to a bucket and its objects: owners, Meridian's grants,
//! S3 ACLs (grants of the same list, with ACL permissions), bucket
//! policies with conditions, and the bucket's ownership and public-access
//! settings. Pure: the S3 front end gathers the caller, the request's
//! condition keys and the bucket's record, and asks [`decide`].
//!
//! The decision, in order:
//! 1. the administrator (the root key) may do anything;
//! 2. a policy statement that denies the action to the caller wins over
//!    everything below;
//! 3. the bucket's owner may do anything to it and its objects (unlike
//!    AWS without BucketOwnerEnforced, where an owner cannot read what
//!    others wrote unless their ACLs say so);
//! 4. a Meridian grant covers its level ([`actions::level_covers`]);
//! 5. ACLs, unless the bucket's ownership is BucketOwnerEnforced: the
//!    bucket's (READ lists, WRITE writes and deletes objects, READ_ACP and
//!    WRITE_ACP its ACL), the object's (READ reads it, READ_ACP and
//!    WRITE_ACP its ACL; its owner has full control); grants to everyone
//!    or every signed caller count unless IgnorePublicAcls is set;
//! 6. a policy statement that allows it (statements open to everyone not
//!    under RestrictPublicBuckets);
//! 7. otherwise: denied.
//!
//! What depends on the object (its ACL, owner, tags in conditions) is
//! [`Verdict::NeedObject`] until the object is known: the S3 layer lets
//! such a request reach its operation, which asks again with the object.

pub mod acl;
pub mod actions;
pub mod bucket_policy;
pub mod conditions;
pub mod dataset;

pub use acl::{AclGrant, Grantee};
pub use bucket_policy::{BucketPolicy, PolicyError};
pub use conditions::{Facts, Holds};

/// A Meridian grant's level (`meridianctl bucket grant`); each includes
/// the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Read = 1,
    Write = 2,
    Owner = 3,
}

impl Level {
    pub fn from_i32(v: i32) -> Option<Level> {
        match v {
            1 => Some(Level::Read),
            2 => Some(Level::Write),
            3 => Some(Level::Owner),
            _ => None,
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "read" => Some(Level::Read),
            "write" => Some(Level::Write),
            "owner" => Some(Level::Owner),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write",
            Level::Owner => "owner",
        }
    }
}

/// The caller: a user (by name), the administrator, or nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Admin,
    User(String),
    Anonymous,
}

/// S3's object ownership setting of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ownership {
    /// None set: the writer owns what it writes, ACLs apply.
    #[default]
    Unset,
    ObjectWriter,
    /// `bucket-owner-full-control` on a write makes the bucket's owner the
    /// object's.
    BucketOwnerPreferred,
    /// ACLs are disabled: the bucket's owner owns every object.
    BucketOwnerEnforced,
}

impl Ownership {
    pub fn from_u32(v: u32) -> Ownership {
        match v {
            1 => Ownership::ObjectWriter,
            2 => Ownership::BucketOwnerPreferred,
            3 => Ownership::BucketOwnerEnforced,
            _ => Ownership::Unset,
        }
    }

    pub fn as_u32(self) -> u32 {
        match self {
            Ownership::Unset => 0,
            Ownership::ObjectWriter => 1,
            Ownership::BucketOwnerPreferred => 2,
            Ownership::BucketOwnerEnforced => 3,
        }
    }

    pub fn acls_enabled(self) -> bool {
        self != Ownership::BucketOwnerEnforced
    }
}

/// S3's PublicAccessBlock settings of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublicBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

/// One grant of a bucket: a Meridian level, ACL permissions, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub grantee: Grantee,
    pub level: Option<Level>,
    /// ACL permission bits ([`acl::READ`] ...).
    pub acl: u32,
}

/// A bucket's permissions, as its record holds them.
#[derive(Debug, Clone, Default)]
pub struct BucketAccess {
    pub name: String,
    pub owner: String,
    /// The site it ingests at (its region).
    pub site: u32,
    /// Its versioning state, for the headers reads answer.
    pub versioning: crate::records::Versioning,
    pub grants: Vec<Grant>,
    pub policy: Option<BucketPolicy>,
    pub ownership: Ownership,
    pub public_block: PublicBlock,
    /// Object Lock is enabled, and gives new versions a default retention.
    pub object_lock: bool,
    pub default_retention: bool,
    /// The bucket's CORS rules, cached with its permissions for the
    /// preflight requests that come unsigned.
    pub cors: Vec<crate::records::CorsRule>,
    /// Its lifecycle rules, for the expiry reads and writes announce.
    pub lifecycle: Vec<crate::records::LifecycleRule>,
}

/// What is known of the object a request addresses, once it is.
#[derive(Debug, Clone, Copy)]
pub struct ObjectAccess<'a> {
    pub owner: &'a str,
    pub acl: &'a [AclGrant],
}

/// The answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
    /// Allowed or not depending on the object (ask again with it).
    NeedObject,
}

/// Owner names that stand for no user: buckets the admin made are owned by
/// `root`, objects anonymous writers left by `anonymous`. The metadata plane
/// refuses users by these names; a user left from before it did must still
/// not own what they mark.
const NOBODY: [&str; 2] = ["root", "anonymous"];

/// Whether `caller` is the user `id`.
pub(crate) fn is_user(caller: &Caller, id: &str) -> bool {
    matches!(caller, Caller::User(c) if c == id && !NOBODY.contains(&id))
}

pub(crate) fn grantee_is(g: &Grantee, caller: &Caller, ignore_public: bool) -> bool {
    match g {
        Grantee::User(u) => is_user(caller, u),
        Grantee::AllUsers => !ignore_public,
        Grantee::AuthenticatedUsers => !ignore_public && !matches!(caller, Caller::Anonymous),
    }
}

/// Whether `caller` may do `action` (an IAM action name) on `bucket` and,
/// for object actions, `key`. `facts` are the request's condition keys
/// (with the object's tags when `object` is given).
pub fn decide(
    caller: &Caller,
    bucket: &BucketAccess,
    action: &str,
    key: Option<&str>,
    facts: &Facts,
    object: Option<ObjectAccess<'_>>,
) -> Verdict {
    if *caller == Caller::Admin {
        return Verdict::Allow;
    }
    let resource = match key {
        Some(k) if actions::is_object_action(action) => format!("{}/{k}", bucket.name),
        _ => bucket.name.clone(),
    };
    let policy = bucket.policy.as_ref().map(|p| {
        p.verdict(
            caller,
            action,
            &resource,
            facts,
            bucket.public_block.restrict_public_buckets,
        )
    });
    let deny = policy.map_or(Holds::No, |v| v.deny);
    if deny == Holds::Yes {
        return Verdict::Deny;
    }
    // From here on a Yes still waits for an undecided deny.
    let granted = |why: Holds| match (why, deny) {
        (Holds::Yes, Holds::No) => Some(Verdict::Allow),
        (Holds::No, _) => None,
        _ => Some(Verdict::NeedObject),
    };
    let owner = is_user(caller, &bucket.owner);
    let level = bucket.grants.iter().any(|g| {
        g.level.is_some_and(|l| actions::level_covers(l, action))
            && grantee_is(&g.grantee, caller, false)
    });
    if owner || level {
        return granted(Holds::Yes).unwrap_or(Verdict::Deny);
    }
    let mut why = Holds::No;
    if bucket.ownership.acls_enabled() {
        let ignore = bucket.public_block.ignore_public_acls;
        if let Some(p) = actions::bucket_acl_permission(action) {
            if bucket
                .grants
                .iter()
                .any(|g| g.acl & p != 0 && grantee_is(&g.grantee, caller, ignore))
            {
                why = Holds::Yes;
            }
        }
        if let Some(p) = actions::object_acl_permission(action) {
            match object {
                None => {
                    if why == Holds::No {
                        why = Holds::Unknown;
                    }
                }
                Some(o) => {
                    if is_user(caller, o.owner)
                        || o.acl.iter().any(|g| {
                            g.permissions & p != 0 && grantee_is(&g.grantee, caller, ignore)
                        })
                    {
                        why = Holds::Yes;
                    }
                }
            }
        }
    }
    let allow = policy.map_or(Holds::No, |v| v.allow);
    why = match (why, allow) {
        (Holds::Yes, _) | (_, Holds::Yes) => Holds::Yes,
        (Holds::Unknown, _) | (_, Holds::Unknown) => Holds::Unknown,
        _ => Holds::No,
    };
    granted(why).unwrap_or(Verdict::Deny)
}

/// A bucket policy the tests share: a group reads, the DAQ key writes
/// raw/, nobody deletes there.
#[cfg(test)]
pub(crate) const JUNO_POLICY: &str = r#"{
      "Version": "2012-10-17",
      "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ["alice", "arn:aws:iam::123:user/bob"]},
         "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": ["arn:aws:s3:::juno", "arn:aws:s3:::juno/*"]},
        {"Effect": "Allow", "Principal": {"AWS": "daq"},
         "Action": "s3:PutObject", "Resource": "arn:aws:s3:::juno/raw/*"},
        {"Effect": "Deny", "Principal": "*",
         "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::juno/raw/*"}
      ]
    }"#;

#[cfg(test)]
mod tests {
    use super::acl::{FULL_CONTROL, READ, WRITE};
    use super::*;

    const JUNO: &str = JUNO_POLICY;

    fn juno() -> BucketAccess {
        BucketAccess {
            name: "juno".into(),
            owner: "ops".into(),
            grants: vec![Grant {
                grantee: Grantee::User("carol".into()),
                level: Some(Level::Write),
                acl: 0,
            }],
            policy: Some(BucketPolicy::parse(JUNO, "juno").expect("parses")),
            ..Default::default()
        }
    }

    fn user(n: &str) -> Caller {
        Caller::User(n.into())
    }

    fn may(c: &Caller, b: &BucketAccess, action: &str, key: Option<&str>) -> bool {
        decide(c, b, action, key, &Facts::default(), None) == Verdict::Allow
    }

    #[test]
    fn reserved_names_own_nothing() {
        // A bucket the admin made, an object an anonymous writer left: a
        // user by those names (from before they were reserved) owns neither.
        let b = BucketAccess {
            name: "raw".into(),
            owner: "root".into(),
            ..Default::default()
        };
        assert!(!may(&user("root"), &b, "s3:PutBucketPolicy", None));
        assert!(may(&Caller::Admin, &b, "s3:PutBucketPolicy", None));
        let obj = ObjectAccess {
            owner: "anonymous",
            acl: &[],
        };
        let read = |c: &Caller| {
            decide(
                c,
                &b,
                "s3:GetObject",
                Some("k"),
                &Facts::default(),
                Some(obj),
            )
        };
        assert_eq!(read(&user("anonymous")), Verdict::Deny);
    }

    #[test]
    fn the_group_reads_only_the_daq_key_writes_and_deny_wins() {
        let b = juno();
        let obj = Some("raw/run1.h5");
        for who in ["alice", "bob"] {
            assert!(may(&user(who), &b, "s3:GetObject", obj), "{who}");
            assert!(may(&user(who), &b, "s3:ListBucket", None), "{who}");
            assert!(!may(&user(who), &b, "s3:PutObject", obj), "{who}");
        }
        assert!(may(&user("daq"), &b, "s3:PutObject", obj));
        assert!(!may(&user("daq"), &b, "s3:PutObject", Some("calib/x")));
        assert!(!may(&user("daq"), &b, "s3:GetObject", obj));
        // A write grant, and the owner, lose to the explicit deny...
        assert!(may(&user("carol"), &b, "s3:PutObject", obj));
        assert!(!may(&user("carol"), &b, "s3:DeleteObject", obj));
        assert!(!may(&user("ops"), &b, "s3:DeleteObject", obj));
        // ...outside it they hold.
        assert!(may(&user("carol"), &b, "s3:DeleteObject", Some("tmp/x")));
        assert!(may(&user("ops"), &b, "s3:PutBucketPolicy", None));
        assert!(!may(&user("carol"), &b, "s3:PutBucketPolicy", None));
        // The administrator is above policies.
        assert!(may(&Caller::Admin, &b, "s3:DeleteObject", obj));
        assert!(!may(&Caller::Anonymous, &b, "s3:GetObject", obj));
        assert!(!may(&user("eve"), &b, "s3:ListBucket", None));
    }

    fn acl_grant(grantee: Grantee, acl: u32) -> Grant {
        Grant {
            grantee,
            level: None,
            acl,
        }
    }

    #[test]
    fn bucket_acls_list_and_write_object_acls_read() {
        let b = BucketAccess {
            name: "pub".into(),
            owner: "ops".into(),
            grants: vec![acl_grant(Grantee::AllUsers, READ | WRITE)],
            ..Default::default()
        };
        let anon = Caller::Anonymous;
        assert!(may(&anon, &b, "s3:ListBucket", None));
        assert!(may(&anon, &b, "s3:PutObject", Some("k")));
        assert!(!may(&anon, &b, "s3:PutBucketAcl", None));
        // A bucket's READ does not read objects: that is the object's ACL.
        assert_eq!(
            decide(
                &anon,
                &b,
                "s3:GetObject",
                Some("k"),
                &Facts::default(),
                None
            ),
            Verdict::NeedObject
        );
        let public = [AclGrant {
            grantee: Grantee::AllUsers,
            permissions: READ,
        }];
        let with = |acl: &[AclGrant]| {
            decide(
                &anon,
                &b,
                "s3:GetObject",
                Some("k"),
                &Facts::default(),
                Some(ObjectAccess { owner: "w", acl }),
            )
        };
        assert_eq!(with(&public), Verdict::Allow);
        assert_eq!(with(&[]), Verdict::Deny);
        // The object's owner reads it and its ACL.
        let o = ObjectAccess {
            owner: "w",
            acl: &[],
        };
        for action in ["s3:GetObject", "s3:GetObjectAcl", "s3:PutObjectAcl"] {
            assert_eq!(
                decide(
                    &user("w"),
                    &b,
                    action,
                    Some("k"),
                    &Facts::default(),
                    Some(o)
                ),
                Verdict::Allow,
                "{action}"
            );
        }
    }

    #[test]
    fn ownership_and_public_blocks_switch_acls_off() {
        let mut b = BucketAccess {
            name: "b".into(),
            owner: "ops".into(),
            grants: vec![
                acl_grant(Grantee::AuthenticatedUsers, READ),
                acl_grant(Grantee::User("alice".into()), FULL_CONTROL),
            ],
            ..Default::default()
        };
        assert!(may(&user("bob"), &b, "s3:ListBucket", None));
        assert!(!may(&Caller::Anonymous, &b, "s3:ListBucket", None));
        assert!(may(&user("alice"), &b, "s3:PutBucketAcl", None));
        b.public_block.ignore_public_acls = true;
        assert!(!may(&user("bob"), &b, "s3:ListBucket", None));
        assert!(may(&user("alice"), &b, "s3:ListBucket", None));
        b.ownership = Ownership::BucketOwnerEnforced;
        assert!(!may(&user("alice"), &b, "s3:ListBucket", None));
        assert!(may(&user("ops"), &b, "s3:ListBucket", None));
    }

    #[test]
    fn conditions_on_object_tags_wait_for_the_object() {
        let text = r#"{"Statement": [{"Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
            "Condition": {"StringEquals": {"s3:ExistingObjectTag/security": "public"}}},
            {"Effect": "Deny", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
            "Condition": {"StringEquals": {"s3:ExistingObjectTag/security": "secret"}}}]}"#;
        let b = BucketAccess {
            name: "b".into(),
            owner: "ops".into(),
            policy: Some(BucketPolicy::parse(text, "b").expect("parses")),
            ..Default::default()
        };
        let ask = |who: &Caller, tag: Option<&str>| {
            let facts = Facts {
                object_tags: tag.map(|t| [("security".to_string(), t.to_string())].into()),
                ..Default::default()
            };
            let o = ObjectAccess {
                owner: "ops",
                acl: &[],
            };
            decide(who, &b, "s3:GetObject", Some("k"), &facts, tag.map(|_| o))
        };
        assert_eq!(ask(&Caller::Anonymous, None), Verdict::NeedObject);
        assert_eq!(ask(&Caller::Anonymous, Some("public")), Verdict::Allow);
        assert_eq!(ask(&Caller::Anonymous, Some("internal")), Verdict::Deny);
        // Even the owner waits: a deny may still apply.
        assert_eq!(ask(&user("ops"), None), Verdict::NeedObject);
        assert_eq!(ask(&user("ops"), Some("secret")), Verdict::Deny);
        assert_eq!(ask(&user("ops"), Some("internal")), Verdict::Allow);
    }

    #[test]
    fn grants_cover_their_level() {
        let mut b = juno();
        b.policy = None;
        b.grants = vec![
            Grant {
                grantee: Grantee::User("r".into()),
                level: Some(Level::Read),
                acl: 0,
            },
            Grant {
                grantee: Grantee::User("o".into()),
                level: Some(Level::Owner),
                acl: 0,
            },
        ];
        assert!(may(&user("r"), &b, "s3:GetObject", Some("k")));
        assert!(may(&user("r"), &b, "s3:ListBucket", None));
        assert!(!may(&user("r"), &b, "s3:PutObject", Some("k")));
        assert!(!may(&user("r"), &b, "s3:DeleteObject", Some("k")));
        assert!(may(&user("o"), &b, "s3:PutBucketCORS", None));
    }
}
