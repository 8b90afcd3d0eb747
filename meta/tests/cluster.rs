//! Three metadata voters in one process, joined by the gRPC Raft network:
//! replication to every node, a leader loss, and a voter that catches up by
//! snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use meridian_meta::network::GrpcNetwork;
use meridian_meta::{MetaConfig, MetaError, MetaNode};
use meridian_proto::v1::command::Op;
use meridian_proto::v1::*;
use openraft::error::{RPCError, RaftError};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::VoteRequest;
use openraft::{BasicNode, Vote};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(15);

/// The cluster CA of the members (per test process).
fn ca() -> &'static meridian_tls::ClusterCa {
    static CA: std::sync::OnceLock<meridian_tls::ClusterCa> = std::sync::OnceLock::new();
    CA.get_or_init(|| {
        meridian_tls::ClusterCa::generate("test cluster", std::time::SystemTime::now()).expect("ca")
    })
}

/// The members' identity under the cluster CA.
fn tls() -> meridian_tls::ClusterTls {
    static TLS: std::sync::OnceLock<meridian_tls::ClusterTls> = std::sync::OnceLock::new();
    TLS.get_or_init(|| {
        ca().identity(
            "member",
            &["127.0.0.1".into()],
            std::time::SystemTime::now(),
        )
        .expect("identity")
    })
    .clone()
}

/// A raw client of `addr`'s cluster port that trusts the cluster's CA (so
/// the server's certificate passes) and presents a certificate of `issuer`:
/// whether it gets anywhere is the server's decision alone.
async fn presenting(
    issuer: &meridian_tls::ClusterCa,
    addr: &str,
) -> meridian_proto::v1::raft_service_client::RaftServiceClient<tonic::transport::Channel> {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let cert = issuer
        .issue("rogue", &["127.0.0.1".into()], std::time::SystemTime::now())
        .expect("cert");
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca().cert_pem()))
        .identity(Identity::from_pem(cert.cert_pem, cert.key_pem));
    let channel = Endpoint::from_shared(format!("https://{addr}"))
        .expect("uri")
        .tls_config(tls)
        .expect("tls")
        .connect_lazy();
    meridian_proto::v1::raft_service_client::RaftServiceClient::new(channel)
}

fn rogue_ca() -> meridian_tls::ClusterCa {
    // The same cluster name: only the key tells them apart.
    meridian_tls::ClusterCa::generate("test cluster", std::time::SystemTime::now()).expect("ca")
}

fn create_bucket(name: &str) -> Command {
    meridian_meta::command(Op::CreateBucket(CreateBucketCmd {
        name: name.into(),
        owner: "root".into(),
        ingest_site: 1,
        now_ms: 1,
        ..Default::default()
    }))
}

fn put(bucket: &str, key: &str) -> Command {
    meridian_meta::command(Op::PutObject(PutObjectCmd {
        bucket: bucket.into(),
        key: key.into(),
        record: Some(ObjectRecord {
            blake3: vec![0xB3; 32],
            format: 1,
            size: 10,
            version_id: format!("v-{key}"),
            replicas: vec![Replica {
                site: 1,
                state: ReplicaState::Complete as i32,
                verified_at_ms: 0,
                reason: 0,
            }],
            ..Default::default()
        }),
        ..Default::default()
    }))
}

/// One voter: its node, the tonic server serving its Raft service, and its
/// directory (kept alive as long as the member).
struct Member {
    id: u64,
    node: Arc<MetaNode>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
    _dir: tempfile::TempDir,
}

impl Member {
    /// Opens the node and serves its Raft service on `listener` (bound
    /// before, so every peer's address is known up front). The node is not
    /// waited on: its peers must be able to reach it to elect anyone.
    async fn open(
        id: u64,
        listener: TcpListener,
        peers: &BTreeMap<u64, String>,
        snapshot_every: u64,
    ) -> Member {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = MetaConfig::member(dir.path().to_path_buf(), id, peers, tls());
        cfg.initialize = id == 1;
        cfg.snapshot_every = snapshot_every;
        Member::serve(id, cfg, listener, dir).await
    }

