//! Bringing existing objects in line with the policy after `policy apply`
//! or `site drain`: the previewed change ([`preview`]) and the job that
//! carries it out ([`Reconciler`]), which runs on the metadata leader.
//!
//! The job walks the catalogue object by object. For each it asks
//! `meridian_placement::reconcile` what to add and what to drop; it commits
//! the additions as pending replicas (the replication job copies and
//! verifies them), and drops a replica only in a later pass, once the
//! replicas that stay are complete and as many as the rule asks. The state
//! machine refuses any drop that would leave fewer complete replicas than
//! that count, so a race cannot break the rule either.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meridian_core::records::{ObjectRecord, ReplicaState};
use meridian_core::ChunkHash;
use meridian_meta::catalogue::{membership_log, CatalogueReader, ListItem};
use meridian_meta::MetaError;
use meridian_placement::{reconcile, Change, Held, Policy, SiteId, Subject, Transfer, Work};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::{LinkChange, PolicyChangeReport, SetPlacementCmd, SiteChange};
use tokio::sync::{watch, Notify};

use crate::metagroup::MetaGroup;
use crate::placement_policy::{named_datasets, PolicyHandle};
use meridian_data::DataPlane;

/// Objects read per catalogue page.
const PAGE: usize = 1000;
/// Objects a preview looks at before it stops and says so.
pub const PREVIEW_LIMIT: u64 = 1_000_000;
/// Pause between passes while copies are still on their way.
const WAITING_PASS: Duration = Duration::from_secs(1);
/// How often an idle job looks for a policy change or files that joined
/// or left a dataset the policy selects by (a point read or two).
const IDLE_PASS: Duration = Duration::from_secs(2);

/// Calls `f` for every object of every bucket, in catalogue order, until it
/// returns false or `limit` objects have been seen. Returns how many were.
fn each_object(
    reader: &CatalogueReader,
    limit: u64,
    mut f: impl FnMut(&str, &str, &ObjectRecord) -> Result<bool, MetaError>,
) -> Result<(u64, bool), MetaError> {
    let mut seen = 0u64;
    for b in reader.buckets()? {
        let mut after: Option<String> = None;
        loop {
            let page = reader.list(b.id, "", None, after.as_deref(), PAGE)?;
            for item in page.items {
                if let ListItem::Object { key, record } = item {
                    if seen >= limit {
                        return Ok((seen, true));
                    }
                    seen += 1;
                    after = Some(key.clone());
                    if !f(&b.name, &key, &record)? {
                        return Ok((seen, true));
                    }
                }
            }
            if !page.truncated {
                break;
            }
        }
    }
    Ok((seen, false))
}

fn change_for(
    policy: &Policy,
    topo: &meridian_placement::Topology,
    bucket: &str,
    key: &str,
    rec: &ObjectRecord,
    datasets: &[String],
) -> Change {
    let held: Vec<Held> = rec
        .replicas
        .iter()
        .map(|r| Held {
            site: SiteId(r.site),
            complete: r.state == ReplicaState::Complete,
        })
        .collect();
    let subject = Subject {
        bucket,
        key,
        metadata: Some(&rec.user_meta),
        datasets,
        size: rec.size,
    };
    reconcile(topo, policy, &subject, SiteId(rec.ingest_site), &held)
}

