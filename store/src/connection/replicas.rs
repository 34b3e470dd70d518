//! Reads spread over the replicas of a standalone primary, falling back to the primary while a
//! replica is unreachable.

use redis::aio::ConnectionManager;
use redis::{Cmd, FromRedisValue, RedisError, RedisResult};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The replicas of one primary, each with the time until which it is left alone after a failure.
pub(crate) struct ReplicaSet {
    replicas: Vec<Replica>,
    next: AtomicUsize,
    /// How long a replica that failed is skipped before it is tried again.
    pause: Duration,
    /// The origin of the `down_until` clocks.
    epoch: Instant,
}

struct Replica {
    manager: ConnectionManager,
    /// Milliseconds since `epoch` until which the replica is skipped (0: healthy).
    down_until: AtomicU64,
}

/// Whether an error says the replica could not be reached (rather than that the command failed
/// on it, which the primary would answer the same way).
fn unreachable(error: &RedisError) -> bool {
    error.is_io_error() || error.is_timeout() || error.is_connection_refusal() || error.is_unrecoverable_error()
}

impl ReplicaSet {
    pub(crate) fn new(replicas: Vec<(String, ConnectionManager)>, pause: Duration) -> Self {
        Self {
            replicas: replicas
                .into_iter()
                .map(|(_, manager)| Replica {
                    manager,
                    down_until: AtomicU64::new(0),
                })
                .collect(),
            next: AtomicUsize::new(0),
            pause,
            epoch: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The next healthy replica in round-robin order, if any.
    fn pick(&self) -> Option<&Replica> {
        let now = self.now();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..self.replicas.len())
            .map(|offset| &self.replicas[(start + offset) % self.replicas.len()])
            .find(|replica| replica.down_until.load(Ordering::Relaxed) <= now)
    }

    /// Runs a read on a replica; on the primary when none is reachable.
    pub(crate) async fn read<T: FromRedisValue>(&self, primary: &ConnectionManager, cmd: &Cmd) -> RedisResult<T> {
        if let Some(replica) = self.pick() {
            match cmd.query_async(&mut replica.manager.clone()).await {
                Err(error) if unreachable(&error) => {
                    let until = self.now() + u64::try_from(self.pause.as_millis()).unwrap_or(u64::MAX);
                    replica.down_until.store(until, Ordering::Relaxed);
                }
                reply => return reply,
            }
        }
        cmd.query_async(&mut primary.clone()).await
    }
}
