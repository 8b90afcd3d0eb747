//! Who is calling the client API, and whether they may do what they ask.
//!
//! Every call carries one credential: a signed request ([`signed`]: an
//! access key of the same users and keys as S3, its secret never on the
//! wire) or a bearer token ([`token`]: WLCG profile, scoped). A call with
//! neither, or with a credential that does not hold, is `Unauthenticated`;
//! one whose caller may not act is `PermissionDenied`; either way before
//! anything is read or written. Permissions are the S3 rules
//! (`meridian_core::access::decide`: owner, grants, bucket policy, explicit
//! deny), and a token's scopes narrow them further.

pub mod client;
pub mod datasets;
pub mod gate;
pub mod replay;
pub mod scope;
pub mod signed;
pub mod token;

use std::net::SocketAddr;
use std::sync::Arc;

use meridian_core::access::{decide, Caller, Facts, ObjectAccess, Verdict};
use meridian_core::catalogue::WriteCondition;
use meridian_core::clock::utc_now;
use meridian_core::{CoreError, SharedClock};
use meridian_objects::Objects;
use tonic::metadata::MetadataMap;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Request, Status};

use crate::audit::{AuditEvent, AuditLog};
use scope::{Access, Scopes};
use signed::Signed;
use token::TokenVerifier;

/// Users by these names own nothing a caller may act as.
const NOBODY: [&str; 2] = ["root", "anonymous"];

/// The caller of one request.
#[derive(Debug, Clone)]
pub struct Identity {
    pub caller: Caller,
    /// A token's scopes: what it may touch, within what its user may.
    pub scopes: Option<Scopes>,
    /// What a signature covers: the request must act on it.
    pub resource: Option<String>,
    /// The credential, for logs and the audit (`key MK...`, `token JTI of ISS`).
    pub credential: String,
    pub peer: Option<SocketAddr>,
    /// The call came over TLS.
    pub secure: bool,
    /// The method called, for the audit.
    pub method: String,
}

impl Identity {
    /// The name objects this caller writes are owned by.
    pub fn owner(&self) -> String {
        match &self.caller {
            Caller::Admin => "root".into(),
            Caller::User(u) => u.clone(),
            Caller::Anonymous => "anonymous".into(),
        }
    }

    /// `Ok` unless a signature covers another resource than `target`.
    fn acts_on(&self, target: &str) -> Result<(), Status> {
        match &self.resource {
            Some(r) if r != target => Err(denied(format!(
                "the request was signed for {r}, but acts on {target}"
            ))),
            _ => Ok(()),
        }
    }

    /// Who, for logs and the audit.
    pub fn who(&self) -> String {
        match &self.caller {
            Caller::Admin => "admin".into(),
            Caller::User(u) => format!("user {u}"),
            Caller::Anonymous => "anonymous".into(),
        }
    }

    /// What a write of `bucket/key` by this caller must commit under: a
    /// token that may create but not modify writes only where nothing is
    /// (checked in the commit itself, so two writers cannot both pass).
    pub fn write_condition(&self, bucket: &str, key: &str) -> WriteCondition {
        match &self.scopes {
            Some(s) if !s.allows(Access::Modify, bucket, key) => WriteCondition::IfAbsent,
            _ => WriteCondition::Always,
        }
    }

    /// The condition keys of this call at `now`, as S3's would have.
    fn facts(&self, now: time::OffsetDateTime) -> Facts {
        Facts::of_request(&self.caller, self.peer.map(|p| p.ip()), self.secure, now)
    }
}

/// How a refused call ended, for the audit.
pub fn outcome(s: &Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

fn unauthenticated(why: impl std::fmt::Display) -> Status {
    Status::unauthenticated(why.to_string())
}

fn denied(why: impl std::fmt::Display) -> Status {
    Status::permission_denied(why.to_string())
}

fn text<'a>(meta: &'a MetadataMap, name: &str) -> Result<&'a str, Status> {
    meta.get(name)
        .ok_or_else(|| unauthenticated(format!("a signed request needs {name}")))?
        .to_str()
        .map_err(|_| unauthenticated(format!("{name} is not text")))
}

/// Authenticates and authorizes the client API's callers.
pub struct ClientAuth {
    objects: Arc<Objects>,
    /// The administrator's access key and secret.
    root: (String, String),
    tokens: TokenVerifier,
    replay: replay::ReplayCache,
    /// The wall clock a signed request's time is held against: a client
    /// stamps its request with its own, whatever this process's data clock
    /// says (tests move that one forward).
    wall: SharedClock,
    audit: AuditLog,
}

