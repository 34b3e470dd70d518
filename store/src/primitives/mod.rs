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
pub(crate) use lock::release_token;
pub use lock::{HeldLock, LeaderLease, Lease, LeaseLost, Lock, LockGuard};
pub use rate_limit::{Decision, DecisionSource, RateLimit, Verdict};
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
    pub use crate::transaction::CHECKED_SOURCE as TRANSACTION_CHECKED;
}
