//! Five `meridian node` processes (voters at Beijing, Huairou, Dongguan;
//! learners at Daocheng and Jiangmen). Writers keep writing through the
//! gateways of the nodes that do not lead while the leader is killed with
//! SIGKILL: a new leader is elected, the gateways carry on without a client
//! seeing an error, every acknowledged write is there afterwards (also on
//! the killed node once it restarts) and none was applied twice. Then the
//! replicas reach their sites across processes, and a learner answers
//! stale-ok reads with every voter gone.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use meridian_chaos_tests::data::{blake3_hex, random_bytes};
use meridian_chaos_tests::grpc::Api;
use meridian_chaos_tests::nodes::{node_id, NodeCluster};
use meridian_chaos_tests::s3::{self, S3Options};
use meridian_chaos_tests::wait::{poll_until, Check};
use meridian_chaos_tests::Site;
use meridian_proto::v1::StatRequest;

const BUCKET: &str = "failover";

/// The leader as `site` sees it, once every member is listed.
async fn leader_seen_from(cluster: &NodeCluster, site: Site) -> Result<Option<u64>> {
    let members = cluster.ctl(site).json(&["meta", "members"]).await?;
    let list = members["members"].as_array().cloned().unwrap_or_default();
    Ok(list
        .iter()
        .find(|m| m["leader"] == true)
        .and_then(|m| m["id"].as_u64()))
}

fn site_of(id: u64) -> Result<Site> {
    Site::ALL
        .into_iter()
        .find(|s| node_id(*s) == id)
        .with_context(|| format!("no site for node {id}"))
}

/// What one writer got acknowledged.
#[derive(Default)]
struct Acked {
    /// (site written through, key, BLAKE3 of the body)
    objects: Vec<(Site, String, String)>,
    buckets: Vec<String>,
}

/// Waits until the writers together have `at_least` objects acknowledged.
async fn wait_acked(count: &AtomicUsize, at_least: usize) -> Result<()> {
    poll_until(
        &format!("{at_least} acknowledged writes"),
        Duration::from_secs(60),
        Duration::from_millis(50),
        || async {
            let n = count.load(Ordering::Relaxed);
            Ok(if n >= at_least {
                Check::Done(())
            } else {
                Check::NotYet(format!("{n}"))
            })
        },
    )
    .await
}

