//! Bucket lifecycle configuration over S3: Put, Get and
//! DeleteBucketLifecycle. The rules are carried out by the metadata
//! leader's lifecycle job (`meridian-node`'s `lifecycle`).

use super::errors::OrS3;
use std::collections::HashMap;

use meridian_core::records::LifecycleRule as Rule;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::errors::{invalid_argument, not_implemented};
use super::{timestamp, MeridianS3};
use meridian_core::lifecycle::check_rules;

fn positive(n: Option<i32>, what: &str) -> S3Result<u32> {
    match n {
        None => Ok(0),
        Some(d) if d > 0 => Ok(d as u32),
        Some(d) => Err(invalid_argument(format!(
            "{what} must be a positive integer, not {d}"
        ))),
    }
}

fn size(n: Option<i64>, what: &str) -> S3Result<u64> {
    n.map_or(Ok(0), |v| {
        u64::try_from(v).map_err(|_| invalid_argument(format!("{what} is not negative")))
    })
}

fn tags_of(set: Option<TagSet>) -> S3Result<HashMap<String, String>> {
    let mut tags = HashMap::new();
    for t in set.unwrap_or_default() {
        if tags
            .insert(t.key.unwrap_or_default(), t.value.unwrap_or_default())
            .is_some()
        {
            return Err(s3_error!(
                InvalidTag,
                "Duplicate tag keys in a lifecycle filter"
            ));
        }
    }
    Ok(tags)
}

fn from_dto(r: LifecycleRule) -> S3Result<Rule> {
    if r.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || r.noncurrent_version_transitions
            .as_ref()
            .is_some_and(|t| !t.is_empty())
    {
        return Err(not_implemented(
            "Lifecycle transitions (Meridian has one storage class; placement rules move data between sites)",
        ));
    }
    let enabled = match r.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        other => {
            return Err(s3_error!(
                MalformedXML,
                "rule Status is Enabled or Disabled, not {other:?}"
            ))
        }
    };
    let mut rule = Rule {
        id: r.id.unwrap_or_default(),
        enabled,
        prefix: r.prefix.unwrap_or_default(),
        ..Default::default()
    };
    if let Some(f) = r.filter {
        if let Some(and) = f.and {
            rule.prefix = and.prefix.unwrap_or_default();
            rule.tags = tags_of(and.tags)?;
            rule.size_greater_than = size(and.object_size_greater_than, "ObjectSizeGreaterThan")?;
            rule.size_less_than = size(and.object_size_less_than, "ObjectSizeLessThan")?;
        } else {
            if let Some(p) = f.prefix {
                rule.prefix = p;
            }
            if let Some(t) = f.tag {
                rule.tags = tags_of(Some(vec![t]))?;
            }
            rule.size_greater_than = size(f.object_size_greater_than, "ObjectSizeGreaterThan")?;
            rule.size_less_than = size(f.object_size_less_than, "ObjectSizeLessThan")?;
        }
    }
    if let Some(e) = r.expiration {
        rule.expiration_days = positive(e.days, "Expiration Days")?;
        rule.expiration_date_ms = match e.date {
            None => 0,
            Some(d) => {
                let t = time::OffsetDateTime::from(d);
                if t.unix_timestamp().rem_euclid(86_400) != 0 || t.nanosecond() != 0 {
                    return Err(invalid_argument("'Date' must be at midnight GMT"));
                }
                (t.unix_timestamp_nanos() / 1_000_000) as i64
            }
        };
        rule.expired_object_delete_marker = e.expired_object_delete_marker == Some(true);
    }
    if let Some(n) = r.noncurrent_version_expiration {
        rule.noncurrent_days = positive(n.noncurrent_days, "NoncurrentDays")?;
        rule.newer_noncurrent_versions =
            positive(n.newer_noncurrent_versions, "NewerNoncurrentVersions")?;
    }
    if let Some(a) = r.abort_incomplete_multipart_upload {
        rule.abort_incomplete_upload_days =
            positive(a.days_after_initiation, "DaysAfterInitiation")?;
    }
    Ok(rule)
}

