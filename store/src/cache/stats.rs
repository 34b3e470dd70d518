//! A cache's counts: in the process always, and added up in Redis across instances when the
//! schema says `stats shared`.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a cache did, as counts since the process started (or, for shared stats, across every
/// instance since the counts key was created).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Calls answered without loading: from Redis, or from a load another caller was running.
    pub hits: u64,
    /// Calls that found no usable value in Redis.
    pub misses: u64,
    /// Loader calls.
    pub loads: u64,
    /// Loader calls that failed.
    pub load_errors: u64,
    /// Calls that could not use Redis (down, slow, refusing) and answered without it.
    pub fallbacks: u64,
}

impl CacheStats {
    /// The field names of the shared counts hash, in the order of [`CacheStats::values`].
    pub(crate) const FIELDS: [&'static str; 5] = ["hits", "misses", "loads", "load_errors", "fallbacks"];

    pub(crate) fn from_values(values: [u64; 5]) -> Self {
        let [hits, misses, loads, load_errors, fallbacks] = values;
        Self {
            hits,
            misses,
            loads,
            load_errors,
            fallbacks,
        }
    }

    /// Hits over all calls that asked for a value, 0 when there were none.
    pub fn hit_ratio(&self) -> f64 {
        let asked = self.hits + self.misses;
        if asked == 0 {
            0.0
        } else {
            self.hits as f64 / asked as f64
        }
    }
}

/// Counters of one cache in one process; `unshared` holds what has not been added to Redis yet.
#[derive(Default)]
pub(crate) struct Counters {
    total: [AtomicU64; 5],
    unshared: [AtomicU64; 5],
    /// How long the last successful load took, in microseconds (0: none yet).
    load_micros: AtomicU64,
}

/// Which counter.
#[derive(Clone, Copy)]
pub(crate) enum Count {
    Hit = 0,
    Miss = 1,
    Load = 2,
    LoadError = 3,
    Fallback = 4,
}

impl Counters {
    pub(crate) fn add(&self, count: Count) {
        crate::recording::decision(match count {
            Count::Hit => "hit",
            Count::Miss => "miss",
            Count::Load => "load",
            Count::LoadError => "load_error",
            Count::Fallback => "fallback",
        });
        self.total[count as usize].fetch_add(1, Ordering::Relaxed);
        self.unshared[count as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_load_time(&self, took: std::time::Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        self.load_micros.store(micros, Ordering::Relaxed);
    }

    /// How long a load takes, as last measured here; `default` before any.
    pub(crate) fn load_time(&self, default: std::time::Duration) -> std::time::Duration {
        match self.load_micros.load(Ordering::Relaxed) {
            0 => default,
            micros => std::time::Duration::from_micros(micros),
        }
    }

    pub(crate) fn local(&self) -> CacheStats {
        CacheStats::from_values(std::array::from_fn(|i| self.total[i].load(Ordering::Relaxed)))
    }

    /// Takes the counts not yet added to Redis.
    pub(crate) fn take_unshared(&self) -> [u64; 5] {
        std::array::from_fn(|i| self.unshared[i].swap(0, Ordering::Relaxed))
    }

    /// Puts back counts that could not be added to Redis, for the next attempt.
    pub(crate) fn restore_unshared(&self, values: [u64; 5]) {
        for (counter, value) in self.unshared.iter().zip(values) {
            counter.fetch_add(value, Ordering::Relaxed);
        }
    }
}