/// What applying `policy` would change, with the plan for the copies.
pub fn preview(
    reader: &CatalogueReader,
    data: &DataPlane,
    policy: &Policy,
    limit: u64,
) -> Result<PolicyChangeReport, MetaError> {
    let topo = data.topology().clone();
    let mut r = PolicyChangeReport::default();
    let mut sites: BTreeMap<u32, SiteChange> = BTreeMap::new();
    let mut chunk_index: HashMap<ChunkHash, usize> = HashMap::new();
    let mut work = Work {
        chunk_sizes: Vec::new(),
        holders: Vec::new(),
        transfers: Vec::new(),
        relays: None,
        link_busy_s: Vec::new(),
    };
    let named = named_datasets(reader, policy)?;
    let (seen, truncated) = each_object(reader, limit, |bucket, key, rec| {
        let datasets = reader.belongs_to(&named, bucket, key)?;
        let c = change_for(policy, &topo, bucket, key, rec, &datasets);
        if c.blocked {
            r.blocked += 1;
        }
        let drops: Vec<SiteId> = c.drop.iter().chain(&c.drop_later).copied().collect();
        if !c.add.is_empty() {
            r.objects_to_copy += 1;
            r.bytes_to_copy += rec.size * c.add.len() as u64;
        }
        if !drops.is_empty() {
            r.objects_to_drop += 1;
            r.bytes_to_drop += rec.size * drops.len() as u64;
        }
        for s in &c.add {
            let e = sites.entry(s.0).or_default();
            e.copies_in += 1;
            e.bytes_in += rec.size;
        }
        for s in &drops {
            let e = sites.entry(s.0).or_default();
            e.dropped += 1;
            e.bytes_dropped += rec.size;
        }
        if !c.add.is_empty() {
            let complete: BTreeSet<SiteId> = rec.complete_sites().map(SiteId).collect();
            let mut chunks = Vec::new();
            for ch in &rec.chunks {
                let hash = ch.hash;
                let i = *chunk_index.entry(hash).or_insert_with(|| {
                    work.chunk_sizes.push(u64::from(ch.size));
                    work.holders.push(BTreeSet::new());
                    work.chunk_sizes.len() - 1
                });
                work.holders[i].extend(complete.iter().copied());
                chunks.push(i);
            }
            for s in &c.add {
                work.transfers.push(Transfer {
                    dest: *s,
                    chunks: chunks.clone(),
                    priority: meridian_placement::DEFAULT_PRIORITY,
                    deadline_s: None,
                });
            }
        }
        Ok(true)
    })?;
    r.objects_scanned = seen;
    r.truncated = truncated;
    r.sites = sites
        .into_iter()
        .map(|(s, mut c)| {
            c.site = topo.name(SiteId(s));
            c
        })
        .collect();
    if !work.transfers.is_empty() {
        let factor = data.links().time_factor();
        if let Ok(plan) = meridian_placement::plan(&topo, &work) {
            let mut links: BTreeMap<usize, (u64, f64)> = BTreeMap::new();
            for h in &plan.hops {
                let e = links.entry(h.link.0).or_default();
                e.0 += work.chunk_sizes[h.chunk];
                e.1 = e.1.max(h.end_s * factor);
            }
            r.links = links
                .into_iter()
                .filter_map(|(l, (bytes, busy_s))| {
                    let link = topo.links().get(l)?;
                    Some(LinkChange {
                        from: topo.name(link.from),
                        to: topo.name(link.to),
                        bytes,
                        busy_s,
                    })
                })
                .collect();
            r.eta_s = plan.completion_s * factor;
            r.lower_bound_s = plan.lower_bound_s * factor;
        }
    }
    r.drained = policy.drained().iter().map(|s| topo.name(*s)).collect();
    Ok(r)
}

/// Objects whose move is followed one by one; beyond this, passes walk
/// the whole catalogue again.
const MAX_WAITING: usize = 1_000_000;

/// What joined or left the datasets a policy selects by.
enum Moved {
    /// These files (none, often).
    Files(Vec<(String, String)>),
    /// Too many to name, or not known: walk the catalogue.
    Everything,
}

/// What a pass saw and did.
struct Tally {
    scanned: u64,
    added: u64,
    dropped: u64,
    blocked: u64,
    waiting: Option<Vec<(String, String)>>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            scanned: 0,
            added: 0,
            dropped: 0,
            blocked: 0,
            waiting: Some(Vec::new()),
        }
    }
}

/// How the current pass is going.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileProgress {
    pub policy_version: u64,
    pub passes: u64,
    pub active: bool,
    pub scanned: u64,
    pub added: u64,
    pub dropped: u64,
    /// Objects whose drops wait for their new copies.
    pub waiting: u64,
    pub blocked: u64,
}

pub struct Reconciler {
    meta: Arc<MetaGroup>,
    data: Arc<DataPlane>,
    policy: Arc<PolicyHandle>,
    /// Wakes the replication job when copies are added.
    replication: Arc<Notify>,
    kick: Notify,
    progress: Mutex<ReconcileProgress>,
}

