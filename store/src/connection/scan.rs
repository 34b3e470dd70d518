//! The nodes of a deployment and `SCAN` over a whole keyspace: the one server of a standalone
//! connection (its primary), or every shard of a cluster, found from the cluster itself
//! (`CLUSTER SLOTS`, [`Topology`]) and scanned in parallel, each by address: its primary, or one
//! of its replicas for a read-only pass. A [`Node`] also takes pipelines about the keys found on
//! it, whatever their slots.

use super::{Kind, RedisConnection};
use crate::error::{Error, Result};
use futures_util::stream::{self, StreamExt};
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Value};
use std::ops::ControlFlow;

/// Pages worked on at once per node when their order does not matter: two keep the server busy
/// while the client works on a page's replies.
const PAGES_IN_FLIGHT: usize = 2;

/// One batch of keys a scan returned, and where to go on from.
type Page = (u64, Vec<Vec<u8>>);

/// The node a page of scanned keys came from: commands about those keys go to it, whatever their
/// slots (a pipeline on a cluster otherwise has to stay within one slot).
#[derive(Clone)]
pub(crate) struct Node {
    connection: RedisConnection,
    /// `host:port` on a cluster; `None` for the standalone server.
    address: Option<(String, u16)>,
    /// A cluster replica: every pipeline to it starts with `READONLY`, or it would answer
    /// commands about keys with `MOVED` to its primary. Sent each time rather than once, so a
    /// reconnection in the middle of a scan cannot lose it.
    replica: bool,
}

impl Node {
    /// The node at `address` (`None`: the standalone server) of `connection`.
    pub(crate) fn at(connection: &RedisConnection, address: Option<(String, u16)>, replica: bool) -> Self {
        Self {
            connection: connection.clone(),
            address,
            replica,
        }
    }

    /// Whether this is the one server of a standalone connection.
    pub(crate) fn is_standalone(&self) -> bool {
        self.address.is_none()
    }

    /// The node as `host:port`, or `standalone`.
    pub(crate) fn name(&self) -> String {
        match &self.address {
            Some((host, port)) => format!("{host}:{port}"),
            None => "standalone".to_string(),
        }
    }

    /// An empty pipeline for this node: commands added to it go after what the node needs first
    /// (`READONLY` on a replica), whose reply [`Node::pipeline`] leaves out.
    pub(crate) fn pipe(&self) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        if self.replica {
            pipe.cmd("READONLY");
        }
        pipe
    }

    /// Sends `pipe` (made by [`Node::pipe`]) to this node; one reply per command added, `count`.
    /// Nothing is sent when nothing was added (a page of a scan can come back empty: an empty
    /// node, keys expired since they were counted), and the answer is no reply.
    pub(crate) async fn pipeline(&self, pipe: redis::Pipeline, count: usize) -> Result<Vec<Value>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        match (&self.connection.kind, &self.address) {
            (Kind::Cluster(handle), Some((host, port))) => {
                let route = SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                };
                let skip = usize::from(self.replica);
                handle
                    .connection()
                    .route_pipeline(pipe, skip, count, route)
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
            _ => self.connection.query(super::Route::Primary, &cmd, glob, "SCAN").await?,
        };
        page_of(reply, &self.name())
    }

    /// Scans the node from `cursor` (0: from the start). Each page of keys goes to `page`; up
    /// to `in_flight` pages are worked on at once, and the next `SCAN` is asked for meanwhile, so
    /// the server always has work queued. `done` then gets each page's result **in scan order**,
    /// with the cursor that follows the page (0 after the last): a caller that records that cursor
    /// there can resume from it, whatever order the pages finished in. Stops when `done` breaks.
    pub(crate) async fn scan_from<F, Fut, T, D>(
        &self,
        cursor: u64,
        glob: &str,
        count: usize,
        in_flight: usize,
        page: &F,
        mut done: D,
    ) -> Result<()>
    where
        F: Fn(Self, Vec<Vec<u8>>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
        D: FnMut(T, u64) -> Result<ControlFlow<()>>,
    {
        let pages = stream::unfold(Some(cursor), |cursor| async move {
            let cursor = cursor?;
            Some(match self.scan(cursor, glob, count).await {
                Ok((next, keys)) => (Ok((keys, next)), (next != 0).then_some(next)),
                Err(error) => (Err(error), None),
            })
        });
        let finished = pages
            .map(|scanned| async move {
                let (keys, next) = scanned?;
                Ok::<_, Error>((page(self.clone(), keys).await?, next))
            })
            .buffered(in_flight.max(1));
        let mut finished = std::pin::pin!(finished);
        while let Some(result) = finished.next().await {
            let (outcome, next) = result?;
            if done(outcome, next)?.is_break() {
                return Ok(());
            }
        }
        Ok(())
    }
}