    /// Opens the node and serves its Raft service on `listener`.
    async fn serve(
        id: u64,
        cfg: MetaConfig,
        listener: TcpListener,
        dir: tempfile::TempDir,
    ) -> Member {
        let node = Arc::new(MetaNode::open(cfg).await.expect("meta node opens"));
        let node_service = node.raft_service();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            meridian_meta::raft_service::serve(listener, node_service, &tls(), async {
                let _ = stopped.await;
            })
            .await
        });
        Member {
            id,
            node,
            stop: Some(stop),
            server: Some(server),
            _dir: dir,
        }
    }

    /// A learner: not among `voters`, it joins by asking them.
    async fn open_learner(
        id: u64,
        listener: TcpListener,
        voters: &BTreeMap<u64, String>,
    ) -> Member {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = listener.local_addr().expect("addr").to_string();
        let mut cfg = MetaConfig::new(dir.path().to_path_buf(), addr);
        cfg.node_id = id;
        cfg.peers = voters.clone();
        cfg.tls = Some(tls());
        cfg.learner = true;
        cfg.initialize = false;
        Member::serve(id, cfg, listener, dir).await
    }

    /// Stops Raft, then the server (bounded: a server that does not drain
    /// in time is aborted).
    async fn stop(&mut self) {
        self.node.shutdown().await.expect("shutdown");
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut server) = self.server.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut server)
                .await
                .is_err()
            {
                server.abort();
            }
        }
    }
}

async fn listeners(n: u64) -> (Vec<TcpListener>, BTreeMap<u64, String>) {
    let mut ls = Vec::new();
    let mut peers = BTreeMap::new();
    for id in 1..=n {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        peers.insert(id, l.local_addr().expect("addr").to_string());
        ls.push(l);
    }
    (ls, peers)
}

/// Polls `check` until it holds; fails the test at the deadline.
async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `node`'s own state machine holds the bucket and all the keys.
fn has_all(node: &MetaNode, bucket: &str, keys: &[String]) -> bool {
    let r = node.reader();
    let Some(b) = r.bucket(bucket).expect("read bucket") else {
        return false;
    };
    keys.iter()
        .all(|k| r.object(b.id, k).expect("read object").is_some())
}

/// 1300 keys `PREFIX/NNNN` in `bucket`, one Raft entry each, then waits
/// until the leader has snapshotted and purged its early log: far enough
/// past what a newcomer would need (a node keeps its last 1000 entries)
/// that it can only catch up by snapshot. Returns the keys.
async fn write_past_purge(leader: &MetaNode, bucket: &str, prefix: &str) -> Vec<String> {
    let keys: Vec<String> = (0..1300).map(|i| format!("{prefix}/{i:04}")).collect();
    for chunk in keys.chunks(100) {
        let results =
            futures::future::join_all(chunk.iter().map(|k| leader.write(vec![put(bucket, k)])))
                .await;
        for r in results {
            r.expect("put");
        }
    }
    eventually("the leader purges its early log", WAIT, || {
        leader.status().purged_index > 10
    })
    .await;
    keys
}

