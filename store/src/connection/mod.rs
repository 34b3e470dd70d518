//! One connection type over standalone Redis (multiplexed and reconnecting, optionally with
//! replicas for reads) and Redis Cluster. Every call is bounded by redis-rs's own timeouts as the
//! options set them ([`ConnectionOptions::deadline`]); failures are classified by what is known
//! of their outcome ([`Error::command`]).

mod options;
mod replicas;
mod scan;
mod topology;

pub(crate) use scan::Node;
pub use scan::{Shard, Topology};

pub use options::ConnectionOptions;

use crate::error::{Error, Result};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, Value};
use replicas::ReplicaSet;
use std::sync::Arc;
use std::time::Duration;
use topology::ClusterHandle;

/// A connection to a standalone server (with optional read replicas) or to a cluster. Cloning
/// is cheap and clones share the connection (every kind multiplexes: many tasks, one socket per
/// node).
#[derive(Clone)]
pub struct RedisConnection {
    kind: Kind,
    deadline: Duration,
    retry_budget: Duration,
    endpoint: Arc<Endpoint>,
}

/// Where a connection goes, as telemetry names it (`server.address`, `server.port`,
/// `db.namespace`): the URL's host, port and database, or a cluster's first node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host, as given.
    pub address: String,
    /// The port.
    pub port: u16,
    /// The database index (`0` on a cluster).
    pub database: i64,
}

impl Endpoint {
    /// The endpoint of `url`; host `unknown`, port 6379 and database 0 for what it does not say.
    fn of(url: &str) -> Self {
        use redis::IntoConnectionInfo as _;
        let info = url.into_connection_info().ok();
        let (address, port) = match info.as_ref().map(redis::ConnectionInfo::addr) {
            Some(redis::ConnectionAddr::Tcp(host, port) | redis::ConnectionAddr::TcpTls { host, port, .. }) => {
                (host.clone(), *port)
            }
            Some(redis::ConnectionAddr::Unix(path)) => (path.display().to_string(), 0),
            _ => ("unknown".to_string(), 6379),
        };
        let database = info.map_or(0, |info| info.redis_settings().db());
        Self {
            address,
            port,
            database,
        }
    }
}

#[derive(Clone)]
enum Kind {
    /// redis-rs's `ConnectionManager`: multiplexed, reconnecting by itself.
    Standalone(ConnectionManager),
    /// redis-rs's async cluster connection (slot routing, MOVED/ASK, failover), replaced by a
    /// fresh one when a node stops answering.
    Cluster(Arc<ClusterHandle>),
    /// A primary for writes and replicas for reads.
    Replicated {
        primary: ConnectionManager,
        replicas: Arc<ReplicaSet>,
    },
}

/// Where a command may run: only on the primary (every write, and reads that must see the
/// primary's data), or on a replica when the connection has them (a read that may lag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Primary,
    Replica,
}

fn manager_config(options: &ConnectionOptions) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(options.connection_timeout))
        .set_response_timeout(Some(options.response_timeout))
        .set_number_of_retries(options.number_of_retries as usize)
        .set_min_delay(options.min_delay)
        .set_max_delay(options.max_delay)
}

fn open_client(url: &str, options: &ConnectionOptions) -> redis::RedisResult<redis::Client> {
    match &options.root_ca_pem {
        None => redis::Client::open(url),
        Some(pem) => redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            },
        ),
    }
}

impl RedisConnection {
    /// Connects to one server with the default options: `redis://[user:password@]host:port[/db]`
    /// or `rediss://...`.
    pub async fn standalone(url: &str) -> Result<Self> {
        Self::standalone_with(url, &ConnectionOptions::default()).await
    }

