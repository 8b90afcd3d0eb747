//! Bucket operations: create, head, list, delete, location.

use super::errors::OrS3;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::errors::invalid_argument;
use super::list::{decode_token, encode_token};
use super::{owner, requester, timestamp, MeridianS3};
use meridian_core::access::Ownership;
use meridian_core::catalogue::NewBucket;
use meridian_core::CoreError;

/// Buckets listed per page when the client asks for pages but names no size.
const MAX_BUCKETS_PER_PAGE: usize = 10_000;

/// How a new bucket starts: its ACL (`x-amz-acl` or grant headers), object
/// ownership and Object Lock, checked as AWS checks them.
fn new_bucket(
    headers: &http::HeaderMap,
    input: &CreateBucketInput,
    owner: &str,
) -> S3Result<NewBucket> {
    let canned = input.acl.as_ref().map(|a| a.as_str());
    if matches!(
        canned,
        Some("bucket-owner-read" | "bucket-owner-full-control")
    ) {
        return Err(invalid_argument(format!(
            "canned ACL {canned:?} is for objects, not buckets"
        )));
    }
    let grants = super::acl::requested(canned, headers, owner)?
        .map(|(_, g)| g)
        .unwrap_or_default();
    let ownership = match input.object_ownership.as_ref() {
        Some(o) => super::bucket_protection::parse_ownership(o.as_str())?,
        None => Ownership::Unset,
    };
    if ownership == Ownership::BucketOwnerEnforced && !grants.is_empty() {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidBucketAclWithObjectOwnership,
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
        ));
    }
    Ok(NewBucket {
        object_ownership: ownership.as_u32(),
        object_lock: input.object_lock_enabled_for_bucket == Some(true),
        acl: super::acl::to_stored(&grants),
    })
}

impl MeridianS3 {
    /// The site a new bucket ingests at. A `LocationConstraint` names a site
    /// (any case) or its region. Clients configured for a region send that
    /// region as the constraint without being asked to (the AWS CLI,
    /// boto3); a constraint equal to the signing region or the default
    /// region therefore means "no preference" unless it is a site's.
    fn bucket_site(&self, constraint: Option<&str>, signed_region: Option<&str>) -> S3Result<u32> {
        let Some(wanted) = constraint.map(str::trim).filter(|c| !c.is_empty()) else {
            return Ok(self.site);
        };
        if let Some(site) = self.gateway.topology().site_by_name(wanted) {
            return Ok(site.id.0);
        }
        if let Some(site) = self.regions.site_of(wanted) {
            return Ok(site);
        }
        if signed_region == Some(wanted) || wanted == self.regions.default_region() {
            return Ok(self.site);
        }
        Err(super::errors::s3_error(CoreError::UnknownSite(
            wanted.to_string(),
        )))
    }

    pub(super) async fn do_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let who = requester(&req);
        let region = req.region.as_ref().map(|r| r.as_str().to_string());
        let new = new_bucket(&req.headers, &req.input, &who)?;
        let input = req.input;
        let constraint = input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|c| c.as_str());
        let site = self.bucket_site(constraint, region.as_deref())?;
        match self
            .gateway
            .create_bucket(&input.bucket, &who, site, &new)
            .await
        {
            Ok(()) => {}
            Err(CoreError::BucketExists(m)) => {
                // The two codes differ in what the client should do next, so
                // it is worth one more read to tell them apart.
                let mine = matches!(self.gateway.catalogue().bucket(&input.bucket).await, Ok(b) if b.owner == who);
                let code = if mine {
                    S3ErrorCode::BucketAlreadyOwnedByYou
                } else {
                    S3ErrorCode::BucketAlreadyExists
                };
                return Err(S3Error::with_message(
                    code,
                    format!("bucket already exists: {m}"),
                ));
            }
            Err(e) => return Err(super::errors::s3_error(e)),
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", input.bucket)),
        }))
    }

    pub(super) async fn do_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let b = self
            .gateway
            .catalogue()
            .bucket(&req.input.bucket)
            .await
            .or_s3()?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(self.regions.of_site(b.ingest_site).to_string()),
            ..Default::default()
        }))
    }

    pub(super) async fn do_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let who = requester(&req);
        let admin = super::auth::is_admin(&req);
        let input = req.input;
        let page_size = match input.max_buckets {
            None => None,
            Some(n) if n < 1 => return Err(invalid_argument("max-buckets must be at least 1")),
            Some(n) => Some(
                usize::try_from(n)
                    .unwrap_or(MAX_BUCKETS_PER_PAGE)
                    .min(MAX_BUCKETS_PER_PAGE),
            ),
        };
        let after = input
            .continuation_token
            .as_deref()
            .map(decode_token)
            .transpose()?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut all = self.gateway.catalogue().list_buckets().await.or_s3()?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        // A user sees the buckets it owns or holds a grant on.
        let mut picked = all
            .into_iter()
            .filter(|b| admin || b.owner == who || b.grants.iter().any(|g| g.user == who))
            .filter(|b| b.name.starts_with(&prefix))
            .filter(|b| after.as_deref().is_none_or(|a| b.name.as_str() > a));
        let limit = page_size.unwrap_or(usize::MAX);
        let page: Vec<_> = picked.by_ref().take(limit).collect();
        let more = picked.next().is_some();
        let next = if more {
            page.last().map(|b| encode_token(&b.name))
        } else {
            None
        };
        let buckets = page
            .into_iter()
            .map(|b| Bucket {
                bucket_region: Some(self.regions.of_site(b.ingest_site).to_string()),
                creation_date: Some(timestamp(b.created_ms)),
                name: Some(b.name),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            continuation_token: next,
            owner: Some(owner(&who)),
            prefix: input.prefix,
        }))
    }

    pub(super) async fn do_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        // The catalogue refuses a bucket with objects or versions
        // (BucketNotEmpty); its unfinished uploads go with it.
        self.gateway
            .delete_bucket(&req.input.bucket)
            .await
            .or_s3()?;
        Ok(S3Response::new(DeleteBucketOutput::default()))
    }

    pub(super) async fn do_get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let bucket = self
            .gateway
            .catalogue()
            .bucket(&req.input.bucket)
            .await
            .or_s3()?;
        // The site's region: one every endpoint accepts in signatures.
        let region = self.regions.of_site(bucket.ingest_site).to_string();
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint: Some(BucketLocationConstraint::from(region)),
        }))
    }
}
