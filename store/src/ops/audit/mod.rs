//! The audit of a live keyspace against the schema: every key of every primary scanned (in
//! parallel on a cluster), matched against the schema, its TTL (and, when it matched a pattern,
//! its type) read in one pipeline per page on the node that returned it, and each key either counted under its pattern (with the problems found) or
//! grouped as unknown; the members of index keys are checked for the keys they name. Read-only
//! unless asked to fix: it sends `SCAN`, `TYPE`, `PTTL`, `SSCAN`/`ZSCAN`, `EXISTS` and, when
//! asked, `MEMORY USAGE`.

mod index;
mod report;
mod rollout;
mod tally;

pub use report::{
    AuditReport, DanglingMember, FixPlan, FixReport, IndexAudit, MisplacedMember, NodeKeys, PatternAudit,
    PlannedRemovals, PlannedTtls, Problem, ProblemKeys, SlotKeys, TtlBucket, UnknownKeys, AUDIT_VERSION,
};
pub use rollout::{PreviousLayout, PreviousPattern, StaleTwins};

use super::checkpoint::{scan_nodes, Checkpoint, CheckpointLock};
use super::nodes::{connected_replicas, replica_nodes, SlotOwners};
use super::{sized_cmd, OpsError};
use crate::connection::Node;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::telemetry::{self, op, Op};
use crate::util::locked;
use crate::write::{Arg, Write};
use keyschema::Matcher;
use redis::Value;
use rollout::Rollout;
use std::fmt;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tally::{Found, Tally};

/// Called after each page of keys with the number of keys audited so far.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// Told, in words, what a long operation waits for.
pub type Notice = Arc<dyn Fn(&str) + Send + Sync>;

/// How an audit runs.
#[derive(Clone)]
pub struct AuditOptions {
    /// Keys asked for per `SCAN` call (and so per pipeline of `TYPE` and `PTTL`).
    pub scan_count: usize,
    /// Whether to read `MEMORY USAGE` of every key.
    pub memory: bool,
    /// Example keys kept per problem and per group of unknown keys.
    pub examples: usize,
    /// Slots listed in [`AuditReport::hottest_slots`].
    pub hottest_slots: usize,
    /// Whether to check the members of index keys (`index ... of KEY`, a DLQ's index).
    pub indexes: bool,
    /// Stop after about this many keys (whole pages, on every primary): a sample. `SCAN` walks a
    /// server's hash table, so the sample has nothing to do with key names.
    pub sample: Option<u64>,
    /// Fix what the schema makes safe: set a missing declared TTL (`PEXPIRE ... NX`), remove
    /// dangling index members. Off by default: the audit changes nothing.
    pub fix: bool,
    /// On a cluster, scan one replica of every shard instead of its primary (`READONLY`), so
    /// the primaries serve nothing of the scan; a shard without a replica is an error
    /// ([`OpsError::NoReplica`]). Index members are read where the connection routes reads:
    /// connect with [`ConnectionOptions::read_from_replicas`](crate::ConnectionOptions) to keep
    /// them off the primaries as well. Replicas lag their primaries, so keys written in the last
    /// moments may be missing. Cannot be combined with `fix`. A standalone server is read where
    /// its URL points, replica or not.
    pub replicas: bool,
    /// Told of the progress after each page.
    pub progress: Option<Progress>,
    /// With `replicas`: how long to wait for a shard's connected replica to be listed by the
    /// cluster (`CLUSTER SLOTS` lists a replica once it has a replication offset, a few seconds
    /// after it joined); then [`OpsError::ReplicaNotListed`]. A shard whose primary has no replica
    /// connected is [`OpsError::NoReplica`] at once.
    pub replica_wait: Duration,
    /// Told, in words, what the audit waits for (a replica to be listed).
    pub notice: Option<Notice>,
    /// Keep the scan's position and the counts in this file (at most once a second) and resume
    /// from it when it exists; removed once the audit completes.
    pub checkpoint: Option<PathBuf>,
    /// The schema before a layout change being rolled out: keys it knows and the current one does
    /// not are counted per old pattern ([`AuditReport::previous`]) instead of as unknown, and a
    /// current key whose old-layout twin still exists is counted as a stale twin (one `EXISTS`
    /// per key of a pattern that moved).
    pub previous: Option<Arc<keyschema::Schema>>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            scan_count: 1000,
            memory: false,
            examples: 5,
            hottest_slots: 10,
            indexes: true,
            sample: None,
            fix: false,
            replicas: false,
            progress: None,
            replica_wait: Duration::from_secs(30),
            notice: None,
            checkpoint: None,
            previous: None,
        }
    }
}

