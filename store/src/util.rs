//! Small helpers every layer uses: a mutex that shrugs off poisoning, owner tokens, random
//! draws and jitter, and conversions for command arguments and replies. A leaf: it imports
//! nothing of the crate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Locks `mutex`. The store's mutexes guard plain values (maps, counters, registers) that a
/// panicking holder cannot leave half-changed in a way that matters, so a poisoned lock is used
/// as it is rather than spreading the panic.
pub(crate) fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A unique owner token, hex: 64 random bits drawn once per process, then a counter. Tokens only
/// need to differ between owners (a client that could guess one could as well delete the key),
/// and this costs no system call per lock where a random UUID each time cost a `getrandom`.
pub(crate) fn owner_token() -> String {
    static PROCESS: LazyLock<u64> = LazyLock::new(|| uuid::Uuid::new_v4().as_u128() as u64);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let next = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}{next:016x}", *PROCESS)
}

/// `pause` scaled by a random factor in [0.5, 1.5): waiting callers spread out instead of
/// retrying in step.
pub(crate) fn jittered(pause: Duration) -> Duration {
    pause.mul_f64(0.5 + unit_random())
}

/// A uniform random number in `[0, 1)`, from the low 53 bits of a v4 UUID: no extra dependency
/// for the few draws the runtime needs. Only those bits: a v4 UUID's version and variant bits are
/// fixed (the top two of the low 64 are always `10`), so reading the top bits, as this once did,
/// only ever drew from `[0.5, 0.75)`.
pub(crate) fn unit_random() -> f64 {
    const BITS: u32 = f64::MANTISSA_DIGITS; // 53: every value exactly representable
    let random = uuid::Uuid::new_v4().as_u128() as u64 & ((1u64 << BITS) - 1);
    random as f64 / (1u64 << BITS) as f64
}

/// A duration in whole milliseconds for a command argument (at least 1: `PX 0` is an error).
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Reads an integer reply item, 0 when it is not one.
pub(crate) fn int_at(items: &[redis::Value], at: usize) -> i64 {
    match items.get(at) {
        Some(redis::Value::Int(n)) => *n,
        Some(redis::Value::BulkString(bytes)) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    #[test]
    fn owner_tokens_differ_and_share_the_process_prefix() {
        let (a, b) = (owner_token(), owner_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert_eq!(a[..16], b[..16]);
    }

    #[test]
    fn jitter_stays_within_half_and_one_and_a_half() {
        let pause = Duration::from_millis(100);
        for _ in 0..1_000 {
            let drawn = jittered(pause);
            assert!(drawn >= pause / 2 && drawn < pause * 3 / 2, "{drawn:?}");
        }
        assert!((0..1_000).map(|_| unit_random()).all(|u| (0.0..1.0).contains(&u)));
    }

    /// Uniform, not merely in range: 100,000 draws over 20 equal buckets pass a chi-square test
    /// (19 degrees of freedom; 43.8 is the 0.1% critical value), and both tails are reached.
    #[test]
    fn unit_random_is_uniform_over_the_whole_interval() {
        const DRAWS: usize = 100_000;
        const BUCKETS: usize = 20;
        let mut counts = [0usize; BUCKETS];
        let (mut lowest, mut highest) = (1.0f64, 0.0f64);
        for _ in 0..DRAWS {
            let u = unit_random();
            assert!((0.0..1.0).contains(&u), "{u}");
            counts[(u * BUCKETS as f64) as usize] += 1;
            lowest = lowest.min(u);
            highest = highest.max(u);
        }
        let expected = (DRAWS / BUCKETS) as f64;
        let chi_square: f64 = counts.iter().map(|&n| (n as f64 - expected).powi(2) / expected).sum();
        assert!(chi_square < 43.8, "chi-square {chi_square:.1}: {counts:?}");
        assert!(lowest < 0.001 && highest > 0.999, "{lowest} .. {highest}");
    }

    #[test]
    fn jitter_spreads_over_half_to_one_and_a_half() {
        let pause = Duration::from_millis(1_000);
        let drawn: Vec<Duration> = (0..10_000).map(|_| jittered(pause)).collect();
        let below = drawn.iter().filter(|d| **d < pause * 3 / 4).count();
        let above = drawn.iter().filter(|d| **d >= pause * 5 / 4).count();
        // A quarter of the draws each side, within 3 points.
        for share in [below, above] {
            assert!(
                (2_200..2_800).contains(&share),
                "{below} below 0.75, {above} above 1.25"
            );
        }
    }

    #[test]
    fn millis_is_never_zero_and_saturates() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_micros(1_500)), 1);
        assert_eq!(millis(Duration::from_secs(2)), 2_000);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }

    #[test]
    fn int_at_reads_integers_and_numeric_strings_only() {
        let items = [
            Value::Int(7),
            Value::BulkString(b"-3".to_vec()),
            Value::Nil,
            Value::BulkString(b"x".to_vec()),
        ];
        assert_eq!(int_at(&items, 0), 7);
        assert_eq!(int_at(&items, 1), -3);
        assert_eq!(int_at(&items, 2), 0);
        assert_eq!(int_at(&items, 3), 0);
        assert_eq!(int_at(&items, 9), 0);
    }

    #[test]
    fn a_poisoned_mutex_still_locks() {
        let mutex = std::sync::Arc::new(Mutex::new(1));
        let poisoner = std::sync::Arc::clone(&mutex);
        let _ = std::thread::spawn(move || {
            let _guard = poisoner.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(mutex.is_poisoned());
        *locked(&mutex) += 1;
        assert_eq!(*locked(&mutex), 2);
    }
}
