//! # keyschema-store
//!
//! The runtime that keyschema's generated stores call: one connection type over standalone Redis
//! (multiplexed and reconnecting) and Redis Cluster, value codecs whose failures name the key,
//! TTL policies resolved once at start-up, and the typed operations that apply a key's TTL in
//! the same command that writes it.
//!
//! Code generation, index relations and slot-group transactions build on this; generated code
//! hands out the accessors ([`StringKey`], [`HashKey`], [`ListKey`], [`SetKey`], [`ZsetKey`],
//! [`StreamKey`]) for formatted keys.

// The core: what every part builds on, knowing no feature.
mod codec;
mod connection;
mod core;
mod error;
mod extensions;
mod param;
mod policy;
mod recording;
mod script;
mod util;
mod write;
// Built on the core: typed keys, batches and transactions.
#[macro_use]
mod keys;
mod batch;
mod bridge;
mod telemetry;
mod transaction;
// Features, each owning its state (kept per store through the core's extensions).
mod cache;
mod primitives;
mod state;
// The facade, the generated code's contract, and the operations over a store.
mod contract;
#[cfg(feature = "ops")]
pub mod ops;
mod store;

pub use crate::core::{BridgeMode, Core, Durability, KeyTtl};
pub use batch::{Batch, BatchReplies, Ticket};
pub use cache::{CacheError, CacheKey, CacheStats};
pub use codec::{Bytes, Codec, Float, HashRecord, Int, Json, Lz4, Proto, Score, Text};
pub use connection::{ConnectionOptions, Endpoint, RedisConnection, Shard, Topology};
pub use contract::GeneratedSchema;
pub use error::{Error, Result};
pub use keys::{field_error, HashKey, HashMapKey, IndexedKey, ListKey, SetKey, StreamKey, StringKey, ZsetKey};
pub use param::{KeyParseError, ParamCodec, ParseEnumError, UnixMillis};
pub use policy::{KeyId, KeyPolicies, KeyPolicy};
pub use primitives::scripts;
pub use primitives::{
    Breaker, BreakerError, BreakerState, BreakerStatus, Claim, ClaimedTimer, DeadLetter, DeadLetterQueue, Decision,
    DecisionSource, Delivery, HeldLock, IdempotencyKey, LeaderLease, Lease, LeaseLost, Lock, LockGuard, Permit,
    RateLimit, TimerQueue, Verdict,
};
pub use state::{BackupReport, Restored, TierCounts, TwoTier};
pub use store::Store;
pub use transaction::{Fence, Transaction};

// Re-exported so generated code names them without the user's crate depending on them.
pub use chrono;
pub use keyschema;
pub use prost;
/// For commands the schema does not describe, on [`Store::connection`].
pub use redis;
pub use serde;
pub use uuid;

/// What generated code calls and a service does not: kept out of the documented API.
#[doc(hidden)]
pub mod __generated {
    pub use crate::contract::require_contract;
    pub use crate::keys::{decode_field, encode_field};
    pub use crate::param::{deserialize_enum, format_infallible_key, format_key, KeyParam, ParsedKey};
}
