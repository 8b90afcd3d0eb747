//! The S3 front end's test fixture: a gateway over the core's in-memory
//! catalogue and chunk store (`meridian_core::testkit`, which the
//! catalogue conformance suite holds to the real catalogue's answers) on a
//! two-site topology, with a clock the tests move.

use std::sync::Arc;

use meridian_core::clock::ManualClock;
pub use meridian_core::testkit::{MemCatalogue, MemChunks};
use meridian_placement::Topology;

use meridian_objects::Objects;

pub const TOPOLOGY: &str = r#"
hub = "Alpha"
[[site]]
id = 1
name = "Alpha"
[[site]]
id = 2
name = "Beta"
[[link]]
from = "Alpha"
to = "Beta"
bandwidth_gbps = 1.0
"#;

/// The smallest chunk the core allows, so that small test bodies span chunks.
pub const CHUNK: usize = 64 * 1024;

pub struct Fixture {
    pub gateway: Arc<Objects>,
    pub chunks: Arc<MemChunks>,
    /// The gateway's clock, which moves only when a test moves it.
    pub clock: Arc<ManualClock>,
}

pub fn fixture() -> Fixture {
    let topology = Topology::from_toml(TOPOLOGY, "test").expect("test topology");
    let clock = ManualClock::starting_now();
    let catalogue = Arc::new(MemCatalogue::new(clock.clone()));
    let chunks = Arc::new(MemChunks::default());
    let gateway = Arc::new(Objects::new(
        catalogue.clone(),
        chunks.clone(),
        Arc::new(topology),
        CHUNK,
        clock.clone(),
    ));
    Fixture {
        gateway,
        chunks,
        clock,
    }
}

/// Deterministic, non-repeating-looking test bytes.
pub fn bytes_of(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}
