//! The coordination primitives the schema declares, each a small type over the store: leases and
//! locks with fencing ([`Lock`], [`Lease`]), rate limits ([`RateLimit`]), circuit breakers
//! ([`Breaker`]), idempotency keys ([`IdempotencyKey`]), dead-letter queues
//! ([`DeadLetterQueue`]) and timer queues ([`TimerQueue`]).
//!
//! Every decision that must be atomic is one Lua script run on the node owning the key (the
//! keys of one script share a slot by construction), with time taken from the server's clock
//! (`TIME`), so instances whose clocks disagree still agree on expiry. Scripts are sent by hash and
//! reloaded on `NOSCRIPT` (after `SCRIPT FLUSH`, a restart or a failover).

mod breaker;
mod dlq;
mod idempotency;
mod local;
mod lock;
mod rate_limit;
mod renewal;
mod timers;

pub use breaker::{Breaker, BreakerError, BreakerState, BreakerStatus, Permit};
pub use dlq::{DeadLetter, DeadLetterQueue};
pub use idempotency::{Claim, IdempotencyKey};
pub(crate) use local::LocalState;
pub use lock::{Fence, HeldLock, LeaderLease, Lease, LeaseLost, Lock, LockGuard};
pub use rate_limit::{Decision, DecisionSource, RateLimit};
pub use timers::{ClaimedTimer, Delivery, TimerQueue};

/// The Lua the primitives run, as sent to the server: for review by operators (what a script
/// may touch) and for benchmarks that call the same scripts through redis-rs directly. Each
/// script's `KEYS` and `ARGV` are documented where the primitive uses it.
pub mod scripts {
    pub use super::breaker::{PERMIT_SOURCE as BREAKER_PERMIT, RECORD_SOURCE as BREAKER_RECORD};
    pub use super::dlq::PRUNE_SOURCE as DLQ_PRUNE;
    pub use super::lock::{EXTEND_SOURCE as LOCK_EXTEND, FENCE_SOURCE as LOCK_FENCE, RELEASE_SOURCE as LOCK_RELEASE};
    pub use super::rate_limit::{GCRA_SOURCE as RATE_GCRA, WINDOW_SOURCE as RATE_WINDOW};
    pub use super::timers::{ACK_SOURCE as TIMER_ACK, CLAIM_SOURCE as TIMER_CLAIM};
}

use crate::policy::KeyId;
use crate::Store;
use keyschema::{Companion, Primitive};
use std::time::Duration;

/// What the primitives of one store share (its clones included): the fallback state for when
/// Redis is unreachable, the renewal queue of held locks, and the caches' loads and counts.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) local: LocalState,
    pub(crate) renewals: renewal::Renewals,
    pub(crate) caches: crate::cache::Caches,
}

impl Store {
    /// The primitive key definition `id` declares.
    pub(crate) fn primitive_of(&self, id: KeyId) -> Option<&Primitive> {
        self.schema()
            .keys
            .get(id.index())
            .and_then(|key| key.primitive.as_ref())
    }

    /// The implicit key serving key definition `id` in `role` (its fence counter, its state).
    pub(crate) fn companion_id(&self, id: KeyId, role: Companion) -> Option<KeyId> {
        let index = self.schema().keys.iter().position(
            |key| matches!(key.primitive, Some(Primitive::Companion { of, role: r }) if of == id.index() && r == role),
        )?;
        u32::try_from(index).ok().map(KeyId::new)
    }

    /// The companion of `key` (an instance of `id`) in `role`: the same derivation as the
    /// schema's, so the key is the one the schema declares.
    pub(crate) fn companion_key(&self, id: KeyId, key: &str, role: Companion) -> String {
        let tagged = self
            .schema()
            .keys
            .get(id.index())
            .is_some_and(|def| def.pattern.hash_tag.is_some());
        role.key_for(key, tagged, self.schema().separator)
    }
}

/// A unique owner token, hex: 64 random bits drawn once per process, then a counter. Tokens only
/// need to differ between owners (a client that could guess one could as well delete the key),
/// and this costs no system call per lock where a random UUID each time cost a `getrandom`.
pub(crate) fn owner_token() -> String {
    static PROCESS: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| uuid::Uuid::new_v4().as_u128() as u64);
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let next = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:016x}{next:016x}", *PROCESS)
}

/// `pause` scaled by a random factor in [0.5, 1.5): waiting callers spread out instead of
/// retrying in step.
pub(crate) fn jittered(pause: Duration) -> Duration {
    pause.mul_f64(0.5 + unit_random())
}

/// A random number in `[0, 1)` (from a v4 UUID's random bits: no extra dependency for the few
/// draws the runtime needs).
pub(crate) fn unit_random() -> f64 {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    (random >> 11) as f64 / (1u64 << 53) as f64
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
