//! Batches: many typed operations sent at once for throughput. On a standalone server a batch is
//! split into pipelines of at most `PIPELINE_OPERATIONS` operations; on a cluster it is split by
//! hash slot (computed with `keyschema::key_slot`) into pipelines per slot, so no batch can fail
//! with CROSSSLOT. Pipelines are sent together up to about `IN_FLIGHT_OPERATIONS` operations
//! waiting for replies (and at least `MIN_IN_FLIGHT` pipelines): the connection's response timeout
//! runs from when a request is queued, so thousands of pipelines sent together would time out
//! waiting behind each other however healthy the server (a 10,000-key backup on a cluster did, on
//! a loaded two-core machine), while a page of single-key pipelines on a cluster, one per slot,
//! needs them all in flight to go at the server's speed. A batch is not a
//! transaction: each operation applies on its own, but a write of several commands (a value and
//! its `keepttl` expiry, a list and its trim) is wrapped in MULTI/EXEC inside the pipeline, so
//! each write is still whole.

use crate::bridge::{self, BridgeStep};
use crate::codec::{decode, Codec};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::telemetry::{self, op, Op};
use crate::write::Write;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::marker::PhantomData;

/// Most operations in one pipeline: a few hundred kilobytes of typical values, answered well
/// within a response timeout, and few enough round trips that throughput is the server's.
const PIPELINE_OPERATIONS: usize = 1_000;

/// About how many operations may wait for replies at once.
const IN_FLIGHT_OPERATIONS: usize = 2_000;

/// Pipelines in flight however large they are: a large batch on a standalone server still
/// overlaps sending one pipeline with the server working on another.
const MIN_IN_FLIGHT: usize = 4;

/// How many of `pipelines` may be in flight at once.
fn in_flight(pipelines: &[SlotPipeline]) -> usize {
    let operations: usize = pipelines.iter().map(|p| p.answers.len()).sum();
    let average = operations.div_ceil(pipelines.len().max(1)).max(1);
    (IN_FLIGHT_OPERATIONS / average).max(MIN_IN_FLIGHT)
}

/// A read queued in a batch; redeem it with [`BatchReplies::get`].
pub struct Ticket<C> {
    index: usize,
    codec: PhantomData<C>,
}

/// Typed operations to send together.
pub struct Batch<'s> {
    core: &'s Core,
    queued: Vec<Queued>,
    /// What bridged keys need around the writes, during a layout change.
    bridges: Vec<BridgeStep>,
}

/// One queued operation.
enum Queued {
    Read {
        key: String,
        cmd: redis::Cmd,
        name: &'static str,
    },
    Write(Write),
}

impl Queued {
    fn key(&self) -> &str {
        match self {
            Self::Read { key, .. } => key,
            Self::Write(write) => &write.key,
        }
    }

    fn into_key(self) -> String {
        match self {
            Self::Read { key, .. } => key,
            Self::Write(write) => write.key,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Read { name, .. } => name,
            Self::Write(write) => write.name(),
        }
    }
}

/// The replies of a batch, in the order the operations were queued.
pub struct BatchReplies {
    keys: Vec<String>,
    values: Vec<redis::Value>,
}

/// The pipeline of one slot (or of the whole batch on a standalone server).
struct SlotPipeline {
    pipe: redis::Pipeline,
    /// Per queued operation in it: its index in the batch and where its answer is.
    answers: Vec<(usize, Answer)>,
    /// How many replies the pipeline gives.
    replies: usize,
}

impl SlotPipeline {
    /// Sends it through the write path (durability, size limits, retries), naming its first
    /// operation's key in errors; every reply.
    async fn send(&self, core: &Core, queued: &[Queued]) -> Result<Vec<redis::Value>> {
        let writes: Vec<&Write> = self
            .answers
            .iter()
            .filter_map(|(index, _)| match &queued[*index] {
                Queued::Write(write) => Some(write),
                Queued::Read { .. } => None,
            })
            .collect();
        let first = &queued[self.answers[0].0];
        core.apply_pipeline(&self.pipe, &writes, first.key(), first.name())
            .await
    }
}

