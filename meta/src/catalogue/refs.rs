//! Chunk references per site, and each site's queue of chunks that nothing
//! references any more.
//!
//! Every replica of an object, whatever its state, references the object's
//! chunks at its site, and every stored part of a multipart upload
//! references its chunks at the upload's ingest site. The counts change in
//! the same apply as the records, so they are exact at every log index. A
//! count that falls to zero queues the chunk for its site's node, which
//! removes the file (see `meridian-node`'s `gc`); a chunk referenced again
//! leaves the queue at once.
//!
//! A pending replica counts too: the chunks a transfer has already brought
//! for it are then never reclaimed under it, however long it runs.

use meridian_proto::v1::{ChunkRef, Counter, GcDoneCmd, GcOfferCmd, ObjectRecord};

use super::apply::bump;
use super::keys;
use super::read::CatalogueReader;
use super::txn::Txn;
use crate::{MetaError, Outcome};

/// A chunk in a site's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcQueued {
    pub hash: [u8; 32],
    /// The log index of the command that queued it.
    pub queued_at: u64,
    pub size: u32,
}

fn encode_queued(queued_at: u64, size: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(12);
    v.extend_from_slice(&queued_at.to_be_bytes());
    v.extend_from_slice(&size.to_be_bytes());
    v
}

pub(super) fn corrupt(key: &[u8], message: &str) -> MetaError {
    MetaError::Corrupt {
        key: hex::encode(key),
        message: message.into(),
    }
}

fn decode_queued(key: &[u8], v: &[u8]) -> Result<(u64, u32), MetaError> {
    let at = v
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .ok_or_else(|| corrupt(key, "queue entry shorter than 12 bytes"))?;
    let size = v
        .get(8..12)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .ok_or_else(|| corrupt(key, "queue entry shorter than 12 bytes"))?;
    Ok((u64::from_be_bytes(at), u32::from_be_bytes(size)))
}

/// Per-site reference counts of one chunk: (site, count) pairs in site
/// order, each two varints. One key per chunk, not per (site, chunk): a
/// record with three replicas costs each chunk one key, not three.
fn decode_counts(key: &[u8], mut v: &[u8]) -> Result<Vec<(u32, u64)>, MetaError> {
    let mut out = Vec::new();
    while !v.is_empty() {
        let site = prost::encoding::decode_varint(&mut v)
            .map_err(|_| corrupt(key, "reference counts do not parse"))?;
        let count = prost::encoding::decode_varint(&mut v)
            .map_err(|_| corrupt(key, "reference counts do not parse"))?;
        let site = u32::try_from(site).map_err(|_| corrupt(key, "site id above u32"))?;
        out.push((site, count));
    }
    Ok(out)
}

fn encode_counts(counts: &[(u32, u64)]) -> Vec<u8> {
    let mut v = Vec::with_capacity(counts.len() * 3);
    for (site, count) in counts {
        prost::encoding::encode_varint(u64::from(*site), &mut v);
        prost::encoding::encode_varint(*count, &mut v);
    }
    v
}

fn enqueue(txn: &mut Txn<'_>, site: u32, chunk: &ChunkRef) -> Result<(), MetaError> {
    let k = keys::gc_queue(site, &chunk.hash);
    if txn.get(&k)?.is_none() {
        bump(txn, keys::gc_counter(site), 1, chunk.size as i64)?;
    }
    let at = txn.index();
    txn.put(k, encode_queued(at, chunk.size));
    Ok(())
}

fn dequeue(txn: &mut Txn<'_>, site: u32, hash: &[u8]) -> Result<(), MetaError> {
    let k = keys::gc_queue(site, hash);
    if let Some(v) = txn.get(&k)? {
        let (_, size) = decode_queued(&k, &v)?;
        bump(txn, keys::gc_counter(site), -1, -(size as i64))?;
        txn.delete(k);
    }
    Ok(())
}