/// Where a call came from: its peer, and whether over TLS.
pub fn origin(ext: &http::Extensions) -> (Option<SocketAddr>, bool) {
    if let Some(tls) = ext.get::<TlsConnectInfo<TcpConnectInfo>>() {
        return (tls.get_ref().remote_addr(), true);
    }
    (
        ext.get::<TcpConnectInfo>().and_then(|i| i.remote_addr()),
        false,
    )
}

impl ClientAuth {
    pub fn new(
        objects: Arc<Objects>,
        root: (String, String),
        tokens: TokenVerifier,
        wall: SharedClock,
        audit: AuditLog,
    ) -> Self {
        ClientAuth {
            objects,
            root,
            tokens,
            replay: replay::ReplayCache::new(replay::CAPACITY),
            wall,
            audit,
        }
    }

    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The caller of `req`, a call of `method` (`/package.Service/Method`);
    /// a refusal is audited.
    pub async fn identify<T>(&self, req: &Request<T>, method: &str) -> Result<Identity, Status> {
        let (peer, secure) = origin(req.extensions());
        self.identify_parts(req.metadata(), method, (peer, secure), "client")
            .await
    }

    /// [`identify`](Self::identify) from a call's parts; `port` names the
    /// listener for the audit.
    pub async fn identify_parts(
        &self,
        meta: &MetadataMap,
        method: &str,
        (peer, secure): (Option<SocketAddr>, bool),
        port: &str,
    ) -> Result<Identity, Status> {
        let found = if meta.contains_key("authorization") {
            self.bearer(meta)
        } else if meta.contains_key(signed::SIGNATURE) {
            self.signed(meta, method).await
        } else {
            Err(unauthenticated(
                "no credential: sign the request with an access key \
                 (x-meridian-access-key, -time, -nonce, -resource, -signature) \
                 or send a bearer token (authorization: Bearer ...)",
            ))
        };
        match found {
            Ok((caller, scopes, resource, credential)) => Ok(Identity {
                caller,
                scopes,
                resource,
                credential,
                peer,
                secure,
                method: method.to_string(),
            }),
            Err(status) => {
                let presented = meta
                    .get(signed::ACCESS_KEY)
                    .and_then(|v| v.to_str().ok())
                    .map(|k| format!("key {k}"))
                    .unwrap_or_else(|| {
                        if meta.contains_key("authorization") {
                            "a bearer token".into()
                        } else {
                            "none".into()
                        }
                    });
                self.audit
                    .record(AuditEvent {
                        time_ms: self.wall.now_ms(),
                        who: "unknown".into(),
                        credential: presented,
                        from: peer.map(|p| p.to_string()).unwrap_or_default(),
                        port: port.into(),
                        method: method.into(),
                        resource: meta
                            .get(signed::RESOURCE)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .into(),
                        outcome: outcome(&status),
                    })
                    .await;
                Err(status)
            }
        }
    }

    /// Records what `id` did to `resource` and how it ended.
    pub async fn record(&self, id: &Identity, port: &str, resource: &str, result: &str) {
        self.audit
            .record(AuditEvent {
                time_ms: self.wall.now_ms(),
                who: id.who(),
                credential: id.credential.clone(),
                from: id.peer.map(|p| p.to_string()).unwrap_or_default(),
                port: port.into(),
                method: id.method.clone(),
                resource: resource.into(),
                outcome: result.into(),
            })
            .await;
    }

