//! Who signed a request (s3s's [`S3Auth`]) and whether they may do what it
//! asks ([`S3Access`]), before the operation runs: a denied request changes
//! nothing.
//!
//! The root key (from the environment) is the administrator; every other
//! key belongs to a user in the catalogue. The decision itself is
//! [`meridian_core::access::decide`]; this module maps operations onto IAM actions
//! ([`meridian_core::access::actions`]), gathers the request's condition keys
//! (`facts.rs`), and leaves to the operation what depends on the object.

use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{s3_error, S3Result};

use meridian_core::access::{actions, decide, BucketAccess, Caller, Facts, ObjectAccess, Verdict};
use meridian_objects::Objects;

/// The owner name of what the administrator creates.
pub const ADMIN_USER: &str = "root";

pub(super) struct Keys {
    pub gateway: Arc<Objects>,
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
    pub gateway: Arc<Objects>,
    pub root_access_key: String,
    /// Whether SigV2 is accepted (POST forms are checked here; headers and
    /// presigned URLs by the listener).
    pub sigv2: bool,
}

/// A POST Object's decision, made once its key (a form field) is known.
#[derive(Debug, Clone)]
struct PostCheck {
    caller: Caller,
    facts: Facts,
    access: Arc<BucketAccess>,
}

/// The request's condition keys, kept for the operations that decide
/// again per key (DeleteObjects) or for a second resource (copy sources).
#[derive(Debug, Clone)]
pub(super) struct RequestFacts(pub Facts);

/// A decision that waits for the object (its ACL, owner or tags): the
/// operation finishes it once it has read the object.
#[derive(Debug, Clone)]
pub(super) struct Deferred {
    pub caller: Caller,
    pub action: &'static str,
    pub key: String,
    pub facts: Facts,
    pub access: Arc<BucketAccess>,
}

/// Operations that read their object before doing anything, and finish a
/// deferred decision there. Any other operation is decided without the
/// object: its ACL counts for nothing, and object-tag conditions see no tags.
fn deferrable(op: &str) -> bool {
    matches!(
        op,
        "GetObject"
            | "HeadObject"
            | "GetObjectAttributes"
            | "GetObjectTagging"
            | "PutObjectTagging"
            | "DeleteObjectTagging"
            | "GetObjectAcl"
            | "PutObjectAcl"
    )
}

fn denied() -> s3s::S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

pub(super) fn header_true(h: &http::HeaderMap, name: &str) -> bool {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// What a write asks beside writing, from the headers it carries (a
/// form's fields, for POST): setting the new object's ACL
/// (`s3:PutObjectAcl`; not for `bucket-owner-full-control` alone, which
/// only hands the bucket's owner what it may have anyway), its tags, its
/// retention or legal hold.
fn write_needs(h: &http::HeaderMap) -> Vec<&'static str> {
    let mut needs = Vec::new();
    let canned = h.get("x-amz-acl").and_then(|v| v.to_str().ok());
    let grants = h.keys().any(|k| k.as_str().starts_with("x-amz-grant-"));
    if grants || canned.is_some_and(|c| c != "bucket-owner-full-control") {
        needs.push("s3:PutObjectAcl");
    }
    if h.contains_key("x-amz-tagging") {
        needs.push("s3:PutObjectTagging");
    }
    if h.contains_key("x-amz-object-lock-mode") {
        needs.push("s3:PutObjectRetention");
    }
    if h.contains_key("x-amz-object-lock-legal-hold") {
        needs.push("s3:PutObjectLegalHold");
    }
    needs
}

/// Whether `caller` may also do each of `needs` on `key`; the ACL it gives
/// a new object is its own to give (it owns what it makes).
fn allowed_all(
    caller: &Caller,
    access: &BucketAccess,
    needs: &[&str],
    key: Option<&str>,
    facts: &Facts,
) -> bool {
    let writer = match caller {
        Caller::User(u) => u.as_str(),
        _ => super::ANONYMOUS_OWNER,
    };
    let new_object = ObjectAccess {
        owner: writer,
        acl: &[],
    };
    needs.iter().all(|need| {
        let object = (*need == "s3:PutObjectAcl").then_some(new_object);
        decide(caller, access, need, key, facts, object) == Verdict::Allow
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
            Ok(None) => Err(denied()),
            Err(e) => Err(super::errors::s3_error(e)),
        }
    }
}