impl SlotPipeline {
    /// Adds one operation: a single command as it is; several in MULTI/EXEC, so a write stays
    /// whole. Every reply is kept, so positions are counted as the server answers.
    fn add(&mut self, index: usize, queued: &mut Queued) {
        match queued {
            // The read's command moves into the pipeline: it is sent once and not needed again.
            Queued::Read { cmd, .. } => self.single(index, std::mem::replace(cmd, redis::Cmd::new())),
            Queued::Write(write) if write.commands.len() == 1 => {
                self.single(index, write.commands[0].to_cmd(&write.key));
            }
            Queued::Write(write) => {
                self.pipe.cmd("MULTI");
                for command in &write.commands {
                    self.pipe.add_command(command.to_cmd(&write.key));
                }
                self.pipe.cmd("EXEC");
                // MULTI's OK, each command's QUEUED, then EXEC's array of every reply.
                let exec = self.replies + 1 + write.commands.len();
                self.answers.push((
                    index,
                    Answer::InExec {
                        exec,
                        index: write.answer,
                    },
                ));
                self.replies = exec + 1;
            }
        }
    }

    fn single(&mut self, index: usize, cmd: redis::Cmd) {
        self.pipe.add_command(cmd);
        self.answers.push((index, Answer::At(self.replies)));
        self.replies += 1;
    }
}

/// Where a queued operation's answer is in a pipeline's replies.
enum Answer {
    /// The reply at this position.
    At(usize),
    /// Element `index` of the `EXEC` reply at `exec`.
    InExec { exec: usize, index: usize },
}

impl<'s> Batch<'s> {
    /// An empty batch on `core` ([`Store::batch`](crate::Store::batch)).
    pub(crate) fn new(core: &'s Core) -> Self {
        Self {
            core,
            queued: Vec::new(),
            bridges: Vec::new(),
        }
    }

    /// Notes what a bridged key's write needs around it ([`crate::bridge`]).
    pub(crate) fn bridge(&mut self, step: Option<BridgeStep>) {
        self.bridges.extend(step);
    }

    /// Queues a write built by the write path (a typed key's, or the store's own).
    pub(crate) fn write(&mut self, write: Write) -> &mut Self {
        self.queued.push(Queued::Write(write));
        self
    }

    /// Queues a string read.
    pub fn get<C: Codec>(&mut self, key: &str) -> Ticket<C> {
        self.read(key, "GET")
    }

    /// Queues `EXISTS key`; redeem it with [`BatchReplies::exists`].
    pub fn exists(&mut self, key: &str) -> Ticket<crate::codec::Int> {
        self.read(key, "EXISTS")
    }