    /// Connects to one server over TLS (`rediss://host:port`), trusting `root_ca_pem` (a PEM
    /// certificate authority) instead of the system's store: for private deployments such as the
    /// Cordum cluster's own CA. A plain `rediss://` URL given to [`RedisConnection::standalone`]
    /// uses the system's trust store.
    pub async fn standalone_tls(url: &str, root_ca_pem: &[u8]) -> Result<Self> {
        Self::standalone_with(url, &ConnectionOptions::default().root_ca_pem(root_ca_pem)).await
    }

    /// Connects to one server with `options`; with [`ConnectionOptions::replicas`], reads go to
    /// the replicas. The primary must answer now (within the connection timeout); replicas are
    /// connected on first use, so one that is down does not stop a service from starting.
    pub async fn standalone_with(url: &str, options: &ConnectionOptions) -> Result<Self> {
        let connect = |target: &str, source| Error::Connect {
            target: target.to_string(),
            source,
        };
        let client = open_client(url, options).map_err(|e| connect(url, e))?;
        let primary = ConnectionManager::new_with_config(client, manager_config(options))
            .await
            .map_err(|e| connect(url, e))?;
        let kind = if options.replicas.is_empty() {
            Kind::Standalone(primary)
        } else {
            let mut replicas = Vec::with_capacity(options.replicas.len());
            for replica in &options.replicas {
                let client = open_client(replica, options).map_err(|e| connect(replica, e))?;
                let manager = ConnectionManager::new_lazy_with_config(client, manager_config(options))
                    .map_err(|e| connect(replica, e))?;
                replicas.push((replica.clone(), manager));
            }
            Kind::Replicated {
                primary,
                replicas: Arc::new(ReplicaSet::new(replicas, options.max_delay)),
            }
        };
        Ok(Self {
            kind,
            deadline: options.deadline(),
            retry_budget: options.retry_budget,
            endpoint: Arc::new(Endpoint::of(url)),
        })
    }

    /// Connects to a cluster through any of its nodes (`redis://host:port` each), with the
    /// default options.
    pub async fn cluster(nodes: &[impl AsRef<str>]) -> Result<Self> {
        Self::cluster_with(nodes, &ConnectionOptions::default()).await
    }

    /// Connects to a cluster with `options` (timeouts, retries, reads from replicas).
    pub async fn cluster_with(nodes: &[impl AsRef<str>], options: &ConnectionOptions) -> Result<Self> {
        let nodes: Vec<&str> = nodes.iter().map(AsRef::as_ref).collect();
        let connect = |source| Error::Connect {
            target: nodes.join(","),
            source,
        };
        let mut builder = redis::cluster::ClusterClient::builder(nodes.iter().copied())
            .connection_timeout(options.connection_timeout)
            .response_timeout(options.response_timeout)
            // One attempt is bounded by the response timeout; a request and its retries
            // (redirections, reconnection to a promoted replica) by the deadline.
            .overall_response_timeout(Some(options.deadline()))
            // No retries inside redis-rs: it retries a request whose response timed out, so a
            // write that did run (an RPUSH, a transaction) can run twice; the fault tests saw it.
            // The store retries what certainly did not run (MOVED, TRYAGAIN, CLUSTERDOWN...).
            .retries(0)
            .min_retry_wait(u64::try_from(options.min_delay.as_millis()).unwrap_or(u64::MAX))
            .max_retry_wait(u64::try_from(options.max_delay.as_millis()).unwrap_or(u64::MAX));
        if options.read_from_replicas {
            // Round robin rather than random: an even spread, and every replica is exercised.
            builder = builder.read_routing_strategy(redis::cluster_read_routing::RoundRobinReplicaStrategy::default());
        }
        let client = builder.build().map_err(connect)?;
        let connection = client.get_async_connection().await.map_err(connect)?;
        let handle = ClusterHandle::new(client, connection, options.response_timeout);
        Ok(Self {
            kind: Kind::Cluster(Arc::new(handle)),
            deadline: options.deadline(),
            retry_budget: options.retry_budget,
            endpoint: Arc::new(Endpoint::of(nodes.first().copied().unwrap_or_default())),
        })
    }

