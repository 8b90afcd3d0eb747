//! Commands that change where objects live: the policy in force, and one
//! object's replica map under it, and the transfer orders that carry
//! replicas between sites.

use meridian_proto::v1::{
    ClearOrdersCmd, OrderDoneCmd, OrderState, PolicyRecord, Replica, ReplicaState, SetOrdersCmd,
    SetPlacementCmd, SetPolicyCmd, TransferOrder,
};
use prost::Message;

use super::apply::{get, reject, replica_effects, versioned};
use super::keys;
use super::txn::Txn;
use crate::{MetaError, Outcome, OutcomeCode};

pub(super) fn set_policy(txn: &mut Txn<'_>, c: &SetPolicyCmd) -> Result<Outcome, MetaError> {
    if c.text.is_empty() {
        return Ok(reject(OutcomeCode::Invalid, "an empty policy"));
    }
    let k = keys::policy();
    let old: Option<PolicyRecord> = get(txn, &k)?;
    let rec = PolicyRecord {
        format: 1,
        version: old.map_or(1, |o| o.version + 1),
        text: c.text.clone(),
        origin: c.origin.clone(),
        drained: c.drained.clone(),
        set_ms: c.now_ms,
    };
    txn.put(k, rec.encode_to_vec());
    Ok(Outcome::Done)
}

pub(super) fn set_placement(txn: &mut Txn<'_>, c: &SetPlacementCmd) -> Result<Outcome, MetaError> {
    let Some((b, k, mut rec)) = versioned(txn, &c.bucket, &c.key, &c.version_id)? else {
        return Ok(Outcome::Stale);
    };
    if c.add.iter().any(|s| c.drop.contains(s)) {
        return Ok(reject(
            OutcomeCode::Invalid,
            "a site both added and dropped",
        ));
    }
    // Never below the policy's count: what stays complete must cover it.
    let complete_left = rec
        .replicas
        .iter()
        .filter(|r| r.state == ReplicaState::Complete as i32 && !c.drop.contains(&r.site))
        .count();
    if !c.drop.is_empty() && complete_left < (c.min_complete.max(1) as usize) {
        return Ok(reject(
            OutcomeCode::Invalid,
            format!(
                "dropping {:?} would leave {complete_left} complete replica(s); at least {} must remain",
                c.drop,
                c.min_complete.max(1)
            ),
        ));
    }
    for r in rec.replicas.clone() {
        if c.drop.contains(&r.site) {
            replica_effects(txn, b.id, &c.key, &rec, r.site, r.state, -1)?;
            super::refs::change(txn, &[r.site], &rec.chunks, -1)?;
        }
    }
    rec.replicas.retain(|r| !c.drop.contains(&r.site));
    for &site in &c.add {
        if rec.replicas.iter().any(|r| r.site == site) {
            continue;
        }
        rec.replicas.push(Replica {
            site,
            state: ReplicaState::Pending as i32,
            verified_at_ms: 0,
            // placement::Reason::PolicyChange (meta does not depend on placement).
            reason: 6,
        });
        replica_effects(
            txn,
            b.id,
            &c.key,
            &rec,
            site,
            ReplicaState::Pending as i32,
            1,
        )?;
        super::refs::change(txn, &[site], &rec.chunks, 1)?;
    }
    if !c.rule.is_empty() {
        rec.policy = c.rule.clone();
    }
    txn.put(k, rec.encode_to_vec());
    Ok(Outcome::Done)
}

pub(super) fn set_orders(txn: &mut Txn<'_>, c: &SetOrdersCmd) -> Result<Outcome, MetaError> {
    for o in &c.orders {
        if o.hash.len() != 32 {
            return Ok(reject(OutcomeCode::Invalid, "an order's hash is 32 bytes"));
        }
    }
    for o in &c.orders {
        let mut o = o.clone();
        o.state = OrderState::OrderPending as i32;
        txn.put(keys::order_to(o.to, o.round, o.index), Vec::new());
        txn.put(keys::order(o.round, o.index), o.encode_to_vec());
    }
    Ok(Outcome::Done)
}

pub(super) fn order_done(txn: &mut Txn<'_>, c: &OrderDoneCmd) -> Result<Outcome, MetaError> {
    let k = keys::order(c.round, c.index);
    let Some(mut o) = get::<TransferOrder>(txn, &k)? else {
        return Ok(Outcome::Stale);
    };
    if o.state != OrderState::OrderPending as i32 {
        return Ok(Outcome::Done);
    }
    o.state = if c.ok {
        OrderState::OrderDone
    } else {
        OrderState::OrderFailed
    } as i32;
    o.error = c.error.clone();
    o.bytes = c.bytes;
    txn.delete(keys::order_to(o.to, o.round, o.index));
    txn.put(k, o.encode_to_vec());
    Ok(Outcome::Done)
}

pub(super) fn clear_orders(txn: &mut Txn<'_>, c: &ClearOrdersCmd) -> Result<Outcome, MetaError> {
    let limit = (c.limit as usize).clamp(1, 100_000);
    for k in txn.keys_with_prefix(&keys::round_prefix(c.round), limit)? {
        if let Some(o) = get::<TransferOrder>(txn, &k)? {
            txn.delete(keys::order_to(o.to, o.round, o.index));
        }
        txn.delete(k);
    }
    Ok(Outcome::Done)
}
