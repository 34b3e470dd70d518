//! `SCAN` over a whole keyspace: the one server of a standalone connection (its primary), or
//! every primary of a cluster, found from the cluster itself (`CLUSTER SLOTS`) and scanned in
//! parallel, each by address.

use super::{Kind, RedisConnection};
use crate::error::{Error, Result};
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Value};
use std::ops::ControlFlow;

/// One batch of keys a scan returned, and where to go on from.
type Page = (u64, Vec<Vec<u8>>);

/// The node a page of scanned keys came from: commands about those keys go to it, whatever their
/// slots (a pipeline on a cluster otherwise has to stay within one slot).
#[derive(Clone)]
pub(crate) struct Node {
    connection: RedisConnection,
    /// `host:port` on a cluster; `None` for the standalone server.
    address: Option<(String, u16)>,
}

impl Node {
    /// The node as `host:port`, or `standalone`.
    pub(crate) fn name(&self) -> String {
        match &self.address {
            Some((host, port)) => format!("{host}:{port}"),
            None => "standalone".to_string(),
        }
    }

    /// Sends `pipe` to this node; one reply per command.
    pub(crate) async fn pipeline(&self, pipe: redis::Pipeline, count: usize) -> Result<Vec<Value>> {
        match (&self.connection.kind, &self.address) {
            (Kind::Cluster(handle), Some((host, port))) => {
                let route = SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                };
                handle
                    .connection()
                    .route_pipeline(pipe, 0, count, route)
                    .await
                    .map_err(|source| Error::command(&self.name(), "pipeline", source))
            }
            _ => self.connection.pipeline(&pipe, "", "pipeline").await,
        }
    }

    /// One `SCAN` call on this node.
    async fn scan(&self, cursor: u64, glob: &str, count: usize) -> Result<Page> {
        let cmd = scan(cursor, glob, count);
        let reply: Value = match (&self.connection.kind, &self.address) {
            (Kind::Cluster(handle), Some((host, port))) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                handle
                    .connection()
                    .route_command(cmd, routing)
                    .await
                    .map_err(|source| Error::command(&self.name(), "SCAN", source))?
            }
            // A standalone server, or the primary of one with replicas (the keys are all there).
            _ => self.connection.query(super::Route::Write, &cmd, glob, "SCAN").await?,
        };
        page_of(reply, &self.name())
    }

    /// Scans the node from `cursor` (0: from the start), handing each page to `page` with the
    /// cursor that follows it (0 after the last page): a caller that records that cursor once
    /// the page is done can resume there. The next `SCAN` is in flight while `page` works on the
    /// current keys, so the server never waits for the client between pages. Stops early when
    /// `page` breaks.
    pub(crate) async fn scan_from<F, Fut>(&self, cursor: u64, glob: &str, count: usize, page: &F) -> Result<()>
    where
        F: Fn(Self, Vec<Vec<u8>>, u64) -> Fut,
        Fut: std::future::Future<Output = Result<ControlFlow<()>>>,
    {
        let (mut next, mut keys) = self.scan(cursor, glob, count).await?;
        while next != 0 {
            let (done, fetched) =
                futures_util::future::join(page(self.clone(), keys, next), self.scan(next, glob, count)).await;
            if done?.is_break() {
                return Ok(());
            }
            (next, keys) = fetched?;
        }
        page(self.clone(), keys, 0).await.map(drop)
    }
}

impl RedisConnection {
    /// Scans every primary for keys matching `glob`, `count` keys asked per call, handing each
    /// page of keys to `page` with the node it came from (primaries are scanned in parallel, so
    /// their pages interleave; a node's scan stops when `page` breaks). Keys are raw bytes, as
    /// stored.
    pub(crate) async fn scan_primaries<F, Fut>(&self, glob: &str, count: usize, page: F) -> Result<()>
    where
        F: Fn(Node, Vec<Vec<u8>>) -> Fut,
        Fut: std::future::Future<Output = Result<ControlFlow<()>>>,
    {
        let nodes = self.nodes().await?;
        let page = |node, keys, _next| page(node, keys);
        futures_util::future::try_join_all(nodes.iter().map(|node| node.scan_from(0, glob, count, &page)))
            .await
            .map(drop)
    }

    /// The nodes holding the keys: every primary of a cluster, or the one server.
    pub(crate) async fn nodes(&self) -> Result<Vec<Node>> {
        if !self.is_cluster() {
            return Ok(vec![Node {
                connection: self.clone(),
                address: None,
            }]);
        }
        Ok(self
            .primaries()
            .await?
            .into_iter()
            .map(|address| Node {
                connection: self.clone(),
                address: Some(address),
            })
            .collect())
    }

    /// The primaries of a cluster as `(host, port)`, from `CLUSTER SLOTS`.
    async fn primaries(&self) -> Result<Vec<(String, u16)>> {
        let slots: Vec<Value> = self
            .query(
                super::Route::Write,
                redis::cmd("CLUSTER").arg("SLOTS"),
                "",
                "CLUSTER SLOTS",
            )
            .await?;
        let mut primaries: Vec<(String, u16)> = Vec::new();
        for range in slots {
            // [start, end, [host, port, id, ...], replicas...]
            let Value::Array(parts) = range else { continue };
            let Some(Value::Array(node)) = parts.get(2) else {
                continue;
            };
            let (Some(host), Some(Value::Int(port))) = (node.first(), node.get(1)) else {
                continue;
            };
            let host = match host {
                Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                Value::SimpleString(text) => text.clone(),
                _ => continue,
            };
            let Ok(port) = u16::try_from(*port) else { continue };
            if !primaries.iter().any(|(h, p)| *h == host && *p == port) {
                primaries.push((host, port));
            }
        }
        Ok(primaries)
    }
}

fn scan(cursor: u64, glob: &str, count: usize) -> Cmd {
    let mut cmd = redis::cmd("SCAN");
    cmd.arg(cursor).arg("MATCH").arg(glob).arg("COUNT").arg(count);
    cmd
}

/// `[cursor, [key, ...]]`.
fn page_of(reply: Value, node: &str) -> Result<Page> {
    redis::from_redis_value::<(String, Vec<Vec<u8>>)>(reply.clone())
        .ok()
        .and_then(|(cursor, keys)| Some((cursor.parse().ok()?, keys)))
        .ok_or_else(|| Error::unexpected(node, "SCAN", &reply))
}
