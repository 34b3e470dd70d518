//! [`Core`]: what every part of the store builds on. A connection, the schema with its matcher,
//! every key's resolved policy, the durability asked of writes, and the state features keep
//! per store ([`Extensions`], which the core holds without naming). Its methods are the one
//! write path and the reads: every command the store sends goes through them, so durability,
//! size limits, retries and the deadline apply to all of them alike.

use crate::connection::{Node, RedisConnection, Route};
use crate::error::{Error, Result};
use crate::extensions::Extensions;
use crate::policy::{KeyId, KeyPolicies, KeyPolicy};
use crate::script::ScriptCall;
use crate::write::Write;
use keyschema::{KeySchema, Matcher};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// What a write waits for before it is acknowledged: `WAIT replicas timeout` after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durability {
    /// How many replicas must have the write.
    pub replicas: u32,
    /// How long to wait for them.
    pub timeout: Duration,
}

/// What a bridged store does with keys of the previous layout
/// ([`Store::bridging`](crate::Store::bridging)); the bridge itself is `crate::bridge`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BridgeMode {
    /// While instances of the previous version still run: a read that misses the new key reads
    /// the old one and leaves it where it is (old instances still read it). A write that adds
    /// to a collection or a hash first copies the old key to the new one (when the new one does
    /// not exist yet), so nothing written before is hidden by the write. Old keys are never
    /// deleted, except by deletes.
    #[default]
    Fallback,
    /// Once no instance of the previous version runs: as [`BridgeMode::Fallback`], and a key
    /// found in the old layout is moved (copied with its remaining TTL, then the old key deleted
    /// if it is unchanged), and a write that replaces a whole value deletes the old key after
    /// it. The audit's count of old-layout keys then falls as keys are used, and to zero when
    /// their TTL has passed.
    Move,
}

/// The store's core, as typed keys, batches, transactions and primitives borrow it
/// ([`Store::core`](crate::Store::core)). It has no entry points of its own: those are on
/// [`Store`](crate::Store) and on the typed handles. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Core {
    connection: RedisConnection,
    schema: Arc<KeySchema>,
    matcher: Matchers,
    policies: Arc<KeyPolicies>,
    durability: Option<Durability>,
    bridge: BridgeMode,
    extensions: Arc<Extensions>,
}

impl Core {
    pub(crate) fn new(connection: RedisConnection, schema: Arc<KeySchema>, policies: KeyPolicies) -> Self {
        Self {
            connection,
            schema,
            matcher: Matchers::Lazy(Arc::default()),
            policies: Arc::new(policies),
            durability: None,
            bridge: BridgeMode::default(),
            extensions: Arc::default(),
        }
    }

    /// The same core, matching keys with the compiled `schema` of a generated module (its model
    /// is this core's): one matcher per process, however many stores it connects.
    pub(crate) fn compiled_by(self, schema: &'static keyschema::Schema) -> Self {
        Self {
            matcher: Matchers::Generated(schema),
            ..self
        }
    }

    /// The same core, its writes waiting for `durability` (or not, with `None`).
    pub(crate) fn with_durability(&self, durability: Option<Durability>) -> Self {
        Self {
            durability,
            ..self.clone()
        }
    }

    pub(crate) fn durability(&self) -> Option<Durability> {
        self.durability
    }

    /// The same core, bridged keys handled as `mode` says.
    pub(crate) fn with_bridge(&self, bridge: BridgeMode) -> Self {
        Self { bridge, ..self.clone() }
    }

    /// What bridged keys do with the previous layout's keys.
    pub(crate) fn bridge_mode(&self) -> BridgeMode {
        self.bridge
    }

    pub(crate) fn schema(&self) -> &KeySchema {
        &self.schema
    }

    /// The schema, shared (for a translation between two schemas).
    pub(crate) fn schema_arc(&self) -> Arc<KeySchema> {
        Arc::clone(&self.schema)
    }

    /// The schema's matcher: the generated module's (compiled once per process), or compiled
    /// on first use and shared by the store's clones.
    pub(crate) fn matcher(&self) -> &Matcher {
        match &self.matcher {
            Matchers::Generated(schema) => schema.matcher(),
            Matchers::Lazy(matcher) => matcher.get_or_init(|| Matcher::new(self.schema_arc())),
        }
    }

    pub(crate) fn connection(&self) -> &RedisConnection {
        &self.connection
    }

