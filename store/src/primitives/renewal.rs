//! Renewal of held leases: one background task per store renews everything held in time.
//! Taking a lock registers it and queues its first renewal (a service holding thousands of
//! per-job locks keeps one task and one timer); releasing one removes it from the register at
//! once, so its memory goes back while it is still warm, and the queue skips the entry when it
//! comes due.
//!
//! The register knows what it renews only as [`Renewable`], and holds it weakly: the lock's
//! owner (its guard, its lease) keeps it alive, so nothing here keeps a store alive in a circle.

use crate::util::locked;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Something held that must be renewed in time: a lock, a lease.
pub(crate) trait Renewable: Send + Sync + 'static {
    /// Whether its owner let it go (it is renewed no more).
    fn is_released(&self) -> bool;

    /// Renews it once: on success it queues its next renewal ([`Renewals::schedule`]), on
    /// failure it signals itself lost.
    fn renew(self: Arc<Self>) -> impl Future<Output = ()> + Send;
}

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

struct Slot<T> {
    generation: u64,
    held: Option<Weak<T>>,
}

struct Queue<T> {
    /// When each registered lock is renewed next; entries of released ones stay until due.
    due: BinaryHeap<Reverse<(Instant, Ticket)>>,
    /// The held locks, by slot.
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
    live: usize,
    /// Whether the driver task runs.
    running: bool,
    /// When the driver wakes by itself next.
    target: Option<Instant>,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self {
            due: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            running: false,
            target: None,
        }
    }
}

impl<T> Queue<T> {
    fn held(&self, ticket: Ticket) -> Option<&Weak<T>> {
        registered(&self.slots, ticket)
    }
}

/// What `ticket` was given, if it is still registered (its slot neither emptied nor reused).
fn registered<T>(slots: &[Slot<T>], ticket: Ticket) -> Option<&Weak<T>> {
    slots
        .get(ticket.slot)
        .filter(|slot| slot.generation == ticket.generation)
        .and_then(|slot| slot.held.as_ref())
}

/// The renewal queue of one store (shared by its clones, kept in the core's extensions).
pub(crate) struct Renewals<T> {
    queue: Mutex<Queue<T>>,
    wake: Arc<Notify>,
}

impl<T> Default for Renewals<T> {
    fn default() -> Self {
        Self {
            queue: Mutex::default(),
            wake: Arc::default(),
        }
    }
}

impl<T: Renewable> Renewals<T> {
    /// Registers a lock just taken, made by `held` with its ticket, its first renewal due `at`.
    pub(crate) fn register(self: &Arc<Self>, at: Instant, held: impl FnOnce(Ticket) -> Arc<T>) -> Arc<T> {
        let mut queue = locked(&self.queue);
        let slot = queue.free.pop().unwrap_or_else(|| {
            queue.slots.push(Slot {
                generation: 0,
                held: None,
            });
            queue.slots.len() - 1
        });
        let entry = &mut queue.slots[slot];
        entry.generation += 1;
        let ticket = Ticket {
            slot,
            generation: entry.generation,
        };
        let held = held(ticket);
        entry.held = Some(Arc::downgrade(&held));
        queue.live += 1;
        self.queue_at(&mut queue, ticket, at);
        held
    }

    /// Queues the next renewal of a registered lock.
    pub(crate) fn schedule(self: &Arc<Self>, ticket: Ticket, at: Instant) {
        let mut queue = locked(&self.queue);
        if queue.held(ticket).is_some() {
            self.queue_at(&mut queue, ticket, at);
        }
    }

    /// Removes a released lock: it is renewed no more.
    pub(crate) fn deregister(&self, ticket: Ticket) {
        let mut queue = locked(&self.queue);
        let Some(slot) = queue.slots.get_mut(ticket.slot) else {
            return;
        };
        if slot.generation != ticket.generation {
            return;
        }
        if slot.held.take().is_some() {
            queue.free.push(ticket.slot);
            queue.live -= 1;
        }
    }

    /// Pushes `ticket` due `at`, starting the driver if it is idle and waking it if `at` is
    /// earlier than it would wake.
    fn queue_at(self: &Arc<Self>, queue: &mut Queue<T>, ticket: Ticket, at: Instant) {
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
            tokio::spawn(drive(Arc::downgrade(self)));
        } else if queue.target.map_or(true, |target| at < target) {
            queue.target = Some(at);
            self.wake.notify_one();
        }
    }
}

/// Renews what is due, sleeps until the next, and stops when nothing is queued. It holds the
/// register only while working, so a store dropped by its users goes away.
async fn drive<T: Renewable>(renewals: Weak<Renewals<T>>) {
    loop {
        let Some(strong) = renewals.upgrade() else { return };
        let now = Instant::now();
        let mut due = Vec::new();
        let next = {
            let mut queue = locked(&strong.queue);
            while queue.due.peek().is_some_and(|top| top.0 .0 <= now) {
                if let Some(Reverse((_, ticket))) = queue.due.pop() {
                    // A released lock's entry finds its slot emptied or reused, or its owner gone.
                    if let Some(held) = queue.held(ticket).and_then(Weak::upgrade) {
                        due.push(held);
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
                tokio::spawn(held.renew());
            }
        }
        let Some(at) = next else { return };
        let at = at.max(now + BATCH);
        let wake = Arc::clone(&strong.wake);
        drop(strong);
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            () = wake.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    /// Renewed by counting, and queued again a few milliseconds later.
    struct Counted {
        renewals: Arc<Renewals<Self>>,
        ticket: Mutex<Option<Ticket>>,
        count: AtomicU32,
        released: AtomicBool,
    }

    impl Renewable for Counted {
        fn is_released(&self) -> bool {
            self.released.load(Ordering::Acquire)
        }

        async fn renew(self: Arc<Self>) {
            self.count.fetch_add(1, Ordering::Relaxed);
            if let Some(ticket) = *locked(&self.ticket) {
                self.renewals
                    .schedule(ticket, Instant::now() + Duration::from_millis(5));
            }
        }
    }

    fn take(renewals: &Arc<Renewals<Counted>>) -> Arc<Counted> {
        renewals.register(Instant::now(), |ticket| {
            Arc::new(Counted {
                renewals: Arc::clone(renewals),
                ticket: Mutex::new(Some(ticket)),
                count: AtomicU32::new(0),
                released: AtomicBool::new(false),
            })
        })
    }

    #[tokio::test]
    async fn held_things_are_renewed_until_released_and_slots_are_reused() {
        let renewals = Arc::new(Renewals::default());
        let first = take(&renewals);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let renewed = first.count.load(Ordering::Relaxed);
        // Every 5 ms, batched by at most BATCH: several renewals in 200 ms.
        assert!(renewed >= 5, "{renewed}");
        let ticket = locked(&first.ticket).take().unwrap();
        first.released.store(true, Ordering::Release);
        renewals.deregister(ticket);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(first.count.load(Ordering::Relaxed) <= renewed + 1);
        let second = take(&renewals);
        let reused = locked(&second.ticket).unwrap();
        assert_eq!(reused.slot, ticket.slot);
        assert_ne!(reused.generation, ticket.generation);
        assert_eq!(locked(&renewals.queue).live, 1);
    }

    #[tokio::test]
    async fn an_owner_dropped_without_release_is_not_kept_alive() {
        let renewals = Arc::new(Renewals::default());
        let held = take(&renewals);
        let weak = Arc::downgrade(&held);
        drop(held);
        assert!(weak.upgrade().is_none(), "the register must not own what it renews");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
