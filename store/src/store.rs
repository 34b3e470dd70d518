//! [`Store`]: a connection, the schema, and every key's resolved policy; the operations
//! generated code calls, each bounded by the connection's deadline.

use crate::codec::Codec;
use crate::connection::{ConnectionOptions, RedisConnection, Route};
use crate::error::{Error, Result};
use crate::policy::{KeyId, KeyPolicies, KeyPolicy};
use crate::write::Write;
use keyschema::KeySchema;
use std::sync::Arc;
use std::time::Duration;

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

/// A connection to standalone Redis or a cluster, with the schema and its keys' policies. Cheap
/// to clone; clones share the connection.
#[derive(Clone)]
pub struct Store {
    connection: RedisConnection,
    schema: Arc<KeySchema>,
    policies: Arc<KeyPolicies>,
    durability: Option<Durability>,
    primitives: Arc<crate::primitives::Shared>,
}

/// A Lua script kept with its source: invoked by hash (`EVALSHA`, reloaded on `NOSCRIPT`), or
/// sent whole (`EVAL`) inside a pipeline.
pub(crate) struct StoredScript {
    pub(crate) source: &'static str,
    pub(crate) script: redis::Script,
}

impl StoredScript {
    pub(crate) fn new(source: &'static str) -> Self {
        Self {
            source,
            script: redis::Script::new(source),
        }
    }

    /// A call of this script on `keys`; its arguments follow with [`ScriptCall::arg`].
    pub(crate) fn call(&'static self, keys: &[&str]) -> ScriptCall {
        // Room for the keys and a few short arguments, so that building the command allocates
        // twice (its bytes, its argument list) rather than growing both step by step.
        let key_bytes: usize = keys.iter().map(|key| key.len()).sum();
        let mut cmd = redis::Cmd::with_capacity(3 + keys.len() + 8, 64 + key_bytes + 96);
        cmd.arg("EVALSHA").arg(self.script.get_hash()).arg(keys.len());
        for key in keys {
            cmd.arg(*key);
        }
        ScriptCall { script: self, cmd }
    }
}

/// One call of a [`StoredScript`]: `EVALSHA hash numkeys keys... args...`, built in place.
pub(crate) struct ScriptCall {
    script: &'static StoredScript,
    cmd: redis::Cmd,
}

impl ScriptCall {
    /// Appends an argument (`ARGV[n]`).
    pub(crate) fn arg<T: redis::ToRedisArgs>(mut self, arg: T) -> Self {
        self.cmd.arg(arg);
        self
    }

    /// The same call with the script's source (`EVAL`), for a pipeline, where a `NOSCRIPT`
    /// could not be answered by loading the script and sending the call again.
    fn eval(&self) -> redis::Cmd {
        let mut eval = redis::cmd("EVAL");
        eval.arg(self.script.source);
        for arg in self.cmd.args_iter().skip(2) {
            if let redis::Arg::Simple(bytes) = arg {
                eval.arg(bytes);
            }
        }
        eval
    }
}

/// What a write waits for before it is acknowledged: `WAIT replicas timeout` after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durability {
    /// How many replicas must have the write.
    pub replicas: u32,
    /// How long to wait for them.
    pub timeout: Duration,
}

impl Store {
    /// A store over a connection, policies resolved from the environment (an error now if a
    /// variable has a bad value).
    pub fn new(connection: RedisConnection, schema: Arc<KeySchema>) -> Result<Self> {
        let policies = KeyPolicies::from_env(&schema)?;
        Ok(Self::with_policies(connection, schema, policies))
    }

    /// A store with policies resolved by the caller ([`KeyPolicies::from_lookup`]).
    pub fn with_policies(connection: RedisConnection, schema: Arc<KeySchema>, policies: KeyPolicies) -> Self {
        Self {
            connection,
            schema,
            policies: Arc::new(policies),
            durability: None,
            primitives: Arc::default(),
        }
    }

    /// Connects to a standalone server (`redis://`, `rediss://`, with user and password) with
    /// the default [`ConnectionOptions`].
    pub async fn connect(url: &str, schema: Arc<KeySchema>) -> Result<Self> {
        Self::connect_with(url, schema, &ConnectionOptions::default()).await
    }

