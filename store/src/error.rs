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
    /// The command certainly did not run: the server could not be reached (connection refused,
    /// connect timed out), or it refused to run it for now (`CLUSTERDOWN`, `TRYAGAIN`,
    /// `MASTERDOWN`, `LOADING`, a redirection that did not settle, a transaction discarded by
    /// `EXECABORT`). Nothing was written; retrying later is safe.
    #[error("{command} on {key} did not run: {source}")]
    Unavailable {
        /// The key.
        key: String,
        /// The Redis command.
        command: &'static str,
        /// Why.
        #[source]
        source: redis::RedisError,
    },
    /// The command was sent but no answer came (the response timeout passed, or the connection
    /// dropped): a write may or may not have been applied. Read before retrying a write that is
    /// not idempotent.
    #[error("{command} on {key} was sent but not answered, so it may or may not have run: {source}")]
    OutcomeUnknown {
        /// The key.
        key: String,
        /// The Redis command.
        command: &'static str,
        /// Why.
        #[source]
        source: redis::RedisError,
    },
    /// The generated module and this runtime do not agree on the schema model: the module was
    /// edited by hand (a module of another contract does not build at all).
    #[error("the store generated from {source_name} by keyschema {generated_by} does not match this runtime (keyschema {runtime}): {reason}; regenerate it with keyschema {runtime}")]
    Contract {
        /// The schema file the module was generated from.
        source_name: String,
        /// The keyschema version that generated it.
        generated_by: String,
        /// This runtime's keyschema version.
        runtime: String,
        /// What differs.
        reason: String,
    },
    /// A TTL chosen for one write is outside what the schema allows.
    #[error("TTL {requested:?} for {key} is not allowed: {reason}")]
    TtlNotAllowed {
        /// The key.
        key: String,
        /// The TTL asked for.
        requested: std::time::Duration,
        /// Why (the declared bound, or that the key's TTL is fixed).
        reason: String,
    },
    /// The server answered the command with an error (`WRONGTYPE`, `NOPERM`...): it did not run.
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
    /// A value written to an indexed key (`index ... of KEY by FIELD`) does not say which index
    /// key its member belongs in: nothing was written.
    #[error("the value of {key} has no usable `{field}` for its index: {reason}")]
    IndexField {
        /// The entity's key.
        key: String,
        /// The field the index is kept by.
        field: String,
        /// Why (absent, not a string, not one of the index's values).
        reason: String,
    },
    /// A schema declared `layout standalone` was given a cluster connection.
    #[error("the schema of `{keyspace}` is declared `layout standalone` (its scripts touch keys on any slot): it cannot run on a cluster")]
    StandaloneLayout {
        /// The schema's keyspace.
        keyspace: String,
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
    /// The write was applied on the primary, but fewer replicas than asked acknowledged it within
    /// the durability timeout ([`Store::durable`](crate::Store::durable)): a failover now could
    /// lose it.
    #[error("{key} was written, but {acknowledged} of {wanted} replica(s) acknowledged it in time")]
    NotDurable {
        /// The key.
        key: String,
        /// How many replicas acknowledged.
        acknowledged: u64,
        /// How many were asked for.
        wanted: u32,
    },
    /// A key holds another Redis type than the schema says (found by a transaction's checks
    /// before it wrote anything).
    #[error("{key} holds a {found}, not a {expected}: nothing was written")]
    WrongType {
        /// The key.
        key: String,
        /// The type the schema declares.
        expected: String,
        /// The type found.
        found: String,
    },
    /// Two keys of one transaction are on different slots (generated transactions cannot do this).
    #[error("{key} is not on the slot of {first}: a transaction's keys must share a hash tag")]
    CrossSlot {
        /// The key added.
        key: String,
        /// The transaction's first key.
        first: String,
    },
    /// A guarded write was refused: a newer fencing token than its own has been issued for the
    /// lock (on the lock's slot) or has written on the write's slot (elsewhere), so another
    /// holder may be writing. Nothing was written.
    #[error("write to {key} refused: fencing token {token} is stale ({counter} has {current})")]
    Fenced {
        /// The first key of the refused write.
        key: String,
        /// The key the token was checked against: the lock's fencing counter, or its watermark
        /// on the write's slot.
        counter: String,
        /// The write's token.
        token: u64,
        /// The newer token found there.
        current: u64,
    },
    /// A lock or lease was not free within the time given to wait for it.
    #[error("{key} is held by another owner; waited {waited:?}")]
    NotAcquired {
        /// The lock's key.
        key: String,
        /// How long was waited.
        waited: std::time::Duration,
    },
    /// The lock was lost while work ran under it (a renewal failed or found another owner); the
    /// work was cancelled.
    #[error("the lock {key} was lost while the work ran; the work was cancelled")]
    LockLost {
        /// The lock's key.
        key: String,
    },
    /// The lock is no longer this owner's (it expired, or passed to another) when a call needed
    /// it: no fencing token is issued, no work is started.
    #[error("the lock {key} is no longer held by this owner (it expired or passed to another); nothing was done")]
    LockNotHeld {
        /// The lock's key.
        key: String,
    },
    /// The server answered a script with something it never answers: a bug, or a key holding
    /// what the schema does not describe.
    #[error("{command} on {key} gave an unexpected reply: {reply}")]
    UnexpectedReply {
        /// The key.
        key: String,
        /// The command.
        command: &'static str,
        /// The reply, printed.
        reply: String,
    },
    /// A key could not be formatted from its values.
    #[error(transparent)]
    Format(#[from] keyschema::FormatError),
    /// A value (or member, field, script argument) is larger than the key allows: its declared
    /// `max`, or the server's 512 MB limit on one argument. Nothing was sent.
    #[error("a value of {size} bytes for {key} is over its limit of {max} bytes; nothing was sent")]
    ValueTooLarge {
        /// The key.
        key: String,
        /// The value's size in bytes.
        size: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// A key is longer than keyschema reads back ([`keyschema::MAX_KEY_LEN`]). Nothing was sent.
    #[error(
        "a key of {len} bytes starting `{start}` is longer than the {max} bytes keyschema allows; nothing was sent"
    )]
    KeyTooLong {
        /// The key's first 64 bytes or so (as text).
        start: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
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

/// Whether the server refused the command before running it, for a reason that passes: a
/// cluster redirection or failover in progress, or a server loading its data.
fn refused_for_now(source: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    matches!(
        source.kind(),
        ErrorKind::Server(
            ServerErrorKind::ClusterDown
                | ServerErrorKind::TryAgain
                | ServerErrorKind::MasterDown
                | ServerErrorKind::BusyLoading
                | ServerErrorKind::Moved
                | ServerErrorKind::Ask
                | ServerErrorKind::ExecAbort
        ) | ErrorKind::ClusterConnectionNotFound
    )
}

impl Error {
    /// A failed command, naming its key, classified by what is known of its outcome.
    pub(crate) fn command(key: &str, command: &'static str, source: redis::RedisError) -> Self {
        let key = key.to_string();
        if source.is_connection_refusal() || refused_for_now(&source) {
            Self::Unavailable { key, command, source }
        } else if source.is_timeout() || source.is_io_error() || source.is_connection_dropped() {
            Self::OutcomeUnknown { key, command, source }
        } else {
            Self::Command { key, command, source }
        }
    }

    /// A reply the caller does not understand.
    pub(crate) fn unexpected(key: &str, command: &'static str, reply: &redis::Value) -> Self {
        Self::UnexpectedReply {
            key: key.to_string(),
            command,
            reply: format!("{reply:?}"),
        }
    }

    /// Whether the command was refused before it ran for a reason that passes (see
    /// `refused_for_now`): retrying, against the new owner, is safe.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { source, .. } if refused_for_now(source))
    }

    /// Whether Redis refused to create a key because it exists (`BUSYKEY`, from `RESTORE`).
    pub(crate) fn is_busy_key(&self) -> bool {
        matches!(self, Self::Command { source, .. } if source.code() == Some("BUSYKEY"))
    }

    /// Whether a write that failed with this error may have been applied all the same.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::OutcomeUnknown { .. })
    }

    /// Whether the failure is Redis being unreachable or unavailable (as opposed to a bad value,
    /// a conflict or a refused command): what a fallback (a local limiter, serving uncached)
    /// reacts to.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. } | Self::OutcomeUnknown { .. } | Self::Connect { .. }
        )
    }
}

