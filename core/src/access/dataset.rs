//! Who may do what to a dataset: as for a bucket, its owner, Meridian
//! grants (read, write, owner) and a policy in the bucket policies'
//! language whose actions are the dataset actions below and whose
//! resources are `arn:meridian:dataset:::NAME`. An explicit deny wins over
//! everything but the administrator.
//!
//! A dataset's permissions govern the dataset (its record, file list,
//! manifest, metadata); its files stay governed by their buckets. So
//! attaching a file also needs the right to read it, and reading a
//! dataset's files needs the buckets' read rights too.

use super::bucket_policy::BucketPolicy;
use super::conditions::{Facts, Holds};
use super::{grantee_is, is_user, Caller, Grantee, Level};
use crate::dataset::DatasetRecord;

/// Reads the dataset: record, files, manifest, metadata, card, report.
pub const GET: &str = "meridian:GetDataset";
/// Changes what it holds or says: attach, detach, describe, metadata,
/// close, reopen.
pub const UPDATE: &str = "meridian:UpdateDataset";
pub const PUBLISH: &str = "meridian:PublishDataset";
pub const DELETE: &str = "meridian:DeleteDataset";
/// Sets its grants and policy.
pub const SET_ACCESS: &str = "meridian:PutDatasetPolicy";

/// Every dataset action, for policies.
pub const ACTIONS: &[&str] = &[GET, UPDATE, PUBLISH, DELETE, SET_ACCESS];

/// Whether a grant of `level` covers `action`: read reads, write also
/// updates, owner does everything (publish, delete, access).
pub fn level_covers(level: Level, action: &str) -> bool {
    match level {
        Level::Read => action == GET,
        Level::Write => action == GET || action == UPDATE,
        Level::Owner => true,
    }
}

/// Whether `caller` may do `action` to dataset `d` whose policy, parsed,
/// is `policy` (a stored policy that no longer parses is passed as
/// [`BucketPolicy::deny_all`]).
pub fn decide_dataset(
    caller: &Caller,
    d: &DatasetRecord,
    policy: Option<&BucketPolicy>,
    action: &str,
    facts: &Facts,
) -> bool {
    if *caller == Caller::Admin {
        return true;
    }
    let verdict = policy.map(|p| p.verdict(caller, action, &d.name, facts, false));
    // Dataset decisions never wait for an object: what is not known to
    // hold does not allow, and a deny that may hold refuses.
    if verdict.is_some_and(|v| v.deny != Holds::No) {
        return false;
    }
    if is_user(caller, &d.owner) {
        return true;
    }
    let granted = d.grants.iter().any(|g| {
        g.level.is_some_and(|l| level_covers(l, action))
            && grantee_is(&Grantee::from_stored(&g.user), caller, false)
    });
    granted || verdict.is_some_and(|v| v.allow == Holds::Yes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{DatasetKind, NewDataset};
    use crate::records::BucketGrant;

    fn juno() -> DatasetRecord {
        let mut d = NewDataset {
            name: "juno-run-42".into(),
            owner: "ops".into(),
            kind: DatasetKind::Project,
            description: String::new(),
            rules: vec![],
        }
        .into_record(0);
        d.grants = vec![
            BucketGrant {
                user: "carol".into(),
                level: Some(Level::Write),
                acl: 0,
            },
            BucketGrant {
                user: crate::access::acl::AUTHENTICATED_USERS.into(),
                level: Some(Level::Read),
                acl: 0,
            },
        ];
        d
    }

    fn may(c: &Caller, d: &DatasetRecord, p: Option<&BucketPolicy>, action: &str) -> bool {
        decide_dataset(c, d, p, action, &Facts::default())
    }

    fn user(n: &str) -> Caller {
        Caller::User(n.into())
    }

    #[test]
    fn owners_grants_and_the_administrator() {
        let d = juno();
        assert!(may(&user("ops"), &d, None, DELETE));
        assert!(may(&Caller::Admin, &d, None, SET_ACCESS));
        assert!(may(&user("carol"), &d, None, UPDATE));
        assert!(!may(&user("carol"), &d, None, PUBLISH));
        // Every signed caller reads; nobody unsigned does.
        assert!(may(&user("dave"), &d, None, GET));
        assert!(!may(&user("dave"), &d, None, UPDATE));
        assert!(!may(&Caller::Anonymous, &d, None, GET));
        // A user named as a reserved owner owns nothing.
        let mut root_owned = d.clone();
        root_owned.owner = "root".into();
        assert!(!may(&user("root"), &root_owned, None, DELETE));
    }

    #[test]
    fn a_policy_allows_and_its_deny_wins_over_grants_and_ownership() {
        let d = juno();
        let text = r#"{"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "erin"},
             "Action": "meridian:PublishDataset", "Resource": "arn:meridian:dataset:::juno-run-42"},
            {"Effect": "Deny", "Principal": "*",
             "Action": "meridian:DeleteDataset", "Resource": "arn:meridian:dataset:::juno-*"},
            {"Effect": "Deny", "Principal": {"AWS": "carol"},
             "Action": "meridian:Update*", "Resource": "*"}
        ]}"#;
        let p = BucketPolicy::parse_dataset(text, "juno-run-42").expect("parses");
        assert!(may(&user("erin"), &d, Some(&p), PUBLISH));
        assert!(!may(&user("erin"), &d, Some(&p), UPDATE));
        assert!(!may(&user("ops"), &d, Some(&p), DELETE));
        assert!(!may(&user("carol"), &d, Some(&p), UPDATE));
        assert!(may(&user("carol"), &d, Some(&p), GET));
        assert!(may(&Caller::Admin, &d, Some(&p), DELETE));
    }

    #[test]
    fn dataset_policies_name_dataset_actions_and_resources_only() {
        for (text, why) in [
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:meridian:dataset:::d"}}"#,
                "not a Meridian dataset action",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "meridian:Fly", "Resource": "arn:meridian:dataset:::d"}}"#,
                "names no action",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "meridian:GetDataset", "Resource": "arn:aws:s3:::d"}}"#,
                "is not arn:meridian:dataset:::DATASET",
            ),
            (
                r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "meridian:GetDataset", "Resource": "arn:meridian:dataset:::other"}}"#,
                "cannot apply to dataset",
            ),
        ] {
            let e = BucketPolicy::parse_dataset(text, "d").expect_err(why);
            assert!(e.to_string().contains(why), "{e} lacks {why:?}");
        }
        // And a bucket's policy still refuses dataset actions.
        let e = BucketPolicy::parse(
            r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "meridian:GetDataset", "Resource": "arn:aws:s3:::b"}}"#,
            "b",
        )
        .expect_err("dataset action in a bucket policy");
        assert!(e.to_string().contains("not an S3 action"), "{e}");
    }
}
