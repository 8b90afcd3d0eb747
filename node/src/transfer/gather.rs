//! Turning the catalogue's pending replicas into the planner's [`Work`]:
//! which chunks each replica still needs, who holds them, and each
//! replica's priority and deadline under its rule.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use meridian_core::ChunkHash;
use meridian_meta::MetaError;
use meridian_placement::{Policy, SiteId, Subject, Transfer, Work};

use crate::metagroup::MetaGroup;
use meridian_data::DataPlane;

/// Pending entries read per site per round.
const SCAN_LIMIT: usize = 4096;

/// One replica to make this round.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub bucket: String,
    pub key: String,
    pub version: String,
    pub dest: u32,
    /// Indexes into [`Gathered::hashes`].
    pub chunks: Vec<usize>,
}

pub(crate) struct Gathered {
    pub items: Vec<Item>,
    pub hashes: Vec<ChunkHash>,
    pub work: Work,
}

/// The planner's view of what is pending (up to [`super::ROUND_LIMIT`]
/// replicas): what the next round would plan.
pub async fn pending_work(
    meta: &MetaGroup,
    data: &DataPlane,
    policy: &Policy,
) -> Result<Work, MetaError> {
    let g = gather(meta, data, policy, &BTreeSet::new(), super::ROUND_LIMIT).await?;
    Ok(g.work)
}

/// Reads up to `limit` pending replicas, every site's: the scheduler on the
/// metadata leader plans the whole federation and any site may relay.
/// Sources in `avoid` (failed recently) are left out as holders unless a
/// chunk has no other.
pub(crate) async fn gather(
    meta: &MetaGroup,
    data: &DataPlane,
    policy: &Policy,
    avoid: &BTreeSet<u32>,
    limit: usize,
) -> Result<Gathered, MetaError> {
    let reader = meta.reader();
    let now_ms = data.clock().now_ms();
    let local: Vec<u32> = data.topology().sites().iter().map(|s| s.id.0).collect();
    let factor = data.links().time_factor();
    let mut items = Vec::new();
    let mut hashes: Vec<ChunkHash> = Vec::new();
    let mut index: HashMap<ChunkHash, usize> = HashMap::new();
    let mut sizes: Vec<u64> = Vec::new();
    let mut holders: Vec<BTreeSet<SiteId>> = Vec::new();
    let mut transfers = Vec::new();
    let mut buckets: BTreeMap<u64, Option<String>> = BTreeMap::new();
    'sites: for &site in &local {
        let mut cursor: Option<Vec<u8>> = None;
        loop {
            let page = reader.pending(site, cursor.as_deref(), SCAN_LIMIT)?;
            let full = page.len() == SCAN_LIMIT;
            cursor = page.last().map(|p| p.cursor.clone());
            for p in page {
                if items.len() >= limit {
                    break 'sites;
                }
                let bucket = match buckets.get(&p.bucket_id) {
                    Some(b) => b.clone(),
                    None => {
                        let b = reader.bucket_name(p.bucket_id)?;
                        buckets.insert(p.bucket_id, b.clone());
                        b
                    }
                };
                let Some(bucket) = bucket else { continue };
                let rec = match reader.object(p.bucket_id, &p.key) {
                    Ok(Some(rec)) => rec,
                    Ok(None) => continue,
                    // One bad record does not hold up every site's copies.
                    Err(e @ MetaError::Corrupt { .. }) => {
                        tracing::warn!(bucket = %bucket, error = %e, "record is corrupt; replica skipped");
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let complete: BTreeSet<SiteId> = rec.complete_sites().map(SiteId).collect();
                if complete.contains(&SiteId(site)) {
                    continue;
                }
                let rule = policy
                    .rules()
                    .find(|r| r.name == rec.policy)
                    .unwrap_or_else(|| {
                        // The record's rule is gone: its priority and
                        // deadline from today's rules, datasets aside.
                        policy.rule_for(&Subject {
                            metadata: Some(&rec.user_meta),
                            size: rec.size,
                            ..Subject::new(&bucket, &p.key)
                        })
                    });
                // Deadlines are wall-clock; plans are in the topology's
                // bandwidths, which emulated links run slower.
                let deadline_s = rule.within_s.map(|w| {
                    let due_ms = rec
                        .created_ms
                        .saturating_add((w as i64).saturating_mul(1000));
                    due_ms.saturating_sub(now_ms) as f64 / 1000.0 / factor
                });
                let mut chunks = Vec::with_capacity(rec.chunks.len());
                for c in &rec.chunks {
                    let hash = c.hash;
                    let i = *index.entry(hash).or_insert_with(|| {
                        hashes.push(hash);
                        sizes.push(u64::from(c.size));
                        holders.push(BTreeSet::new());
                        hashes.len() - 1
                    });
                    holders[i].extend(complete.iter().copied());
                    chunks.push(i);
                }
                transfers.push(Transfer {
                    dest: SiteId(site),
                    chunks: chunks.clone(),
                    priority: rule.priority,
                    deadline_s,
                });
                items.push(Item {
                    bucket: bucket.clone(),
                    key: p.key.clone(),
                    version: rec.version_id.clone(),
                    dest: site,
                    chunks,
                });
            }
            if !full {
                break;
            }
        }
    }
    // What each destination already holds (an interrupted copy): those
    // chunks are not carried again.
    // (Another process's site answers through its data node; one that does
    // not answer is taken to hold nothing.)
    for item in &items {
        let ask: Vec<usize> = item
            .chunks
            .iter()
            .copied()
            .filter(|c| !holders[*c].contains(&SiteId(item.dest)))
            .collect();
        if ask.is_empty() {
            continue;
        }
        let hs: Vec<ChunkHash> = ask.iter().map(|c| hashes[*c]).collect();
        match data.holds(item.dest, &hs).await {
            Ok(held) => {
                for (c, h) in ask.iter().zip(held) {
                    if h {
                        holders[*c].insert(SiteId(item.dest));
                    }
                }
            }
            Err(e) => {
                tracing::debug!(site = item.dest, error = %e, "could not ask what a site holds")
            }
        }
    }
    for h in holders.iter_mut() {
        let usable: BTreeSet<SiteId> = h
            .iter()
            .copied()
            .filter(|s| !avoid.contains(&s.0))
            .collect();
        if !usable.is_empty() {
            *h = usable;
        }
    }
    Ok(Gathered {
        items,
        hashes,
        work: Work {
            chunk_sizes: sizes,
            holders,
            transfers,
            // Only sites this process writes can hold chunks in passing.
            relays: None,
            link_busy_s: Vec::new(),
        },
    })
}

/// Sources that failed, avoided until their time is up.
#[derive(Default)]
pub(crate) struct Avoid {
    until: BTreeMap<u32, Instant>,
}

/// How long a failed source is avoided.
const AVOID_FOR: Duration = Duration::from_secs(30);

impl Avoid {
    pub(crate) fn add(&mut self, site: u32) {
        self.until.insert(site, Instant::now() + AVOID_FOR);
    }

    pub(crate) fn current(&mut self) -> BTreeSet<u32> {
        let now = Instant::now();
        self.until.retain(|_, t| *t > now);
        self.until.keys().copied().collect()
    }
}
