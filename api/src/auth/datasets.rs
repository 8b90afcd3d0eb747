//! Who may do what to a dataset (`meridian_core::access::dataset`),
//! within a token's scopes and a signature's resource. Datasets are named
//! as resources under `/.datasets` (a name no bucket can have): a signed
//! request covers `/.datasets/NAME`, and a token's scope reaches them the
//! same way (`storage.read:/.datasets` reads every dataset the user may,
//! `storage.modify:/.datasets/run-42` changes that one; `storage.*:/`
//! covers them as it covers everything).

use meridian_core::access::bucket_policy::BucketPolicy;
use meridian_core::access::dataset::{decide_dataset, GET};
use meridian_core::clock::utc_now;
use meridian_core::dataset::DatasetRecord;
use tonic::Status;

use super::scope::Access;
use super::{denied, outcome, signed, ClientAuth, Identity};

/// The resource "bucket" datasets are named under.
pub const DATASETS: &str = ".datasets";

/// The resource a call on dataset `name` acts on (`None`: on all).
pub fn dataset_resource(name: Option<&str>) -> String {
    signed::resource(DATASETS, name)
}

/// What a token's scope must grant for `action`.
fn needs(action: &str) -> Access {
    if action == GET {
        Access::Read
    } else {
        Access::Modify
    }
}

impl ClientAuth {
    /// Whether `id` may do `action` (a `meridian:*Dataset` action) to `d`;
    /// a refusal is audited.
    pub async fn authorize_dataset(
        &self,
        id: &Identity,
        d: &DatasetRecord,
        action: &str,
    ) -> Result<(), Status> {
        let decided = self.decide_dataset(id, d, action);
        if let Err(s) = &decided {
            self.record(id, "client", &dataset_resource(Some(&d.name)), &outcome(s))
                .await;
        }
        decided
    }

    fn decide_dataset(&self, id: &Identity, d: &DatasetRecord, action: &str) -> Result<(), Status> {
        let target = dataset_resource(Some(&d.name));
        id.acts_on(&target)?;
        if let Some(s) = &id.scopes {
            if !s.allows(needs(action), DATASETS, &d.name) {
                return Err(denied(format!(
                    "the token's scope ({s}) does not allow {action} on {target}"
                )));
            }
        }
        if self.may_dataset(id, d, action) {
            Ok(())
        } else {
            Err(denied(format!("{} may not {action} on {target}", id.who())))
        }
    }

    /// The dataset rules alone (no signature or scope check): for
    /// listings, where the caller's signature covers `/.datasets`.
    fn may_dataset(&self, id: &Identity, d: &DatasetRecord, action: &str) -> bool {
        let policy = if d.policy.is_empty() {
            None
        } else {
            // A stored policy that no longer parses fails closed.
            Some(
                BucketPolicy::parse_dataset_stored(&d.policy, &d.name)
                    .unwrap_or_else(|_| BucketPolicy::deny_all()),
            )
        };
        let facts = id.facts(utc_now(self.objects.clock().as_ref()));
        decide_dataset(&id.caller, d, policy.as_ref(), action, &facts)
    }

    /// Whether `id` may do `action` to `d`, asked quietly (nothing is
    /// refused or audited: it only decides what an answer shows).
    pub fn sees_dataset_as(&self, id: &Identity, d: &DatasetRecord, action: &str) -> bool {
        self.decide_dataset(id, d, action).is_ok()
    }

    /// Whether `id` sees `d` in a listing: it may read it, and a token's
    /// scope reaches it.
    pub fn sees_dataset(&self, id: &Identity, d: &DatasetRecord) -> bool {
        if let Some(s) = &id.scopes {
            if !s.allows(Access::Read, DATASETS, &d.name) {
                return false;
            }
        }
        self.may_dataset(id, d, GET)
    }

    /// Whether `id` may call a listing over all datasets.
    pub async fn may_list_datasets(&self, id: &Identity) -> Result<(), Status> {
        let decided = id.acts_on(&dataset_resource(None));
        if let Err(s) = &decided {
            self.record(id, "client", &dataset_resource(None), &outcome(s))
                .await;
        }
        decided
    }

    /// Whether `id` may call a search of files (over every bucket: the
    /// answers are narrowed to what it may list).
    pub async fn may_search_files(&self, id: &Identity) -> Result<(), Status> {
        let all = signed::resource("", None);
        let decided = id.acts_on(&all);
        if let Err(s) = &decided {
            self.record(id, "client", &all, &outcome(s)).await;
        }
        decided
    }

    /// Whether `id` may create dataset `name`: any signed user may, as
    /// buckets, within a token's scope; nobody anonymous.
    pub async fn may_create_dataset(&self, id: &Identity, name: &str) -> Result<(), Status> {
        let target = dataset_resource(Some(name));
        let decided = id.acts_on(&target).and_then(|()| match &id.scopes {
            Some(s) if !s.allows(Access::Modify, DATASETS, name) => Err(denied(format!(
                "the token's scope ({s}) does not allow creating {target}"
            ))),
            _ if matches!(id.caller, meridian_core::access::Caller::Anonymous) => {
                Err(denied("an anonymous caller may not create a dataset"))
            }
            _ => Ok(()),
        });
        if let Err(s) = &decided {
            self.record(id, "client", &target, &outcome(s)).await;
        }
        decided
    }
}
