//! The admin API's users, keys and bucket permissions.

use meridian_core::access::{BucketPolicy, Level};
use meridian_meta::{MetaError, OutcomeCode};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::*;
use tonic::Status;

use super::AdminApi;
use crate::keyring::{new_access_key, new_secret};

/// Users listed at most.
const MAX_USERS: usize = 10_000;

fn meta_status(e: MetaError) -> Status {
    match e {
        MetaError::Rejected { code, message } => match code {
            OutcomeCode::NoSuchUser => Status::not_found(format!("no such user: {message}")),
            OutcomeCode::NoSuchAccessKey => {
                Status::not_found(format!("no such access key: {message}"))
            }
            OutcomeCode::NoSuchBucket => Status::not_found(format!("no such bucket: {message}")),
            OutcomeCode::UserExists => Status::already_exists(format!("user exists: {message}")),
            _ => Status::failed_precondition(message),
        },
        MetaError::Unavailable(m) => Status::unavailable(m),
        other => Status::internal(other.to_string()),
    }
}

async fn reader(api: &AdminApi) -> Result<meridian_meta::catalogue::CatalogueReader, Status> {
    api.meta.read_barrier().await.map_err(meta_status)
}

async fn write(api: &AdminApi, op: Op) -> Result<(), Status> {
    api.meta
        .write_one(meridian_meta::command(op))
        .await
        .map(|_| ())
        .map_err(meta_status)
}

fn user_info(
    r: &meridian_meta::catalogue::CatalogueReader,
    u: UserRecord,
) -> Result<UserInfo, Status> {
    let keys = r
        .keys_of(&u.name)
        .map_err(|e| Status::internal(e.to_string()))?;
    Ok(UserInfo {
        name: u.name,
        created_ms: u.created_ms,
        keys: keys.len() as u32,
    })
}

pub(crate) async fn user_create(api: &AdminApi, name: String) -> Result<UserInfo, Status> {
    write(
        api,
        Op::CreateUser(CreateUserCmd {
            name: name.clone(),
            now_ms: api.data.clock().now_ms(),
        }),
    )
    .await?;
    let r = reader(api).await?;
    let u = r
        .user(&name)
        .map_err(|e| Status::internal(e.to_string()))?
        .ok_or_else(|| Status::internal("the user just created is not there"))?;
    user_info(&r, u)
}

pub(crate) async fn user_list(api: &AdminApi) -> Result<UserListResponse, Status> {
    let r = reader(api).await?;
    let users = r
        .users(MAX_USERS)
        .map_err(|e| Status::internal(e.to_string()))?
        .into_iter()
        .map(|u| user_info(&r, u))
        .collect::<Result<_, _>>()?;
    Ok(UserListResponse { users })
}

pub(crate) async fn user_delete(api: &AdminApi, name: String) -> Result<UserInfo, Status> {
    let r = reader(api).await?;
    let u = r
        .user(&name)
        .map_err(|e| Status::internal(e.to_string()))?
        .ok_or_else(|| Status::not_found(format!("no such user: {name}")))?;
    let info = user_info(&r, u)?;
    write(api, Op::DeleteUser(DeleteUserCmd { name })).await?;
    Ok(info)
}

pub(crate) async fn key_create(api: &AdminApi, user: String) -> Result<NewAccessKey, Status> {
    let (access_key, secret) = (new_access_key(), new_secret());
    let sealed_secret = api.keyring.seal(&access_key, &secret);
    write(
        api,
        Op::CreateKey(CreateKeyCmd {
            key: Some(AccessKeyRecord {
                format: 1,
                access_key: access_key.clone(),
                user: user.clone(),
                sealed_secret,
                created_ms: api.data.clock().now_ms(),
            }),
        }),
    )
    .await?;
    tracing::info!(%user, %access_key, "access key created");
    Ok(NewAccessKey {
        user,
        access_key,
        secret,
    })
}

