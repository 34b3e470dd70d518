//! [`Store`]: the one facade. Every public entry point of a store is listed here, each a
//! one-line delegation to the layer that implements it: the core's write path and reads
//! ([`crate::core`]), batches and transactions, the typed collections, the caches. Typed keys and
//! primitives are made by generated code from [`Store::core`].

use crate::batch::Batch;
use crate::cache::{self, CacheStats};
use crate::codec::Codec;
use crate::connection::{ConnectionOptions, RedisConnection};
use crate::core::{Core, Durability, KeyTtl};
use crate::error::{Error, Result};
use crate::keys::{self, SetKey};
use crate::policy::{KeyId, KeyPolicies, KeyPolicy};
use crate::transaction::Transaction;
use keyschema::KeySchema;
use std::sync::Arc;
use std::time::Duration;

/// A connection to standalone Redis or a cluster, with the schema and its keys' policies. Cheap
/// to clone; clones share the connection and every feature's state (held locks' renewals,
/// caches' loads and counts, fallback counters).
#[derive(Clone)]
pub struct Store {
    core: Core,
}

impl Store {
    /// A store over a connection, policies resolved from the environment (an error now if a
    /// variable has a bad value).
    pub fn new(connection: RedisConnection, schema: Arc<KeySchema>) -> Result<Self> {
        let policies = KeyPolicies::from_env(&schema)?;
        refuse_cluster_for_standalone(&connection, &schema)?;
        Ok(Self::with_policies(connection, schema, policies))
    }

    /// A store with policies resolved by the caller ([`KeyPolicies::from_lookup`]). Unlike the
    /// other constructors it checks nothing: a `layout standalone` schema over a cluster
    /// connection fails at its first cross-slot script (`CROSSSLOT`) instead of here.
    pub fn with_policies(connection: RedisConnection, schema: Arc<KeySchema>, policies: KeyPolicies) -> Self {
        Self {
            core: Core::new(connection, schema, policies),
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
        refuse_cluster_for_standalone(&connection, &schema)?;
        Ok(Self::with_policies(connection, schema, policies))
    }

    /// The same store (sharing its connection and state) whose writes are acknowledged only once
    /// `replicas` replicas have them: `WAIT replicas timeout` follows every write in the same
    /// pipeline, so it runs on the node that ran the write. That is every write the store makes:
    /// accessors, transactions, scripts (primitives), `GETDEL`, batches (one `WAIT` per pipeline,
    /// that is per slot's node), cache loads, invalidation (one `WAIT` per node and page), shared
    /// cache counts and the audit's fixes. Replication is asynchronous: without this, a write
    /// acknowledged by a primary that then fails over can be lost; with it, fewer
    /// acknowledgements than asked within `timeout` are [`Error::NotDurable`](crate::Error::NotDurable)
    /// (the write is on the primary, not yet safe). It does not make a write survive everything
    /// (a replica can still lose it on a later failure), and it costs a round trip and the
    /// replication delay per write.
    pub fn durable(&self, replicas: u32, timeout: Duration) -> Self {
        Self {
            core: self.core.with_durability(Some(Durability { replicas, timeout })),
        }
    }

    /// The same store (sharing its connection and state) handling the keys of a previous
    /// layout as `mode` says: for stores generated with a previous schema, during a layout
    /// change. [`BridgeMode::Fallback`](crate::BridgeMode::Fallback) (the default) while
    /// instances of the previous version run, [`BridgeMode::Move`](crate::BridgeMode::Move)
    /// once none does. A store without bridged keys is unaffected.
    pub fn bridging(&self, mode: crate::BridgeMode) -> Self {
        Self {
            core: self.core.with_bridge(mode),
        }
    }

    /// The same store matching keys with a generated module's compiled schema (whose model it
    /// was built with), so the process compiles one matcher ([`GeneratedSchema`](crate::GeneratedSchema)
    /// connects this way).
    pub(crate) fn compiled_by(self, schema: &'static keyschema::Schema) -> Self {
        Self {
            core: self.core.compiled_by(schema),
        }
    }

    /// The durability asked of writes, if any.
    pub fn durability(&self) -> Option<Durability> {
        self.core.durability()
    }

    /// The core that typed keys, batches, transactions and primitives borrow (generated code
    /// passes it to their constructors).
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// The schema.
    pub fn schema(&self) -> &KeySchema {
        self.core.schema()
    }

    /// A clone of the connection, for commands the schema does not describe. What is sent on it
    /// goes around the store: no TTL, durability or size limit applies.
    pub fn connection(&self) -> RedisConnection {
        self.core.connection().clone()
    }

    /// The policy of key definition `id`.
    pub fn policy(&self, id: KeyId) -> &KeyPolicy {
        self.core.policy(id)
    }

    /// The resolved TTL of key definition `id` (the bound, for keys that choose it per write).
    pub fn ttl_of(&self, id: KeyId) -> Option<Duration> {
        self.core.ttl_of(id)
    }

    /// Reads a string value; `None` when the key does not exist.
    pub async fn get<C: Codec>(&self, key: &str) -> Result<Option<C::Value>> {
        keys::get::<C>(&self.core, key).await
    }

    /// Deletes a key; whether it existed.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        self.core.delete(key).await
    }

    /// The key's remaining time to live.
    pub async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        self.core.ttl(key).await
    }

    /// An empty batch: many typed operations sent together, split by slot.
    pub fn batch(&self) -> Batch<'_> {
        Batch::new(&self.core)
    }

    /// An empty transaction over keys of one slot.
    pub fn transaction(&self) -> Transaction<'_> {
        Transaction::new(&self.core)
    }

    /// Members common to every set (search by several indexes, as the catalog's type, owner and
    /// namespace). One `SINTER` when the sets share a slot or the server is standalone; on a
    /// cluster across slots, each set is read and intersected here, since Redis cannot.
    pub async fn intersect<C: Codec>(&self, sets: &[&SetKey<'_, C>]) -> Result<Vec<C::Value>> {
        keys::intersect(&self.core, sets).await
    }

    /// Removes every key of key definition `id` (a cache's, typically) whose parameters named in
    /// `fixed` have those values (written as a person would: `[("tenant", "acme")]`; none: every
    /// key of the pattern), on every primary of a cluster; how many were removed.
    ///
    /// The scan uses the pattern's glob ([`keyschema::Selection`]), and each key it finds is
    /// matched against the schema before it is removed: a key of another pattern that the glob
    /// also covers (`*` crosses separators) is never touched. Keys go by `UNLINK`, one pipeline
    /// per node and page, through the write path (so [`Store::durable`] waits for them too).
    pub async fn invalidate(&self, id: KeyId, fixed: &[(&str, &str)]) -> Result<u64> {
        cache::invalidate(&self.core, id, fixed).await
    }

    /// The counts of the cache `id`: this process's, or with `stats shared` every instance's
    /// (this process adds what it counted since it last did, then reads the total, in one
    /// MULTI/EXEC through the write path).
    pub async fn cache_stats(&self, id: KeyId) -> Result<CacheStats> {
        cache::stats(&self.core, id).await
    }
}

/// A schema declared `layout standalone` runs scripts over keys on any slot: on a cluster they
/// would fail with `CROSSSLOT`, so the store refuses the pair up front.
fn refuse_cluster_for_standalone(connection: &RedisConnection, schema: &KeySchema) -> Result<()> {
    if schema.standalone && connection.is_cluster() {
        return Err(Error::StandaloneLayout {
            keyspace: schema.keyspace.clone(),
        });
    }
    Ok(())
}
