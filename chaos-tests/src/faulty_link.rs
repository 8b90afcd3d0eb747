//! A TCP relay between a client and a server that fails once, as a network
//! does: after a set number of bytes from the client it either cuts every
//! connection open at that moment (the server receives everything relayed
//! before, then end-of-stream; the client's socket is closed), or stalls
//! them (nothing more is relayed either way, the sockets stay open). Later
//! connections are relayed whole, as after the network came back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the link fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Cut,
    Stall,
}

/// The most connections the relay serves; a test needs a handful.
const MAX_CONNECTIONS: u64 = 256;
const BUFFER: usize = 64 * 1024;

struct Shared {
    fault: Fault,
    /// Client-to-server bytes relayed before the fault.
    after: u64,
    relayed: AtomicU64,
    tripped: AtomicBool,
    /// Tells every connection open at the fault.
    trip: watch::Sender<bool>,
    /// Ends every connection when the relay is dropped.
    release: watch::Sender<bool>,
}

pub struct FaultyLink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl FaultyLink {
    /// A relay on a free loopback port to `server`, failing with `fault`
    /// once `after` bytes from clients have been relayed.
    pub async fn start(server: SocketAddr, fault: Fault, after: u64) -> Result<FaultyLink> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the relay")?;
        let addr = listener.local_addr()?;
        let (trip, _) = watch::channel(false);
        let (release, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            fault,
            after,
            relayed: AtomicU64::new(0),
            tripped: AtomicBool::new(false),
            trip,
            release,
        });
        let s = shared.clone();
        let accept = tokio::spawn(async move {
            for _ in 0..MAX_CONNECTIONS {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let Ok(upstream) = TcpStream::connect(server).await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                tokio::spawn(relay(client, upstream, s.clone()));
            }
        });
        Ok(FaultyLink {
            addr,
            shared,
            accept,
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Client-to-server bytes relayed so far (before the fault, all of them
    /// reached the server).
    pub fn relayed(&self) -> u64 {
        self.shared.relayed.load(Ordering::SeqCst)
    }

    pub fn tripped(&self) -> bool {
        self.shared.tripped.load(Ordering::SeqCst)
    }
}

impl Drop for FaultyLink {
    fn drop(&mut self) {
        self.accept.abort();
        self.shared.release.send_replace(true);
    }
}

async fn relay(client: TcpStream, upstream: TcpStream, s: Arc<Shared>) {
    let mut tripped = s.trip.subscribe();
    let mut released = s.release.subscribe();
    if s.tripped.load(Ordering::SeqCst) {
        // The network came back: relay this connection whole.
        let (mut c, mut u) = (client, upstream);
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut c, &mut u) => {}
            _ = released.wait_for(|r| *r) => {}
        }
        return;
    }
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    let up = {
        let s = s.clone();
        async move {
            let mut buf = vec![0u8; BUFFER];
            loop {
                let n = match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n as u64,
                };
                let before = s.relayed.fetch_add(n, Ordering::SeqCst);
                if before + n <= s.after {
                    if uw.write_all(&buf[..n as usize]).await.is_err() {
                        return;
                    }
                    continue;
                }
                // The fault: relay up to the limit, then fail.
                let room = s.after.saturating_sub(before);
                s.relayed.store(s.after, Ordering::SeqCst);
                let _ = uw.write_all(&buf[..room as usize]).await;
                let _ = uw.flush().await;
                if s.fault == Fault::Cut {
                    // The server reads all that was relayed, then the end.
                    let _ = uw.shutdown().await;
                }
                s.tripped.store(true, Ordering::SeqCst);
                // send_replace: stored even with no connection listening.
                s.trip.send_replace(true);
                std::future::pending::<()>().await;
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; BUFFER];
        loop {
            let n = match ur.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if cw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::pin!(up);
    tokio::pin!(down);
    tokio::select! {
        _ = &mut up => return,
        _ = &mut down => return,
        _ = released.wait_for(|r| *r) => return,
        _ = tripped.wait_for(|t| *t) => {}
    }
    if s.fault == Fault::Stall {
        // Hold the sockets (the halves live in `up` and `down`, no longer
        // polled): nothing is relayed, nothing is closed.
        let _ = released.wait_for(|r| *r).await;
    }
    // Cut: dropping the halves closes both sockets.
}
