//! In-process state of rate limits for when Redis cannot be reached: a rate limit whose fallback
//! is `local` keeps its counts here, per instance, and every windowed limit remembers how the
//! server's clock differs from this process's. Bounded: entries whose time has passed are
//! dropped once a map holds many. One per store (its clones included), kept in the core's
//! extensions.

use crate::util::locked;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Beyond this many entries, a map drops those that have expired before adding another.
const PRUNE_AT: usize = 10_000;

/// The rate limits' fallback state of one store.
#[derive(Default)]
pub(crate) struct LocalLimits {
    /// Fixed windows: key -> (window end, hits).
    windows: Mutex<HashMap<String, (Instant, u64)>>,
    /// GCRA: key -> theoretical arrival time.
    cells: Mutex<HashMap<String, Instant>>,
    /// The server's clock minus this process's, in seconds, as last seen: a windowed rate limit
    /// guesses the server's second from it and is corrected by the server when it guesses wrong.
    server_offset_secs: AtomicI64,
}

impl LocalLimits {
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
        local_second() + self.server_offset_secs.load(Ordering::Relaxed)
    }

    /// Records the server's second as it answered.
    pub(crate) fn saw_server_second(&self, second: i64) {
        self.server_offset_secs
            .store(second - local_second(), Ordering::Relaxed);
    }
}

/// This process's clock, in whole seconds since the epoch.
fn local_second() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_counts_until_it_ends_then_starts_again() {
        let limits = LocalLimits::default();
        let window = Duration::from_millis(50);
        assert_eq!(limits.window_hit("k", window, 1).0, 1);
        assert_eq!(limits.window_hit("k", window, 2).0, 3);
        assert_eq!(limits.window_hit("other", window, 1).0, 1);
        std::thread::sleep(window + Duration::from_millis(5));
        assert_eq!(limits.window_hit("k", window, 1).0, 1);
    }

    #[test]
    fn gcra_allows_the_burst_then_refuses_with_the_wait() {
        let limits = LocalLimits::default();
        let interval = Duration::from_millis(100);
        // A burst of three: tolerance of two intervals.
        let tolerance = interval * 2;
        for _ in 0..3 {
            assert!(limits.cell_hit("k", interval, tolerance, 1).0);
        }
        let (allowed, remaining, wait, _) = limits.cell_hit("k", interval, tolerance, 1);
        assert!(!allowed && remaining == 0);
        assert!(wait > Duration::ZERO && wait <= interval, "{wait:?}");
    }

    #[test]
    fn the_server_second_follows_the_last_one_seen() {
        let limits = LocalLimits::default();
        let now = local_second();
        limits.saw_server_second(now + 100);
        assert!((limits.server_second() - (now + 100)).abs() <= 1);
    }

    #[test]
    fn maps_drop_expired_entries_once_large() {
        let limits = LocalLimits::default();
        for n in 0..PRUNE_AT {
            limits.window_hit(&n.to_string(), Duration::from_millis(1), 1);
        }
        std::thread::sleep(Duration::from_millis(5));
        limits.window_hit("fresh", Duration::from_secs(1), 1);
        assert_eq!(locked(&limits.windows).len(), 1);
    }
}
