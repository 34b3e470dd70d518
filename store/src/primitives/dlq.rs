//! Dead-letter queues (`dlq NAME { entry ...; index ... }`): entries with their TTL and an index
//! of their ids by time. Where entry and index share a slot, a push writes both in one
//! transaction; where they cannot (a global index on a cluster), the index member is written
//! first and removed last, so a crash leaves at most an index member without its entry, which
//! [`DeadLetterQueue::prune`] removes.

use super::lock::Lock;
use crate::codec::Codec;
use crate::codec::Score;
use crate::codec::{decode, encode};
use crate::core::Core;
use crate::error::{Error, Result};
use crate::policy::KeyId;
use crate::recording;
use crate::script::StoredScript;
use crate::telemetry::{self, op, Op};
use crate::write::Write;
use keyschema::FormatError;
use std::future::Future;
use std::sync::LazyLock;

/// Removes index members whose score is still the one read: `ARGV` holds member, score pairs.
/// A member pushed again meanwhile has a new score and stays. Answers how many were removed.
pub const PRUNE_SOURCE: &str = r"
local removed = 0
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
";
static PRUNE: LazyLock<StoredScript> = LazyLock::new(|| StoredScript::new(PRUNE_SOURCE));

/// An entry listed from the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter<I, V, S> {
    /// Its id (the index member).
    pub id: I,
    /// When it was pushed.
    pub at: S,
    /// The entry.
    pub entry: V,
}

/// A dead-letter queue: `I` encodes ids (index members), `C` entries, `S` index scores (times).
pub struct DeadLetterQueue<'s, I: Codec, C: Codec, S> {
    core: &'s Core,
    entry_id: KeyId,
    index_id: KeyId,
    index_key: String,
    entry_key: fn(&I::Value) -> Result<String, FormatError>,
    cleanup: Option<Lock<'s>>,
    types: std::marker::PhantomData<(C, S)>,
}

impl<'s, I: Codec, C: Codec, S: Score> DeadLetterQueue<'s, I, C, S> {
    /// The queue of entry definition `entry_id` (keys formatted by `entry_key`) and index
    /// `index_id` at `index_key`, pruned under `cleanup` when the schema declares it (generated
    /// code).
    pub fn new(
        core: &'s Core,
        entry_id: KeyId,
        entry_key: fn(&I::Value) -> Result<String, FormatError>,
        index_id: KeyId,
        index_key: String,
        cleanup: Option<Lock<'s>>,
    ) -> Self {
        Self {
            core,
            entry_id,
            index_id,
            index_key,
            entry_key,
            cleanup,
            types: std::marker::PhantomData,
        }
    }

    fn entry_key(&self, id: &I::Value) -> Result<String> {
        Ok((self.entry_key)(id)?)
    }

    /// Pushes an entry (with its TTL) and its index member (scored `at`).
    pub async fn push(&self, id: &I::Value, at: &S, entry: &C::Value) -> Result<()> {
        telemetry::observe(self.core, Op::on(self.entry_id, op!("DLQ")), async move {
            let key = self.entry_key(id)?;
            let entry_policy = self.core.policy(self.entry_id);
            let index_policy = self.core.policy(self.index_id);
            let entry = Write::set(entry_policy, &key, encode::<C>(&key, entry)?, entry_policy.ttl);
            let member = Write::add_scored(
                index_policy,
                &self.index_key,
                vec![(at.to_score(), encode::<I>(&self.index_key, id)?)],
                index_policy.ttl,
            );
            if keyschema::key_slot(key.as_bytes()) == keyschema::key_slot(self.index_key.as_bytes()) {
                let mut transaction = crate::transaction::Transaction::new(self.core);
                transaction.push_write(member)?;
                transaction.push_write(entry)?;
                return transaction.execute().await;
            }
            self.core.apply(&member).await?;
            self.core.apply(&entry).await.map(drop)
        })
        .await
    }

    /// The entry of `id`, if it has not expired.
    pub async fn get(&self, id: &I::Value) -> Result<Option<C::Value>> {
        telemetry::observe(self.core, Op::on(self.entry_id, op!("GET")), async move {
            let key = self.entry_key(id)?;
            crate::keys::get::<C>(self.core, &key).await
        })
        .await
    }