#[async_trait::async_trait]
impl S3Access for Permissions {
    async fn post_object(
        &self,
        req: &mut s3s::S3Request<s3s::dto::PostObjectInput>,
    ) -> S3Result<()> {
        // A form signed with SigV2 carries no region.
        if !self.sigv2 && req.credentials.is_some() && req.region.is_none() {
            return Err(s3_error!(
                InvalidRequest,
                "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
            ));
        }
        // No bucket (it answers NoSuchBucket), or decided already.
        let Some(p) = req.extensions.get::<PostCheck>().cloned() else {
            return match req.extensions.get::<Caller>() {
                Some(Caller::Anonymous) => Err(denied()),
                _ => Ok(()),
            };
        };
        let key = super::post_object::form_key(&req.input.key, &req.headers);
        let form = super::post_object::form_headers(&req.headers, &req.input)?;
        let tags = super::post_object::form_tagging(&req.headers, &req.input)?;
        let mut facts = p.facts;
        super::facts::add_form(&mut facts, &form, &tags);
        facts.set("s3:authType", "POST");
        let mut needs = vec!["s3:PutObject"];
        needs.extend(write_needs(&form));
        if !tags.is_empty() {
            needs.push("s3:PutObjectTagging");
        }
        if !allowed_all(&p.caller, &p.access, &needs, Some(&key), &facts) {
            return Err(denied());
        }
        Ok(())
    }

    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let caller = self.caller(cx).await?;
        cx.extensions_mut().insert(caller.clone());
        let op = cx.s3_op().name().to_string();
        let op = op.as_str();
        let versioned = cx
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p.starts_with("versionId=")));
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let Some(need) = actions::of_operation(op, versioned) else {
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
        let Some(access) = access else {
            // The operation answers NoSuchBucket; only a signed caller
            // learns that a name is free.
            return match caller {
                Caller::Anonymous => Err(denied()),
                _ => Ok(()),
            };
        };
        let peer = cx.extensions_mut().get::<super::facts::Peer>().copied();
        let mut facts = super::facts::gather(
            &caller,
            cx.headers(),
            cx.uri(),
            peer,
            super::utc_now(self.gateway.clock().as_ref()),
        );
        if matches!(op, "ListObjects" | "ListObjectsV2" | "ListObjectVersions") {
            // A listing without a prefix lists from the top: AWS matches it
            // as the empty prefix (the `"s3:prefix": ["", "home/"]` idiom).
            facts
                .keys
                .entry("s3:prefix".into())
                .or_insert_with(|| vec![String::new()]);
        }
        let defer = deferrable(op);
        if !defer {
            // Decided without the object: its tags are not in the request.
            facts.object_tags = Some(Default::default());
        }
        let mut needs = Vec::new();
        if matches!(op, "PutObject" | "CopyObject" | "CreateMultipartUpload") {
            needs = write_needs(cx.headers());
        }
        // DeleteObjects asks for the bypass per key, in the operation.
        if matches!(op, "DeleteObject" | "PutObjectRetention")
            && header_true(cx.headers(), "x-amz-bypass-governance-retention")
        {
            needs.push("s3:BypassGovernanceRetention");
        }
        if !allowed_all(&caller, &access, &needs, key.as_deref(), &facts) {
            return Err(denied());
        }
        cx.extensions_mut().insert(RequestFacts(facts.clone()));
        // DeleteObjects names its keys in the body: it decides per key;
        // POST Object in a form field, known only after the form is read.
        if op == "DeleteObjects" {
            return Ok(());
        }
        if op == "PostObject" {
            cx.extensions_mut().insert(PostCheck {
                caller,
                facts,
                access,
            });
            return Ok(());
        }
        // The tags PutObjectTagging sets are in its body: decided there,
        // with them and the object.
        let verdict = if op == "PutObjectTagging" {
            Verdict::NeedObject
        } else {
            decide(&caller, &access, need.action, key.as_deref(), &facts, None)
        };
        match verdict {
            Verdict::Allow => Ok(()),
            Verdict::NeedObject if defer => {
                cx.extensions_mut().insert(Deferred {
                    caller,
                    action: need.action,
                    key: key.unwrap_or_default(),
                    facts,
                    access,
                });
                Ok(())
            }
            _ => Err(denied()),
        }
    }
}

/// Finishes a decision that waited for the object, now read as `record`.
pub(super) fn authorize_object(
    deferred: Option<&Deferred>,
    record: &meridian_core::records::ObjectRecord,
) -> S3Result<()> {
    let Some(d) = deferred else {
        return Ok(());
    };
    let mut facts = d.facts.clone();
    facts.object_tags = Some(record.tags.clone());
    let acl = super::acl::grants_of(&record.acl);
    let object = ObjectAccess {
        owner: &record.owner,
        acl: &acl,
    };
    match decide(
        &d.caller,
        &d.access,
        d.action,
        Some(&d.key),
        &facts,
        Some(object),
    ) {
        Verdict::Allow => Ok(()),
        _ => Err(denied()),
    }
}

/// The answer for an object that is not there when the decision waited
/// for it: the 404 only to a caller who may list the bucket (else anyone
/// could probe for keys), AccessDenied to the rest, as AWS answers.
pub(super) fn missing_object(deferred: Option<&Deferred>, not_found: s3s::S3Error) -> s3s::S3Error {
    let Some(d) = deferred else {
        return not_found;
    };
    match decide(&d.caller, &d.access, "s3:ListBucket", None, &d.facts, None) {
        Verdict::Allow => not_found,
        _ => denied(),
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

/// The request's condition keys (none where no check ran: tests calling
/// the S3 trait directly, as the administrator).
pub(super) fn request_facts<T>(req: &s3s::S3Request<T>) -> Facts {
    req.extensions
        .get::<RequestFacts>()
        .map(|f| f.0.clone())
        .unwrap_or_default()
}

/// Whether the request's caller is the administrator (or unchecked, in
/// tests that call the S3 trait directly).
pub(super) fn is_admin<T>(req: &s3s::S3Request<T>) -> bool {
    matches!(req.extensions.get::<Caller>(), Some(Caller::Admin) | None)
}