impl Error {
    /// [`Error::KeyTooLong`] for `key`.
    pub(crate) fn key_too_long(key: &str) -> Self {
        let mut end = key.len().min(64);
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        Self::KeyTooLong {
            start: key[..end].to_string(),
            len: key.len(),
            max: keyschema::MAX_KEY_LEN,
        }
    }

    /// The error of a call whose deadline passed while an attempt was in flight: the attempt
    /// may have run.
    pub(crate) fn deadline_passed(key: &str, command: &'static str, deadline: std::time::Duration) -> Self {
        let source = std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the call's deadline of {deadline:?} passed"),
        );
        Self::command(key, command, source.into())
    }
}

/// The store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use redis::{ErrorKind, ServerErrorKind};

    fn error(kind: ErrorKind) -> Error {
        Error::command("k", "SET", redis::RedisError::from((kind, "test")))
    }

    #[test]
    fn failures_are_classified_by_what_is_known_of_their_outcome() {
        let moved = error(ErrorKind::Server(ServerErrorKind::Moved));
        assert!(matches!(moved, Error::Unavailable { .. }) && moved.is_transient() && moved.is_unavailable());
        let down = error(ErrorKind::Server(ServerErrorKind::ClusterDown));
        assert!(down.is_transient() && !down.outcome_unknown());
        let io = Error::command(
            "k",
            "SET",
            redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out")),
        );
        assert!(io.outcome_unknown() && !io.is_transient() && io.is_unavailable());
        let refused = Error::command(
            "k",
            "SET",
            redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused")),
        );
        assert!(matches!(refused, Error::Unavailable { .. }) && !refused.is_transient());
        let wrong = error(ErrorKind::Server(ServerErrorKind::ResponseError));
        assert!(matches!(wrong, Error::Command { .. }) && !wrong.is_unavailable());
    }
}
