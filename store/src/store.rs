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

    /// Applies one write: a single command as it is, several as one MULTI/EXEC. The answer is
    /// the reply of the write's answering command.
    pub(crate) async fn apply(&self, write: &Write) -> Result<redis::Value> {
        if let [command] = write.commands.as_slice() {
            let cmd = command.to_cmd(&write.key);
            return self
                .connection
                .query(Route::Write, &cmd, &write.key, command.name)
                .await;
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        write.append_to(&mut pipe, true);
        let (answer,): (redis::Value,) = self.connection.pipeline(&pipe, &write.key, write.name()).await?;
        Ok(answer)
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