/// Writes objects and creates buckets through `site` until `stop`; any
/// error fails the run (no client retries: the gateway must hide the
/// change of leader).
async fn writer(
    cluster: Arc<NodeCluster>,
    site: Site,
    n: usize,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
) -> Result<Acked> {
    let client = cluster.s3(site, &S3Options::default().without_retries());
    let mut acked = Acked::default();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let key = format!("w{n}/{i:05}");
        let data = random_bytes((n * 1_000_000 + i) as u64, 2_000 + (i % 7) * 1_000);
        let started = Instant::now();
        s3::put_bytes(&client, BUCKET, &key, data.clone())
            .await
            .with_context(|| format!("writer {n} through {site}"))?;
        if started.elapsed() > Duration::from_secs(1) {
            eprintln!("writer {n}: {key} took {:?}", started.elapsed());
        }
        acked.objects.push((site, key, blake3_hex(&data)));
        count.fetch_add(1, Ordering::Relaxed);
        if i.is_multiple_of(10) {
            // Not idempotent: applying it twice would refuse the retry.
            let bucket = format!("w{n}-b{i:05}");
            s3::create_bucket(&client, &bucket)
                .await
                .with_context(|| format!("writer {n} through {site}"))?;
            acked.buckets.push(bucket);
        }
        i += 1;
    }
    Ok(acked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_killed_under_load_loses_nothing() -> Result<()> {
    let cluster = tokio::task::block_in_place(|| NodeCluster::start("256KiB"))?;
    let leader = poll_until(
        "a leader agreed on by every node",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let mut seen = Vec::new();
            for site in Site::ALL {
                seen.push(leader_seen_from(&cluster, site).await?);
            }
            match seen[0] {
                Some(l) if seen.iter().all(|s| *s == Some(l)) => Ok(Check::Done(l)),
                _ => Ok(Check::NotYet(format!("{seen:?}"))),
            }
        },
    )
    .await?;
    ensure!(leader <= 3, "a learner leads: node {leader}");
    let leader_site = site_of(leader)?;
    // Learners are members but not voters.
    let members = cluster
        .ctl(Site::Beijing)
        .json(&["meta", "members"])
        .await?;
    for m in members["members"].as_array().cloned().unwrap_or_default() {
        let want = if m["id"].as_u64().unwrap_or(0) <= 3 {
            "voter"
        } else {
            "learner"
        };
        ensure!(m["role"] == want, "members: {members}");
    }

    s3::create_bucket(&cluster.s3(Site::Jiangmen, &S3Options::default()), BUCKET).await?;
    let cluster = Arc::new(cluster);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let through: Vec<Site> = Site::ALL
        .into_iter()
        .filter(|s| *s != leader_site)
        .collect();
    let mut writers = Vec::new();
    for (n, site) in through.iter().cycle().take(8).enumerate() {
        writers.push(tokio::spawn(writer(
            cluster.clone(),
            *site,
            n,
            stop.clone(),
            count.clone(),
        )));
    }

    // The leader dies under load: every writer has had writes through.
    wait_acked(&count, 40).await?;
    let killed_at = Instant::now();
    cluster.kill9(leader_site)?;
    let survivor = through[0];
    let new_leader = poll_until(
        "a new leader",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            match leader_seen_from(&cluster, survivor).await? {
                Some(l) if l != leader => Ok(Check::Done(l)),
                other => Ok(Check::NotYet(format!("{other:?}"))),
            }
        },
    )
    .await?;
    let took = killed_at.elapsed();
    eprintln!("node {new_leader} leads {took:?} after node {leader} was killed");
    ensure!(new_leader <= 3, "a learner leads: node {new_leader}");
    ensure!(took < Duration::from_secs(10), "a new leader took {took:?}");
    // Writers keep going under the new leader.
    wait_acked(&count, count.load(Ordering::Relaxed) + 80).await?;
    stop.store(true, Ordering::Relaxed);
    let mut all = Acked::default();
    for (n, w) in writers.into_iter().enumerate() {
        let acked = match w.await.context("writer task")? {
            Ok(a) => a,
            Err(e) => bail!("writer {n} saw an error: {e:#}"),
        };
        all.objects.extend(acked.objects);
        all.buckets.extend(acked.buckets);
    }
    eprintln!(
        "{} objects and {} buckets acknowledged",
        all.objects.len(),
        all.buckets.len()
    );
    ensure!(all.objects.len() > 50, "too few writes to mean anything");

    // Every acknowledged object reads back, its bytes from the node that
    // ingested it; a learner lists every key (linearizable by default).
    let phase = Instant::now();
    let clients: std::collections::BTreeMap<Site, _> = Site::ALL
        .into_iter()
        .map(|s| (s, cluster.s3(s, &S3Options::default())))
        .collect();
    for (site, key, hash) in &all.objects {
        let back = s3::get_bytes(&clients[site], BUCKET, key).await?;
        ensure!(&blake3_hex(&back) == hash, "{key} reads back wrong");
    }
    let learner = cluster.s3(Site::Daocheng, &S3Options::default());
    let mut want: Vec<&str> = all.objects.iter().map(|(_, k, _)| k.as_str()).collect();
    want.sort_unstable();
    let listed = s3::list_all_keys(&learner, BUCKET, None).await?;
    ensure!(
        listed == want,
        "a learner lists {} keys, {} were acknowledged",
        listed.len(),
        want.len()
    );
    eprintln!("read back in {:?}", phase.elapsed());
    let listed = learner.list_buckets().send().await?;
    let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    for b in &all.buckets {
        ensure!(
            names.contains(&b.as_str()),
            "bucket {b} was acknowledged but is gone"
        );
    }

    // The killed node restarts, rejoins, and has everything.
    let mut cluster =
        Arc::try_unwrap(cluster).map_err(|_| anyhow::anyhow!("writers still hold the cluster"))?;
    tokio::task::block_in_place(|| cluster.restart(leader_site))?;
    let back = cluster.s3(leader_site, &S3Options::default());
    let relisted = s3::list_all_keys(&back, BUCKET, None).await?;
    ensure!(relisted == want, "the restarted node lists other keys");
    let status = cluster.ctl(leader_site).json(&["status"]).await?;
    ensure!(
        status["objects"].as_u64() == Some(all.objects.len() as u64),
        "{} objects acknowledged, status counts {}",
        all.objects.len(),
        status["objects"]
    );

    // Chunks cross processes: each node pulls its site's pending replicas
    // from the others' data nodes, and reads objects held elsewhere.
    let ctl = cluster.ctl(leader_site);
    let phase = Instant::now();
    poll_until(
        "every replica copied",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || async {
            let status = ctl.json(&["status"]).await?;
            let pending: u64 = status["sites"]
                .as_array()
                .map(|v| v.iter().filter_map(|x| x["pending_objects"].as_u64()).sum())
                .unwrap_or(u64::MAX);
            Ok(if pending == 0 {
                Check::Done(())
            } else {
                Check::NotYet(format!("{pending} replicas pending"))
            })
        },
    )
    .await?;
    eprintln!("replicas copied {:?} after the restart", phase.elapsed());
    let stat = ctl.object_stat(BUCKET, &all.objects[0].1).await?;
    ensure!(stat.fully_replicated(3), "{}", stat.replica_summary());
    for (_, key, hash) in all.objects.iter().step_by(25) {
        for site in [leader_site, Site::Daocheng] {
            let back = s3::get_bytes(&cluster.s3(site, &S3Options::default()), BUCKET, key).await?;
            ensure!(&blake3_hex(&back) == hash, "{key} read at {site} differs");
        }
    }

    // With every voter gone, a learner still answers reads that accept
    // staleness from its own state (it heard from a leader within the
    // bound); linearizable reads would need a leader.
    let (probe_key, probe_hash) = {
        let (_, k, h) = &all.objects[0];
        (k.clone(), h.clone())
    };
    for site in [Site::Beijing, Site::Huairou, Site::Dongguan] {
        cluster.kill9(site)?;
    }
    let mut grpc = Api::connect(&cluster.grpc_endpoint(Site::Jiangmen)).await?;
    let info = grpc
        .stat(StatRequest {
            bucket: BUCKET.into(),
            key: probe_key.clone(),
            max_staleness_ms: 60_000,
        })
        .await
        .with_context(|| format!("a stale-ok stat of {probe_key} at a learner without voters"))?
        .into_inner();
    ensure!(info.blake3 == probe_hash, "stale stat: {info:?}");
    Ok(())
}
