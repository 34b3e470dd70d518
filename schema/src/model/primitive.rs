//! The coordination primitives a key can implement, with the settings the schema declares for
//! them (a rate limit's limit, a breaker's threshold, a timer queue's visibility timeout).

use super::ttl::Millis;
use serde::{Deserialize, Serialize};

/// The coordination pattern a key implements; the store gives each its runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Primitive {
    /// A lock or leader lease: `SET NX PX` with an owner token, released and extended only by
    /// its owner, with a fencing counter (a [`Companion::Fence`] key).
    Lock {
        /// How it is held.
        hold: LockHold,
    },
    /// A rate-limit counter or GCRA state.
    RateLimit(RateLimitPolicy),
    /// A circuit breaker's failure counter (its open state is a [`Companion::BreakerState`] key).
    Breaker(BreakerPolicy),
    /// An idempotency (dedup) key: the first caller's value wins.
    Idempotency,
    /// The entry key of a dead-letter queue.
    DlqEntry {
        /// The queue's name.
        queue: String,
    },
    /// The index of a dead-letter queue.
    DlqIndex {
        /// The queue's name.
        queue: String,
        /// The lock under which entries are pruned (`cleanup cordum_dlq_cleanup`), by index in
        /// [`crate::KeySchema::keys`].
        cleanup: Option<usize>,
    },
    /// A timer queue: a sorted set scored by fire time.
    Timers {
        /// How long a claimed timer may go unacknowledged before it fires again.
        visibility: Millis,
    },
    /// A key the schema declares implicitly for another key's primitive, on that key's slot.
    Companion {
        /// The key it serves, by index in [`crate::KeySchema::keys`].
        of: usize,
        /// What it holds.
        role: Companion,
    },
    /// An index whose members are a parameter of another key.
    Index {
        /// The indexed key, by index in [`crate::KeySchema::keys`].
        of: usize,
        /// `by FIELD`: the field of the indexed key's value that holds this index's (enum)
        /// parameter, so a write of the value moves its member to the right index key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A cached function result (cache-aside): read, or loaded once and stored with its TTL.
    Cache(CachePolicy),
    /// State kept in memory and backed up here (on shutdown, on a partition handover), read back
    /// on a local miss.
    State(StatePolicy),
}

impl Primitive {
    /// Whether the primitive's runtime removes its key's members itself, so the collection does
    /// not grow without bound though it has no cap and no TTL: a timer queue's members leave when
    /// claimed (at most once) or acknowledged, a dead-letter index's when pruned after their
    /// entries expire or are retried.
    pub fn removes_own_members(&self) -> bool {
        matches!(self, Self::Timers { .. } | Self::DlqIndex { .. })
    }

    /// A short name for tables.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Lock {
                hold: LockHold::Release,
            } => "lock",
            Self::Lock { hold: LockHold::Lease } => "lease",
            Self::RateLimit(_) => "ratelimit",
            Self::Breaker(_) => "breaker",
            Self::Idempotency => "idempotency",
            Self::DlqEntry { .. } => "dlq entry",
            Self::DlqIndex { .. } => "dlq index",
            Self::Timers { .. } => "timers",
            Self::Cache(_) => "cache",
            Self::State(_) => "state",
            Self::Companion { role, .. } => role.name(),
            Self::Index { .. } => "index",
        }
    }
}

/// How a lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum LockHold {
    /// Acquired for a piece of work and released after it (a job's processing lock, the
    /// snapshot writer): `lock PATTERN ttl 60s`.
    Release,
    /// A leader lease held until lost, renewed in the background and never released (the
    /// reconcilers, TTL twice the poll interval): `lock PATTERN ttl reconciler lease`.
    Lease,
}

/// What a rate limit counts and how much it allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct RateLimitPolicy {
    /// The algorithm and its numbers.
    pub algorithm: RateAlgorithm,
    /// What a decision is when Redis cannot be reached.
    pub fallback: Fallback,
}

/// How a rate limit decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RateAlgorithm {
    /// At most `limit` hits per key. When the pattern has a `unix_seconds` parameter it is the
    /// window (`cordum:rl:<tenant>:<unixSec>`, the second taken from the server's clock);
    /// otherwise the window starts at the first hit and lasts the key's TTL (`login:failed:*`).
    Window {
        /// Hits allowed per window.
        limit: u64,
    },
    /// The generic cell rate algorithm: `rate` per `period` on average, `burst` more at once.
    Gcra {
        /// Requests per period.
        rate: u64,
        /// The period.
        period: Millis,
        /// Requests allowed at once beyond the steady rate.
        burst: u64,
    },
}

/// A rate limit's decision when Redis is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// Allow.
    Open,
    /// Refuse.
    Closed,
    /// Decide with an in-process limiter of the same settings (per instance, not shared).
    Local,
}

impl Fallback {
    /// Parses the word after `fallback`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "open" => Self::Open,
            "closed" => Self::Closed,
            "local" => Self::Local,
            _ => return None,
        })
    }
}

