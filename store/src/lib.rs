//! # keyschema-store
//!
//! The runtime that keyschema's generated stores call: one connection type over standalone Redis
//! (multiplexed and reconnecting) and Redis Cluster, value codecs whose failures name the key,
//! TTL policies resolved once at start-up, and the typed operations that apply a key's TTL in
//! the same command that writes it.
//!
//! This is the foundation of the typed-store issue: string operations so far; code generation,
//! the other Redis types, indexes and slot-group transactions build on it.

mod codec;
mod connection;
mod error;
mod store;
mod ttl;

pub use codec::{Bytes, Codec, Int, Json, Text};
pub use connection::RedisConnection;
pub use error::{Error, Operation, Result};
pub use store::{KeyTtl, Store};
pub use ttl::ResolvedTtls;
