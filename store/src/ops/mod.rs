//! Keyspace operations for migration scripts and the `keyschema` CLI (feature `ops`): the audit
//! of a live Redis or cluster against the schema, and ACL rules per service. Engines return
//! report values; rendering them (text, JSON, HTML) is the caller's.

mod acl;
mod audit;
mod checkpoint;
mod migrate;
mod nodes;

pub use acl::{acl_users, key_class, key_commands, AclError, AclUser, KeyAccess, KeyClass, CONNECTION_COMMANDS};
pub use audit::{
    audit, key_count, AuditOptions, AuditReport, DanglingMember, FixPlan, FixReport, IndexAudit, MisplacedMember,
    NodeKeys, Notice, PatternAudit, PlannedRemovals, PlannedTtls, PreviousLayout, PreviousPattern, Problem,
    ProblemKeys, Progress, SlotKeys, StaleTwins, TtlBucket, UnknownKeys, AUDIT_VERSION,
};
pub use migrate::{
    migrate, migrate_verified, verify, KeyMove, MigrateOptions, MigrationReport, PatternCheck, PatternMove,
    UnmatchedKeys, VerifyOptions, VerifyReport, MIGRATION_VERSION,
};

use crate::connection::{ConnectionOptions, RedisConnection};
use crate::error::{Error, Result};

/// Why an audit or a migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// A command failed; the checkpoint, if any, holds the last page done.
    #[error(transparent)]
    Store(#[from] Error),
    /// The checkpoint could not be read.
    #[error("cannot read the checkpoint {path}: {source}")]
    CheckpointRead {
        /// Its path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint could not be written.
    #[error("cannot write the checkpoint {path}: {source}")]
    CheckpointWrite {
        /// Its path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a checkpoint.
    #[error("{path} is not a keyschema checkpoint: {source}")]
    CheckpointFormat {
        /// Its path.
        path: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The checkpoint is of another operation (another kind, other schemas, other primaries).
    #[error("the checkpoint {path} is of another run: {what}")]
    CheckpointMismatch {
        /// Its path.
        path: String,
        /// What differs.
        what: String,
    },
    /// Another run uses the checkpoint.
    #[error(
        "the checkpoint {path} is in use by another run (process {pid} on {host}); wait for it to end, \
         or remove {path}.lock if that run is gone"
    )]
    CheckpointLocked {
        /// The checkpoint's path.
        path: String,
        /// The other run's process id.
        pid: String,
        /// The other run's host.
        host: String,
    },
    /// The checkpoint records a migration that finished, and the servers changed since.
    #[error(
        "the checkpoint {path} records a migration that finished, and its {side} changed since: {change}; \
         remove the checkpoint to migrate again"
    )]
    CheckpointFinished {
        /// The checkpoint's path.
        path: String,
        /// `source` or `target`.
        side: &'static str,
        /// What changed.
        change: String,
    },
    /// A replica-only audit found a shard without a replica.
    #[error("the shard of primary {primary} has no replica to read from (audit it without --replicas)")]
    NoReplica {
        /// The shard's primary, `host:port`.
        primary: String,
    },
    /// A replica-only audit found a shard whose connected replica the cluster did not list in
    /// time.
    #[error(
        "the replica of {primary} is connected but the cluster did not list it within {waited:?} \
         (it lists a replica once it has a replication offset); try again, or audit without --replicas"
    )]
    ReplicaNotListed {
        /// The shard's primary, `host:port`.
        primary: String,
        /// How long the audit waited.
        waited: std::time::Duration,
    },
    /// An audit was asked to fix keys while reading replicas, which cannot be written.
    #[error("an audit of the replicas cannot fix: replicas are read-only (run --fix without --replicas)")]
    FixOnReplicas,
    /// The target refused a key (other than holding it already).
    #[error("RESTORE of `{key}` on the target failed: {reply}")]
    Restore {
        /// The key's name on the target.
        key: String,
        /// The server's answer.
        reply: String,
    },
}

impl<T> crate::telemetry::Outcome for std::result::Result<T, OpsError> {
    fn error_class(&self) -> Option<&'static str> {
        match self {
            Ok(_) => None,
            Err(OpsError::Store(error)) => Some(crate::telemetry::error_class(error)),
            Err(_) => Some("Other"),
        }
    }
}

/// A connection to the server at `url`, or to the cluster it belongs to: the server is asked
/// (`INFO cluster`), so a script needs one address whatever the deployment.
pub async fn connect(url: &str, options: &ConnectionOptions) -> Result<RedisConnection> {
    let connection = RedisConnection::standalone_with(url, options).await?;
    let info: String = connection
        .query(
            crate::connection::Route::Primary,
            redis::cmd("INFO").arg("cluster"),
            url,
            "INFO",
        )
        .await?;
    if info.lines().any(|line| line.trim() == "cluster_enabled:1") {
        RedisConnection::cluster_with(&[url], options).await
    } else {
        Ok(connection)
    }
}

/// A command sized for its arguments: one allocation for its data and one for its argument list,
/// where `redis::cmd(name).arg(..)` grows both step by step. A migration builds millions of them
/// (`PTTL`, `DUMP`, `RESTORE` with its payload): growing them was a tenth of its client's time.
pub(crate) fn sized_cmd(args: &[&[u8]]) -> redis::Cmd {
    let mut cmd = redis::Cmd::with_capacity(args.len(), args.iter().map(|arg| arg.len()).sum());
    for arg in args {
        cmd.arg(*arg);
    }
    cmd
}

/// A key's first segment (at most 64 bytes), for grouping keys no pattern is near.
pub(crate) fn prefix_of(key: &[u8], separator: char) -> String {
    let end = key
        .iter()
        .position(|&b| char::from(b) == separator)
        .unwrap_or(key.len())
        .min(64);
    String::from_utf8_lossy(&key[..end]).into_owned()
}
