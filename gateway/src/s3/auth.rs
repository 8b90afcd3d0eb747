//! Who signed a request (s3s's [`S3Auth`]) and whether they may do what it
//! asks ([`S3Access`]), before the operation runs: a denied request changes
//! nothing.
//!
//! The root key (from the environment) is the administrator; every other
//! key belongs to a user in the catalogue. The decision itself is
//! [`crate::access::allowed`]; this module maps operations onto its actions.

use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{s3_error, S3Result};

use crate::access::{allowed, Action, Caller};
use crate::Gateway;

/// The owner name of what the administrator creates.
pub const ADMIN_USER: &str = "root";

pub(super) struct Keys {
    pub gateway: Arc<Gateway>,
    pub root_access_key: String,
    pub root_secret: String,
}

#[async_trait::async_trait]
impl S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.root_access_key {
            return Ok(SecretKey::from(self.root_secret.clone()));
        }
        match self.gateway.access_key(access_key).await {
            Ok(Some(k)) => Ok(SecretKey::from(k.secret)),
            // As S3 says it (bare SimpleAuth would say NotSignedUp).
            Ok(None) => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
            Err(e) => Err(super::errors::s3_error(e)),
        }
    }
}

pub(super) struct Permissions {
    pub gateway: Arc<Gateway>,
    pub root_access_key: String,
}

/// The action an operation needs on its bucket; `None`: the operation is
/// not about one bucket (ListBuckets) or creates it (CreateBucket).
fn action_of(op: &str) -> Option<Action> {
    Some(match op {
        "CreateBucket" | "ListBuckets" => return None,
        "GetObject" | "HeadObject" | "GetObjectAttributes" | "GetObjectTagging" => {
            Action::GetObject
        }
        "PutObject"
        | "CopyObject"
        | "UploadPartCopy"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "CompleteMultipartUpload"
        | "AbortMultipartUpload"
        | "ListParts"
        | "PutObjectTagging" => Action::PutObject,
        "DeleteObject" | "DeleteObjectTagging" => Action::DeleteObject,
        "HeadBucket"
        | "GetBucketLocation"
        | "ListObjects"
        | "ListObjectsV2"
        | "ListMultipartUploads"
        | "ListObjectVersions"
        | "GetBucketVersioning"
        | "GetBucketTagging"
        | "GetBucketCors"
        | "GetBucketLifecycleConfiguration" => Action::ListBucket,
        // Deleting the bucket and everything about its settings.
        _ => Action::Administer,
    })
}

impl Permissions {
    async fn caller(&self, cx: &S3AccessContext<'_>) -> S3Result<Caller> {
        let Some(c) = cx.credentials() else {
            return Ok(Caller::Anonymous);
        };
        if c.access_key == self.root_access_key {
            return Ok(Caller::Admin);
        }
        match self.gateway.access_key(&c.access_key).await {
            Ok(Some(k)) => Ok(Caller::User(k.user)),
            // Revoked between signature check and here.
            Ok(None) => Err(s3_error!(AccessDenied, "Access Denied")),
            Err(e) => Err(super::errors::s3_error(e)),
        }
    }
}

#[async_trait::async_trait]
impl S3Access for Permissions {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let caller = self.caller(cx).await?;
        // DeleteObjects names its keys in the body: it decides per key.
        let per_key = cx.s3_op().name() == "DeleteObjects";
        let action = action_of(cx.s3_op().name());
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        cx.extensions_mut().insert(caller.clone());
        let denied = || s3_error!(AccessDenied, "Access Denied");
        let Some(action) = action else {
            // Listing one's buckets, creating one: any signed caller.
            return match caller {
                Caller::Anonymous => Err(denied()),
                _ => Ok(()),
            };
        };
        let Some(bucket) = bucket else {
            return match caller {
                Caller::Admin => Ok(()),
                _ => Err(denied()),
            };
        };
        let access = self
            .gateway
            .bucket_access(&bucket)
            .await
            .map_err(super::errors::s3_error)?;
        match access {
            Some(_) if per_key => Ok(()),
            // The operation answers NoSuchBucket; only a signed caller
            // learns that a name is free.
            None if caller != Caller::Anonymous => Ok(()),
            None => Err(denied()),
            Some(b) if allowed(&caller, &b, action, key.as_deref()) => Ok(()),
            Some(_) => Err(denied()),
        }
    }
}

/// The user a request acts for: the one [`Permissions`] found, or, where
/// no check ran (tests calling the S3 trait directly), the signing key.
pub(super) fn user_of<T>(req: &s3s::S3Request<T>) -> String {
    match req.extensions.get::<Caller>() {
        Some(Caller::User(name)) => name.clone(),
        Some(Caller::Admin) => ADMIN_USER.to_string(),
        Some(Caller::Anonymous) => super::ANONYMOUS_OWNER.to_string(),
        None => req
            .credentials
            .as_ref()
            .map(|c| c.access_key.clone())
            .unwrap_or_else(|| super::ANONYMOUS_OWNER.to_string()),
    }
}

/// The caller [`Permissions`] found; the administrator where no check ran
/// (tests calling the S3 trait directly).
pub(super) fn caller_of<T>(req: &s3s::S3Request<T>) -> Caller {
    req.extensions
        .get::<Caller>()
        .cloned()
        .unwrap_or(Caller::Admin)
}

/// Whether the request's caller is the administrator (or unchecked, in
/// tests that call the S3 trait directly).
pub(super) fn is_admin<T>(req: &s3s::S3Request<T>) -> bool {
    matches!(req.extensions.get::<Caller>(), Some(Caller::Admin) | None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_map_onto_the_actions_they_need() {
        for op in [
            "GetObject",
            "HeadObject",
            "GetObjectAttributes",
            "GetObjectTagging",
        ] {
            assert_eq!(action_of(op), Some(Action::GetObject), "{op}");
        }
        for op in [
            "PutObject",
            "UploadPart",
            "UploadPartCopy",
            "PutObjectTagging",
        ] {
            assert_eq!(action_of(op), Some(Action::PutObject), "{op}");
        }
        assert_eq!(action_of("DeleteObject"), Some(Action::DeleteObject));
        for op in [
            "ListObjectsV2",
            "ListObjectVersions",
            "GetBucketVersioning",
            "GetBucketTagging",
            "GetBucketCors",
            "GetBucketLifecycleConfiguration",
        ] {
            assert_eq!(action_of(op), Some(Action::ListBucket), "{op}");
        }
        // Changing a bucket's settings is the owner's.
        for op in [
            "PutBucketVersioning",
            "PutBucketTagging",
            "DeleteBucketTagging",
            "PutBucketCors",
            "DeleteBucketCors",
            "PutBucketLifecycleConfiguration",
            "DeleteBucketLifecycle",
            "PutBucketPolicy",
            "DeleteBucket",
        ] {
            assert_eq!(action_of(op), Some(Action::Administer), "{op}");
        }
        assert_eq!(action_of("ListBuckets"), None);
    }
}
