//! Users, their access keys, and what each bucket grants them: the
//! commands, and the reads the S3 front end and the admin API make.

use meridian_proto::v1::{
    AccessKeyRecord, BucketGrant, BucketRecord, CreateKeyCmd, CreateUserCmd, DeleteUserCmd,
    GrantLevel, RevokeKeyCmd, SetBucketGrantCmd, SetBucketPolicyCmd, UserRecord,
};
use prost::Message;

use super::apply::{bucket, get, reject};
use super::keys;
use super::read::CatalogueReader;
use super::txn::Txn;
use crate::{MetaError, Outcome, OutcomeCode};

/// Keys a user may hold at most (a bound for deleting them in one apply).
pub const MAX_KEYS_PER_USER: usize = 100;
/// Buckets looked at when a deleted user's grants are removed.
const MAX_BUCKETS_SCANNED: usize = 100_000;

/// A user name: 1 to 64 of `A-Z a-z 0-9 . _ -` (`@` and `+` too, for
/// e-mail-like names).
/// Names that mean someone else: the administrator owns what it creates
/// as `root`, anonymous callers what they write as `anonymous`.
pub const RESERVED_USER_NAMES: &[&str] = &["root", "anonymous"];

pub fn valid_user_name(name: &str) -> bool {
    !RESERVED_USER_NAMES.contains(&name)
        && (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
}

fn valid_key_id(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

pub(super) fn create_user(txn: &mut Txn<'_>, c: &CreateUserCmd) -> Result<Outcome, MetaError> {
    if !valid_user_name(&c.name) {
        return Ok(reject(
            OutcomeCode::Invalid,
            format!(
                "user name {:?}: 1 to 64 of letters, digits and . _ - @ +, not root or anonymous",
                c.name
            ),
        ));
    }
    let k = keys::user(&c.name);
    if txn.get(&k)?.is_some() {
        return Ok(reject(OutcomeCode::UserExists, c.name.clone()));
    }
    let rec = UserRecord {
        format: 1,
        name: c.name.clone(),
        created_ms: c.now_ms,
    };
    txn.put(k, rec.encode_to_vec());
    Ok(Outcome::Done)
}

pub(super) fn delete_user(txn: &mut Txn<'_>, c: &DeleteUserCmd) -> Result<Outcome, MetaError> {
    let k = keys::user(&c.name);
    if txn.get(&k)?.is_none() {
        return Ok(reject(OutcomeCode::NoSuchUser, c.name.clone()));
    }
    let mut owned = Vec::new();
    let mut granted = Vec::new();
    for bk in txn.keys_with_prefix(&keys::buckets_prefix(), MAX_BUCKETS_SCANNED)? {
        let Some(b) = get::<BucketRecord>(txn, &bk)? else {
            continue;
        };
        if b.owner == c.name {
            owned.push(b.name);
        } else if b.grants.iter().any(|g| g.user == c.name) {
            granted.push((bk, b));
        }
    }
    if !owned.is_empty() {
        owned.truncate(10);
        return Ok(reject(
            OutcomeCode::Invalid,
            format!(
                "user {} owns buckets ({}); delete them or give them to another user first",
                c.name,
                owned.join(", ")
            ),
        ));
    }
    for (bk, mut b) in granted {
        b.grants.retain(|g| g.user != c.name);
        txn.put(bk, b.encode_to_vec());
    }
    let prefix = keys::user_keys_prefix(&c.name);
    for uk in txn.keys_with_prefix(&prefix, MAX_KEYS_PER_USER + 1)? {
        let id = String::from_utf8_lossy(&uk[prefix.len()..]).into_owned();
        txn.delete(keys::access_key(&id));
        txn.delete(uk);
    }
    txn.delete(k);
    Ok(Outcome::Done)
}

pub(super) fn create_key(txn: &mut Txn<'_>, c: &CreateKeyCmd) -> Result<Outcome, MetaError> {
    let Some(key) = &c.key else {
        return Ok(reject(OutcomeCode::Invalid, "a key command without a key"));
    };
    if !valid_key_id(&key.access_key) || key.sealed_secret.is_empty() {
        return Ok(reject(
            OutcomeCode::Invalid,
            "an access key id is 16 to 128 letters and digits, with a sealed secret",
        ));
    }
    if txn.get(&keys::user(&key.user))?.is_none() {
        return Ok(reject(OutcomeCode::NoSuchUser, key.user.clone()));
    }
    let k = keys::access_key(&key.access_key);
    if txn.get(&k)?.is_some() {
        return Ok(reject(
            OutcomeCode::Invalid,
            format!("access key {} exists", key.access_key),
        ));
    }
    let held = txn.keys_with_prefix(&keys::user_keys_prefix(&key.user), MAX_KEYS_PER_USER)?;
    if held.len() >= MAX_KEYS_PER_USER {
        return Ok(reject(
            OutcomeCode::Invalid,
            format!(
                "user {} holds {MAX_KEYS_PER_USER} keys, the most allowed",
                key.user
            ),
        ));
    }
    txn.put(keys::user_key(&key.user, &key.access_key), Vec::new());
    txn.put(k, key.encode_to_vec());
    Ok(Outcome::Done)
}

pub(super) fn revoke_key(txn: &mut Txn<'_>, c: &RevokeKeyCmd) -> Result<Outcome, MetaError> {
    let k = keys::access_key(&c.access_key);
    let Some(key) = get::<AccessKeyRecord>(txn, &k)? else {
        return Ok(reject(OutcomeCode::NoSuchAccessKey, c.access_key.clone()));
    };
    txn.delete(keys::user_key(&key.user, &key.access_key));
    txn.delete(k);
    Ok(Outcome::Done)
}

pub(super) fn set_grant(txn: &mut Txn<'_>, c: &SetBucketGrantCmd) -> Result<Outcome, MetaError> {
    let Some(mut b) = bucket(txn, &c.bucket)? else {
        return Ok(reject(OutcomeCode::NoSuchBucket, c.bucket.clone()));
    };
    let level = GrantLevel::try_from(c.level).unwrap_or(GrantLevel::GrantNone);
    if level != GrantLevel::GrantNone && txn.get(&keys::user(&c.user))?.is_none() {
        return Ok(reject(OutcomeCode::NoSuchUser, c.user.clone()));
    }
    // The user's S3 ACL permissions, if any, stay with the new level.
    let acl = b
        .grants
        .iter()
        .find(|g| g.user == c.user)
        .map_or(0, |g| g.acl);
    b.grants.retain(|g| g.user != c.user);
    if level != GrantLevel::GrantNone || acl != 0 {
        b.grants.push(BucketGrant {
            user: c.user.clone(),
            level: level as i32,
            acl,
        });
        b.grants.sort_by(|x, y| x.user.cmp(&y.user));
    }
    txn.put(keys::bucket(&c.bucket), b.encode_to_vec());
    Ok(Outcome::Done)
}

/// The policy text is checked by the caller (the gateway's parser); the
/// state machine stores it as given.
pub(super) fn set_policy(txn: &mut Txn<'_>, c: &SetBucketPolicyCmd) -> Result<Outcome, MetaError> {
    let Some(mut b) = bucket(txn, &c.bucket)? else {
        return Ok(reject(OutcomeCode::NoSuchBucket, c.bucket.clone()));
    };
    if c.policy.len() > 20 * 1024 {
        return Ok(reject(
            OutcomeCode::Invalid,
            "a bucket policy is at most 20 KiB (as in AWS)",
        ));
    }
    b.policy = c.policy.clone();
    txn.put(keys::bucket(&c.bucket), b.encode_to_vec());
    Ok(Outcome::Done)
}

impl CatalogueReader {
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>, MetaError> {
        self.get(&keys::user(name))
    }

    /// Users in name order, at most `limit`.
    pub fn users(&self, limit: usize) -> Result<Vec<UserRecord>, MetaError> {
        let prefix = keys::users_prefix();
        let mut out = Vec::new();
        self.scan(&prefix, &prefix, |k, v| {
            out.push(super::apply::decode(k, v)?);
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    pub fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, MetaError> {
        self.get(&keys::access_key(id))
    }

    /// A user's keys, in id order.
    pub fn keys_of(&self, user: &str) -> Result<Vec<AccessKeyRecord>, MetaError> {
        let prefix = keys::user_keys_prefix(user);
        let mut ids = Vec::new();
        self.scan(&prefix, &prefix, |k, _| {
            ids.push(String::from_utf8_lossy(&k[prefix.len()..]).into_owned());
            Ok(ids.len() <= MAX_KEYS_PER_USER)
        })?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(k) = self.access_key(&id)? {
                out.push(k);
            }
        }
        Ok(out)
    }
}