impl fmt::Debug for AuditOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditOptions")
            .field("scan_count", &self.scan_count)
            .field("memory", &self.memory)
            .field("examples", &self.examples)
            .field("hottest_slots", &self.hottest_slots)
            .field("indexes", &self.indexes)
            .field("sample", &self.sample)
            .field("fix", &self.fix)
            .field("replicas", &self.replicas)
            .field("progress", &self.progress.is_some())
            .field("replica_wait", &self.replica_wait)
            .field("notice", &self.notice.is_some())
            .field("checkpoint", &self.checkpoint)
            .field("previous", &self.previous.as_ref().map(|schema| schema.file_name()))
            .finish()
    }
}

/// How often a checkpointed audit saves its counts.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Audits every key of the keyspace against the schema; see the module documentation. With
/// `fix`, what it changes (missing TTLs set, dangling index members removed) goes through the
/// store's write path: a [`Store::durable`] store waits for replicas after each page's fixes.
///
/// ```no_run
/// # async fn demo(store: keyschema_store::Store) -> Result<(), keyschema_store::ops::OpsError> {
/// use keyschema_store::ops::{self, AuditOptions};
/// let report = ops::audit(&store, &AuditOptions::default()).await?;
/// println!("{} keys, {} with a problem", report.keys, report.problem_count());
/// # Ok(()) }
/// ```
pub async fn audit(store: &Store, options: &AuditOptions) -> std::result::Result<AuditReport, OpsError> {
    let matcher = store.core().matcher();
    let nodes = audited_nodes(store, options).await?;
    let names: Vec<String> = nodes.iter().map(Node::name).collect();
    let schema = store.schema();
    let rollout = match options.previous.as_deref() {
        Some(previous) => Some(Rollout::new(
            store.core().schema_arc(),
            previous,
            SlotOwners::of(&store.connection()).await?,
        )),
        None => None,
    };
    let previous_len = options.previous.as_ref().map_or(0, |p| p.model().keys.len());
    let fresh = || Tally::new(schema.keys.len(), previous_len, options.examples);
    // Held until the audit ends: a second run on this checkpoint is refused meanwhile.
    let _lock = options.checkpoint.as_deref().map(CheckpointLock::acquire).transpose()?;
    let checkpoint = match &options.checkpoint {
        Some(path) => Checkpoint::<Tally>::load(path, "audit", &[schema], &names)?,
        None => None,
    }
    .unwrap_or_else(|| Checkpoint::new("audit", &[schema], &names, fresh()));
    let state = Mutex::new(checkpoint);
    let limit = options.sample.unwrap_or(u64::MAX);
    // With a checkpoint, one page at a time: the counts saved are exactly those of the pages
    // before the saved cursor.
    let in_flight = if options.checkpoint.is_some() { 1 } else { 2 };
    scan_nodes(
        &nodes,
        &state,
        options.checkpoint.as_deref(),
        CHECKPOINT_EVERY,
        options.scan_count,
        in_flight,
        |node: Node, keys: Vec<Vec<u8>>| {
            let (state, matcher, rollout) = (&state, matcher, rollout.as_ref());
            async move {
                if locked(state).state.keys >= limit {
                    return Ok(ControlFlow::Break(()));
                }
                let page = audit_page(store, state, (matcher, rollout), &node, &keys, options);
                telemetry::observe(store.core(), Op::keyless(op!("AUDIT")), page).await?;
                let seen = locked(state).state.keys;
                if let Some(progress) = &options.progress {
                    progress(seen);
                }
                Ok(if seen >= limit {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            }
        },
    )
    .await?;
    let tally = state.into_inner().unwrap_or_else(PoisonError::into_inner).state;
    let sampled = tally.keys >= limit;
    if let Some(path) = &options.checkpoint {
        // Done: a later audit starts afresh.
        std::fs::remove_file(path).map_err(|source| OpsError::CheckpointWrite {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(tally.report(
        store,
        options,
        sampled,
        options.previous.as_deref().map(keyschema::Schema::model),
    ))
}

/// The nodes an audit scans: the primaries, or one replica of each shard.
async fn audited_nodes(store: &Store, options: &AuditOptions) -> std::result::Result<Vec<Node>, OpsError> {
    let connection = store.core().connection();
    if !options.replicas {
        return Ok(connection.nodes().await?);
    }
    if options.fix {
        return Err(OpsError::FixOnReplicas);
    }
    let started = Instant::now();
    let mut waited = false;
    loop {
        let mut nodes = Vec::new();
        let mut unlisted = Vec::new();
        for node in replica_nodes(connection).await? {
            match node {
                Ok(node) => nodes.push(node),
                Err(primary) => unlisted.push(primary),
            }
        }
        let Some(first) = unlisted.first() else {
            if !waited {
                return Ok(nodes);
            }
            // The connection was made before these replicas were listed: it must learn of them to
            // address them, from nodes that may list them a moment later than the one asked.
            connection.refresh_topology().await?;
            if reachable(&nodes).await || started.elapsed() >= options.replica_wait {
                return Ok(nodes);
            }
            tokio::time::sleep(REPLICA_POLL).await;
            continue;
        };
        let name = |(host, port): &(String, u16)| format!("{host}:{port}");
        // A shard whose primary has no replica connected will not get one by waiting.
        for primary in &unlisted {
            if connected_replicas(connection, primary).await? == 0 {
                return Err(OpsError::NoReplica { primary: name(primary) });
            }
        }
        if started.elapsed() >= options.replica_wait {
            return Err(OpsError::ReplicaNotListed {
                primary: name(first),
                waited: options.replica_wait,
            });
        }
        if let Some(notice) = &options.notice {
            notice(&format!(
                "waiting for the replica of {} to be listed by the cluster (connected, without a replication offset yet)",
                name(first)
            ));
        }
        tokio::time::sleep(REPLICA_POLL).await;
        waited = true;
    }
}

/// Whether the connection can address every one of `nodes` (`PING`).
async fn reachable(nodes: &[Node]) -> bool {
    for node in nodes {
        let mut pipe = node.pipe();
        pipe.cmd("PING");
        if node.pipeline(pipe, 1).await.is_err() {
            return false;
        }
    }
    true
}

/// How often an audit of replicas asks again whether a connected replica is listed.
const REPLICA_POLL: Duration = Duration::from_millis(250);

/// The keys of the keyspace (`DBSIZE` of every primary, added up): the total a progress
/// report counts towards.
pub async fn key_count(store: &Store) -> Result<u64> {
    let nodes = store.core().connection().nodes().await?;
    let sizes = futures_util::future::try_join_all(nodes.iter().map(|node| async move {
        let mut pipe = node.pipe();
        pipe.cmd("DBSIZE");
        match node.pipeline(pipe, 1).await?.as_slice() {
            [Value::Int(size)] => Ok(u64::try_from(*size).unwrap_or(0)),
            other => Err(Error::unexpected(&node.name(), "DBSIZE", &Value::Array(other.to_vec()))),
        }
    }))
    .await?;
    Ok(sizes.into_iter().sum())
}

/// Audits one page of keys from `node`.
async fn audit_page(
    store: &Store,
    tally: &Mutex<Checkpoint<Tally>>,
    (matcher, rollout): (&Matcher, Option<&Rollout<'_>>),
    node: &Node,
    keys: &[Vec<u8>],
    options: &AuditOptions,
) -> Result<()> {
    // Matched first, outside the lock: only keys that match a pattern need their type, and
    // during a rollout, keys of moved patterns are asked whether their old twin exists.
    let found: Vec<Found> = keys.iter().map(|key| Found::of(matcher, rollout, key)).collect();
    let twins: Vec<Option<String>> = keys
        .iter()
        .zip(&found)
        .map(|(key, found)| match (found, rollout) {
            (Found::Pattern(_), Some(rollout)) => rollout.twin(key),
            _ => None,
        })
        .collect();
    let replies = read_replies(node, keys, &found, options.memory).await?;
    let twins_exist = match rollout {
        Some(rollout) => rollout.exist(&twins).await?,
        None => vec![false; keys.len()],
    };
    let mut indexes = Vec::new();
    let mut expire = Vec::new();
    {
        let mut checkpoint = locked(tally);
        let tally = &mut checkpoint.state;
        let before = tally.keys;
        let mut replies = replies.as_slice();
        for ((key, found), twin_exists) in keys.iter().zip(found).zip(twins_exist) {
            let count = usize::from(found.needs_type()) + 1 + usize::from(options.memory);
            let (own, rest) = replies.split_at(count.min(replies.len()));
            replies = rest;
            if let (Found::Pattern(index), true) = (&found, twin_exists) {
                tally.add_twin(*index, key);
            }
            let follow_up = tally.add_key(store, key, found, own);
            if let (true, Some(ttl)) = (options.fix, follow_up.set_ttl) {
                let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
                expire.push(Write::raw(key, "PEXPIRE", vec![Arg::Int(ms), Arg::Word("NX")]));
            }
            if options.indexes {
                indexes.extend(follow_up.index);
            }
        }
        let audited = tally.keys - before;
        tally.add_node_keys(node.name(), audited);
    }
    if !expire.is_empty() {
        let replies = store.core().apply_on_node(node, &expire).await?;
        let set = replies.iter().filter(|reply| matches!(reply, Value::Int(1))).count();
        locked(tally).state.fixed.ttls_set += set as u64;
    }
    for (key, pattern) in indexes {
        let (members, removed) =
            index::check_index(store, matcher, &key, pattern, options.fix, options.examples).await?;
        let mut checkpoint = locked(tally);
        checkpoint.state.add_index(pattern, members);
        checkpoint.state.fixed.members_removed += removed;
    }
    Ok(())
}

/// `TYPE` (of keys that matched a pattern), `PTTL` and, when asked, `MEMORY USAGE` of each key,
/// in one pipeline to the node that returned them.
async fn read_replies(node: &Node, keys: &[Vec<u8>], found: &[Found], memory: bool) -> Result<Vec<Value>> {
    let mut pipe = node.pipe();
    let mut count = 0;
    for (key, found) in keys.iter().zip(found) {
        // Commands sized for their arguments: grown byte by byte they cost the client more
        // than matching the key does.
        if found.needs_type() {
            pipe.add_command(sized_cmd(&[b"TYPE", key]));
            count += 1;
        }
        pipe.add_command(sized_cmd(&[b"PTTL", key]));
        count += 1;
        if memory {
            pipe.add_command(sized_cmd(&[b"MEMORY", b"USAGE", key]));
            count += 1;
        }
    }
    let replies = node.pipeline(pipe, count).await?;
    if replies.len() == count {
        Ok(replies)
    } else {
        Err(Error::unexpected(&node.name(), "TYPE", &Value::Array(replies)))
    }
}
