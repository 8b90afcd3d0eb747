//! `meridianctl user|key|bucket`: users, their S3 keys, and what buckets
//! allow them.

use anyhow::Context;
use clap::Subcommand;
use meridian_proto::v1::*;
use serde_json::json;

use crate::render::{status_error, table};

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Creates a user (no keys yet: `key create USER`).
    Create {
        name: String,
    },
    List,
    /// Deletes a user and its keys; refused while it owns buckets.
    Delete {
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Creates an access key for a user and prints its secret, once.
    Create { user: String },
    /// Access keys (never their secrets), of one user or of all.
    List { user: Option<String> },
    /// Revokes a key: requests signed with it are refused within a second.
    Revoke { access_key: String },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// A bearer token (WLCG JWT profile) for USER: scopes such as
    /// "storage.read:/juno/raw storage.create:/juno/out", valid for TTL
    /// (e.g. 1h; at most 1d). Printed once; the cluster keeps no copy.
    Create {
        user: String,
        #[arg(long)]
        scope: String,
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
}

pub async fn token(
    client: &mut crate::Admin,
    json: bool,
    cmd: TokenCommand,
) -> anyhow::Result<String> {
    let TokenCommand::Create { user, scope, ttl } = cmd;
    let t = client
        .token_create(TokenCreateRequest {
            user,
            scope,
            ttl_s: meridian_placement::parse_duration(&ttl)
                .map_err(|e| anyhow::anyhow!("--ttl: {e}"))?,
        })
        .await
        .map_err(status_error)?
        .into_inner();
    Ok(if json {
        json!({"token": t.token, "issuer": t.issuer, "expires_ms": t.expires_ms,
               "jti": t.jti, "scope": t.scope})
        .to_string()
    } else {
        format!(
            "{}
(issuer {}, id {}, scope {}, expires at {} ms)",
            t.token, t.issuer, t.jti, t.scope, t.expires_ms
        )
    })
}

#[derive(Subcommand, Debug)]
pub enum BucketCommand {
    /// A bucket's owner, grants and policy.
    Show { bucket: String },
    /// Grants a user read (get, list), write (also put, delete) or owner.
    Grant {
        bucket: String,
        user: String,
        level: String,
    },
    /// Withdraws a user's grant.
    Revoke { bucket: String, user: String },
    /// Sets the bucket policy from a JSON file (`-`: standard input).
    SetPolicy { bucket: String, file: String },
    /// Removes the bucket policy.
    DeletePolicy { bucket: String },
}

fn user_rows(users: &[UserInfo]) -> String {
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| vec![u.name.clone(), u.keys.to_string(), u.created_ms.to_string()])
        .collect();
    table(&["USER", "KEYS", "CREATED MS"], &rows)
}

fn user_json(u: &UserInfo) -> serde_json::Value {
    json!({"name": u.name, "keys": u.keys, "created_ms": u.created_ms})
}

fn key_json(k: &KeyInfo) -> serde_json::Value {
    json!({"access_key": k.access_key, "user": k.user, "created_ms": k.created_ms})
}

fn access_json(a: &BucketAccessInfo) -> serde_json::Value {
    json!({
        "bucket": a.bucket,
        "owner": a.owner,
        "grants": a.grants.iter().map(|g| json!({"user": g.user, "level": g.level})).collect::<Vec<_>>(),
        "policy": a.policy,
    })
}

fn access_table(a: &BucketAccessInfo) -> String {
    let mut out = format!("bucket {}\nowner  {}\n", a.bucket, a.owner);
    if a.grants.is_empty() {
        out += "grants: none\n";
    } else {
        let rows: Vec<Vec<String>> = a
            .grants
            .iter()
            .map(|g| vec![g.user.clone(), g.level.clone()])
            .collect();
        out += &table(&["USER", "LEVEL"], &rows);
    }
    if a.policy.is_empty() {
        out += "policy: none";
    } else {
        out += &format!("policy:\n{}", a.policy);
    }
    out
}

