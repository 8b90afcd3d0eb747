//! A bucket's ownership controls, public access block, policy status and
//! Object Lock configuration over S3.

use super::errors::OrS3;
use meridian_core::records::{LockMode, ObjectLockConfig, PublicAccessBlock};
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::MeridianS3;
use meridian_core::access::{acl, Ownership};
use meridian_core::catalogue::BucketChange;

fn ownership_name(o: Ownership) -> Option<&'static str> {
    match o {
        Ownership::Unset => None,
        Ownership::ObjectWriter => Some(ObjectOwnership::OBJECT_WRITER),
        Ownership::BucketOwnerPreferred => Some(ObjectOwnership::BUCKET_OWNER_PREFERRED),
        Ownership::BucketOwnerEnforced => Some(ObjectOwnership::BUCKET_OWNER_ENFORCED),
    }
}

/// S3's ownership name as Meridian's setting.
pub(super) fn parse_ownership(name: &str) -> S3Result<Ownership> {
    match name {
        ObjectOwnership::OBJECT_WRITER => Ok(Ownership::ObjectWriter),
        ObjectOwnership::BUCKET_OWNER_PREFERRED => Ok(Ownership::BucketOwnerPreferred),
        ObjectOwnership::BUCKET_OWNER_ENFORCED => Ok(Ownership::BucketOwnerEnforced),
        other => Err(s3_error!(
            MalformedXML,
            "ObjectOwnership is BucketOwnerEnforced, BucketOwnerPreferred or ObjectWriter, not {other:?}"
        )),
    }
}

/// A retention mode's name as Meridian's.
pub(super) fn parse_mode(mode: &str) -> S3Result<LockMode> {
    match mode {
        ObjectLockRetentionMode::GOVERNANCE => Ok(LockMode::Governance),
        ObjectLockRetentionMode::COMPLIANCE => Ok(LockMode::Compliance),
        other => Err(s3_error!(
            MalformedXML,
            "retention Mode is GOVERNANCE or COMPLIANCE, not {other:?}"
        )),
    }
}

pub(super) fn mode_name(mode: LockMode) -> Option<&'static str> {
    match mode {
        LockMode::Governance => Some(ObjectLockRetentionMode::GOVERNANCE),
        LockMode::Compliance => Some(ObjectLockRetentionMode::COMPLIANCE),
        LockMode::None => None,
    }
}

fn lock_config(c: &ObjectLockConfiguration) -> S3Result<ObjectLockConfig> {
    match c.object_lock_enabled.as_ref().map(|e| e.as_str()) {
        Some(ObjectLockEnabled::ENABLED) => {}
        other => {
            return Err(s3_error!(
                MalformedXML,
                "ObjectLockEnabled must be Enabled, not {other:?}"
            ))
        }
    }
    let mut out = ObjectLockConfig {
        enabled: true,
        ..Default::default()
    };
    let Some(d) = c.rule.as_ref().and_then(|r| r.default_retention.as_ref()) else {
        return Ok(out);
    };
    let mode = d
        .mode
        .as_ref()
        .ok_or_else(|| s3_error!(MalformedXML, "a DefaultRetention has a Mode"))?;
    out.default_mode = parse_mode(mode.as_str())?;
    match (d.days, d.years) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(s3_error!(
                MalformedXML,
                "a DefaultRetention has Days or Years, one of them"
            ))
        }
        (Some(n), None) | (None, Some(n)) if n <= 0 => {
            return Err(super::errors::custom(
                "InvalidRetentionPeriod",
                http::StatusCode::BAD_REQUEST,
                "Default retention period must be a positive integer value",
            ))
        }
        (Some(n), None) => out.default_days = n as u32,
        (None, Some(n)) => out.default_years = n as u32,
    }
    Ok(out)
}