pub(crate) async fn token_create(
    api: &AdminApi,
    r: TokenCreateRequest,
) -> Result<NewToken, Status> {
    use meridian_api::auth::scope::Scopes;
    let reader = reader(api).await?;
    if reader
        .user(&r.user)
        .map_err(|e| Status::internal(e.to_string()))?
        .is_none()
    {
        return Err(Status::not_found(format!("no such user: {}", r.user)));
    }
    let scopes = Scopes::parse(&r.scope).map_err(Status::invalid_argument)?;
    let jti = hex::encode(rand::random::<[u8; 16]>());
    let now = api.data.clock().now_ms();
    let ttl = std::time::Duration::from_secs(r.ttl_s);
    let token = api
        .tokens
        .issue(&r.user, &scopes, ttl, now, &jti)
        .map_err(Status::invalid_argument)?;
    tracing::info!(user = %r.user, %jti, scope = %scopes, ttl_s = r.ttl_s, "token issued");
    Ok(NewToken {
        token,
        issuer: api.tokens.issuer().to_string(),
        expires_ms: now.saturating_add(ttl.as_millis() as i64),
        jti,
        scope: scopes.to_string(),
    })
}

fn key_info(k: AccessKeyRecord) -> KeyInfo {
    KeyInfo {
        access_key: k.access_key,
        user: k.user,
        created_ms: k.created_ms,
    }
}

pub(crate) async fn key_list(api: &AdminApi, user: String) -> Result<KeyListResponse, Status> {
    let r = reader(api).await?;
    let internal = |e: MetaError| Status::internal(e.to_string());
    let users = if user.is_empty() {
        r.users(MAX_USERS)
            .map_err(internal)?
            .into_iter()
            .map(|u| u.name)
            .collect()
    } else {
        if r.user(&user).map_err(internal)?.is_none() {
            return Err(Status::not_found(format!("no such user: {user}")));
        }
        vec![user]
    };
    let mut keys = Vec::new();
    for u in users {
        keys.extend(r.keys_of(&u).map_err(internal)?.into_iter().map(key_info));
    }
    Ok(KeyListResponse { keys })
}

pub(crate) async fn key_revoke(api: &AdminApi, access_key: String) -> Result<KeyInfo, Status> {
    let r = reader(api).await?;
    let k = r
        .access_key(&access_key)
        .map_err(|e| Status::internal(e.to_string()))?
        .ok_or_else(|| Status::not_found(format!("no such access key: {access_key}")))?;
    write(api, Op::RevokeKey(RevokeKeyCmd { access_key })).await?;
    tracing::info!(user = %k.user, access_key = %k.access_key, "access key revoked");
    Ok(key_info(k))
}

pub(crate) async fn bucket_access(
    api: &AdminApi,
    bucket: String,
) -> Result<BucketAccessInfo, Status> {
    let r = reader(api).await?;
    let b = r
        .bucket(&bucket)
        .map_err(|e| Status::internal(e.to_string()))?
        .ok_or_else(|| Status::not_found(format!("no such bucket: {bucket}")))?;
    Ok(BucketAccessInfo {
        bucket: b.name,
        owner: b.owner,
        grants: b
            .grants
            .iter()
            .map(|g| BucketGrantInfo {
                user: g.user.clone(),
                level: g.level.map_or("none", Level::name).to_string(),
            })
            .collect(),
        policy: b.policy,
    })
}

pub(crate) async fn bucket_grant(
    api: &AdminApi,
    r: BucketGrantRequest,
) -> Result<BucketAccessInfo, Status> {
    let level = match r.level.as_str() {
        "none" => GrantLevel::GrantNone,
        other => match Level::parse(other) {
            Some(Level::Read) => GrantLevel::GrantRead,
            Some(Level::Write) => GrantLevel::GrantWrite,
            Some(Level::Owner) => GrantLevel::GrantOwner,
            None => {
                return Err(Status::invalid_argument(format!(
                    "level {other:?}: read, write, owner or none"
                )))
            }
        },
    };
    write(
        api,
        Op::SetBucketGrant(SetBucketGrantCmd {
            bucket: r.bucket.clone(),
            user: r.user,
            level: level as i32,
        }),
    )
    .await?;
    api.access.forget_bucket(&r.bucket);
    bucket_access(api, r.bucket).await
}

pub(crate) async fn bucket_policy(
    api: &AdminApi,
    r: BucketPolicyRequest,
) -> Result<BucketAccessInfo, Status> {
    let policy = if r.clear {
        String::new()
    } else {
        BucketPolicy::parse(&r.policy, &r.bucket)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        r.policy
    };
    write(
        api,
        Op::SetBucketPolicy(SetBucketPolicyCmd {
            bucket: r.bucket.clone(),
            policy,
        }),
    )
    .await?;
    api.access.forget_bucket(&r.bucket);
    bucket_access(api, r.bucket).await
}