    /// Up to `count` entries, oldest first, starting at the `offset`-th index member; index
    /// members whose entry expired are skipped (prune removes them).
    pub async fn list(&self, offset: usize, count: usize) -> Result<Vec<DeadLetter<I::Value, C::Value, S>>> {
        telemetry::observe(self.core, Op::on(self.index_id, op!("DLQ")), async move {
            let members = self.members(offset, count).await?;
            let mut batch = crate::batch::Batch::new(self.core);
            let mut tickets = Vec::with_capacity(members.len());
            for (id, _) in &members {
                tickets.push(batch.get::<C>(&self.entry_key(id)?));
            }
            let replies = batch.execute().await?;
            let mut out = Vec::with_capacity(members.len());
            for ((id, score), ticket) in members.into_iter().zip(&tickets) {
                if let Some(entry) = replies.get(ticket)? {
                    out.push(DeadLetter {
                        id,
                        at: S::from_score(score),
                        entry,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    /// Index members and scores, oldest first.
    async fn members(&self, offset: usize, count: usize) -> Result<Vec<(I::Value, f64)>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let stop = offset.saturating_add(count) - 1;
        let raw: Vec<(Vec<u8>, f64)> = self
            .core
            .read(
                redis::cmd("ZRANGE")
                    .arg(&self.index_key)
                    .arg(offset)
                    .arg(stop)
                    .arg("WITHSCORES"),
                &self.index_key,
                "ZRANGE",
            )
            .await?;
        raw.into_iter()
            .map(|(member, score)| Ok((decode::<I>(&self.index_key, &member)?, score)))
            .collect()
    }

    /// Removes an entry and then its index member; whether the entry existed.
    pub async fn remove(&self, id: &I::Value) -> Result<bool> {
        telemetry::observe(self.core, Op::on(self.entry_id, op!("DLQ")), async move {
            let key = self.entry_key(id)?;
            let existed = self.core.delete(&key).await?;
            let member = Write::remove("ZREM", &self.index_key, vec![encode::<I>(&self.index_key, id)?]);
            self.core.apply(&member).await?;
            Ok(existed)
        })
        .await
    }

    /// Replays an entry: runs `handle` on it and removes it when `handle` succeeds. `None` when
    /// the entry is gone; the handler's error otherwise, the entry kept.
    pub async fn replay<T, E, F, Fut>(&self, id: &I::Value, handle: F) -> Result<Option<std::result::Result<T, E>>>
    where
        F: FnOnce(C::Value) -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        telemetry::observe(self.core, Op::on(self.entry_id, op!("DLQ")), async move {
            let Some(entry) = self.get(id).await? else {
                recording::decision("gone");
                return Ok(None);
            };
            let outcome = handle(entry).await;
            if outcome.is_ok() {
                self.remove(id).await?;
            }
            recording::decision(if outcome.is_ok() { "replayed" } else { "kept" });
            Ok(Some(outcome))
        })
        .await
    }

    /// Removes index members whose entry has expired, `batch` members at a time, under the
    /// declared cleanup lock: `None` when another instance holds it, else how many were removed.
    /// A member pushed again while pruning ran is kept.
    pub async fn prune(&self, batch: usize) -> Result<Option<u64>> {
        telemetry::observe(self.core, Op::on(self.index_id, op!("DLQ")), async move {
            let guard = match &self.cleanup {
                Some(lock) => match lock.try_acquire().await? {
                    Some(guard) => Some(guard),
                    None => {
                        recording::decision("busy");
                        return Ok(None);
                    }
                },
                None => None,
            };
            let batch = batch.max(1);
            let mut removed = 0;
            let mut offset = 0;
            loop {
                if guard.as_ref().is_some_and(|g| !g.is_held()) {
                    return Err(Error::LockLost {
                        key: self.cleanup.as_ref().map(|l| l.key().to_string()).unwrap_or_default(),
                    });
                }
                let members = self.members(offset, batch).await?;
                let mut exists = crate::batch::Batch::new(self.core);
                let mut tickets = Vec::with_capacity(members.len());
                for (id, _) in &members {
                    tickets.push(exists.exists(&self.entry_key(id)?));
                }
                let replies = exists.execute().await?;
                let mut argv = Vec::new();
                for ((id, score), ticket) in members.iter().zip(&tickets) {
                    if !replies.exists(ticket) {
                        argv.push(encode::<I>(&self.index_key, id)?);
                        argv.push(format!("{score}").into_bytes());
                    }
                }
                let dangling = argv.len() / 2;
                if dangling > 0 {
                    let reply = self
                        .core
                        .run_script(&PRUNE.call(&[&self.index_key]).arg(&argv), &self.index_key)
                        .await?;
                    let pruned = match reply {
                        redis::Value::Int(n) => n.unsigned_abs(),
                        other => return Err(Error::unexpected(&self.index_key, "EVALSHA", &other)),
                    };
                    removed += pruned;
                }
                // Members kept stay ahead of the next page.
                offset += members.len() - dangling;
                if members.len() < batch {
                    break;
                }
            }
            if let Some(guard) = guard {
                guard.release().await?;
            }
            Ok(Some(removed))
        })
        .await
    }
}
