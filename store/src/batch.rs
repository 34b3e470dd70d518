//! Batches: many typed operations sent at once for throughput. On a standalone server a batch is
//! one pipeline; on a cluster it is split by hash slot (computed with `keyschema::key_slot`) into
//! one pipeline per slot, sent concurrently, so no batch can fail with CROSSSLOT. A batch is not a
//! transaction: each command applies on its own.

use crate::codec::Codec;
use crate::connection::RedisConnection;
use crate::store::{decode, encode};
use crate::{Error, Result, Store};
use keyschema::TtlOnWrite;
use std::marker::PhantomData;

/// A read queued in a batch; redeem it with [`BatchReplies::get`].
pub struct Ticket<C> {
    index: usize,
    codec: PhantomData<C>,
}

struct Queued {
    slot: u16,
    key: String,
    command: &'static str,
    cmd: redis::Cmd,
}

/// Typed operations to send together.
pub struct Batch<'s> {
    store: &'s Store,
    queued: Vec<Queued>,
}

/// The replies of a batch, in the order the operations were queued.
pub struct BatchReplies {
    keys: Vec<String>,
    values: Vec<redis::Value>,
}

impl Store {
    /// An empty batch.
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            store: self,
            queued: Vec::new(),
        }
    }
}

impl<'s> Batch<'s> {
    fn push(&mut self, key: &str, command: &'static str, cmd: redis::Cmd) -> usize {
        self.queued.push(Queued {
            slot: keyschema::key_slot(key.as_bytes()),
            key: key.to_string(),
            command,
            cmd,
        });
        self.queued.len() - 1
    }

    /// Queues a string write with the key definition's TTL (`SET ... PX`). Keys whose schema
    /// says `keepttl` are refused here: keeping a TTL needs a script per key; use
    /// [`Store::set`] for them.
    pub fn set<C: Codec>(&mut self, def: usize, key: &str, value: &C::Value) -> Result<&mut Self> {
        if self
            .store
            .schema()
            .keys
            .get(def)
            .is_some_and(|k| k.ttl_on_write == TtlOnWrite::Keep)
        {
            return Err(Error::Encode {
                key: key.to_string(),
                codec: C::name().into_owned(),
                reason: "keys declared `keepttl` are written one at a time (Store::set), not in a batch".into(),
            });
        }
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(encode::<C>(key, value)?);
        if let Some(ttl) = self.store.ttl_of(def) {
            cmd.arg("PX").arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        }
        self.push(key, "SET", cmd);
        Ok(self)
    }

    /// Queues a string read.
    pub fn get<C: Codec>(&mut self, key: &str) -> Ticket<C> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        Ticket {
            index: self.push(key, "GET", cmd),
            codec: PhantomData,
        }
    }

    /// The number of queued operations.
    pub fn len(&self) -> usize {
        self.queued.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Sends every queued operation and waits for all replies.
    pub async fn execute(self) -> Result<BatchReplies> {
        let connection = self.store.connection();
        let count = self.queued.len();
        let mut keys = Vec::with_capacity(count);
        // One pipeline on a standalone server; one per slot on a cluster.
        let cluster = matches!(connection, RedisConnection::Cluster(_));
        let mut groups: Vec<(u16, Vec<usize>, redis::Pipeline)> = Vec::new();
        for (index, queued) in self.queued.into_iter().enumerate() {
            let slot = if cluster { queued.slot } else { 0 };
            let group = match groups.iter().position(|(s, _, _)| *s == slot) {
                Some(group) => group,
                None => {
                    groups.push((slot, Vec::new(), redis::pipe()));
                    groups.len() - 1
                }
            };
            let (_, members, pipe) = &mut groups[group];
            members.push(index);
            pipe.add_command(queued.cmd);
            keys.push((queued.key, queued.command));
        }
        let sends = groups.into_iter().map(|(_, members, pipe)| {
            let mut connection = connection.clone();
            let (key, command) = keys[members[0]].clone();
            async move {
                let replies: Vec<redis::Value> = pipe
                    .query_async(&mut connection)
                    .await
                    .map_err(|source| Error::Command { key, command, source })?;
                Ok::<_, Error>((members, replies))
            }
        });
        let mut values = vec![redis::Value::Nil; count];
        for result in futures_join_all(sends).await {
            let (members, replies) = result?;
            for (index, value) in members.into_iter().zip(replies) {
                values[index] = value;
            }
        }
        Ok(BatchReplies {
            keys: keys.into_iter().map(|(key, _)| key).collect(),
            values,
        })
    }
}

impl BatchReplies {
    /// The value a queued read returned; `None` when the key did not exist.
    pub fn get<C: Codec>(&self, ticket: &Ticket<C>) -> Result<Option<C::Value>> {
        let key = &self.keys[ticket.index];
        match &self.values[ticket.index] {
            redis::Value::Nil => Ok(None),
            redis::Value::BulkString(bytes) => decode::<C>(key, bytes).map(Some),
            other => Err(Error::Decode {
                key: key.clone(),
                codec: C::name().into_owned(),
                reason: format!("unexpected reply {other:?}"),
            }),
        }
    }
}

/// Awaits every future concurrently (a tiny `join_all`, to avoid a dependency for one function).
async fn futures_join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
