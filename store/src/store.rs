//! [`Store`]: a connection, the schema, and the resolved TTLs; the operations generated code calls.

use crate::codec::Codec;
use crate::connection::RedisConnection;
use crate::error::{Error, Result};
use crate::ttl::ResolvedTtls;
use keyschema::{KeySchema, TtlOnWrite};
use std::sync::{Arc, LazyLock};
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

/// A connection to standalone Redis or a cluster, with the schema and its resolved TTLs. Cheap to
/// clone; clones share the connection.
#[derive(Clone)]
pub struct Store {
    connection: RedisConnection,
    schema: Arc<KeySchema>,
    ttls: Arc<ResolvedTtls>,
}

/// Writes a value and keeps the key's TTL if it exists, or sets `ARGV[2]` ms if it is new:
/// `SET ... KEEPTTL` alone would leave a new key without any TTL.
static SET_KEEP_TTL: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "if redis.call('EXISTS', KEYS[1]) == 1 then \
           return redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL') \
         else \
           return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
         end",
    )
});

impl Store {
    /// A store over a connection, TTLs resolved from the environment (an error now if a variable
    /// has a bad value).
    pub fn new(connection: RedisConnection, schema: Arc<KeySchema>) -> Result<Self> {
        let ttls = ResolvedTtls::from_env(&schema)?;
        Ok(Self::with_ttls(connection, schema, ttls))
    }

    /// A store with TTLs resolved by the caller.
    pub fn with_ttls(connection: RedisConnection, schema: Arc<KeySchema>, ttls: ResolvedTtls) -> Self {
        Self {
            connection,
            schema,
            ttls: Arc::new(ttls),
        }
    }

    /// Connects to a standalone server (`redis://`, `rediss://`, with user and password).
    pub async fn connect(url: &str, schema: Arc<KeySchema>) -> Result<Self> {
        let ttls = ResolvedTtls::from_env(&schema)?;
        Ok(Self::with_ttls(RedisConnection::standalone(url).await?, schema, ttls))
    }

    /// Connects to a cluster through any of its nodes.
    pub async fn connect_cluster(nodes: &[impl AsRef<str>], schema: Arc<KeySchema>) -> Result<Self> {
        let ttls = ResolvedTtls::from_env(&schema)?;
        Ok(Self::with_ttls(RedisConnection::cluster(nodes).await?, schema, ttls))
    }

    /// The schema.
    pub fn schema(&self) -> &KeySchema {
        &self.schema
    }

    /// A clone of the connection, for commands the schema does not describe.
    pub fn connection(&self) -> RedisConnection {
        self.connection.clone()
    }

    /// The resolved TTL of the key definition at `index`.
    pub fn ttl_of(&self, index: usize) -> Option<Duration> {
        self.ttls.of(index)
    }

    /// Writes a string value for the key definition at `def`, applying its TTL in the same
    /// command: `SET key value PX ttl`, or keeping an existing TTL when the schema says `keepttl`.
    pub async fn set<C: Codec>(&self, def: usize, key: &str, value: &C::Value) -> Result<()> {
        let bytes = encode::<C>(key, value)?;
        let keep = self
            .schema
            .keys
            .get(def)
            .is_some_and(|k| k.ttl_on_write == TtlOnWrite::Keep);
        let mut connection = self.connection.clone();
        let command_error = |source| Error::Command {
            key: key.to_string(),
            command: "SET",
            source,
        };
        match (self.ttls.of(def), keep) {
            (Some(ttl), true) => {
                let _: () = SET_KEEP_TTL
                    .key(key)
                    .arg(bytes)
                    .arg(millis(ttl))
                    .invoke_async(&mut connection)
                    .await
                    .map_err(command_error)?;
            }
            (Some(ttl), false) => {
                let _: () = redis::cmd("SET")
                    .arg(key)
                    .arg(bytes)
                    .arg("PX")
                    .arg(millis(ttl))
                    .query_async(&mut connection)
                    .await
                    .map_err(command_error)?;
            }
            (None, _) => {
                let _: () = redis::cmd("SET")
                    .arg(key)
                    .arg(bytes)
                    .query_async(&mut connection)
                    .await
                    .map_err(command_error)?;
            }
        }
        Ok(())
    }

    /// Reads a string value; `None` when the key does not exist.
    pub async fn get<C: Codec>(&self, key: &str) -> Result<Option<C::Value>> {
        let mut connection = self.connection.clone();
        let bytes: Option<Vec<u8>> =
            redis::cmd("GET")
                .arg(key)
                .query_async(&mut connection)
                .await
                .map_err(|source| Error::Command {
                    key: key.to_string(),
                    command: "GET",
                    source,
                })?;
        bytes
            .map(|bytes| {
                C::decode(&bytes).map_err(|reason| Error::Decode {
                    key: key.to_string(),
                    codec: C::name().into_owned(),
                    reason,
                })
            })
            .transpose()
    }

    /// Deletes a key; whether it existed.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        let mut connection = self.connection.clone();
        let removed: i64 = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut connection)
            .await
            .map_err(|source| Error::Command {
                key: key.to_string(),
                command: "DEL",
                source,
            })?;
        Ok(removed > 0)
    }

    /// The key's remaining time to live.
    pub async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let mut connection = self.connection.clone();
        let millis: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut connection)
            .await
            .map_err(|source| Error::Command {
                key: key.to_string(),
                command: "PTTL",
                source,
            })?;
        Ok(match millis {
            -2 => KeyTtl::Missing,
            -1 => KeyTtl::Persistent,
            ms => KeyTtl::Expires(Duration::from_millis(ms.max(0) as u64)),
        })
    }
}

impl Store {
    /// Runs one command on `key`, naming it in the error.
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
        key: &str,
        command: &'static str,
    ) -> Result<T> {
        let mut connection = self.connection.clone();
        cmd.query_async(&mut connection).await.map_err(|source| Error::Command {
            key: key.to_string(),
            command,
            source,
        })
    }

    /// Runs `pipe` as one MULTI/EXEC transaction (all its commands are on `key`'s slot).
    pub(crate) async fn run_atomic<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline, key: &str) -> Result<T> {
        let mut connection = self.connection.clone();
        pipe.query_async(&mut connection)
            .await
            .map_err(|source| Error::Command {
                key: key.to_string(),
                command: "MULTI",
                source,
            })
    }

    /// Adds the TTL of key definition `def` to a transaction on `key`: `PEXPIRE key ms`, or with
    /// `NX` (Redis 7.0) when the schema says `keepttl`, so only a new key gets one.
    pub(crate) fn push_expire(&self, pipe: &mut redis::Pipeline, def: usize, key: &str) {
        if let Some(ttl) = self.ttls.of(def) {
            let keep = self
                .schema
                .keys
                .get(def)
                .is_some_and(|k| k.ttl_on_write == TtlOnWrite::Keep);
            let command = pipe.cmd("PEXPIRE").arg(key).arg(millis(ttl));
            if keep {
                command.arg("NX");
            }
            command.ignore();
        }
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

fn millis(ttl: Duration) -> u64 {
    // TTLs come from u64 milliseconds, so they fit.
    ttl.as_millis().min(u128::from(u64::MAX)) as u64
}