impl Reconciler {
    pub fn new(
        meta: Arc<MetaGroup>,
        data: Arc<DataPlane>,
        policy: Arc<PolicyHandle>,
        replication: Arc<Notify>,
    ) -> Arc<Self> {
        Arc::new(Reconciler {
            meta,
            data,
            policy,
            replication,
            kick: Notify::new(),
            progress: Mutex::new(ReconcileProgress::default()),
        })
    }

    /// Starts a pass now (after a policy change).
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    pub fn progress(&self) -> ReconcileProgress {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn leads(&self) -> bool {
        let s = self.meta.status();
        s.leader == Some(s.node_id)
    }

    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        // The file's policy placed every object written under it: nothing
        // to reconcile until a change is applied.
        let mut done_version = 0u64;
        // Objects whose move is under way: looked at again on their own
        // until they settle, instead of walking the whole catalogue.
        let mut waiting: Option<Vec<(String, String)>> = Some(Vec::new());
        let mut kicked = false;
        // The last membership change looked at, while the policy selects by
        // dataset; `None`: not known, so the next pass walks everything.
        let mut membership: Option<u64> = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let (version, policy) = self.policy.current(&self.meta.reader());
            let mut full = version != done_version || kicked || waiting.is_none();
            let mut moved = Vec::new();
            let mut head = None;
            let leads = self.leads();
            if !leads || policy.datasets().is_empty() {
                membership = None;
            } else {
                match self.moved(membership, &policy) {
                    Ok((h, Moved::Files(files))) => {
                        head = Some(h);
                        moved = files;
                    }
                    Ok((h, Moved::Everything)) => {
                        head = Some(h);
                        full = true;
                    }
                    Err(e) => tracing::warn!(error = %e, "membership changes unread; retrying"),
                }
            }
            let busy = waiting.as_ref().is_some_and(|w| !w.is_empty()) || !moved.is_empty();
            if (full || busy) && leads {
                let only = if full {
                    None
                } else {
                    let mut keys = waiting.take().unwrap_or_default();
                    keys.extend(moved);
                    keys.sort();
                    keys.dedup();
                    Some(keys)
                };
                match self.pass(version, &policy, only).await {
                    Ok(w) => {
                        waiting = w;
                        done_version = version;
                        membership = head.or(membership);
                    }
                    Err(e) => tracing::warn!(error = %e, "reconcile pass failed; retrying"),
                }
            } else if head.is_some() {
                membership = head;
            }
            let busy = waiting.as_ref().is_none_or(|w| !w.is_empty());
            let pause = if busy { WAITING_PASS } else { IDLE_PASS };
            kicked = tokio::select! {
                _ = self.kick.notified() => true,
                _ = tokio::time::sleep(pause) => false,
                _ = shutdown.changed() => false,
            };
        }
    }

    /// The files that joined or left a dataset `policy` selects by since
    /// membership change `after`, and the last change logged.
    fn moved(&self, after: Option<u64>, policy: &Policy) -> Result<(u64, Moved), MetaError> {
        let reader = self.meta.reader();
        let Some(after) = after else {
            return Ok((reader.membership_head()?, Moved::Everything));
        };
        let log = reader.membership_changes(after, membership_log::RETAINED as usize)?;
        if !log.complete {
            return Ok((log.head, Moved::Everything));
        }
        let named = policy.datasets();
        let mut files = Vec::new();
        let too_many = |files: &Vec<(String, String)>| files.len() > MAX_WAITING;
        for change in log.changes {
            if !named.contains(change.dataset.as_str()) {
                continue;
            }
            files.extend(change.files);
            for rule in &change.rules {
                let Some(b) = reader.bucket(&rule.bucket)? else {
                    continue;
                };
                let mut after: Option<String> = None;
                loop {
                    let page = reader.list(b.id, &rule.prefix, None, after.as_deref(), PAGE)?;
                    for item in page.items {
                        if let ListItem::Object { key, .. } = item {
                            after = Some(key.clone());
                            files.push((rule.bucket.clone(), key));
                        }
                    }
                    if too_many(&files) {
                        return Ok((log.head, Moved::Everything));
                    }
                    if !page.truncated {
                        break;
                    }
                }
            }
            if too_many(&files) {
                return Ok((log.head, Moved::Everything));
            }
        }
        Ok((log.head, Moved::Files(files)))
    }

    /// One pass over the catalogue (or over `only` those objects), a page
    /// at a time. Returns the objects still moving, or `None` if there are
    /// more than [`MAX_WAITING`] of them (the next pass walks everything).
    async fn pass(
        &self,
        version: u64,
        policy: &Policy,
        only: Option<Vec<(String, String)>>,
    ) -> Result<Option<Vec<(String, String)>>, MetaError> {
        let topo = self.data.topology().clone();
        {
            let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
            p.policy_version = version;
            p.active = true;
            p.passes += 1;
        }
        let mut t = Tally::default();
        match only {
            Some(keys) => {
                let reader = self.meta.reader();
                let mut page = Vec::new();
                for (bucket, key) in keys {
                    let Ok(b) = reader.bucket(&bucket) else {
                        continue;
                    };
                    let Some(b) = b else { continue };
                    if let Some(rec) = reader.object(b.id, &key)? {
                        page.push((bucket, key, rec));
                    }
                    if page.len() == PAGE {
                        self.settle(policy, &topo, std::mem::take(&mut page), &mut t)
                            .await?;
                    }
                }
                self.settle(policy, &topo, page, &mut t).await?;
            }
            None => {
                let buckets = self.meta.reader().buckets()?;
                for b in buckets {
                    let mut after: Option<String> = None;
                    loop {
                        let listed =
                            self.meta
                                .reader()
                                .list(b.id, "", None, after.as_deref(), PAGE)?;
                        let mut page = Vec::new();
                        for item in listed.items {
                            if let ListItem::Object { key, record } = item {
                                after = Some(key.clone());
                                page.push((b.name.clone(), key, record));
                            }
                        }
                        self.settle(policy, &topo, page, &mut t).await?;
                        if !listed.truncated {
                            break;
                        }
                    }
                }
            }
        }
        if t.added > 0 {
            self.replication.notify_one();
        }
        let mut g = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        g.active = false;
        g.scanned = t.scanned;
        g.added += t.added;
        g.dropped += t.dropped;
        g.waiting = t
            .waiting
            .as_ref()
            .map_or(MAX_WAITING as u64, |w| w.len() as u64);
        g.blocked = t.blocked;
        Ok(t.waiting)
    }

    /// Commits what one page of objects needs.
    async fn settle(
        &self,
        policy: &Policy,
        topo: &meridian_placement::Topology,
        page: Vec<(String, String, ObjectRecord)>,
        t: &mut Tally,
    ) -> Result<(), MetaError> {
        let reader = self.meta.reader();
        let named = named_datasets(&reader, policy)?;
        for (bucket, key, rec) in page {
            t.scanned += 1;
            let datasets = reader.belongs_to(&named, &bucket, &key)?;
            let c = change_for(policy, topo, &bucket, &key, &rec, &datasets);
            if c.blocked {
                t.blocked += 1;
            }
            let mut moving = !c.drop_later.is_empty();
            if !c.is_empty() {
                let cmd = meridian_meta::command(Op::SetPlacement(SetPlacementCmd {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    version_id: rec.version_id.clone(),
                    rule: c.rule.clone(),
                    add: c.add.iter().map(|s| s.0).collect(),
                    drop: c.drop.iter().map(|s| s.0).collect(),
                    min_complete: c.min_complete,
                }));
                match self.meta.write_one(cmd).await? {
                    meridian_meta::Outcome::Done => {
                        t.added += c.add.len() as u64;
                        t.dropped += c.drop.len() as u64;
                        moving |= !c.add.is_empty();
                    }
                    meridian_meta::Outcome::Stale => {}
                    other => {
                        tracing::warn!(outcome = ?other, "placement change refused; looked at again");
                        moving = true;
                    }
                }
            }
            if moving {
                if let Some(w) = t.waiting.as_mut() {
                    if w.len() < MAX_WAITING {
                        w.push((bucket, key));
                    } else {
                        t.waiting = None;
                    }
                }
            }
        }
        Ok(())
    }
}