/// The member that leads, agreed on by every member given (bounded).
async fn agreed_leader(members: &[&Member]) -> u64 {
    let mut leader = 0;
    eventually("the members agree on a leader", WAIT, || {
        let Some(l) = members[0].node.current_leader() else {
            return false;
        };
        let leads = members
            .iter()
            .any(|m| m.id == l && m.node.status().state == "Leader");
        leader = l;
        leads && members.iter().all(|m| m.node.current_leader() == Some(l))
    })
    .await;
    leader
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_voters_replicate_and_survive_leader_loss() {
    let (ls, peers) = listeners(3).await;
    let mut members = Vec::new();
    for (id, l) in (1..=3).zip(ls) {
        members.push(Member::open(id, l, &peers, 20_000).await);
    }
    for m in &members {
        m.node
            .wait_for_leader(WAIT)
            .await
            .expect("a leader is known");
    }
    let leader_id = agreed_leader(&members.iter().collect::<Vec<_>>()).await;
    let leader = members.iter().find(|m| m.id == leader_id).expect("leader");

    // Writes through the leader: single commands (group-committed) and a batch.
    leader
        .node
        .write_one(create_bucket("b"))
        .await
        .expect("create bucket");
    let mut acked: Vec<String> = Vec::new();
    let singles: Vec<String> = (0..10).map(|i| format!("single/{i}")).collect();
    let results =
        futures::future::join_all(singles.iter().map(|k| leader.node.write_one(put("b", k)))).await;
    for r in results {
        r.expect("put");
    }
    acked.extend(singles);
    let batch: Vec<String> = (0..5).map(|i| format!("batch/{i}")).collect();
    leader
        .node
        .write(batch.iter().map(|k| put("b", k)).collect())
        .await
        .expect("batch");
    acked.extend(batch);

    leader.node.read_barrier().await.expect("read barrier");
    assert!(has_all(&leader.node, "b", &acked));
    for m in &members {
        eventually(&format!("node {} applies every write", m.id), WAIT, || {
            has_all(&m.node, "b", &acked)
        })
        .await;
    }

    // Lose the leader: the two survivors elect a new one and take writes.
    let lost = members
        .iter()
        .position(|m| m.id == leader_id)
        .expect("leader");
    let mut old = members.remove(lost);
    old.stop().await;
    let started = Instant::now();
    let new_id = agreed_leader(&members.iter().collect::<Vec<_>>()).await;
    assert_ne!(new_id, leader_id);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "re-election took {:?}",
        started.elapsed()
    );
    let new_leader = members.iter().find(|m| m.id == new_id).expect("new leader");
    let after: Vec<String> = (0..5).map(|i| format!("after/{i}")).collect();
    for k in &after {
        new_leader
            .node
            .write_one(put("b", k))
            .await
            .expect("write on the new leader");
    }
    acked.extend(after);

    new_leader.node.read_barrier().await.expect("read barrier");
    for m in &members {
        eventually(
            &format!("survivor {} holds every acknowledged write", m.id),
            WAIT,
            || has_all(&m.node, "b", &acked),
        )
        .await;
    }
    for m in &mut members {
        m.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lagging_voter_catches_up_by_snapshot() {
    let (mut ls, peers) = listeners(3).await;
    // Node 3's listener stays bound but unserved: its peers' RPCs to it time
    // out, as to a node that is down, and the port stays ours.
    let l3 = ls.pop().expect("listener 3");
    let mut members = Vec::new();
    for (id, l) in (1..=2).zip(ls) {
        members.push(Member::open(id, l, &peers, 50).await);
    }
    for m in &members {
        m.node
            .wait_for_leader(WAIT)
            .await
            .expect("a leader is known");
    }
    let leader_id = agreed_leader(&members.iter().collect::<Vec<_>>()).await;
    let leader = members
        .iter()
        .find(|m| m.id == leader_id)
        .expect("leader")
        .node
        .clone();

    // One Raft entry per write, enough for the leader to snapshot and purge
    // the log past what node 3 would need (it keeps 1000 entries).
    leader
        .write_one(create_bucket("b"))
        .await
        .expect("create bucket");
    let keys = write_past_purge(&leader, "b", "k").await;

    let mut third = Member::open(3, l3, &peers, 50).await;
    third
        .node
        .wait_for_leader(WAIT)
        .await
        .expect("node 3 learns the leader");
    leader.read_barrier().await.expect("read barrier");
    eventually("node 3 installs the snapshot and applies", WAIT, || {
        has_all(&third.node, "b", &keys)
    })
    .await;
    // Node 3 got the state by snapshot, not by log: a node that builds its
    // own snapshots keeps the last 1000 entries, so only an installed
    // snapshot leaves its log purged this far.
    let st = third.node.status();
    assert!(st.purged_index > 1000, "{st:?}");
    // The search indexes came with it: a size search on node 3 walks its
    // index (not the records) and finds every file.
    let q = meridian_core::search::Query {
        target: meridian_core::search::Target::Files,
        filters: vec![meridian_core::search::parse_filter(
            meridian_core::search::Target::Files,
            "size=10",
        )
        .expect("filter")],
        sort: None,
        descending: false,
        limit: 1000,
        after: None,
    };
    let mut found = 0;
    let mut q = q;
    for _ in 0..=keys.len() {
        let plan = meridian_core::search::plan(&q).expect("plan");
        let page = third.node.reader().search(&q, &plan).expect("search");
        assert!(page.walked.contains("index size"), "{}", page.walked);
        found += page.files.len();
        match page.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    assert_eq!(found, keys.len());
    third.stop().await;
    for m in &mut members {
        m.stop().await;
    }
}

fn vote_request() -> VoteRequest<u64> {
    VoteRequest::new(Vote::new(1, 9), None)
}

#[tokio::test]
async fn transport_failure_is_unreachable_and_raft_failure_is_remote() {
    // Nobody listens on a port we bound and released.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let mut net = GrpcNetwork::new(9, tls());
    let mut conn = net.new_client(1, &BasicNode { addr: closed }).await;
    let option = RPCOption::new(Duration::from_secs(2));
    match conn.vote(vote_request(), option.clone()).await {
        Err(RPCError::Unreachable(_)) => {}
        other => panic!("a closed port is unreachable: {other:?}"),
    }

    // A node whose server answers but whose Raft has stopped: the error
    // comes back from the remote Raft, not from the transport.
    let (mut ls, peers) = listeners(1).await;
    let mut m = Member::open(1, ls.pop().expect("listener"), &peers, 20_000).await;
    m.node.wait_for_leader(WAIT).await.expect("leads");

    // A peer under another CA (even one of the same name) is refused in the
    // handshake: its vote, for a later term, never reaches Raft.
    let term = m.node.status().term;
    let vote = |term: u64| RaftPayload {
        data: rmp_serde::to_vec_named(&VoteRequest::<u64>::new(Vote::new(term, 9), None))
            .expect("encode"),
    };
    let refused = presenting(&rogue_ca(), &peers[&1])
        .await
        .vote(vote(term + 5))
        .await;
    assert!(
        refused.is_err(),
        "a peer under a rogue CA is refused: {refused:?}"
    );
    assert_eq!(m.node.status().term, term, "the rogue vote reached Raft");
    // The same call with a certificate of the cluster's CA reaches Raft
    // (a vote for an old term, which it turns down and which changes
    // nothing): what refused the rogue was its certificate.
    let member = presenting(ca(), &peers[&1]).await.vote(vote(0)).await;
    assert!(member.is_ok(), "a member's vote is answered: {member:?}");
    assert_eq!(m.node.status().term, term);

    m.node.shutdown().await.expect("shutdown");
    let mut conn = net
        .new_client(
            1,
            &BasicNode {
                addr: peers[&1].clone(),
            },
        )
        .await;
    match conn.vote(vote_request(), option).await {
        Err(RPCError::RemoteError(e)) => {
            assert_eq!(e.target, 1);
            assert!(matches!(e.source, RaftError::Fatal(_)), "{e:?}");
        }
        other => panic!("a stopped Raft answers with a remote error: {other:?}"),
    }
    m.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_serve_bounded_staleness_reads_once_caught_up() {
    let (ls, peers) = listeners(3).await;
    let mut members = Vec::new();
    for (id, l) in (1..=3).zip(ls) {
        members.push(Member::open(id, l, &peers, 20_000).await);
    }
    for m in &members {
        m.node
            .wait_for_leader(WAIT)
            .await
            .expect("a leader is known");
    }
    let refs: Vec<&Member> = members.iter().collect();
    let leader_id = agreed_leader(&refs).await;
    let leader = members.iter().find(|m| m.id == leader_id).expect("leader");
    let followers: Vec<&Member> = members.iter().filter(|m| m.id != leader_id).collect();
    // The leader serves while a quorum has acknowledged it within the bound
    // (heartbeats every 250 ms): a leader cut off longer may have been
    // replaced. Nothing can be that recent for a bound of zero.
    assert!(leader.node.fresh_within(Duration::from_secs(5)));
    assert!(!leader.node.fresh_within(Duration::ZERO));

    leader
        .node
        .write_one(create_bucket("stale"))
        .await
        .expect("create");
    let keys: Vec<String> = (0..5).map(|i| format!("k{i}")).collect();
    for k in &keys {
        leader.node.write_one(put("stale", k)).await.expect("put");
    }
    // Let the writes age past the bound, then a follower that is fresh
    // within 400 ms heard from the leader after they were acknowledged:
    // its local state must hold every one of them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for f in &followers {
        eventually("a follower is fresh within 400 ms", WAIT, || {
            f.node.fresh_within(Duration::from_millis(400))
        })
        .await;
        assert!(
            has_all(&f.node, "stale", &keys),
            "a fresh follower misses writes acknowledged before its bound"
        );
        // No follower can promise zero staleness.
        assert!(!f.node.fresh_within(Duration::ZERO));
    }
    for mut m in members {
        m.stop().await;
    }
}

/// Three voters (snapshot every 50 entries) that know their leader, and a
/// bound listener for a fourth node: (voters, its listener, the four
/// addresses, the voters' addresses).
async fn three_voters_and_a_spare() -> (
    Vec<Member>,
    TcpListener,
    BTreeMap<u64, String>,
    BTreeMap<u64, String>,
) {
    let (mut ls, peers4) = listeners(4).await;
    let l4 = ls.pop().expect("fourth listener");
    let voters: BTreeMap<u64, String> = peers4
        .iter()
        .filter(|(id, _)| **id <= 3)
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    let mut members = Vec::new();
    for (id, l) in (1..=3).zip(ls) {
        members.push(Member::open(id, l, &voters, 50).await);
    }
    for m in &members {
        m.node
            .wait_for_leader(WAIT)
            .await
            .expect("a leader is known");
    }
    (members, l4, peers4, voters)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn learners_join_are_promoted_and_voters_leave() {
    let (members, l4, peers4, _) = three_voters_and_a_spare().await;
    let refs: Vec<&Member> = members.iter().collect();
    let leader_id = agreed_leader(&refs).await;
    let leader = members
        .iter()
        .find(|m| m.id == leader_id)
        .expect("leader")
        .node
        .clone();
    leader
        .write_one(create_bucket("grow"))
        .await
        .expect("create");
    let keys: Vec<String> = (0..200).map(|i| format!("k{i:03}")).collect();
    for k in &keys {
        leader.write_one(put("grow", k)).await.expect("put");
    }

    // A fourth node joins as a learner and catches up (by snapshot: the
    // log was purged every 50 entries).
    let fourth = Member::open(4, l4, &peers4, 50).await;
    leader
        .add_learner(4, peers4[&4].clone())
        .await
        .expect("add learner");
    eventually("the learner holds every write", WAIT, || {
        has_all(&fourth.node, "grow", &keys)
    })
    .await;
    assert_eq!(leader.voter_ids(), [1, 2, 3].into_iter().collect());
    let roles: Vec<(u64, bool)> = leader
        .members()
        .into_iter()
        .map(|(id, _, voter, _)| (id, voter))
        .collect();
    assert!(roles.contains(&(4, false)), "{roles:?}");

    // Promoted, it votes; then a voter that is not the leader leaves.
    leader
        .set_voters([1, 2, 3, 4].into_iter().collect())
        .await
        .expect("promote");
    assert_eq!(leader.voter_ids().len(), 4);
    let leaving = (1..=3).find(|id| *id != leader_id).expect("a follower");
    let remaining: std::collections::BTreeSet<u64> = [1, 2, 3, 4]
        .into_iter()
        .filter(|id| *id != leaving)
        .collect();
    leader.set_voters(remaining.clone()).await.expect("remove");
    assert_eq!(leader.voter_ids(), remaining);
    assert!(
        leader.members().iter().all(|(id, ..)| *id != leaving),
        "a removed voter stays a member"
    );
    // The group still commits, and the new voter has it.
    leader
        .write_one(put("grow", "after"))
        .await
        .expect("write after the changes");
    eventually("the promoted voter has the latest write", WAIT, || {
        has_all(&fourth.node, "grow", &["after".to_string()])
    })
    .await;
    // Refused changes change nothing.
    let none = leader.set_voters(std::collections::BTreeSet::new()).await;
    assert!(matches!(none, Err(MetaError::Membership(_))), "{none:?}");
    let unknown = leader
        .set_voters([1, 2, 3, 4, 9].into_iter().collect())
        .await;
    assert!(
        unknown.is_err(),
        "a voter that was never a learner was accepted"
    );
    assert_eq!(leader.voter_ids(), remaining);

    let mut all = members;
    all.push(fourth);
    for mut m in all {
        m.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_that_do_not_lead_write_and_read_through_the_leader_and_a_learner_joins() {
    let (members, l4, peers4, voters) = three_voters_and_a_spare().await;
    let refs: Vec<&Member> = members.iter().collect();
    let leader_id = agreed_leader(&refs).await;
    let follower = members
        .iter()
        .find(|m| m.id != leader_id)
        .expect("a follower");

    // A follower takes writes: its batches go to the leader.
    follower
        .node
        .write_one(create_bucket("fwd"))
        .await
        .expect("create through a follower");
    let keys: Vec<String> = (0..200).map(|i| format!("k{i:03}")).collect();
    for k in &keys {
        follower.node.write_one(put("fwd", k)).await.expect("put");
    }
    // Refusals travel back as refusals.
    let again = follower.node.write_one(create_bucket("fwd")).await;
    assert!(
        matches!(again, Err(MetaError::Rejected { .. })),
        "{again:?}"
    );
    // A linearizable read at the follower: the leader's read index, then
    // the follower's own state, with no polling.
    follower.node.read_barrier().await.expect("read index");
    assert!(has_all(&follower.node, "fwd", &keys));

    // Enough entries for the leader to snapshot and purge the log past
    // what a newcomer would need (it keeps the last 1000).
    let leader = &members
        .iter()
        .find(|m| m.id == leader_id)
        .expect("leader")
        .node;
    let more = write_past_purge(leader, "fwd", "m").await;

    // A learner joins through the follower (which names the leader) and
    // catches up by snapshot.
    let learner = Member::open_learner(4, l4, &voters).await;
    let addr4 = peers4[&4].clone();
    let via = voters[&follower.id].clone();
    // A newcomer under another CA cannot ask: its handshake is refused.
    let refused = presenting(&rogue_ca(), &via)
        .await
        .join(JoinRequest {
            node_id: 4,
            addr: addr4.clone(),
        })
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(
        !leader.members().iter().any(|m| m.0 == 4),
        "a rogue join changed the membership"
    );
    meridian_meta::forward::join(std::slice::from_ref(&via), 4, &addr4, &tls())
        .await
        .expect("join");
    learner
        .node
        .wait_for_leader(WAIT)
        .await
        .expect("learner sees a leader");
    learner
        .node
        .read_barrier()
        .await
        .expect("learner read index");
    assert!(has_all(&learner.node, "fwd", &keys));
    assert!(has_all(&learner.node, "fwd", &more));
    // Only an installed snapshot leaves a newcomer's log purged this far.
    let st = learner.node.status();
    assert!(st.purged_index > 1000, "{st:?}");
    learner
        .node
        .write_one(put("fwd", "from-the-learner"))
        .await
        .expect("a learner forwards writes too");
    assert_eq!(leader.voter_ids(), [1, 2, 3].into_iter().collect());
    // Joining again is a no-op; under another address it is refused.
    meridian_meta::forward::join(std::slice::from_ref(&via), 4, &addr4, &tls())
        .await
        .expect("joining twice");
    let moved =
        meridian_meta::forward::join(std::slice::from_ref(&via), 4, "127.0.0.1:1", &tls()).await;
    assert!(matches!(moved, Err(MetaError::Membership(_))), "{moved:?}");

    let mut all = members;
    all.push(learner);
    for mut m in all {
        m.stop().await;
    }
}
