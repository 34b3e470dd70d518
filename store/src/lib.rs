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

mod batch;
mod codec;
mod connection;
mod contract;
mod error;
#[macro_use]
mod keys;
mod cache;
#[cfg(feature = "ops")]
pub mod ops;
mod param;
mod policy;
mod primitives;
mod state;
mod store;
mod transaction;
mod write;

pub use batch::{Batch, BatchReplies, Ticket};
pub use cache::{CacheError, CacheKey, CacheStats};
pub use codec::{Bytes, Codec, Float, Int, Json, Lz4, Proto, Text};
pub use connection::{ConnectionOptions, RedisConnection};
pub use contract::GeneratedSchema;
pub use error::{Error, Result};
pub use keys::{
    decode_field, encode_field, field_error, HashKey, HashMapKey, HashRecord, ListKey, Score, SetKey, StreamKey,
    StringKey, ZsetKey,
};
pub use param::{format_infallible_key, format_key, KeyParam, KeyParseError, ParamCodec, ParsedKey, UnixMillis};
pub use policy::{KeyId, KeyPolicies, KeyPolicy};
pub use primitives::scripts;
pub use primitives::{
    Breaker, BreakerError, BreakerState, BreakerStatus, Claim, ClaimedTimer, DeadLetter, DeadLetterQueue, Decision,
    DecisionSource, Delivery, Fence, HeldLock, IdempotencyKey, LeaderLease, Lease, LeaseLost, Lock, LockGuard, Permit,
    RateLimit, TimerQueue,
};
pub use state::{BackupReport, Restored, TierCounts, TwoTier};
pub use store::{Durability, KeyTtl, Store};
pub use transaction::Transaction;

// Re-exported so generated code names them without the user's crate depending on them.
pub use chrono;
pub use keyschema;
pub use prost;
/// For commands the schema does not describe, on [`Store::connection`].
pub use redis;
pub use uuid;