    /// Connects to a standalone server (and its replicas, if the options name them).
    pub async fn connect_with(url: &str, schema: Arc<KeySchema>, options: &ConnectionOptions) -> Result<Self> {
        let policies = KeyPolicies::from_env(&schema)?;
        let connection = RedisConnection::standalone_with(url, options).await?;
        Ok(Self::with_policies(connection, schema, policies))
    }

    /// Connects to a cluster through any of its nodes, with the default [`ConnectionOptions`].
    pub async fn connect_cluster(nodes: &[impl AsRef<str>], schema: Arc<KeySchema>) -> Result<Self> {
        Self::connect_cluster_with(nodes, schema, &ConnectionOptions::default()).await
    }

    /// Connects to a cluster through any of its nodes.
    pub async fn connect_cluster_with(
        nodes: &[impl AsRef<str>],
        schema: Arc<KeySchema>,
        options: &ConnectionOptions,
    ) -> Result<Self> {
        let policies = KeyPolicies::from_env(&schema)?;
        let connection = RedisConnection::cluster_with(nodes, options).await?;
        Ok(Self::with_policies(connection, schema, policies))
    }

    /// The same store (sharing its connection) whose writes are acknowledged only once
    /// `replicas` replicas have them (`WAIT replicas timeout` after each write, transaction and
    /// script, in the same pipeline, so it runs on the node that ran the write). Replication is asynchronous: without this, a write acknowledged by a primary that
    /// then fails over can be lost; with it, fewer acknowledgements than asked within `timeout`
    /// are [`Error::NotDurable`] (the write is on the primary, not yet safe). It does not make a
    /// write survive everything (a replica can still lose it on a later failure), and it costs a
    /// round trip and the replication delay per write.
    pub fn durable(&self, replicas: u32, timeout: Duration) -> Self {
        Self {
            durability: Some(Durability { replicas, timeout }),
            ..self.clone()
        }
    }

    /// The durability asked of writes, if any.
    pub fn durability(&self) -> Option<Durability> {
        self.durability
    }

    /// What the primitives fall back on when Redis cannot be reached.
    pub(crate) fn local(&self) -> &crate::primitives::LocalState {
        &self.primitives.local
    }

    /// What the primitives share.
    pub(crate) fn shared(&self) -> &Arc<crate::primitives::Shared> {
        &self.primitives
    }

    /// The schema, shared (for a matcher built over it).
    pub(crate) fn schema_arc(&self) -> Arc<KeySchema> {
        Arc::clone(&self.schema)
    }

    /// The schema.
    pub fn schema(&self) -> &KeySchema {
        &self.schema
    }

    /// A clone of the connection, for commands the schema does not describe.
    pub fn connection(&self) -> RedisConnection {
        self.connection.clone()
    }

    /// The policy of key definition `id`.
    pub fn policy(&self, id: KeyId) -> &KeyPolicy {
        self.policies.get(id)
    }

    /// The resolved TTL of key definition `id` (the bound, for keys that choose it per write).
    pub fn ttl_of(&self, id: KeyId) -> Option<Duration> {
        self.policies.ttl(id)
    }

    /// Writes a string value for key definition `id`, applying its TTL in the same command:
    /// `SET key value PX ttl`, or keeping an existing TTL when the schema says `keepttl`.
    pub async fn set<C: Codec>(&self, id: KeyId, key: &str, value: &C::Value) -> Result<()> {
        let policy = self.policy(id);
        let write = Write::set(policy, key, encode::<C>(key, value)?, policy.ttl);
        self.apply(&write).await.map(drop)
    }

    /// Reads a string value; `None` when the key does not exist.
    pub async fn get<C: Codec>(&self, key: &str) -> Result<Option<C::Value>> {
        let bytes: Option<Vec<u8>> = self.read(redis::cmd("GET").arg(key), key, "GET").await?;
        bytes.map(|bytes| decode::<C>(key, &bytes)).transpose()
    }