    /// Queues a read of one key by `command` (`GET`, `EXISTS`).
    fn read<C>(&mut self, key: &str, command: &'static str) -> Ticket<C> {
        // Sized for its two arguments: one allocation for the bytes, one for the list.
        let mut cmd = redis::Cmd::with_capacity(2, command.len() + key.len());
        cmd.arg(command).arg(key);
        self.queued.push(Queued::Read {
            key: key.to_string(),
            cmd,
            name: command,
        });
        Ticket {
            index: self.queued.len() - 1,
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

    /// The queued operations split into pipelines of at most `PIPELINE_OPERATIONS`: by slot on
    /// a cluster.
    fn pipelines(&mut self) -> Vec<SlotPipeline> {
        let new = || SlotPipeline {
            pipe: redis::pipe(),
            answers: Vec::new(),
            replies: 0,
        };
        let mut groups: Vec<SlotPipeline> = Vec::new();
        if !self.core.connection().is_cluster() {
            // One server: pipelines in the order queued, each as full as allowed.
            for (index, queued) in self.queued.iter_mut().enumerate() {
                match groups.last_mut() {
                    Some(last) if last.answers.len() < PIPELINE_OPERATIONS => last.add(index, queued),
                    _ => {
                        let mut pipeline = new();
                        pipeline.add(index, queued);
                        groups.push(pipeline);
                    }
                }
            }
            return groups;
        }
        // A large batch touches thousands of slots: found by slot, not by search.
        let mut group_of_slot: HashMap<u16, usize> = HashMap::new();
        for (index, queued) in self.queued.iter_mut().enumerate() {
            let slot = keyschema::key_slot(queued.key().as_bytes());
            let group = match group_of_slot.get(&slot) {
                Some(&group) if groups[group].answers.len() < PIPELINE_OPERATIONS => group,
                _ => {
                    groups.push(new());
                    group_of_slot.insert(slot, groups.len() - 1);
                    groups.len() - 1
                }
            };
            groups[group].add(index, queued);
        }
        groups
    }

    /// Sends every queued operation and waits until all are applied, keeping no reply: for
    /// batches of writes, where only an error matters.
    pub async fn send(self) -> Result<()> {
        let core = self.core;
        telemetry::observe(core, Op::keyless(op!("BATCH")), self.send_all()).await
    }

    /// Counts the bytes of the queued values as the batch's own: they were encoded when queued,
    /// outside the observed operation (once per batch, where it is sent, after any bridge).
    fn count_value_bytes(&self) {
        #[cfg(feature = "telemetry")]
        crate::recording::bytes_out(
            self.queued
                .iter()
                .map(|queued| match queued {
                    Queued::Write(write) => write.value_bytes(),
                    Queued::Read { .. } => 0,
                })
                .sum(),
        );
    }

    /// [`Batch::send`], observed by its caller.
    async fn send_all(mut self) -> Result<()> {
        if !self.bridges.is_empty() {
            // Boxed: the bridge's steps stay out of every other batch's future.
            let bridges = std::mem::take(&mut self.bridges);
            let core = self.core;
            return Box::pin(async move {
                bridge::before(core, &bridges).await?;
                self.send_all().await?;
                bridge::after(core, &bridges).await
            })
            .await;
        }
        self.count_value_bytes();
        let core = self.core;
        let mut pipelines = self.pipelines();
        let queued = &self.queued;
        if pipelines.len() == 1 {
            // The common case on a standalone server (and for one slot on a cluster): sent as it
            // is, without the machinery that keeps several in flight.
            if let Some(pipeline) = pipelines.pop() {
                pipeline.send(core, queued).await?;
            }
            return Ok(());
        }
        let in_flight = in_flight(&pipelines);
        stream::iter(pipelines)
            .map(|pipeline| async move { pipeline.send(core, queued).await })
            .buffer_unordered(in_flight)
            .try_for_each(|_| async { Ok(()) })
            .await
    }

    /// Sends every queued operation and waits for all replies.
    pub async fn execute(self) -> Result<BatchReplies> {
        let core = self.core;
        telemetry::observe(core, Op::keyless(op!("BATCH")), self.execute_all()).await
    }

    /// [`Batch::execute`], observed by its caller.
    async fn execute_all(mut self) -> Result<BatchReplies> {
        if !self.bridges.is_empty() {
            let bridges = std::mem::take(&mut self.bridges);
            let core = self.core;
            return Box::pin(async move {
                bridge::before(core, &bridges).await?;
                let replies = self.execute_all().await?;
                bridge::after(core, &bridges).await?;
                Ok(replies)
            })
            .await;
        }
        self.count_value_bytes();
        let core = self.core;
        let count = self.queued.len();
        let groups = self.pipelines();
        let queued = &self.queued;
        let in_flight = in_flight(&groups);
        let mut sends = stream::iter(groups)
            .map(|pipeline| async move {
                let replies = pipeline.send(core, queued).await?;
                Ok::<_, Error>((pipeline.answers, replies))
            })
            .buffer_unordered(in_flight);
        let mut values = vec![redis::Value::Nil; count];
        while let Some(result) = sends.next().await {
            let (answers, mut replies) = result?;
            for (index, answer) in answers {
                values[index] = match answer {
                    Answer::At(at) => std::mem::replace(&mut replies[at], redis::Value::Nil),
                    Answer::InExec { exec, index } => match std::mem::replace(&mut replies[exec], redis::Value::Nil) {
                        redis::Value::Array(mut items) if index < items.len() => items.swap_remove(index),
                        other => other,
                    },
                };
            }
        }
        drop(sends);
        Ok(BatchReplies {
            // The keys move from the operations into the replies (they name errors there).
            keys: self.queued.into_iter().map(Queued::into_key).collect(),
            values,
        })
    }
}

impl BatchReplies {
    /// Whether the key of a queued [`Batch::exists`] existed.
    pub fn exists(&self, ticket: &Ticket<crate::codec::Int>) -> bool {
        matches!(self.values[ticket.index], redis::Value::Int(1..))
    }

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
