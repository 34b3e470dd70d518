//! The store's errors: every one says which key, which operation or which codec.

/// An error of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection could not be made.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// The URL or node list.
        target: String,
        /// Why.
        #[source]
        source: redis::RedisError,
    },
    /// A command failed (the server is down, the reply is an error...).
    #[error("{command} on {key} failed: {source}")]
    Command {
        /// The key.
        key: String,
        /// The Redis command (`SET`, `HGETALL`, `MULTI` for a transaction).
        command: &'static str,
        /// Why.
        #[source]
        source: redis::RedisError,
    },
    /// A stored value does not decode with the key's codec.
    #[error("failed to decode value of {key} as {codec}: {reason}")]
    Decode {
        /// The key.
        key: String,
        /// The codec (`json(JobState)`, `int`...).
        codec: String,
        /// Why.
        reason: String,
    },
    /// A TTL policy's environment variable has a bad value (an error at start-up).
    #[error("TTL of `{key}`: {source}")]
    Ttl {
        /// The key definition's name.
        key: String,
        /// Why.
        #[source]
        source: keyschema::TtlError,
    },
    /// An optimistic write found the value changed since it was read.
    #[error("conflict on {key}: the value changed since it was read")]
    Conflict {
        /// The key.
        key: String,
    },
    /// Two keys of one transaction are on different slots (generated transactions cannot do this).
    #[error("{key} is not on the slot of {first}: a transaction's keys must share a hash tag")]
    CrossSlot {
        /// The key added.
        key: String,
        /// The transaction's first key.
        first: String,
    },
    /// A key could not be formatted from its values.
    #[error(transparent)]
    Format(#[from] keyschema::FormatError),
    /// A value could not be encoded.
    #[error("failed to encode value for {key} as {codec}: {reason}")]
    Encode {
        /// The key.
        key: String,
        /// The codec.
        codec: String,
        /// Why.
        reason: String,
    },
}

/// The store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
