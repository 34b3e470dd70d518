//! `SCAN` over a whole keyspace: the one server of a standalone connection (its primary), or
//! every shard of a cluster, found from the cluster itself (`CLUSTER SLOTS`) and scanned in
//! parallel, each by address: its primary, or one of its replicas for a read-only pass.

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
    #[cfg_attr(not(feature = "ops"), allow(dead_code))] // Read by the keyspace operations only.
    replica: bool,
}

impl Node {
    /// The node as `host:port`, or `standalone`.
    pub(crate) fn name(&self) -> String {
        match &self.address {
            Some((host, port)) => format!("{host}:{port}"),
            None => "standalone".to_string(),
        }
    }

    /// An empty pipeline for this node: commands added to it go after what the node needs first
    /// (`READONLY` on a replica), whose reply [`Node::pipeline`] leaves out.
    #[cfg(feature = "ops")]
    pub(crate) fn pipe(&self) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        if self.replica {
            pipe.cmd("READONLY");
        }
        pipe
    }

    /// Sends `pipe` (made by [`Node::pipe`]) to this node; one reply per command added, `count`.
    #[cfg(feature = "ops")]
    pub(crate) async fn pipeline(&self, pipe: redis::Pipeline, count: usize) -> Result<Vec<Value>> {
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
            _ => self.connection.query(super::Route::Write, &cmd, glob, "SCAN").await?,
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

/// The node owning each slot, to send commands about many keys as one pipeline per node (a
/// cluster pipeline otherwise stays within one slot). A map read before a resharding sends some
/// commands to a node that no longer owns their slot: they come back as `MOVED` error replies,
/// which the caller sees (nothing is redirected silently).
#[cfg(feature = "ops")]
pub(crate) struct SlotOwners {
    nodes: Vec<Node>,
    /// Per slot, an index in `nodes`.
    owner: Vec<usize>,
}

#[cfg(feature = "ops")]
impl SlotOwners {
    /// Sends `commands` (each with the key that places it), one pipeline per node, all nodes at
    /// once; returns the replies in the order of `commands`, error replies as replies.
    pub(crate) async fn send(&self, commands: Vec<(&[u8], Cmd)>) -> Result<Vec<Value>> {
        let count = commands.len();
        let mut per_node: Vec<(redis::Pipeline, Vec<usize>)> = (0..self.nodes.len())
            .map(|_| {
                let mut pipe = redis::pipe();
                pipe.ignore_errors();
                (pipe, Vec::new())
            })
            .collect();
        for (position, (key, cmd)) in commands.into_iter().enumerate() {
            let node = self.owner[usize::from(keyschema::key_slot(key))];
            per_node[node].0.add_command(cmd);
            per_node[node].1.push(position);
        }
        let sends = self
            .nodes
            .iter()
            .zip(per_node)
            .filter(|(_, (_, positions))| !positions.is_empty())
            .map(|(node, (pipe, positions))| async move {
                let replies = node.pipeline(pipe, positions.len()).await?;
                Ok::<_, Error>((positions, replies))
            });
        let mut replies = vec![Value::Nil; count];
        for (positions, answers) in futures_util::future::try_join_all(sends).await? {
            for (position, answer) in positions.into_iter().zip(answers) {
                replies[position] = answer;
            }
        }
        Ok(replies)
    }

    /// The keys each slot holds (`CLUSTER COUNTKEYSINSLOT` of every slot, asked of its owner,
    /// one pipeline per node), or on a standalone server the keys it holds (`DBSIZE`) as one
    /// count.
    pub(crate) async fn key_counts(&self) -> Result<Vec<u64>> {
        let standalone = self.nodes.iter().all(|node| node.address.is_none());
        let count = |reply: &Value| match reply {
            Value::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        };
        if standalone {
            let mut pipe = self.nodes[0].pipe();
            pipe.cmd("DBSIZE");
            let replies = self.nodes[0].pipeline(pipe, 1).await?;
            let keys = replies
                .first()
                .and_then(count)
                .ok_or_else(|| Error::unexpected("DBSIZE", "DBSIZE", replies.first().unwrap_or(&Value::Nil)))?;
            return Ok(vec![keys]);
        }
        let asks = self.nodes.iter().enumerate().map(|(index, node)| async move {
            let slots: Vec<u16> = (0..keyschema::SLOT_COUNT)
                .filter(|slot| self.owner[usize::from(*slot)] == index)
                .collect();
            let mut pipe = node.pipe();
            for slot in &slots {
                pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(*slot);
            }
            let replies = node.pipeline(pipe, slots.len()).await?;
            Ok::<_, Error>((slots, replies))
        });
        let mut counts = vec![0; usize::from(keyschema::SLOT_COUNT)];
        for (slots, replies) in futures_util::future::try_join_all(asks).await? {
            for (slot, reply) in slots.into_iter().zip(&replies) {
                counts[usize::from(slot)] = count(reply)
                    .ok_or_else(|| Error::unexpected(&format!("slot {slot}"), "CLUSTER COUNTKEYSINSLOT", reply))?;
            }
        }
        Ok(counts)
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
            .shards()
            .await?
            .into_iter()
            .map(|shard| Node {
                connection: self.clone(),
                address: Some(shard.primary),
                replica: false,
            })
            .collect())
    }

    /// The nodes to read every key from without touching a primary: one replica of each shard
    /// of a cluster (the first `CLUSTER SLOTS` lists), or the one server (which the caller may
    /// have addressed as a replica). `Err(primary)` stands for a shard that has no replica.
    #[cfg(feature = "ops")]
    pub(crate) async fn replica_nodes(&self) -> Result<Vec<std::result::Result<Node, String>>> {
        if !self.is_cluster() {
            return Ok(vec![Ok(self.standalone_node())]);
        }
        Ok(self
            .shards()
            .await?
            .into_iter()
            .map(|shard| match shard.replicas.into_iter().next() {
                Some(replica) => Ok(Node {
                    connection: self.clone(),
                    address: Some(replica),
                    replica: true,
                }),
                None => Err(format!("{}:{}", shard.primary.0, shard.primary.1)),
            })
            .collect())
    }

    fn standalone_node(&self) -> Node {
        Node {
            connection: self.clone(),
            address: None,
            replica: false,
        }
    }

    /// The shards of a cluster: each primary with its replicas, from `CLUSTER SLOTS` (a shard
    /// serving several ranges is listed once).
    async fn shards(&self) -> Result<Vec<ShardNodes>> {
        let mut shards: Vec<ShardNodes> = Vec::new();
        for range in self.slot_ranges().await? {
            if !shards.iter().any(|shard| shard.primary == range.primary) {
                shards.push(ShardNodes {
                    primary: range.primary,
                    replicas: range.replicas,
                });
            }
        }
        Ok(shards)
    }

    /// Every slot range of a cluster with its nodes, from `CLUSTER SLOTS`.
    async fn slot_ranges(&self) -> Result<Vec<SlotRange>> {
        let slots: Vec<Value> = self
            .query(
                super::Route::Write,
                redis::cmd("CLUSTER").arg("SLOTS"),
                "",
                "CLUSTER SLOTS",
            )
            .await?;
        let mut ranges = Vec::new();
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
            ranges.push(SlotRange {
                start,
                end,
                primary,
                replicas: parts.iter().skip(3).filter_map(address_of).collect(),
            });
        }
        Ok(ranges)
    }

    /// Which node owns each slot, as the cluster says now (the one server when standalone).
    #[cfg(feature = "ops")]
    pub(crate) async fn slot_owners(&self) -> Result<SlotOwners> {
        if !self.is_cluster() {
            return Ok(SlotOwners {
                nodes: self.nodes().await?,
                owner: vec![0; usize::from(keyschema::SLOT_COUNT)],
            });
        }
        let mut nodes: Vec<Node> = Vec::new();
        let mut owner = vec![0; usize::from(keyschema::SLOT_COUNT)];
        for SlotRange {
            start, end, primary, ..
        } in self.slot_ranges().await?
        {
            let index = match nodes.iter().position(|node| node.address.as_ref() == Some(&primary)) {
                Some(index) => index,
                None => {
                    nodes.push(Node {
                        connection: self.clone(),
                        address: Some(primary),
                        replica: false,
                    });
                    nodes.len() - 1
                }
            };
            for slot in start..=end.min(keyschema::SLOT_COUNT - 1) {
                owner[usize::from(slot)] = index;
            }
        }
        Ok(SlotOwners { nodes, owner })
    }
}

/// One slot range of `CLUSTER SLOTS`.
#[cfg_attr(not(feature = "ops"), allow(dead_code))] // Only the operations read more than the primary.
struct SlotRange {
    start: u16,
    end: u16,
    primary: (String, u16),
    replicas: Vec<(String, u16)>,
}

/// A shard: its primary and replicas, as `(host, port)`.
#[cfg_attr(not(feature = "ops"), allow(dead_code))] // Only the operations read the replicas.
struct ShardNodes {
    primary: (String, u16),
    replicas: Vec<(String, u16)>,
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
