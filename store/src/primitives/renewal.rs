//! Renewal of held locks and leases: one background task per store renews every held lock at a
//! third of its TTL. Taking a lock only queues its first renewal (a service holding thousands
//! of per-job locks keeps one task and one timer); releasing one only marks it, and the queue
//! drops it when it comes due.

use super::local::locked;
use super::lock::HeldState;
use super::Shared;
use crate::Store;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Above this many queued renewals, released ones are dropped at once rather than when due.
const PRUNE_AT: usize = 4096;

/// A held lock's renewal: what to extend, as whom, and where to report.
pub(crate) struct Renewal {
    pub(crate) store: Store,
    pub(crate) key: String,
    pub(crate) token: String,
    pub(crate) ttl: Duration,
    pub(crate) state: Arc<HeldState>,
}

struct Due {
    at: Instant,
    seq: u64,
    renewal: Arc<Renewal>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    due: BinaryHeap<Reverse<Due>>,
    /// Whether the driver task runs.
    running: bool,
    /// When the driver wakes by itself next.
    target: Option<Instant>,
}

/// The renewal queue of one store (shared by its clones).
#[derive(Default)]
pub(crate) struct Renewals {
    queue: Mutex<Queue>,
    wake: Arc<Notify>,
    seq: AtomicU64,
}

impl Renewals {
    /// Queues `renewal` for `at`, starting the driver if it is idle and waking it if `at` is
    /// earlier than it would wake.
    pub(crate) fn schedule(&self, shared: &Arc<Shared>, renewal: Arc<Renewal>, at: Instant) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut queue = locked(&self.queue);
        if queue.due.len() >= PRUNE_AT {
            queue.due.retain(|due| !due.0.renewal.state.is_released());
        }
        queue.due.push(Reverse(Due { at, seq, renewal }));
        if !queue.running {
            queue.running = true;
            queue.target = Some(at);
            tokio::spawn(drive(Arc::downgrade(shared)));
        } else if queue.target.map_or(true, |target| at < target) {
            queue.target = Some(at);
            self.wake.notify_one();
        }
    }
}

/// Renews what is due, sleeps until the next, and stops when nothing is queued. It holds the
/// store's shared state only while working, so a store dropped by its users goes away.
async fn drive(shared: Weak<Shared>) {
    loop {
        let Some(strong) = shared.upgrade() else { return };
        let renewals = &strong.renewals;
        let now = Instant::now();
        let mut due = Vec::new();
        let next = {
            let mut queue = locked(&renewals.queue);
            while queue.due.peek().is_some_and(|top| top.0.at <= now) {
                if let Some(Reverse(item)) = queue.due.pop() {
                    due.push(item.renewal);
                }
            }
            let next = queue.due.peek().map(|top| top.0.at);
            queue.target = next;
            // Nothing left: the driver stops; a renewal that succeeds starts it again.
            queue.running = next.is_some();
            next
        };
        for renewal in due {
            if !renewal.state.is_released() {
                // Each on its own task: one renewal hanging on a dead node delays no other.
                tokio::spawn(renew(renewal));
            }
        }
        let Some(at) = next else { return };
        let wake = Arc::clone(&renewals.wake);
        drop(strong);
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            () = wake.notified() => {}
        }
    }
}

/// Extends one lock; on success queues its next renewal, otherwise signals it lost.
async fn renew(renewal: Arc<Renewal>) {
    let started = Instant::now();
    let extended = super::lock::extend(&renewal.store, &renewal.key, &renewal.token, renewal.ttl).await;
    if renewal.state.is_released() {
        return;
    }
    if matches!(extended, Ok(true)) {
        renewal.state.renewed(started + renewal.ttl);
        let shared = Arc::clone(renewal.store.shared());
        shared
            .renewals
            .schedule(&shared, Arc::clone(&renewal), started + renewal.ttl / 3);
    } else {
        renewal.state.lose();
    }
}
