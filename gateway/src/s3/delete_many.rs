//! DeleteObjects: up to 1000 keys in one request, each deleted (and each
//! checked against the caller's permissions, since a bucket policy may deny
//! some keys and not others) on its own; the answer lists each key's
//! outcome, or only the failures in quiet mode.

use super::errors::OrS3;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::errors::s3_code;
use super::MeridianS3;
use meridian_core::access::{decide, Verdict};

/// Keys per request at most, as in S3.
const MAX_KEYS: usize = 1000;

fn failed(key: &str, code: &str, message: &str) -> Error {
    Error {
        code: Some(code.to_string()),
        key: Some(key.to_string()),
        message: Some(message.to_string()),
        version_id: None,
    }
}

impl MeridianS3 {
    pub(super) async fn do_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let caller = super::auth::caller_of(&req);
        let facts = super::auth::request_facts(&req);
        // The permission to bypass is checked per key.
        let bypass = super::auth::header_true(&req.headers, "x-amz-bypass-governance-retention");
        let input = req.input;
        let objects = input.delete.objects;
        if objects.is_empty() || objects.len() > MAX_KEYS {
            return Err(super::errors::invalid_argument(format!(
                "DeleteObjects takes 1 to {MAX_KEYS} keys, got {}",
                objects.len()
            )));
        }
        let quiet = input.delete.quiet == Some(true);
        let bucket = input.bucket;
        let access = self
            .gateway
            .bucket_access(&bucket)
            .await
            .or_s3()?
            .ok_or_else(|| meridian_core::CoreError::NoSuchBucket(bucket.clone()))
            .or_s3()?;
        let (mut deleted, mut errors) = (Vec::new(), Vec::new());
        for o in objects {
            let action = if o.version_id.is_some() {
                "s3:DeleteObjectVersion"
            } else {
                "s3:DeleteObject"
            };
            let may =
                |a: &str| decide(&caller, &access, a, Some(&o.key), &facts, None) == Verdict::Allow;
            if !may(action) || (bypass && !may("s3:BypassGovernanceRetention")) {
                errors.push(failed(&o.key, "AccessDenied", "Access Denied"));
                continue;
            }
            let catalogue = self.gateway.catalogue();
            let outcome = match o.version_id.as_deref() {
                Some(v) => catalogue.delete_version(&bucket, &o.key, v, bypass).await,
                None => catalogue.delete_object(&bucket, &o.key).await,
            };
            match outcome {
                Ok(_) if quiet => {}
                Ok(d) => deleted.push(super::object::deleted_object(o.key, o.version_id, d)),
                Err(e) => {
                    let code = s3_code(&e);
                    let mut err = failed(&o.key, code.as_str(), &e.to_string());
                    err.version_id = o.version_id;
                    errors.push(err);
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }
}