impl MeridianS3 {
    pub(super) async fn do_put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        let input = req.input;
        let rules = input.ownership_controls.rules;
        let [rule] = rules.as_slice() else {
            return Err(s3_error!(
                MalformedXML,
                "OwnershipControls has exactly one Rule"
            ));
        };
        let o = parse_ownership(rule.object_ownership.as_str())?;
        self.gateway
            .update_bucket(&input.bucket, BucketChange::Ownership(o.as_u32()))
            .await
            .or_s3()?;
        Ok(S3Response::new(PutBucketOwnershipControlsOutput::default()))
    }

    pub(super) async fn do_get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        let b = self
            .gateway
            .catalogue()
            .bucket(&req.input.bucket)
            .await
            .or_s3()?;
        let Some(name) = ownership_name(Ownership::from_u32(b.object_ownership)) else {
            return Err(s3_error!(
                OwnershipControlsNotFoundError,
                "The bucket ownership controls were not found"
            ));
        };
        Ok(S3Response::new(GetBucketOwnershipControlsOutput {
            ownership_controls: Some(OwnershipControls {
                rules: vec![OwnershipControlsRule {
                    object_ownership: ObjectOwnership::from_static(name),
                }],
            }),
        }))
    }

    pub(super) async fn do_delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        let bucket = req.input.bucket;
        self.gateway
            .update_bucket(&bucket, BucketChange::Ownership(0))
            .await
            .or_s3()?;
        Ok(S3Response::new(
            DeleteBucketOwnershipControlsOutput::default(),
        ))
    }

    pub(super) async fn do_put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        let input = req.input;
        let c = input.public_access_block_configuration;
        let block = PublicAccessBlock {
            block_public_acls: c.block_public_acls.unwrap_or(false),
            ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
            block_public_policy: c.block_public_policy.unwrap_or(false),
            restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
        };
        self.gateway
            .update_bucket(&input.bucket, BucketChange::PublicAccessBlock(Some(block)))
            .await
            .or_s3()?;
        Ok(S3Response::new(PutPublicAccessBlockOutput::default()))
    }

    pub(super) async fn do_get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        let b = self
            .gateway
            .catalogue()
            .bucket(&req.input.bucket)
            .await
            .or_s3()?;
        let Some(p) = b.public_access_block else {
            return Err(super::errors::custom(
                "NoSuchPublicAccessBlockConfiguration",
                http::StatusCode::NOT_FOUND,
                "The public access block configuration was not found",
            ));
        };
        Ok(S3Response::new(GetPublicAccessBlockOutput {
            public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                block_public_acls: Some(p.block_public_acls),
                ignore_public_acls: Some(p.ignore_public_acls),
                block_public_policy: Some(p.block_public_policy),
                restrict_public_buckets: Some(p.restrict_public_buckets),
            }),
        }))
    }

    pub(super) async fn do_delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        let bucket = req.input.bucket;
        self.gateway
            .update_bucket(&bucket, BucketChange::PublicAccessBlock(None))
            .await
            .or_s3()?;
        Ok(S3Response::new(DeletePublicAccessBlockOutput::default()))
    }

    /// Public when its policy opens it to everyone, or its ACL grants to
    /// everyone or every signed caller (as the s3-tests expect of AWS).
    pub(super) async fn do_get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        let bucket = req.input.bucket;
        let access = self
            .gateway
            .bucket_access(&bucket)
            .await
            .or_s3()?
            .ok_or_else(|| meridian_core::CoreError::NoSuchBucket(bucket.clone()))
            .or_s3()?;
        let by_policy = access.policy.as_ref().is_some_and(|p| p.is_public());
        let by_acl = access.ownership.acls_enabled()
            && acl::is_public(&super::acl::grants_of(
                &self
                    .gateway
                    .catalogue()
                    .bucket(&bucket)
                    .await
                    .or_s3()?
                    .grants,
            ));
        Ok(S3Response::new(GetBucketPolicyStatusOutput {
            policy_status: Some(PolicyStatus {
                is_public: Some(by_policy || by_acl),
            }),
        }))
    }

    pub(super) async fn do_put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        let input = req.input;
        if input.token.is_some() {
            return Err(super::errors::not_implemented(
                "Object Lock tokens (the lock is enabled with the bucket or by this call)",
            ));
        }
        let c = input
            .object_lock_configuration
            .as_ref()
            .ok_or_else(|| s3_error!(MalformedXML, "no ObjectLockConfiguration"))?;
        let config = lock_config(c)?;
        self.gateway
            .update_bucket(&input.bucket, BucketChange::ObjectLock(config))
            .await
            .or_s3()?;
        Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
    }

    pub(super) async fn do_get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        let b = self
            .gateway
            .catalogue()
            .bucket(&req.input.bucket)
            .await
            .or_s3()?;
        let Some(l) = b.object_lock.filter(|l| l.enabled) else {
            return Err(s3_error!(
                ObjectLockConfigurationNotFoundError,
                "Object Lock configuration does not exist for this bucket"
            ));
        };
        let rule = mode_name(l.default_mode).map(|m| ObjectLockRule {
            default_retention: Some(DefaultRetention {
                mode: Some(ObjectLockRetentionMode::from_static(m)),
                days: (l.default_days > 0).then_some(l.default_days as i32),
                years: (l.default_years > 0).then_some(l.default_years as i32),
            }),
        });
        Ok(S3Response::new(GetObjectLockConfigurationOutput {
            object_lock_configuration: Some(ObjectLockConfiguration {
                object_lock_enabled: Some(ObjectLockEnabled::from_static(
                    ObjectLockEnabled::ENABLED,
                )),
                rule,
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(
        mode: Option<&str>,
        days: Option<i32>,
        years: Option<i32>,
    ) -> ObjectLockConfiguration {
        ObjectLockConfiguration {
            object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
            rule: Some(ObjectLockRule {
                default_retention: Some(DefaultRetention {
                    mode: mode.map(|m| ObjectLockRetentionMode::from(m.to_string())),
                    days,
                    years,
                }),
            }),
        }
    }

    #[test]
    fn lock_configurations_are_checked_as_aws_checks_them() {
        let ok = lock_config(&config(Some("GOVERNANCE"), Some(3), None)).expect("valid");
        assert_eq!(ok.default_days, 3);
        assert_eq!(ok.default_mode, LockMode::Governance);
        let code =
            |c: ObjectLockConfiguration| lock_config(&c).expect_err("refused").code().clone();
        assert_eq!(
            code(config(Some("COMPLIANCE"), Some(1), Some(1))),
            s3s::S3ErrorCode::MalformedXML
        );
        assert_eq!(
            code(config(Some("governance"), Some(1), None)),
            s3s::S3ErrorCode::MalformedXML
        );
        assert_eq!(
            code(config(Some("GOVERNANCE"), Some(0), None)).as_str(),
            "InvalidRetentionPeriod"
        );
        let mut off = config(None, None, None);
        off.object_lock_enabled = Some(ObjectLockEnabled::from("Disabled".to_string()));
        assert_eq!(code(off), s3s::S3ErrorCode::MalformedXML);
    }
}
