//! Polling a condition with a deadline, instead of sleeping and hoping.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// What one look at a condition found.
pub enum Check<T> {
    Done(T),
    /// Not yet, and what was seen instead (reported if the deadline passes).
    NotYet(String),
}

/// Calls `check` every `interval` until it returns `Ok(Check::Done(v))`, then
/// returns `v`. An `Err` is remembered as the reason and polling goes on (the
/// server may be briefly unavailable). After `timeout` the last observation
/// is reported.
pub async fn poll_until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Check<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut polls = 0u64;
    loop {
        polls += 1;
        let seen = match check().await {
            Ok(Check::Done(v)) => return Ok(v),
            Ok(Check::NotYet(seen)) => seen,
            Err(e) => format!("error: {e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("{what}: not reached within {timeout:?} ({polls} polls); last seen: {seen}");
        }
        tokio::time::sleep(interval).await;
    }
}