    /// Deletes a key; whether it existed.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        let removed: i64 = self.write_value(&Write::delete(key)).await?;
        Ok(removed > 0)
    }

    /// The key's remaining time to live.
    pub async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let millis: i64 = self.read(redis::cmd("PTTL").arg(key), key, "PTTL").await?;
        Ok(match millis {
            -2 => KeyTtl::Missing,
            -1 => KeyTtl::Persistent,
            ms => KeyTtl::Expires(Duration::from_millis(ms.max(0).unsigned_abs())),
        })
    }
}

impl Store {
    /// Runs a read on `key` (on a replica when the connection has them).
    pub(crate) async fn read<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        key: &str,
        command: &'static str,
    ) -> Result<T> {
        self.connection.query(Route::Read, cmd, key, command).await
    }

    /// Runs a command that must see the primary's data (`GETDEL`, a script), not a replica's.
    pub(crate) async fn on_primary<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        key: &str,
        command: &'static str,
    ) -> Result<T> {
        self.connection.query(Route::Write, cmd, key, command).await
    }

    /// Applies one write: a single command as it is, several as one MULTI/EXEC; retried while
    /// a cluster refuses it before it runs; with a durability wait, `WAIT` follows in the same
    /// pipeline. The answer is the reply of the write's answering command.
    pub(crate) async fn apply(&self, write: &Write) -> Result<redis::Value> {
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
                .retrying(|| self.connection.query(Route::Write, &cmd, key, command.name))
                .await;
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        write.append_to(&mut pipe, true);
        let (answer,): (redis::Value,) = self
            .retrying(|| self.connection.pipeline(&pipe, key, write.name()))
            .await?;
        Ok(answer)
    }

    /// Runs a stored script whose keys share `key`'s slot, retried like a write; with a
    /// durability wait, as `EVAL` followed by `WAIT` in one pipeline.
    pub(crate) async fn run_script(&self, call: &ScriptCall, key: &str) -> Result<redis::Value> {
        if let Some(durability) = self.durability {
            let mut pipe = redis::pipe();
            pipe.add_command(call.eval());
            // Boxed: inline, this rarer path's state would double the size of every primitive's
            // future, and a future over glibc's 1,032-byte thread-cache limit is slower to box
            // and spawn.
            let mut replies = Box::pin(self.durable_pipeline(pipe, durability, key, "EVAL")).await?;
            return Ok(replies.swap_remove(0));
        }
        self.retrying(|| self.connection.script(&call.cmd, &call.script.script, key))
            .await
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
        let mut replies: Vec<redis::Value> = self.retrying(|| self.connection.pipeline(&pipe, key, command)).await?;
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

    /// Runs `call` again while it fails with an error that guarantees it did not run and that
    /// passes (a redirection, a failover in progress), for at most the retry budget.
    pub(crate) async fn retrying<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        // The budget runs from the first failure: a call that succeeds at once (nearly all of
        // them) does not read the clock.
        let mut started = None;
        let mut pause = Duration::from_millis(10);
        loop {
            // The result's scope ends before the sleep: kept across that `await`, the result
            // would be carried in every call's future.
            match call().await {
                Err(error) if error.is_transient() => {
                    let started = *started.get_or_insert_with(std::time::Instant::now);
                    if started.elapsed() + pause >= self.connection.retry_budget() {
                        return Err(error);
                    }
                }
                result => return result,
            }
            // Boxed, so that the timer's state is not carried by every call's future.
            Box::pin(tokio::time::sleep(pause)).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Applies one write and converts its answer.
    pub(crate) async fn write_value<T: redis::FromRedisValue>(&self, write: &Write) -> Result<T> {
        let answer = self.apply(write).await?;
        redis::from_redis_value(answer).map_err(|e| Error::command(&write.key, write.name(), e.into()))
    }
}

/// Encodes with `C`, naming the key in the error.
pub(crate) fn encode<C: Codec>(key: &str, value: &C::Value) -> Result<Vec<u8>> {
    C::encode(value).map_err(|reason| Error::Encode {
        key: key.to_string(),
        codec: C::name().into_owned(),
        reason,
    })
}

/// Decodes with `C`, naming the key in the error.
pub(crate) fn decode<C: Codec>(key: &str, bytes: &[u8]) -> Result<C::Value> {
    C::decode(bytes).map_err(|reason| Error::Decode {
        key: key.to_string(),
        codec: C::name().into_owned(),
        reason,
    })
}
