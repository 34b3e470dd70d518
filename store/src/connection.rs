//! One connection type over standalone Redis (multiplexed and reconnecting) and Redis Cluster.

use crate::error::{Error, Result};
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// A connection to a standalone server or to a cluster. Cloning is cheap and clones share the
/// connection (both kinds multiplex: many tasks, one socket per node).
#[derive(Clone)]
pub enum RedisConnection {
    /// A standalone server through redis-rs's `ConnectionManager`: multiplexed, and it reconnects
    /// by itself after the server comes back.
    Standalone(ConnectionManager),
    /// A cluster through redis-rs's async cluster connection (slot routing, MOVED/ASK, failover).
    Cluster(ClusterConnection),
}

impl RedisConnection {
    /// Connects to one server: `redis://[user:password@]host:port[/db]` or `rediss://...`.
    pub async fn standalone(url: &str) -> Result<Self> {
        let connect = |source| Error::Connect {
            target: url.to_string(),
            source,
        };
        let client = redis::Client::open(url).map_err(connect)?;
        let manager = ConnectionManager::new(client).await.map_err(connect)?;
        Ok(Self::Standalone(manager))
    }

    /// Connects to one server over TLS (`rediss://host:port`), trusting `root_ca_pem` (a PEM
    /// certificate authority) instead of the system's store: for private deployments such as the
    /// Cordum cluster's own CA. A plain `rediss://` URL given to [`RedisConnection::standalone`]
    /// uses the system's trust store.
    pub async fn standalone_tls(url: &str, root_ca_pem: &[u8]) -> Result<Self> {
        let connect = |source| Error::Connect {
            target: url.to_string(),
            source,
        };
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root_ca_pem.to_vec()),
        };
        let client = redis::Client::build_with_tls(url, certificates).map_err(connect)?;
        let manager = ConnectionManager::new(client).await.map_err(connect)?;
        Ok(Self::Standalone(manager))
    }

    /// Connects to a cluster through any of its nodes (`redis://host:port` each).
    pub async fn cluster(nodes: &[impl AsRef<str>]) -> Result<Self> {
        let target = nodes.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(",");
        let connect = |source| Error::Connect {
            target: target.clone(),
            source,
        };
        let client =
            redis::cluster::ClusterClient::new(nodes.iter().map(AsRef::as_ref).collect::<Vec<_>>()).map_err(connect)?;
        let connection = client.get_async_connection().await.map_err(connect)?;
        Ok(Self::Cluster(connection))
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Standalone(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Standalone(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Standalone(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}
