//! Coalesced read barriers.
//!
//! A linearizable read needs a read index: a round trip through the Raft
//! core (and, with peers, a heartbeat quorum). Concurrent readers share one:
//! a barrier round that *starts* after a reader arrives serves that reader,
//! so while one round runs, every reader that arrives waits for the next,
//! and one round serves them all. At most one round runs at a time.

use std::sync::{Arc, Mutex};

use openraft::Raft;
use tokio::sync::watch;

use crate::forward::LeaderLink;
use crate::types::TypeConfig;

/// How long a member that does not lead waits to apply up to the leader's
/// read index (it is normally a heartbeat behind).
const APPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
use crate::MetaError;

#[derive(Default)]
struct Rounds {
    /// The last round started.
    started: u64,
    running: bool,
    /// Readers arrived while a round was running: start another after it.
    wanted: bool,
}

#[derive(Clone)]
pub struct ReadBarrier {
    raft: Raft<TypeConfig>,
    /// A member that does not lead gets the read index from the leader.
    link: Option<Arc<LeaderLink>>,
    rounds: Arc<Mutex<Rounds>>,
    /// (last round finished, its result).
    done: watch::Sender<(u64, Result<(), String>)>,
}

impl ReadBarrier {
    pub fn new(raft: Raft<TypeConfig>, link: Option<Arc<LeaderLink>>) -> Self {
        ReadBarrier {
            raft,
            link,
            rounds: Arc::new(Mutex::new(Rounds::default())),
            done: watch::Sender::new((0, Ok(()))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rounds> {
        self.rounds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns once the local state machine reflects every write committed
    /// before the call.
    pub async fn wait(&self) -> Result<(), MetaError> {
        let mut rx = self.done.subscribe();
        let mine = {
            let mut r = self.lock();
            if r.running {
                r.wanted = true;
                r.started + 1
            } else {
                r.running = true;
                r.started += 1;
                let this = self.clone();
                tokio::spawn(async move { this.run().await });
                r.started
            }
        };
        let seen = rx
            .wait_for(|(round, _)| *round >= mine)
            .await
            .map_err(|_| MetaError::Unavailable("read barrier stopped".into()))?;
        seen.1.clone().map_err(MetaError::Unavailable)
    }

    /// One round: the read index, and this node's state machine applied
    /// up to it.
    async fn round(&self) -> Result<(), String> {
        match &self.link {
            Some(link) if !link.local_leads() => {
                let index = link.read_index().await.map_err(|e| e.to_string())?;
                self.raft
                    .wait(Some(APPLY_WAIT))
                    .applied_index_at_least(Some(index), "read index applied")
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("not caught up with read index {index}: {e}"))
            }
            // Bounded for the same reason as a commit (see commit.rs).
            _ => tokio::time::timeout(APPLY_WAIT, self.raft.ensure_linearizable())
                .await
                .map_err(|_| format!("no read index within {APPLY_WAIT:?}"))?
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }

    /// Runs rounds until no reader is waiting for another.
    async fn run(self) {
        loop {
            let round = self.lock().started;
            let result = self.round().await;
            let _previous = self.done.send_replace((round, result));
            let mut r = self.lock();
            if r.wanted {
                r.wanted = false;
                r.started += 1;
            } else {
                r.running = false;
                return;
            }
        }
    }
}
