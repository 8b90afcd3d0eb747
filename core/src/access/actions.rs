//! What each S3 operation needs, in the IAM action names bucket policies
//! use (AWS's "Actions, resources, and condition keys for Amazon S3"), and
//! which of Meridian's grant levels and S3 ACL permissions cover each.

use super::acl::{READ, READ_ACP, WRITE, WRITE_ACP};
use super::Level;

/// What a request asks for: the IAM action and whether it acts on an
/// object (resource `bucket/key`) or on the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub action: &'static str,
    pub on_object: bool,
}

const fn bucket(action: &'static str) -> Need {
    Need {
        action,
        on_object: false,
    }
}

const fn object(action: &'static str) -> Need {
    Need {
        action,
        on_object: true,
    }
}

/// The action an S3 operation needs; `versioned`: the request names a
/// version (`versionId`), which AWS authorizes as a version action.
/// `None`: not about one bucket (ListBuckets) or creating it.
pub fn of_operation(op: &str, versioned: bool) -> Option<Need> {
    let v = |plain: &'static str, version: &'static str| {
        object(if versioned { version } else { plain })
    };
    Some(match op {
        "ListBuckets" | "CreateBucket" => return None,
        "GetObject" | "HeadObject" | "GetObjectAttributes" => {
            v("s3:GetObject", "s3:GetObjectVersion")
        }
        "GetObjectTagging" => v("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
        "PutObjectTagging" => v("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
        "DeleteObjectTagging" => v("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
        "GetObjectAcl" => v("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
        "PutObjectAcl" => v("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
        "DeleteObject" => v("s3:DeleteObject", "s3:DeleteObjectVersion"),
        "PutObject"
        | "PostObject"
        | "CopyObject"
        | "UploadPartCopy"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "CompleteMultipartUpload" => object("s3:PutObject"),
        "AbortMultipartUpload" => object("s3:AbortMultipartUpload"),
        "ListParts" => object("s3:ListMultipartUploadParts"),
        "GetObjectRetention" => object("s3:GetObjectRetention"),
        "PutObjectRetention" => object("s3:PutObjectRetention"),
        "GetObjectLegalHold" => object("s3:GetObjectLegalHold"),
        "PutObjectLegalHold" => object("s3:PutObjectLegalHold"),
        // DeleteObjects decides per key, as DeleteObject(Version).
        "DeleteObjects" => object("s3:DeleteObject"),
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => bucket("s3:ListBucket"),
        "ListObjectVersions" => bucket("s3:ListBucketVersions"),
        "ListMultipartUploads" => bucket("s3:ListBucketMultipartUploads"),
        "GetBucketLocation" => bucket("s3:GetBucketLocation"),
        "GetBucketVersioning" => bucket("s3:GetBucketVersioning"),
        "PutBucketVersioning" => bucket("s3:PutBucketVersioning"),
        "GetBucketTagging" => bucket("s3:GetBucketTagging"),
        "PutBucketTagging" | "DeleteBucketTagging" => bucket("s3:PutBucketTagging"),
        "GetBucketCors" => bucket("s3:GetBucketCORS"),
        "PutBucketCors" | "DeleteBucketCors" => bucket("s3:PutBucketCORS"),
        "GetBucketLifecycleConfiguration" => bucket("s3:GetLifecycleConfiguration"),
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => {
            bucket("s3:PutLifecycleConfiguration")
        }
        "GetBucketPolicy" => bucket("s3:GetBucketPolicy"),
        "PutBucketPolicy" => bucket("s3:PutBucketPolicy"),
        "DeleteBucketPolicy" => bucket("s3:DeleteBucketPolicy"),
        "GetBucketPolicyStatus" => bucket("s3:GetBucketPolicyStatus"),
        "GetBucketAcl" => bucket("s3:GetBucketAcl"),
        "PutBucketAcl" => bucket("s3:PutBucketAcl"),
        "GetBucketOwnershipControls" => bucket("s3:GetBucketOwnershipControls"),
        "PutBucketOwnershipControls" | "DeleteBucketOwnershipControls" => {
            bucket("s3:PutBucketOwnershipControls")
        }
        "GetPublicAccessBlock" => bucket("s3:GetBucketPublicAccessBlock"),
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => {
            bucket("s3:PutBucketPublicAccessBlock")
        }
        "GetObjectLockConfiguration" => bucket("s3:GetBucketObjectLockConfiguration"),
        "PutObjectLockConfiguration" => bucket("s3:PutBucketObjectLockConfiguration"),
        "DeleteBucket" => bucket("s3:DeleteBucket"),
        // Anything else about a bucket is its owner's: the most a grant
        // can give, never less than what the operation might change.
        _ => bucket("s3:*"),
    })
}

/// Every action a policy may name (beside patterns such as `s3:Get*`):
/// the ones above, and `s3:BypassGovernanceRetention`, asked by deletes
/// and retention changes that override a governance lock.
pub const KNOWN: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
    "s3:GetObjectAcl",
    "s3:GetObjectVersionAcl",
    "s3:PutObjectAcl",
    "s3:PutObjectVersionAcl",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:GetObjectRetention",
    "s3:PutObjectRetention",
    "s3:GetObjectLegalHold",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:ListBucketMultipartUploads",
    "s3:GetBucketLocation",
    "s3:GetBucketVersioning",
    "s3:PutBucketVersioning",
    "s3:GetBucketTagging",
    "s3:PutBucketTagging",
    "s3:GetBucketCORS",
    "s3:PutBucketCORS",
    "s3:GetLifecycleConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:GetBucketPolicyStatus",
    "s3:GetBucketAcl",
    "s3:PutBucketAcl",
    "s3:GetBucketOwnershipControls",
    "s3:PutBucketOwnershipControls",
    "s3:GetBucketPublicAccessBlock",
    "s3:PutBucketPublicAccessBlock",
    "s3:GetBucketObjectLockConfiguration",
    "s3:PutBucketObjectLockConfiguration",
    "s3:DeleteBucket",
];

/// Whether an object action is one a bucket's policy may name with a
/// `bucket/key` resource.
pub fn is_object_action(action: &str) -> bool {
    !matches!(
        action,
        "s3:ListBucket"
            | "s3:ListBucketVersions"
            | "s3:ListBucketMultipartUploads"
            | "s3:DeleteBucket"
    ) && !action.starts_with("s3:GetBucket")
        && !action.starts_with("s3:PutBucket")
        && !action.starts_with("s3:DeleteBucket")
        && !action.ends_with("LifecycleConfiguration")
}

/// Whether a Meridian grant of `level` covers `action`: `read` gets and
/// lists objects and reads the bucket's everyday settings; `write` also
/// puts and deletes objects and sets their tags, retention and holds;
/// `owner` does anything to the bucket (its ACLs, policy and the rest),
/// short of bypassing a governance lock, which only the bucket's owner
/// and the administrator may.
pub fn level_covers(level: Level, action: &str) -> bool {
    let read = matches!(
        action,
        "s3:GetObject"
            | "s3:GetObjectVersion"
            | "s3:GetObjectTagging"
            | "s3:GetObjectVersionTagging"
            | "s3:GetObjectRetention"
            | "s3:GetObjectLegalHold"
            | "s3:ListBucket"
            | "s3:ListBucketVersions"
            | "s3:ListBucketMultipartUploads"
            | "s3:ListMultipartUploadParts"
            | "s3:GetBucketLocation"
            | "s3:GetBucketVersioning"
            | "s3:GetBucketTagging"
            | "s3:GetBucketCORS"
            | "s3:GetLifecycleConfiguration"
            | "s3:GetBucketObjectLockConfiguration"
    );
    let write = matches!(
        action,
        "s3:PutObject"
            | "s3:DeleteObject"
            | "s3:DeleteObjectVersion"
            | "s3:AbortMultipartUpload"
            | "s3:PutObjectTagging"
            | "s3:PutObjectVersionTagging"
            | "s3:DeleteObjectTagging"
            | "s3:DeleteObjectVersionTagging"
            | "s3:PutObjectRetention"
            | "s3:PutObjectLegalHold"
    );
    match level {
        Level::Read => read,
        Level::Write => read || write,
        Level::Owner => action != "s3:BypassGovernanceRetention",
    }
}

/// The bucket ACL permission that grants `action`, as S3 ACLs do: READ
/// lists, WRITE writes and deletes objects, READ_ACP and WRITE_ACP read
/// and change the bucket's ACL. `None`: no bucket ACL grants it.
pub fn bucket_acl_permission(action: &str) -> Option<u32> {
    Some(match action {
        "s3:ListBucket" | "s3:ListBucketVersions" | "s3:ListBucketMultipartUploads" => READ,
        "s3:PutObject"
        | "s3:DeleteObject"
        | "s3:DeleteObjectVersion"
        | "s3:AbortMultipartUpload" => WRITE,
        "s3:GetBucketAcl" => READ_ACP,
        "s3:PutBucketAcl" => WRITE_ACP,
        _ => return None,
    })
}

/// The object ACL permission that grants `action` on that object.
pub fn object_acl_permission(action: &str) -> Option<u32> {
    Some(match action {
        "s3:GetObject" | "s3:GetObjectVersion" => READ,
        "s3:GetObjectAcl" | "s3:GetObjectVersionAcl" => READ_ACP,
        "s3:PutObjectAcl" | "s3:PutObjectVersionAcl" => WRITE_ACP,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_map_onto_iam_actions() {
        let a = |op, v| of_operation(op, v).map(|n| (n.action, n.on_object));
        assert_eq!(a("GetObject", false), Some(("s3:GetObject", true)));
        assert_eq!(a("HeadObject", true), Some(("s3:GetObjectVersion", true)));
        assert_eq!(
            a("DeleteObject", true),
            Some(("s3:DeleteObjectVersion", true))
        );
        assert_eq!(a("UploadPart", false), Some(("s3:PutObject", true)));
        assert_eq!(a("ListObjectsV2", false), Some(("s3:ListBucket", false)));
        assert_eq!(
            a("DeleteBucketCors", false),
            Some(("s3:PutBucketCORS", false))
        );
        assert_eq!(a("ListBuckets", false), None);
        assert_eq!(a("SomethingNew", false), Some(("s3:*", false)));
        for op in [
            "GetObject",
            "PutObject",
            "GetBucketAcl",
            "PutPublicAccessBlock",
            "GetObjectLockConfiguration",
            "PutObjectLegalHold",
        ] {
            let n = of_operation(op, false).expect("an action");
            assert!(KNOWN.contains(&n.action), "{op}: {}", n.action);
            assert_eq!(is_object_action(n.action), n.on_object, "{op}");
        }
    }

    #[test]
    fn levels_cover_their_actions() {
        assert!(level_covers(Level::Read, "s3:GetObject"));
        assert!(level_covers(Level::Read, "s3:ListBucketVersions"));
        assert!(!level_covers(Level::Read, "s3:PutObject"));
        assert!(!level_covers(Level::Read, "s3:GetBucketAcl"));
        assert!(level_covers(Level::Write, "s3:DeleteObjectVersion"));
        assert!(!level_covers(Level::Write, "s3:PutBucketPolicy"));
        assert!(level_covers(Level::Owner, "s3:PutBucketAcl"));
        assert!(level_covers(Level::Owner, "s3:*"));
        assert!(!level_covers(Level::Owner, "s3:BypassGovernanceRetention"));
    }

    #[test]
    fn acl_permissions_grant_what_s3_says() {
        assert_eq!(bucket_acl_permission("s3:ListBucket"), Some(READ));
        assert_eq!(bucket_acl_permission("s3:PutObject"), Some(WRITE));
        assert_eq!(bucket_acl_permission("s3:GetObject"), None);
        assert_eq!(object_acl_permission("s3:GetObject"), Some(READ));
        assert_eq!(object_acl_permission("s3:PutObject"), None);
    }
}
