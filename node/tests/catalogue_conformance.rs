//! The catalogue conformance suite (`meridian_core::testkit::suite`) on the
//! real catalogue: `MetaCatalogue` over a single-voter openraft group on
//! RocksDB, as `meridian dev` runs it. The in-memory catalogue the
//! protocols' unit tests use runs the same suite in `meridian-core`.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use meridian_core::catalogue::Catalogue;
use meridian_core::testkit::suite::{test_all, Builder};
use meridian_core::SharedClock;
use meridian_data::DataPlane;
use meridian_node::catalogue::MetaCatalogue;
use meridian_node::dev_config::{DEFAULT_POLICY, DEFAULT_TOPOLOGY};
use meridian_node::keyring::Keyring;
use meridian_node::metagroup::MetaGroup;
use meridian_node::placement_policy::PolicyHandle;
use meridian_placement::{Policy, Topology};
use tokio::sync::Notify;

/// Makes each case's catalogue in a directory of its own, kept until the
/// test ends.
#[derive(Default)]
struct RaftCatalogue {
    dirs: Mutex<Vec<tempfile::TempDir>>,
}

#[async_trait]
impl Builder for RaftCatalogue {
    async fn build(&self) -> (Arc<dyn Catalogue>, SharedClock) {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = meridian_core::clock::system();
        let topology =
            Arc::new(Topology::from_toml(DEFAULT_TOPOLOGY, "default").expect("topology"));
        let policy = Policy::from_toml(DEFAULT_POLICY, "default", &topology).expect("policy");
        let meta = Arc::new(
            MetaGroup::single(&dir.path().join("meta"), "127.0.0.1:1".into())
                .await
                .expect("metadata node"),
        );
        let data = DataPlane::open_local(topology.clone(), dir.path(), 1.0, clock.clone())
            .expect("chunk stores");
        let keyring =
            Arc::new(Keyring::load_or_create(&dir.path().join("cluster.key")).expect("keyring"));
        let catalogue = MetaCatalogue::new(
            meta,
            topology.clone(),
            PolicyHandle::new(topology, policy),
            Arc::new(Notify::new()),
            data.links().clone(),
            keyring,
            clock.clone(),
        );
        self.dirs.lock().expect("dirs").push(dir);
        (Arc::new(catalogue), clock)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raft_catalogue_conforms() {
    test_all(&RaftCatalogue::default()).await;
}
