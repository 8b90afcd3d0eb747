//! Changes to a bucket's settings, made through the gateway so that its
//! cached copy of the bucket's access record (permissions, versioning,
//! Object Lock, CORS and lifecycle rules) is dropped with every change:
//! the change shows here at once, at other gateways within the cache's TTL.

use meridian_core::catalogue::BucketChange;
use meridian_core::records::{CorsRule, LifecycleRule};
use meridian_core::CoreError;

use crate::service::Objects;

impl Objects {
    /// Drops the cached record whether or not the write went through: a
    /// write that failed late may still have been applied.
    fn settle(&self, bucket: &str, r: Result<(), CoreError>) -> Result<(), CoreError> {
        self.forget_access(bucket);
        r
    }

    pub async fn update_bucket(&self, bucket: &str, change: BucketChange) -> Result<(), CoreError> {
        let r = self.catalogue().update_bucket(bucket, change).await;
        self.settle(bucket, r)
    }

    pub async fn set_bucket_cors(
        &self,
        bucket: &str,
        rules: Vec<CorsRule>,
    ) -> Result<(), CoreError> {
        let r = self.catalogue().set_bucket_cors(bucket, rules).await;
        self.settle(bucket, r)
    }

    pub async fn set_bucket_lifecycle(
        &self,
        bucket: &str,
        rules: Vec<LifecycleRule>,
    ) -> Result<(), CoreError> {
        let r = self.catalogue().set_bucket_lifecycle(bucket, rules).await;
        self.settle(bucket, r)
    }

    /// Sets (or, empty, removes) the bucket's policy.
    pub async fn set_bucket_policy(&self, bucket: &str, policy: &str) -> Result<(), CoreError> {
        let r = self.catalogue().set_bucket_policy(bucket, policy).await;
        self.settle(bucket, r)
    }

    pub async fn set_versioning(
        &self,
        bucket: &str,
        state: meridian_core::records::Versioning,
    ) -> Result<(), CoreError> {
        let r = self.catalogue().set_versioning(bucket, state).await;
        self.settle(bucket, r)
    }

    pub async fn delete_bucket(&self, bucket: &str) -> Result<(), CoreError> {
        let r = self.catalogue().delete_bucket(bucket).await;
        self.settle(bucket, r)
    }
}