pub async fn user(
    client: &mut crate::Admin,
    json: bool,
    cmd: UserCommand,
) -> anyhow::Result<String> {
    Ok(match cmd {
        UserCommand::Create { name } => {
            let u = client
                .user_create(UserRequest { name })
                .await
                .map_err(status_error)?
                .into_inner();
            if json {
                user_json(&u).to_string()
            } else {
                format!("created user {}", u.name)
            }
        }
        UserCommand::Delete { name } => {
            let u = client
                .user_delete(UserRequest { name })
                .await
                .map_err(status_error)?
                .into_inner();
            if json {
                user_json(&u).to_string()
            } else {
                format!("deleted user {} and its {} key(s)", u.name, u.keys)
            }
        }
        UserCommand::List => {
            let l = client
                .user_list(UserListRequest {})
                .await
                .map_err(status_error)?
                .into_inner();
            if json {
                json!(l.users.iter().map(user_json).collect::<Vec<_>>()).to_string()
            } else {
                user_rows(&l.users)
            }
        }
    })
}

pub async fn key(client: &mut crate::Admin, json: bool, cmd: KeyCommand) -> anyhow::Result<String> {
    Ok(match cmd {
        KeyCommand::Create { user } => {
            let k = client
                .key_create(UserRequest { name: user })
                .await
                .map_err(status_error)?
                .into_inner();
            if json {
                json!({"user": k.user, "access_key": k.access_key, "secret": k.secret}).to_string()
            } else {
                format!(
                    "user        {}\naccess key  {}\nsecret      {}\n(the secret is shown this once; the catalogue keeps it sealed)",
                    k.user, k.access_key, k.secret
                )
            }
        }
        KeyCommand::List { user } => {
            let l = client
                .key_list(KeyListRequest {
                    user: user.unwrap_or_default(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            if json {
                json!(l.keys.iter().map(key_json).collect::<Vec<_>>()).to_string()
            } else {
                let rows: Vec<Vec<String>> = l
                    .keys
                    .iter()
                    .map(|k| {
                        vec![
                            k.access_key.clone(),
                            k.user.clone(),
                            k.created_ms.to_string(),
                        ]
                    })
                    .collect();
                table(&["ACCESS KEY", "USER", "CREATED MS"], &rows)
            }
        }
        KeyCommand::Revoke { access_key } => {
            let k = client
                .key_revoke(KeyRevokeRequest { access_key })
                .await
                .map_err(status_error)?
                .into_inner();
            if json {
                key_json(&k).to_string()
            } else {
                format!("revoked {} (user {})", k.access_key, k.user)
            }
        }
    })
}

pub async fn bucket(
    client: &mut crate::Admin,
    json: bool,
    cmd: BucketCommand,
) -> anyhow::Result<String> {
    let a = match cmd {
        BucketCommand::Show { bucket } => {
            client.bucket_access(BucketAccessRequest { bucket }).await
        }
        BucketCommand::Grant {
            bucket,
            user,
            level,
        } => {
            client
                .bucket_grant(BucketGrantRequest {
                    bucket,
                    user,
                    level,
                })
                .await
        }
        BucketCommand::Revoke { bucket, user } => {
            client
                .bucket_grant(BucketGrantRequest {
                    bucket,
                    user,
                    level: "none".into(),
                })
                .await
        }
        BucketCommand::SetPolicy { bucket, file } => {
            let policy = if file == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading the policy")?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?
            };
            client
                .bucket_policy(BucketPolicyRequest {
                    bucket,
                    policy,
                    clear: false,
                })
                .await
        }
        BucketCommand::DeletePolicy { bucket } => {
            client
                .bucket_policy(BucketPolicyRequest {
                    bucket,
                    policy: String::new(),
                    clear: true,
                })
                .await
        }
    }
    .map_err(status_error)?
    .into_inner();
    Ok(if json {
        access_json(&a).to_string()
    } else {
        access_table(&a)
    })
}