impl RedisConnection {
    /// Scans every primary for keys matching `glob`, `count` keys asked per call, handing each
    /// page of keys to `page` with the node it came from (primaries are scanned in parallel, two
    /// pages at a time on each, so pages interleave; a node's scan stops when `page` breaks). Keys are raw bytes, as
    /// stored.
    pub(crate) async fn scan_primaries<F, Fut>(&self, glob: &str, count: usize, page: F) -> Result<()>
    where
        F: Fn(Node, Vec<Vec<u8>>) -> Fut,
        Fut: std::future::Future<Output = Result<ControlFlow<()>>>,
    {
        let nodes = self.nodes().await?;
        futures_util::future::try_join_all(
            nodes
                .iter()
                .map(|node| node.scan_from(0, glob, count, PAGES_IN_FLIGHT, &page, |flow, _| Ok(flow))),
        )
        .await
        .map(drop)
    }

    /// The nodes holding the keys: every primary of a cluster, or the one server.
    pub(crate) async fn nodes(&self) -> Result<Vec<Node>> {
        if !self.is_cluster() {
            return Ok(vec![self.standalone_node()]);
        }
        Ok(self
            .topology()
            .await?
            .shards
            .into_iter()
            .map(|shard| Node::at(self, Some(shard.primary), false))
            .collect())
    }

    /// The one server of a standalone connection (or of one with replicas: its primary).
    pub(crate) fn standalone_node(&self) -> Node {
        Node::at(self, None, false)
    }

    /// The shards of a cluster as it says now (`CLUSTER SLOTS`): each primary with its replicas
    /// and the slot ranges it serves.
    pub async fn topology(&self) -> Result<Topology> {
        let slots: Vec<Value> = self
            .query(
                super::Route::Primary,
                redis::cmd("CLUSTER").arg("SLOTS"),
                "",
                "CLUSTER SLOTS",
            )
            .await?;
        let mut shards: Vec<Shard> = Vec::new();
        for range in slots {
            // [start, end, [host, port, id, ...], [replica host, port, id, ...]...]
            let Value::Array(parts) = range else { continue };
            let (Some(Value::Int(start)), Some(Value::Int(end)), Some(primary)) =
                (parts.first(), parts.get(1), parts.get(2).and_then(address_of))
            else {
                continue;
            };
            let (Ok(start), Ok(end)) = (u16::try_from(*start), u16::try_from(*end)) else {
                continue;
            };
            match shards.iter_mut().find(|shard| shard.primary == primary) {
                Some(shard) => shard.slots.push((start, end)),
                None => shards.push(Shard {
                    primary,
                    replicas: parts.iter().skip(3).filter_map(address_of).collect(),
                    slots: vec![(start, end)],
                }),
            }
        }
        Ok(Topology { shards })
    }
}

/// The shards of a cluster, as `CLUSTER SLOTS` answered ([`RedisConnection::topology`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Topology {
    /// Every shard, once (a shard serving several ranges lists them all).
    pub shards: Vec<Shard>,
}

/// One shard of a cluster: its primary, its replicas and the slots it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shard {
    /// The primary, `(host, port)`.
    pub primary: (String, u16),
    /// Its replicas, `(host, port)`, in the order the cluster lists them.
    pub replicas: Vec<(String, u16)>,
    /// The slot ranges it serves, inclusive.
    pub slots: Vec<(u16, u16)>,
}

/// `(host, port)` of a node entry of `CLUSTER SLOTS` (`[host, port, id, ...]`).
fn address_of(node: &Value) -> Option<(String, u16)> {
    let Value::Array(node) = node else { return None };
    let host = match node.first()? {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::SimpleString(text) => text.clone(),
        _ => return None,
    };
    let Some(Value::Int(port)) = node.get(1) else {
        return None;
    };
    Some((host, u16::try_from(*port).ok()?))
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