/// When a circuit breaker opens and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct BreakerPolicy {
    /// Failures within the key's TTL that open the breaker.
    pub threshold: u64,
    /// How long it stays open before letting one probe through (half-open).
    pub open_for: Millis,
    /// Successful probes in a row that close it again.
    pub close_after: u64,
}

/// How a cache behaves beyond its key's codec and TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct CachePolicy {
    /// Where hit and miss counts are kept.
    pub stats: CacheStats,
    /// How far "load once per key" reaches.
    pub single_flight: SingleFlight,
    /// Whether hot keys are refreshed before they expire, each read deciding by chance how
    /// close to expiry it may be (so replicas do not all reload at the same moment).
    pub refresh_early: bool,
}

/// How a two-tier state entry is backed up and when a backup is too old to restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub struct StatePolicy {
    /// An entry's TTL is its collection interval times this (within the key's TTL bound).
    pub ttl_factor: u32,
    /// A backup written longer ago than this is stale: discarded, not restored.
    pub max_age: Millis,
}

/// Where a cache's statistics are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum CacheStats {
    /// In the process (the default).
    Local,
    /// Also in Redis, added up across every instance (a [`Companion::CacheStats`] hash).
    Shared,
}

/// How far a cache's single flight reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum SingleFlight {
    /// Callers of one process wait for one load (the default).
    Process,
    /// Instances take a short lock per key (a [`Companion::CacheLoad`] key) and wait for the
    /// value the holder stores.
    Instances,
}

/// The parameter of a fence watermark's key (`<lock>:fenced:{<keyschema_slot>}`): the hash tag
/// of a cluster slot ([`crate::slot_tag`]), an integer. Declared implicitly by schemas with a
/// lock; the name is reserved.
pub const SLOT_PARAM: &str = "keyschema_slot";

/// What an implicit key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Companion {
    /// A lock's fencing counter: incremented by every acquisition, never expiring.
    Fence,
    /// The highest fencing token of a lock that guarded writes on one slot have carried, one key
    /// per lock and slot (`<lock>:fenced:{<keyschema_slot>}`): a guarded write to a key off the
    /// lock's own slot is checked against it, on the key's slot.
    Watermark,
    /// A circuit breaker's open / half-open state.
    BreakerState,
    /// The lock of a cache key's load across instances.
    CacheLoad,
    /// A cache's hit and miss counts across instances (one key per cache).
    CacheStats,
}

impl Companion {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fence => "fence",
            Self::Watermark => "fence watermark",
            Self::BreakerState => "breaker state",
            Self::CacheLoad => "cache load lock",
            Self::CacheStats => "cache stats",
        }
    }

    /// The companion of `key` (a pattern or a formatted key) on the same slot: a tagged key's
    /// companion keeps its tag (`lock:{<runID>}:fence`), an untagged key's is tagged by the whole
    /// key (`{cordum:reconciler:default}:fence`), which hashes like the key itself. The schema
    /// derives companion patterns with it and the store companion keys, so the two agree.
    ///
    /// ```
    /// # use keyschema::Companion;
    /// assert_eq!(Companion::Fence.key_for("app:leader", false, ':'), "{app:leader}:fence");
    /// assert_eq!(Companion::Fence.key_for("run:{42}", true, ':'), "run:{42}:fence");
    /// ```
    pub fn key_for(self, key: &str, tagged: bool, separator: char) -> String {
        if tagged {
            format!("{key}{separator}{}", self.suffix())
        } else {
            format!("{{{key}}}{separator}{}", self.suffix())
        }
    }

    /// The fence watermark of lock `lock` (a pattern or a formatted key) on the slot of hash tag
    /// `tag`: the lock's key without its own tag braces (a key has one hash tag, and this one
    /// must be the slot's), then `fenced`, then `{tag}`. Formatted parameters escape braces, so
    /// the only braces of a lock key are its tag's.
    ///
    /// ```
    /// # use keyschema::Companion;
    /// assert_eq!(Companion::watermark_for("app:leader", ':', "17"), "app:leader:fenced:{17}");
    /// assert_eq!(Companion::watermark_for("run:{42}:lock", ':', "17"), "run:42:lock:fenced:{17}");
    /// ```
    pub fn watermark_for(lock: &str, separator: char, tag: &str) -> String {
        let mut untagged = lock.to_string();
        if let Some(open) = untagged.find('{') {
            if let Some(close) = untagged[open..].find('}') {
                untagged.remove(open + close);
                untagged.remove(open);
            }
        }
        format!("{untagged}{separator}{}{separator}{{{tag}}}", Self::Watermark.suffix())
    }

    /// The suffix of its key and of its code name.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Fence => "fence",
            Self::Watermark => "fenced",
            Self::BreakerState => "state",
            Self::CacheLoad => "loading",
            Self::CacheStats => "stats",
        }
    }
}
