//! Renewal of held locks and leases: one background task per store renews every held lock at a
//! third of its TTL. Taking a lock registers it and queues its first renewal (a service holding
//! thousands of per-job locks keeps one task and one timer); releasing one removes it from the
//! register at once, so its memory goes back while it is still warm, and the queue skips the
//! entry when it comes due.

use super::local::locked;
use super::lock::Held;
use super::Shared;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Above this many queued renewals beyond twice the locks held, entries of released locks are
/// dropped at once rather than when due.
const PRUNE_AT: usize = 4096;

/// The least time between two wake-ups of the driver on its own: renewals falling due within it
/// go out together, at most this late (renewing at a third of the TTL leaves two thirds to
/// spare). Without it, a service taking thousands of short-held locks a second woke the driver
/// for every one of them, each time to find it released.
const BATCH: Duration = Duration::from_millis(20);

/// Where a held lock is registered: its slot, and the slot's generation when it was taken (a
/// slot is reused once its lock is released).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ticket {
    slot: usize,
    generation: u64,
}

#[derive(Default)]
struct Slot {
    generation: u64,
    held: Option<Arc<Held>>,
}

#[derive(Default)]
struct Queue {
    /// When each registered lock is renewed next; entries of released ones stay until due.
    due: BinaryHeap<Reverse<(Instant, Ticket)>>,
    /// The held locks, by slot.
    slots: Vec<Slot>,
    free: Vec<usize>,
    live: usize,
    /// Whether the driver task runs.
    running: bool,
    /// When the driver wakes by itself next.
    target: Option<Instant>,
}

impl Queue {
    fn held(&self, ticket: Ticket) -> Option<&Arc<Held>> {
        registered(&self.slots, ticket)
    }
}

/// The lock `ticket` was given, if it is still registered (its slot neither emptied nor reused).
fn registered(slots: &[Slot], ticket: Ticket) -> Option<&Arc<Held>> {
    slots
        .get(ticket.slot)
        .filter(|slot| slot.generation == ticket.generation)
        .and_then(|slot| slot.held.as_ref())
}

/// The renewal queue of one store (shared by its clones).
#[derive(Default)]
pub(crate) struct Renewals {
    queue: Mutex<Queue>,
    wake: Arc<Notify>,
}

impl Renewals {
    /// Registers a lock just taken, made by `held` with its ticket, its first renewal due `at`.
    pub(crate) fn register(
        &self,
        shared: &Arc<Shared>,
        at: Instant,
        held: impl FnOnce(Ticket) -> Arc<Held>,
    ) -> Arc<Held> {
        let mut queue = locked(&self.queue);
        let slot = queue.free.pop().unwrap_or_else(|| {
            queue.slots.push(Slot::default());
            queue.slots.len() - 1
        });
        let entry = &mut queue.slots[slot];
        entry.generation += 1;
        let ticket = Ticket {
            slot,
            generation: entry.generation,
        };
        let held = held(ticket);
        entry.held = Some(Arc::clone(&held));
        queue.live += 1;
        self.queue_at(shared, &mut queue, ticket, at);
        held
    }

    /// Queues the next renewal of a registered lock.
    pub(crate) fn schedule(&self, shared: &Arc<Shared>, ticket: Ticket, at: Instant) {
        let mut queue = locked(&self.queue);
        if queue.held(ticket).is_some() {
            self.queue_at(shared, &mut queue, ticket, at);
        }
    }

    /// Removes a released lock: it is renewed no more.
    pub(crate) fn deregister(&self, ticket: Ticket) {
        let released = {
            let mut queue = locked(&self.queue);
            let Some(slot) = queue.slots.get_mut(ticket.slot) else {
                return;
            };
            if slot.generation != ticket.generation {
                return;
            }
            let released = slot.held.take();
            if released.is_some() {
                queue.free.push(ticket.slot);
                queue.live -= 1;
            }
            released
        };
        // Dropped outside the queue's lock: it may be the last handle on the store.
        drop(released);
    }

    /// Pushes `ticket` due `at`, starting the driver if it is idle and waking it if `at` is
    /// earlier than it would wake.
    fn queue_at(&self, shared: &Arc<Shared>, queue: &mut Queue, ticket: Ticket, at: Instant) {
        if queue.due.len() >= 2 * queue.live + PRUNE_AT {
            let slots = &queue.slots;
            queue
                .due
                .retain(|Reverse((_, ticket))| registered(slots, *ticket).is_some());
        }
        queue.due.push(Reverse((at, ticket)));
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
            while queue.due.peek().is_some_and(|top| top.0 .0 <= now) {
                if let Some(Reverse((_, ticket))) = queue.due.pop() {
                    // A released lock's entry finds its slot emptied or reused.
                    if let Some(held) = queue.held(ticket) {
                        due.push(Arc::clone(held));
                    }
                }
            }
            let next = queue.due.peek().map(|top| top.0 .0);
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
        shared.renewals.schedule(&shared, held.ticket(), next);
    } else {
        held.lose();
    }
}