/// Adds (sign = 1) or removes (sign = -1) one reference at each of `sites`
/// to each of `chunks` (a chunk listed twice counts twice).
pub(super) fn change(
    txn: &mut Txn<'_>,
    sites: &[u32],
    chunks: &[ChunkRef],
    sign: i64,
) -> Result<(), MetaError> {
    if sites.is_empty() {
        return Ok(());
    }
    for c in chunks {
        let k = keys::refs(&c.hash);
        let mut counts = match txn.get(&k)? {
            Some(v) => decode_counts(&k, &v)?,
            None => Vec::new(),
        };
        for &site in sites {
            let pos = counts.binary_search_by_key(&site, |(s, _)| *s);
            match (pos, sign > 0) {
                (Ok(i), true) => counts[i].1 += 1,
                (Err(i), true) => {
                    dequeue(txn, site, &c.hash)?;
                    counts.insert(i, (site, 1));
                }
                (Ok(i), false) if counts[i].1 > 1 => counts[i].1 -= 1,
                (Ok(i), false) => {
                    counts.remove(i);
                    enqueue(txn, site, c)?;
                }
                (Err(_), false) => {
                    return Err(corrupt(
                        &k,
                        &format!("a reference at site {site} released that was never counted"),
                    ))
                }
            }
        }
        if counts.is_empty() {
            txn.delete(k);
        } else {
            txn.put(k, encode_counts(&counts));
        }
    }
    Ok(())
}

/// What a record's replicas reference.
pub(super) fn record(txn: &mut Txn<'_>, rec: &ObjectRecord, sign: i64) -> Result<(), MetaError> {
    let sites: Vec<u32> = rec.replicas.iter().map(|r| r.site).collect();
    change(txn, &sites, &rec.chunks, sign)
}

pub(super) fn gc_offer(txn: &mut Txn<'_>, c: &GcOfferCmd) -> Result<Outcome, MetaError> {
    for chunk in c.chunks.iter().take(MAX_OFFER) {
        let k = keys::refs(&chunk.hash);
        let referenced = match txn.get(&k)? {
            Some(v) => decode_counts(&k, &v)?.iter().any(|(s, _)| *s == c.site),
            None => false,
        };
        if !referenced && txn.get(&keys::gc_queue(c.site, &chunk.hash))?.is_none() {
            enqueue(txn, c.site, chunk)?;
        }
    }
    Ok(Outcome::Done)
}

/// Chunks per offer at most (a 64 MiB chunk list of a 16 TiB object is
/// 262,144; an offer is best effort, the rest stays on disk).
const MAX_OFFER: usize = 1 << 20;

pub(super) fn gc_done(txn: &mut Txn<'_>, c: &GcDoneCmd) -> Result<Outcome, MetaError> {
    for e in &c.entries {
        let k = keys::gc_queue(c.site, &e.hash);
        let Some(v) = txn.get(&k)? else { continue };
        let (at, _) = decode_queued(&k, &v)?;
        if at == e.queued_at {
            dequeue(txn, c.site, &e.hash)?;
        }
    }
    Ok(Outcome::Done)
}

impl CatalogueReader {
    /// References at `site` to the chunk.
    pub fn chunk_refs(&self, site: u32, hash: &[u8]) -> Result<u64, MetaError> {
        let k = keys::refs(hash);
        let Some(v) = self.get_raw(&k)? else {
            return Ok(0);
        };
        Ok(decode_counts(&k, &v)?
            .iter()
            .find(|(s, _)| *s == site)
            .map_or(0, |(_, n)| *n))
    }

    /// Whether the chunk is in `site`'s queue.
    pub fn gc_queued(&self, site: u32, hash: &[u8]) -> Result<bool, MetaError> {
        Ok(self.get_raw(&keys::gc_queue(site, hash))?.is_some())
    }

    /// Up to `limit` queued chunks of `site`, in hash order, after `after`.
    pub fn gc_queue(
        &self,
        site: u32,
        after: Option<&[u8; 32]>,
        limit: usize,
    ) -> Result<Vec<GcQueued>, MetaError> {
        let prefix = keys::gc_queue_prefix(site);
        let start = match after {
            Some(h) => {
                let mut k = keys::gc_queue(site, h);
                k.push(0);
                k
            }
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        self.scan(&prefix, &start, |k, v| {
            let hash = <[u8; 32]>::try_from(&k[prefix.len()..])
                .map_err(|_| corrupt(k, "queued hash is not 32 bytes"))?;
            let (queued_at, size) = decode_queued(k, v)?;
            out.push(GcQueued {
                hash,
                queued_at,
                size,
            });
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// Chunks (objects) and bytes queued at `site`.
    pub fn gc_counter(&self, site: u32) -> Result<Counter, MetaError> {
        Ok(self.get(&keys::gc_counter(site))?.unwrap_or_default())
    }
}