    pub(crate) fn policy(&self, id: KeyId) -> &KeyPolicy {
        self.policies.get(id)
    }

    pub(crate) fn ttl_of(&self, id: KeyId) -> Option<Duration> {
        self.policies.ttl(id)
    }

    /// The primitive key definition `id` declares, if any.
    pub(crate) fn primitive(&self, id: KeyId) -> Option<&keyschema::Primitive> {
        self.schema.keys.get(id.index()).and_then(|key| key.primitive.as_ref())
    }

    /// The state of type `T` that a feature keeps for this store (and its clones).
    pub(crate) fn extension<T: Default + Send + Sync + 'static>(&self) -> &Arc<T> {
        self.extensions.get::<T>()
    }

    /// Runs a read on `key`, on a replica when the connection has them; retried like a write
    /// while a cluster refuses it before it runs (a redirection after a failover).
    pub(crate) async fn read<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        key: &str,
        command: &'static str,
    ) -> Result<T> {
        self.retrying(key, command, || {
            self.connection.query(Route::Replica, cmd, key, command)
        })
        .await
    }

    /// Runs a read that must see the primary's data (a lock's remaining TTL, a breaker's state
    /// just written), never a replica's; retried like [`Core::read`].
    pub(crate) async fn read_primary<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        key: &str,
        command: &'static str,
    ) -> Result<T> {
        self.retrying(key, command, || {
            self.connection.query(Route::Primary, cmd, key, command)
        })
        .await
    }

    /// Runs a pipeline of reads on the primary (a value and its `PTTL` in one round trip);
    /// retried like [`Core::read`].
    pub(crate) async fn read_pipeline<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
        key: &str,
        command: &'static str,
    ) -> Result<T> {
        self.retrying(key, command, || self.connection.pipeline(pipe, key, command))
            .await
    }

    /// Applies one write: a single command as it is, several as one MULTI/EXEC; retried while
    /// a cluster refuses it before it runs; with a durability wait, `WAIT` follows in the same
    /// pipeline. The answer is the reply of the write's answering command.
    pub(crate) async fn apply(&self, write: &Write) -> Result<redis::Value> {
        write.check_sizes()?;
        let key = write.key.as_str();
        if let Some(durability) = self.durability {
            let mut pipe = redis::pipe();
            let answer_at = if let [command] = write.commands.as_slice() {
                pipe.add_command(command.to_cmd(key));
                None
            } else {
                pipe.cmd("MULTI");
                for command in &write.commands {
                    pipe.add_command(command.to_cmd(key));
                }
                pipe.cmd("EXEC");
                Some(1 + write.commands.len())
            };
            // Boxed, as in `run_script`: the rarer path's state stays out of every write's future.
            let mut replies = Box::pin(self.durable_pipeline(pipe, durability, key, write.name())).await?;
            return Ok(match answer_at {
                None => replies.swap_remove(0),
                Some(exec) => match replies.swap_remove(exec) {
                    redis::Value::Array(mut items) if write.answer < items.len() => items.swap_remove(write.answer),
                    other => other,
                },
            });
        }
        if let [command] = write.commands.as_slice() {
            let cmd = command.to_cmd(key);
            return self
                .retrying(key, command.name, || {
                    self.connection.query(Route::Primary, &cmd, key, command.name)
                })
                .await;
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        write.append_to(&mut pipe, true);
        let (answer,): (redis::Value,) = self
            .retrying(key, write.name(), || self.connection.pipeline(&pipe, key, write.name()))
            .await?;
        Ok(answer)
    }

    /// Applies one write and converts its answer.
    pub(crate) async fn write_value<T: redis::FromRedisValue>(&self, write: &Write) -> Result<T> {
        let answer = self.apply(write).await?;
        redis::from_redis_value(answer).map_err(|e| Error::command(&write.key, write.name(), e.into()))
    }

    /// Runs a stored script whose keys share `key`'s slot, retried like a write; with a
    /// durability wait, as `EVAL` followed by `WAIT` in one pipeline. Arguments over the server's
    /// limit are refused before anything is sent.
    pub(crate) async fn run_script(&self, call: &ScriptCall<'_>, key: &str) -> Result<redis::Value> {
        let largest = call.largest_arg();
        if largest > crate::policy::SERVER_MAX_ARG {
            return Err(Error::ValueTooLarge {
                key: key.to_string(),
                size: largest,
                max: crate::policy::SERVER_MAX_ARG,
            });
        }
        if let Some(durability) = self.durability {
            let mut pipe = redis::pipe();
            pipe.add_command(call.eval());
            // Boxed: inline, this rarer path's state would double the size of every primitive's
            // future, and a future over glibc's 1,032-byte thread-cache limit is slower to box
            // and spawn.
            let mut replies = Box::pin(self.durable_pipeline(pipe, durability, key, "EVAL")).await?;
            return Ok(replies.swap_remove(0));
        }
        self.retrying(key, "EVALSHA", || {
            self.connection.script(&call.cmd, &call.script.script, key)
        })
        .await
    }

    /// Runs a script that applies `writes` (a transaction's checking script, which takes their
    /// commands as arguments): their limits are checked first, then as [`Core::run_script`].
    pub(crate) async fn apply_scripted(
        &self,
        call: &ScriptCall<'_>,
        key: &str,
        writes: &[Write],
    ) -> Result<redis::Value> {
        for write in writes {
            write.check_sizes()?;
        }
        self.run_script(call, key).await
    }

    /// Sends a pipeline of writes built from [`Write`]s (a batch's pipeline of one slot), every
    /// reply kept; with a durability wait, `WAIT` ends the pipeline, so it covers exactly the
    /// node that ran it. `writes` are the pipeline's writes, checked against their limits first.
    pub(crate) async fn apply_pipeline(
        &self,
        pipe: &redis::Pipeline,
        writes: &[&Write],
        key: &str,
        command: &'static str,
    ) -> Result<Vec<redis::Value>> {
        for write in writes {
            write.check_sizes()?;
        }
        match self.durability {
            Some(durability) if !writes.is_empty() => {
                Box::pin(self.durable_pipeline(pipe.clone(), durability, key, command)).await
            }
            _ => {
                self.retrying(key, command, || self.connection.pipeline(pipe, key, command))
                    .await
            }
        }
    }

    /// Applies `writes` on `node`, the node a scan found their keys on (so they need not share a
    /// slot), in one pipeline; with a durability wait, `WAIT` ends it. The answers of the writes,
    /// in order.
    pub(crate) async fn apply_on_node(&self, node: &Node, writes: &[Write]) -> Result<Vec<redis::Value>> {
        let Some(first) = writes.first() else {
            return Ok(Vec::new());
        };
        for write in writes {
            write.check_sizes()?;
        }
        // Every reply is kept (the node's pipeline counts them): a write of several commands is
        // MULTI, its commands, EXEC, and its answer is taken from EXEC's array below.
        let mut pipe = node.pipe();
        let mut count = 0;
        for write in writes {
            if let [command] = write.commands.as_slice() {
                pipe.add_command(command.to_cmd(&write.key));
                count += 1;
            } else {
                pipe.cmd("MULTI");
                for command in &write.commands {
                    pipe.add_command(command.to_cmd(&write.key));
                }
                pipe.cmd("EXEC");
                count += 2 + write.commands.len();
            }
        }
        let durability = self.durability;
        if let Some(Durability { replicas, timeout }) = durability {
            pipe.cmd("WAIT").arg(replicas).arg(crate::util::millis(timeout));
            count += 1;
        }
        let mut replies = node.pipeline(pipe, count).await?.into_iter();
        let mut answers = Vec::with_capacity(writes.len());
        for write in writes {
            let answer = if write.commands.len() == 1 {
                replies.next()
            } else {
                // MULTI's OK and each command's QUEUED, then EXEC's array.
                match replies.nth(1 + write.commands.len()) {
                    Some(redis::Value::Array(mut items)) if write.answer < items.len() => {
                        Some(items.swap_remove(write.answer))
                    }
                    other => other,
                }
            };
            answers.push(answer.unwrap_or(redis::Value::Nil));
        }
        if let Some(Durability { replicas, .. }) = durability {
            let acknowledged = match replies.next() {
                Some(redis::Value::Int(n)) => u64::try_from(n).unwrap_or(0),
                _ => 0,
            };
            if acknowledged < u64::from(replicas) {
                return Err(Error::NotDurable {
                    key: first.key.clone(),
                    acknowledged,
                    wanted: replicas,
                });
            }
        }
        Ok(answers)
    }

    /// Sends `pipe` followed by `WAIT`, on one connection to the node that runs the write, so
    /// the wait covers exactly that node's copy of it; the replies before WAIT's, or
    /// [`Error::NotDurable`].
    async fn durable_pipeline(
        &self,
        mut pipe: redis::Pipeline,
        Durability { replicas, timeout }: Durability,
        key: &str,
        command: &'static str,
    ) -> Result<Vec<redis::Value>> {
        pipe.cmd("WAIT")
            .arg(replicas)
            .arg(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        let mut replies: Vec<redis::Value> = self
            .retrying(key, command, || self.connection.pipeline(&pipe, key, command))
            .await?;
        // A command that failed inside the pipeline fails the write.
        if let Some(redis::Value::ServerError(error)) =
            replies.iter().find(|r| matches!(r, redis::Value::ServerError(_)))
        {
            return Err(Error::command(key, command, error.clone().into()));
        }
        let acknowledged = match replies.pop() {
            Some(redis::Value::Int(n)) => u64::try_from(n).unwrap_or(0),
            _ => 0,
        };
        if acknowledged < u64::from(replicas) {
            return Err(Error::NotDurable {
                key: key.to_string(),
                acknowledged,
                wanted: replicas,
            });
        }
        Ok(replies)
    }

    /// Runs `call`, and again while it fails with an error that guarantees it did not run and
    /// that passes (a redirection, a failover in progress), for at most the retry budget from the
    /// first failure and within one bound: the connection's deadline, counted from the first
    /// attempt, covers every attempt and pause. A pause that would end past it is not taken, and
    /// a later attempt gets only what is left of it (cut off, it is [`Error::OutcomeUnknown`]: it
    /// may have run). The first attempt is bounded by redis-rs itself (the same deadline), so a
    /// call that succeeds arms no timer of the store's own.
    pub(crate) async fn retrying<T, F, Fut>(&self, key: &str, command: &'static str, call: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let started = Instant::now();
        // The refusal is moved into the boxed retries: nothing of the first attempt's result is
        // kept across an await in this (every call's) future.
        let refused = match call().await {
            Err(error) if error.is_transient() => error,
            result => return result,
        };
        // Boxed: the retries' state (their clock, pause, timer) stays out of every call's future.
        Box::pin(self.retry(started, refused, key, command, call)).await
    }

    /// The retries of [`Core::retrying`] after its first attempt was `refused`.
    async fn retry<T, F, Fut>(
        &self,
        started: Instant,
        mut refused: Error,
        key: &str,
        command: &'static str,
        call: F,
    ) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let deadline = self.connection.deadline();
        let failed_at = Instant::now();
        let mut pause = Duration::from_millis(10);
        let mut retries = 0;
        loop {
            retries += 1;
            crate::recording::retried(retries);
            let now = Instant::now();
            if now - started + pause >= deadline || now - failed_at + pause >= self.connection.retry_budget() {
                return Err(refused);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
            let left = deadline.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, call()).await {
                Err(_) => return Err(Error::deadline_passed(key, command, deadline)),
                Ok(Err(error)) if error.is_transient() => refused = error,
                Ok(result) => return result,
            }
        }
    }

    /// Deletes a key; whether it existed.
    pub(crate) async fn delete(&self, key: &str) -> Result<bool> {
        let removed: i64 = self.write_value(&Write::delete(key)).await?;
        Ok(removed > 0)
    }

    /// The key's remaining time to live.
    pub(crate) async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let millis: i64 = self.read(redis::cmd("PTTL").arg(key), key, "PTTL").await?;
        Ok(match millis {
            -2 => KeyTtl::Missing,
            -1 => KeyTtl::Persistent,
            ms => KeyTtl::Expires(Duration::from_millis(ms.max(0).unsigned_abs())),
        })
    }
}

/// Where a core's matcher comes from (invalidation and the audit match the keys they scan).
#[derive(Clone)]
enum Matchers {
    /// The compiled schema of a generated module, checked by its contract.
    Generated(&'static keyschema::Schema),
    /// Compiled from the model when first needed, shared by the store's clones.
    Lazy(Arc<OnceLock<Matcher>>),
}

/// A key's remaining time to live, as `PTTL` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTtl {
    /// The key does not exist.
    Missing,
    /// The key exists and never expires.
    Persistent,
    /// The key expires in this long.
    Expires(Duration),
}
