//! PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy: the same policies
//! `meridianctl bucket set-policy` manages, for the bucket's owner (the
//! access check asks for the owner level before these run).

use super::errors::OrS3;
use s3s::dto::*;
use s3s::{s3_error, S3Request, S3Response, S3Result};

use super::MeridianS3;
use meridian_core::access::BucketPolicy;

impl MeridianS3 {
    pub(super) async fn do_put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let input = req.input;
        let policy = BucketPolicy::parse(&input.policy, &input.bucket)
            .map_err(|e| s3_error!(MalformedPolicy, "{}", e.0))?;
        let blocked = self
            .gateway
            .bucket_access(&input.bucket)
            .await
            .or_s3()?
            .is_some_and(|a| a.public_block.block_public_policy);
        if blocked && policy.is_public() {
            return Err(s3_error!(
                AccessDenied,
                "Access Denied: public policies are blocked on this bucket (BlockPublicPolicy)"
            ));
        }
        self.gateway
            .set_bucket_policy(&input.bucket, &input.policy)
            .await
            .or_s3()?;
        Ok(S3Response::new(PutBucketPolicyOutput::default()))
    }

    pub(super) async fn do_get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let b = self
            .gateway
            .catalogue()
            .bucket(&req.input.bucket)
            .await
            .or_s3()?;
        if b.policy.is_empty() {
            return Err(s3_error!(
                NoSuchBucketPolicy,
                "The bucket policy does not exist"
            ));
        }
        Ok(S3Response::new(GetBucketPolicyOutput {
            policy: Some(b.policy),
        }))
    }

    pub(super) async fn do_delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        let bucket = req.input.bucket;
        self.gateway.set_bucket_policy(&bucket, "").await.or_s3()?;
        Ok(S3Response::new(DeleteBucketPolicyOutput::default()))
    }
}
