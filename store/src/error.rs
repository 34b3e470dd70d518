//! The store's errors: every one says which key, which operation or which codec.

use std::fmt;

/// What the store was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Reading a value.
    Get,
    /// Writing a value.
    Set,
    /// Deleting a key.
    Delete,
    /// Reading a TTL.
    Ttl,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Get => "get",
            Self::Set => "set",
            Self::Delete => "delete",
            Self::Ttl => "ttl",
        })
    }
}

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
    #[error("{operation} of {key} failed: {source}")]
    Command {
        /// The key.
        key: String,
        /// The operation.
        operation: Operation,
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
