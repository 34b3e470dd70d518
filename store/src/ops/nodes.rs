//! Which node owns each slot, and one replica of each shard: the deployment as the keyspace
//! operations address it, built from the connection's [`Topology`](crate::Topology).

use crate::connection::Node;
use crate::connection::RedisConnection;
use crate::error::{Error, Result};
use redis::{Cmd, Value};

/// The node owning each slot, to send commands about many keys as one pipeline per node (a
/// cluster pipeline otherwise stays within one slot). A map read before a resharding sends some
/// commands to a node that no longer owns their slot: they come back as `MOVED` error replies,
/// which the caller sees (nothing is redirected silently).
pub(crate) struct SlotOwners {
    nodes: Vec<Node>,
    /// Per slot, an index in `nodes`.
    owner: Vec<usize>,
}

impl SlotOwners {
    /// Which node owns each slot, as the cluster says now (the one server when standalone).
    pub(crate) async fn of(connection: &RedisConnection) -> Result<Self> {
        let slots = usize::from(keyschema::SLOT_COUNT);
        if !connection.is_cluster() {
            return Ok(Self {
                nodes: vec![connection.standalone_node()],
                owner: vec![0; slots],
            });
        }
        let mut nodes = Vec::new();
        let mut owner = vec![0; slots];
        for shard in connection.topology().await?.shards {
            for (start, end) in &shard.slots {
                for slot in *start..=(*end).min(keyschema::SLOT_COUNT - 1) {
                    owner[usize::from(slot)] = nodes.len();
                }
            }
            nodes.push(Node::at(connection, Some(shard.primary), false));
        }
        Ok(Self { nodes, owner })
    }

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
        let count = |reply: &Value| match reply {
            Value::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        };
        if self.nodes.iter().all(Node::is_standalone) {
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

/// The nodes to read every key from without touching a primary: one replica of each shard of a
/// cluster (the first `CLUSTER SLOTS` lists), or the one server (which the caller may have
/// addressed as a replica). `Err(primary)` stands for a shard that has no replica listed.
pub(crate) async fn replica_nodes(
    connection: &RedisConnection,
) -> Result<Vec<std::result::Result<Node, (String, u16)>>> {
    if !connection.is_cluster() {
        return Ok(vec![Ok(connection.standalone_node())]);
    }
    Ok(connection
        .topology()
        .await?
        .shards
        .into_iter()
        .map(|shard| match shard.replicas.into_iter().next() {
            Some(replica) => Ok(Node::at(connection, Some(replica), true)),
            None => Err(shard.primary),
        })
        .collect())
}

/// How many replicas are connected to `primary` (`connected_slaves` of `INFO replication`),
/// listed by the cluster or not yet: the cluster lists a replica in `CLUSTER SLOTS` only once it
/// has a replication offset, a moment after it connected.
pub(crate) async fn connected_replicas(connection: &RedisConnection, primary: &(String, u16)) -> Result<u64> {
    let node = Node::at(connection, Some(primary.clone()), false);
    let mut pipe = node.pipe();
    pipe.cmd("INFO").arg("replication");
    let replies = node.pipeline(pipe, 1).await?;
    Ok(info_field(replies.first(), "connected_slaves")
        .and_then(|count| count.parse().ok())
        .unwrap_or(0))
}

/// The value of `field` in an `INFO` reply (`run_id`, `connected_slaves`), if it is there.
pub(crate) fn info_field(reply: Option<&Value>, field: &str) -> Option<String> {
    let text = match reply? {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::VerbatimString { text, .. } => text.clone(),
        _ => return None,
    };
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(|value| value.trim().to_string())
}