    #[allow(clippy::type_complexity)]
    fn bearer(
        &self,
        meta: &MetadataMap,
    ) -> Result<(Caller, Option<Scopes>, Option<String>, String), Status> {
        let value = meta
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthenticated("the authorization header is not text"))?;
        // The scheme is case-insensitive (RFC 7235).
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .ok_or_else(|| unauthenticated("authorization is not `Bearer <token>`"))?;
        let t = self
            .tokens
            .verify(token, self.objects.now_ms())
            .map_err(unauthenticated)?;
        if NOBODY.contains(&t.user.as_str()) {
            return Err(unauthenticated(format!(
                "a token may not act as {:?}",
                t.user
            )));
        }
        let credential = format!("token {} of {}", t.jti, t.issuer);
        Ok((Caller::User(t.user), Some(t.scopes), None, credential))
    }

    #[allow(clippy::type_complexity)]
    async fn signed(
        &self,
        meta: &MetadataMap,
        method: &str,
    ) -> Result<(Caller, Option<Scopes>, Option<String>, String), Status> {
        let access_key = text(meta, signed::ACCESS_KEY)?;
        let time_ms: i64 = text(meta, signed::TIME)?
            .parse()
            .map_err(|_| unauthenticated("x-meridian-time is not a time in ms"))?;
        let nonce = text(meta, signed::NONCE)?;
        if !signed::valid_nonce(nonce) {
            return Err(unauthenticated(format!(
                "x-meridian-nonce must be {} to {} characters of [A-Za-z0-9_-]",
                signed::NONCE_MIN,
                signed::NONCE_MAX
            )));
        }
        let resource = text(meta, signed::RESOURCE)?;
        let signature = text(meta, signed::SIGNATURE)?;
        let now = self.wall.now_ms();
        let window = signed::WINDOW.as_millis() as i64;
        // abs_diff: a hostile time (i64::MIN) neither overflows nor wraps
        // into the window.
        if now.abs_diff(time_ms) > window.unsigned_abs() {
            return Err(unauthenticated(format!(
                "the request's time is {} s from the server's, outside the {} s window \
                 (an old or replayed request, or a client clock that is wrong)",
                now.saturating_sub(time_ms) / 1000,
                window / 1000
            )));
        }
        let (caller, secret) = if access_key == self.root.0 {
            (Caller::Admin, self.root.1.clone())
        } else {
            match self
                .objects
                .access_key(access_key)
                .await
                .map_err(crate::status)?
            {
                Some(k) => (Caller::User(k.user), k.secret),
                None => {
                    return Err(unauthenticated(format!(
                        "access key {access_key} does not exist or was revoked"
                    )))
                }
            }
        };
        let req = Signed {
            access_key: access_key.to_string(),
            time_ms,
            nonce: nonce.to_string(),
            method: method.to_string(),
            resource: resource.to_string(),
        };
        if !req.verify(&secret, signature) {
            return Err(unauthenticated(format!(
                "the signature does not match: check the secret of {access_key}, \
                 and that the method ({method}) and resource ({resource}) signed are these"
            )));
        }
        // Only a good signature is remembered: a stranger cannot fill the
        // cache.
        match self
            .replay
            // Remembered one ms past the last instant the window admits
            // the time, so no instant accepts it twice.
            .admit(
                format!("{access_key}:{nonce}"),
                time_ms.saturating_add(window).saturating_add(1),
                now,
            ) {
            Ok(()) => {}
            Err(replay::Refusal::Replayed) => {
                return Err(unauthenticated(format!(
                    "replayed request: nonce {nonce} of {access_key} was used already"
                )))
            }
            Err(replay::Refusal::Full) => {
                return Err(Status::resource_exhausted(
                    "too many signed requests in the replay window; retry shortly",
                ))
            }
        }
        Ok((
            caller,
            None,
            Some(resource.to_string()),
            format!("key {access_key}"),
        ))
    }

    /// Whether `id` may do `action` (an IAM action name) to `bucket` (and
    /// `key`); `need` is what a token's scope must grant on `bucket`/`scope_key`
    /// (a key, or a listing's prefix).
    pub async fn authorize(
        &self,
        id: &Identity,
        (bucket, key): (&str, Option<&str>),
        action: &'static str,
        (need, scope_key): (Access, &str),
    ) -> Result<(), Status> {
        let mut decided = self
            .decide(id, (bucket, key), action, (need, scope_key))
            .await;
        if decided.is_ok() {
            // After the bucket's rules: a caller they refuse does not learn
            // here whether the key exists.
            decided = self
                .creates_only_new(id, (bucket, key), (need, scope_key))
                .await;
        }
        self.audited(id, (bucket, key), decided).await
    }

    /// As [`authorize`](Self::authorize) but for a write already made (a
    /// commit retried after its answer was lost): a create-only token is
    /// not refused because the key now holds what it created.
    pub async fn authorize_made(
        &self,
        id: &Identity,
        (bucket, key): (&str, Option<&str>),
        action: &'static str,
        (need, scope_key): (Access, &str),
    ) -> Result<(), Status> {
        let decided = self
            .decide(id, (bucket, key), action, (need, scope_key))
            .await;
        self.audited(id, (bucket, key), decided).await
    }

    /// `decided`, its refusal recorded in the audit.
    async fn audited(
        &self,
        id: &Identity,
        (bucket, key): (&str, Option<&str>),
        decided: Result<(), Status>,
    ) -> Result<(), Status> {
        if let Err(s) = &decided {
            if matches!(s.code(), tonic::Code::PermissionDenied) {
                self.record(id, "client", &signed::resource(bucket, key), &outcome(s))
                    .await;
            }
        }
        decided
    }

    async fn decide(
        &self,
        id: &Identity,
        (bucket, key): (&str, Option<&str>),
        action: &'static str,
        (need, scope_key): (Access, &str),
    ) -> Result<(), Status> {
        let target = signed::resource(bucket, key);
        id.acts_on(&target)?;
        if id.caller == Caller::Admin && id.scopes.is_none() {
            // The administrator may do anything; the operation itself says
            // whether the bucket is there (a stale read, at a node cut off
            // from its voters, need not reach them for this).
            return Ok(());
        }
        if let Some(s) = &id.scopes {
            if !s.allows(need, bucket, scope_key) {
                return Err(denied(format!(
                    "the token's scope ({s}) does not allow {need:?} on {target}"
                )));
            }
        }
        let access = self
            .objects
            .bucket_access(bucket)
            .await
            .map_err(crate::status)?
            .ok_or_else(|| crate::status(CoreError::NoSuchBucket(bucket.to_string())))?;
        let mut facts = id.facts(utc_now(self.objects.clock().as_ref()));
        if action == "s3:ListBucket" {
            facts.set("s3:prefix", scope_key);
        }
        if action != "s3:GetObject" {
            // Decided without the object (as S3 decides all but reads):
            // its tags are not in the request.
            facts.object_tags = Some(Default::default());
        }
        let refused = || denied(format!("{} may not {action} on {target}", id.who()));
        match decide(&id.caller, &access, action, key, &facts, None) {
            Verdict::Allow => Ok(()),
            Verdict::Deny => Err(refused()),
            Verdict::NeedObject => {
                let Some(k) = key else {
                    return Err(refused());
                };
                let rec = match self.objects.catalogue().object(bucket, k).await {
                    Ok(r) => r,
                    // Only a caller who may list learns the key is absent.
                    Err(e @ CoreError::NoSuchKey(_)) => {
                        return match decide(
                            &id.caller,
                            &access,
                            "s3:ListBucket",
                            None,
                            &facts,
                            None,
                        ) {
                            Verdict::Allow => Err(crate::status(e)),
                            _ => Err(refused()),
                        }
                    }
                    Err(e) => return Err(crate::status(e)),
                };
                facts.object_tags = Some(rec.tags.clone());
                let acl = meridian_core::access::acl::grants_of(&rec.acl);
                let object = ObjectAccess {
                    owner: &rec.owner,
                    acl: &acl,
                };
                match decide(&id.caller, &access, action, key, &facts, Some(object)) {
                    Verdict::Allow => Ok(()),
                    _ => Err(refused()),
                }
            }
        }
    }

    /// A token that may create but not modify writes new objects only.
    async fn creates_only_new(
        &self,
        id: &Identity,
        (bucket, key): (&str, Option<&str>),
        (need, scope_key): (Access, &str),
    ) -> Result<(), Status> {
        let (Some(s), Some(k)) = (&id.scopes, key) else {
            return Ok(());
        };
        if need != Access::Create || s.allows(Access::Modify, bucket, scope_key) {
            return Ok(());
        }
        match self.objects.catalogue().object(bucket, k).await {
            Ok(_) => Err(denied(format!(
                "{} exists, and the token may create, not modify",
                signed::resource(bucket, key)
            ))),
            Err(CoreError::NoSuchKey(_)) | Err(CoreError::DeleteMarker(_)) => Ok(()),
            Err(e) => Err(crate::status(e)),
        }
    }

    /// Whether `id` may create bucket `name` (any authenticated caller may,
    /// within a token's scope).
    pub async fn may_create_bucket(&self, id: &Identity, name: &str) -> Result<(), Status> {
        let decided = Self::creates(id, name);
        if let Err(s) = &decided {
            self.record(id, "client", &signed::resource(name, None), &outcome(s))
                .await;
        }
        decided
    }

    fn creates(id: &Identity, name: &str) -> Result<(), Status> {
        let target = signed::resource(name, None);
        id.acts_on(&target)?;
        match &id.scopes {
            Some(s) if !s.allows(Access::Modify, name, "") => Err(denied(format!(
                "the token's scope ({s}) does not allow creating {target}"
            ))),
            _ => Ok(()),
        }
    }

    /// Whether `id` may list `bucket` where `key` is (a search's answer is
    /// a listing): no refusal is audited, the answer is only narrowed.
    pub async fn may_see_listed(&self, id: &Identity, bucket: &str, key: &str) -> bool {
        let mut quiet = id.clone();
        // The signature covers the search, not each answer.
        quiet.resource = None;
        self.decide(&quiet, (bucket, None), "s3:ListBucket", (Access::Read, key))
            .await
            .is_ok()
    }

    /// Whether `id` sees bucket `name` (owned or granted) in a listing.
    pub async fn sees_bucket(&self, id: &Identity, name: &str) -> bool {
        if let Some(s) = &id.scopes {
            if !s.touches(name) {
                return false;
            }
        }
        match &id.caller {
            Caller::Admin => true,
            Caller::Anonymous => false,
            Caller::User(u) => match self.objects.bucket_access(name).await {
                Ok(Some(a)) => {
                    a.owner == *u
                        || a.grants.iter().any(|g| {
                            matches!(&g.grantee, meridian_core::access::Grantee::User(x) if x == u)
                                && g.level.is_some()
                        })
                }
                _ => false,
            },
        }
    }
}
