//! In-process state for when Redis cannot be reached: a rate limit whose fallback is `local`
//! and a breaker's local fallback keep their counts here, per instance. Bounded: entries whose
//! time has passed are dropped once a map holds many.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Beyond this many entries, a map drops those that have expired before adding another.
const PRUNE_AT: usize = 10_000;

/// The fallback state of one store (shared by its clones).
#[derive(Default)]
pub(crate) struct LocalState {
    /// Fixed windows: key -> (window end, hits).
    windows: Mutex<HashMap<String, (Instant, u64)>>,
    /// GCRA: key -> theoretical arrival time.
    cells: Mutex<HashMap<String, Instant>>,
    /// Breakers: key -> state.
    pub(crate) breakers: Mutex<HashMap<String, super::breaker::LocalBreaker>>,
    /// The server's clock minus this process's, in seconds, as last seen: a windowed rate limit
    /// guesses the server's second from it and is corrected by the server when it guesses wrong.
    pub(crate) server_offset_secs: AtomicI64,
}

/// Locks one of the maps.
pub(crate) fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps hold plain values; one left by a panicking thread is still consistent.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LocalState {
    /// Counts `cost` hits in the window of `key` (which lasts `window` from its first hit): the
    /// count after them and the time left in the window.
    pub(crate) fn window_hit(&self, key: &str, window: Duration, cost: u64) -> (u64, Duration) {
        let now = Instant::now();
        let mut windows = locked(&self.windows);
        if windows.len() >= PRUNE_AT {
            windows.retain(|_, (end, _)| *end > now);
        }
        let entry = windows.entry(key.to_string()).or_insert((now + window, 0));
        if entry.0 <= now {
            *entry = (now + window, 0);
        }
        entry.1 = entry.1.saturating_add(cost);
        (entry.1, entry.0 - now)
    }

    /// GCRA in process: whether `cost` requests are allowed, the requests left, the wait before
    /// one is, and the time until the limit is fully reset.
    pub(crate) fn cell_hit(
        &self,
        key: &str,
        interval: Duration,
        tolerance: Duration,
        cost: u64,
    ) -> (bool, u64, Duration, Duration) {
        let now = Instant::now();
        let mut cells = locked(&self.cells);
        if cells.len() >= PRUNE_AT {
            cells.retain(|_, tat| *tat > now);
        }
        let tat = cells.get(key).copied().filter(|tat| *tat > now).unwrap_or(now);
        let new_tat = tat + interval.saturating_mul(u32::try_from(cost).unwrap_or(u32::MAX));
        let allow_at = new_tat.checked_sub(tolerance + interval).unwrap_or(now);
        if now < allow_at {
            return (false, 0, allow_at - now, tat - now);
        }
        cells.insert(key.to_string(), new_tat);
        let used = new_tat - now;
        let capacity = tolerance + interval;
        let remaining = (capacity.saturating_sub(used).as_nanos() / interval.as_nanos().max(1)) as u64;
        (true, remaining, Duration::ZERO, used)
    }

    /// The server's second as this process would guess it now.
    pub(crate) fn server_second(&self) -> i64 {
        let local = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        local + self.server_offset_secs.load(Ordering::Relaxed)
    }

    /// Records the server's second as it answered.
    pub(crate) fn saw_server_second(&self, second: i64) {
        let local = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.server_offset_secs.store(second - local, Ordering::Relaxed);
    }
}