    /// Where the connection goes: the server, or the cluster node it was first given.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Whether this is a cluster connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self.kind, Kind::Cluster(_))
    }

    #[cfg(feature = "ops")]
    /// On a cluster, reads the topology again now, so that nodes that joined since the
    /// connection was made (a new replica) can be addressed; nothing on a standalone server.
    pub(crate) async fn refresh_topology(&self) -> Result<()> {
        match &self.kind {
            Kind::Cluster(handle) => handle
                .refresh()
                .await
                .map_err(|source| self.failed("", "CLUSTER SLOTS", source)),
            _ => Ok(()),
        }
    }

    /// The longest one call waits ([`ConnectionOptions::deadline`]).
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// How long a write refused before it ran is retried.
    pub(crate) fn retry_budget(&self) -> Duration {
        self.retry_budget
    }

    /// Runs `cmd` on `key` within the deadline, on a replica when `route` allows it.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        route: Route,
        cmd: &Cmd,
        key: &str,
        command: &'static str,
    ) -> Result<T> {
        let reply = match (&self.kind, route) {
            (Kind::Replicated { primary, replicas }, Route::Replica) => replicas.read(primary, cmd).await,
            _ => cmd.query_async(&mut self.clone()).await,
        };
        reply.map_err(|source| self.failed(key, command, source))
    }

    /// The error of a failed call; on a cluster, a request that timed out also makes the
    /// connection read the topology again (its node may have been replaced while it hung).
    fn failed(&self, key: &str, command: &'static str, source: redis::RedisError) -> Error {
        if let Kind::Cluster(handle) = &self.kind {
            if source.is_timeout() {
                handle.refresh_soon();
            }
        }
        Error::command(key, command, source)
    }

    /// Sends a pipeline (a transaction or a batch), naming `key` and `command` in the error.
    pub(crate) async fn pipeline<T: FromRedisValue>(
        &self,
        pipe: &Pipeline,
        key: &str,
        command: &'static str,
    ) -> Result<T> {
        pipe.query_async(&mut self.clone())
            .await
            .map_err(|source| self.failed(key, command, source))
    }

    /// Runs a script call (`EVALSHA`), naming `key` in the error. A server that does not know
    /// the script (after `SCRIPT FLUSH`, a restart, a failover) is given it (`SCRIPT LOAD`, on
    /// every primary of a cluster) and asked again.
    pub(crate) async fn script<T: FromRedisValue>(&self, call: &Cmd, script: &redis::Script, key: &str) -> Result<T> {
        let mut connection = self.clone();
        match call.query_async(&mut connection).await {
            Err(error) if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {}
            reply => return reply.map_err(|source| self.failed(key, "EVALSHA", source)),
        }
        // Out of the `match`, so that its reply is not kept across the `await`; boxed, so that
        // this rare path's state is not carried in every call's future.
        let reply = Box::pin(async {
            script.load_async(&mut connection).await?;
            call.query_async(&mut connection).await
        })
        .await;
        reply.map_err(|source| self.failed(key, "EVALSHA", source))
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.kind {
            Kind::Standalone(connection) => connection.req_packed_command(cmd),
            Kind::Cluster(handle) => {
                let mut connection = handle.connection();
                Box::pin(async move { connection.req_packed_command(cmd).await })
            }
            Kind::Replicated { primary, .. } => primary.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.kind {
            Kind::Standalone(connection) => connection.req_packed_commands(pipeline, offset, count),
            Kind::Cluster(handle) => {
                let mut connection = handle.connection();
                Box::pin(async move { connection.req_packed_commands(pipeline, offset, count).await })
            }
            Kind::Replicated { primary, .. } => primary.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.kind {
            Kind::Standalone(connection) => connection.get_db(),
            Kind::Cluster(handle) => handle.connection().get_db(),
            Kind::Replicated { primary, .. } => primary.get_db(),
        }
    }
}