impl MeridianS3 {
    /// `x-amz-expiration` for a current version of `key` (as the bucket's
    /// cached rules say): `expiry-date="HTTP date", rule-id="ID"`.
    pub(super) async fn expiration_header(
        &self,
        bucket: &str,
        key: &str,
        record: &meridian_core::records::ObjectRecord,
    ) -> Option<String> {
        let access = self.gateway.bucket_access(bucket).await.ok().flatten()?;
        let (at_ms, rule) = meridian_core::lifecycle::expiry_of(
            &access.lifecycle,
            key,
            (record.size, &record.tags),
            record.created_ms,
            self.lifecycle_day_ms,
        )?;
        let at = time::OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000)).ok()?;
        let fmt = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        let date = at.format(fmt).ok()?;
        Some(format!("expiry-date=\"{date}\", rule-id=\"{rule}\""))
    }
}

fn days(n: u32) -> Option<i32> {
    (n > 0).then(|| i32::try_from(n).unwrap_or(i32::MAX))
}

fn to_dto(r: &Rule) -> LifecycleRule {
    let tags = super::tagging::to_set(&r.tags);
    let bounded = r.size_greater_than > 0 || r.size_less_than > 0;
    let size = |n: u64| (n > 0).then(|| i64::try_from(n).unwrap_or(i64::MAX));
    let filter = if tags.len() + usize::from(bounded) + usize::from(!r.prefix.is_empty()) > 1 {
        LifecycleRuleFilter {
            and: Some(LifecycleRuleAndOperator {
                prefix: Some(r.prefix.clone()),
                tags: (!tags.is_empty()).then_some(tags),
                object_size_greater_than: size(r.size_greater_than),
                object_size_less_than: size(r.size_less_than),
            }),
            ..Default::default()
        }
    } else {
        LifecycleRuleFilter {
            prefix: Some(r.prefix.clone()),
            tag: tags.into_iter().next(),
            object_size_greater_than: size(r.size_greater_than),
            object_size_less_than: size(r.size_less_than),
            ..Default::default()
        }
    };
    let expires =
        r.expiration_days > 0 || r.expiration_date_ms > 0 || r.expired_object_delete_marker;
    LifecycleRule {
        id: (!r.id.is_empty()).then(|| r.id.clone()),
        status: ExpirationStatus::from_static(if r.enabled {
            ExpirationStatus::ENABLED
        } else {
            ExpirationStatus::DISABLED
        }),
        filter: Some(filter),
        expiration: expires.then(|| LifecycleExpiration {
            days: days(r.expiration_days),
            date: (r.expiration_date_ms > 0).then(|| timestamp(r.expiration_date_ms)),
            expired_object_delete_marker: r.expired_object_delete_marker.then_some(true),
        }),
        noncurrent_version_expiration: (r.noncurrent_days > 0).then(|| {
            NoncurrentVersionExpiration {
                noncurrent_days: days(r.noncurrent_days),
                newer_noncurrent_versions: days(r.newer_noncurrent_versions),
            }
        }),
        abort_incomplete_multipart_upload: (r.abort_incomplete_upload_days > 0).then(|| {
            AbortIncompleteMultipartUpload {
                days_after_initiation: days(r.abort_incomplete_upload_days),
            }
        }),
        noncurrent_version_transitions: None,
        prefix: None,
        transitions: None,
    }
}

impl MeridianS3 {
    pub(super) async fn do_put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let input = req.input;
        let Some(conf) = input.lifecycle_configuration else {
            return Err(s3_error!(MalformedXML, "no LifecycleConfiguration"));
        };
        let rules = conf
            .rules
            .into_iter()
            .map(from_dto)
            .collect::<S3Result<Vec<_>>>()?;
        check_rules(&rules).map_err(invalid_argument)?;
        self.gateway
            .set_bucket_lifecycle(&input.bucket, rules)
            .await
            .or_s3()?;
        Ok(S3Response::new(
            PutBucketLifecycleConfigurationOutput::default(),
        ))
    }

    pub(super) async fn do_get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let b = self
            .gateway
            .catalogue()
            .bucket(&req.input.bucket)
            .await
            .or_s3()?;
        if b.lifecycle.is_empty() {
            return Err(s3_error!(
                NoSuchLifecycleConfiguration,
                "The lifecycle configuration does not exist"
            ));
        }
        Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
            rules: Some(b.lifecycle.iter().map(to_dto).collect()),
            ..Default::default()
        }))
    }

    pub(super) async fn do_delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.gateway
            .set_bucket_lifecycle(&req.input.bucket, Vec::new())
            .await
            .or_s3()?;
        Ok(S3Response::new(DeleteBucketLifecycleOutput {}))
    }
}
