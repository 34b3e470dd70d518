//! A cluster connection that re-reads the topology when a node stops answering. redis-rs
//! refreshes its slot map on a redirection, but a node that hangs (alive, silent) only times
//! out, and its requests keep going to it even after its replica was promoted. So a timed-out
//! request makes this handle build a fresh connection (which reads `CLUSTER SLOTS` from a node
//! that answers) in the background, at most once per interval, and swap it in.

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The current cluster connection and how to make the next one.
pub(crate) struct ClusterHandle {
    client: ClusterClient,
    current: RwLock<ClusterConnection>,
    refreshing: AtomicBool,
    last_refresh: Mutex<Option<Instant>>,
    /// The least time between two refreshes.
    interval: Duration,
}

impl ClusterHandle {
    pub(crate) fn new(client: ClusterClient, connection: ClusterConnection, interval: Duration) -> Self {
        Self {
            client,
            current: RwLock::new(connection),
            refreshing: AtomicBool::new(false),
            last_refresh: Mutex::new(None),
            interval,
        }
    }

    /// A clone of the current connection (cheap: redis-rs's cluster connection is a handle).
    pub(crate) fn connection(&self) -> ClusterConnection {
        match self.current.read() {
            Ok(current) => current.clone(),
            // A panic while swapping cannot leave a half-written connection behind.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    #[cfg(feature = "ops")]
    /// Reads the topology again now, swapping in a connection that knows every node listed
    /// (one that joined since the current connection was made, such as a new replica).
    pub(crate) async fn refresh(&self) -> redis::RedisResult<()> {
        let fresh = self.client.get_async_connection().await?;
        if let Ok(mut current) = self.current.write() {
            *current = fresh;
        }
        Ok(())
    }

    /// After a request timed out: read the topology again, in the background, unless a refresh
    /// runs or ran less than an interval ago.
    pub(crate) fn refresh_soon(self: &Arc<Self>) {
        {
            let Ok(mut last) = self.last_refresh.lock() else { return };
            if last.is_some_and(|at| at.elapsed() < self.interval) {
                return;
            }
            if self.refreshing.swap(true, Ordering::AcqRel) {
                return;
            }
            *last = Some(Instant::now());
        }
        let handle = Arc::clone(self);
        tokio::spawn(async move {
            if let Ok(fresh) = handle.client.get_async_connection().await {
                if let Ok(mut current) = handle.current.write() {
                    *current = fresh;
                }
            }
            handle.refreshing.store(false, Ordering::Release);
        });
    }
}
