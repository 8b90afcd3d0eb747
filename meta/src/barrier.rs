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

use crate::types::TypeConfig;
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
    rounds: Arc<Mutex<Rounds>>,
    /// (last round finished, its result).
    done: watch::Sender<(u64, Result<(), String>)>,
}

impl ReadBarrier {
    pub fn new(raft: Raft<TypeConfig>) -> Self {
        ReadBarrier {
            raft,
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

    /// Runs rounds until no reader is waiting for another.
    async fn run(self) {
        loop {
            let round = self.lock().started;
            let result = self
                .raft
                .ensure_linearizable()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
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
