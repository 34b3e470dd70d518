//! Renewal of held locks and leases: one background task per store renews every held lock at a
//! third of its TTL. Taking a lock only queues its first renewal (a service holding thousands
//! of per-job locks keeps one task and one timer); releasing one only marks it, and the queue
//! drops it when it comes due.

use super::local::locked;
use super::lock::Held;
use super::Shared;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Above this many queued renewals, released ones are dropped at once rather than when due.
const PRUNE_AT: usize = 4096;

/// The least time between two wake-ups of the driver on its own: renewals falling due within it
/// go out together, at most this late (renewing at a third of the TTL leaves two thirds to
/// spare). Without it, a service taking thousands of short-held locks a second woke the driver
/// for every one of them, each time to find it released.
const BATCH: Duration = Duration::from_millis(20);

struct Due {
    at: Instant,
    seq: u64,
    held: Arc<Held>,
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
    pub(crate) fn schedule(&self, shared: &Arc<Shared>, held: Arc<Held>, at: Instant) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut queue = locked(&self.queue);
        if queue.due.len() >= PRUNE_AT {
            queue.due.retain(|due| !due.0.held.is_released());
        }
        queue.due.push(Reverse(Due { at, seq, held }));
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
                    due.push(item.held);
                }
            }
            let next = queue.due.peek().map(|top| top.0.at);
            queue.target = next;
            // Nothing left: the driver stops; a renewal that succeeds starts it again.
            queue.running = next.is_some();
            next
        };
        for held in due {
            if !held.is_released() {
                // Each on its own task: one renewal hanging on a dead node delays no other.
                tokio::spawn(renew(held));
            }
        }
        let Some(at) = next else { return };
        let at = at.max(now + BATCH);
        let wake = Arc::clone(&renewals.wake);
        drop(strong);
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            () = wake.notified() => {}
        }
    }
}

/// Extends one lock; on success queues its next renewal, otherwise signals it lost.
async fn renew(held: Arc<Held>) {
    let started = Instant::now();
    let extended = super::lock::extend(&held.store, &held.key, &held.token, held.ttl).await;
    if held.is_released() {
        return;
    }
    if matches!(extended, Ok(true)) {
        held.renewed(started + held.ttl);
        let shared = Arc::clone(held.store.shared());
        let next = started + held.ttl / 3;
        shared.renewals.schedule(&shared, held, next);
    } else {
        held.lose();
    }
}
