//! Lists, sets, sorted sets and streams. Caps declared in the schema are kept by the writes
//! themselves (trimmed in the same transaction), never by a background job.

use crate::codec::{decode, encode};
use crate::codec::{Codec, Score};
use crate::core::Core;
use crate::error::Result;
use crate::telemetry::op;
use crate::write::Write;

accessor!(ListKey<C> where Codec; "A list whose elements are encoded with `C`; a declared cap keeps the newest elements.");
accessor!(SetKey<C> where Codec; "A set whose members are encoded with `C`.");
accessor!(StreamKey<C> where Codec; "A stream whose entries hold one `data` field encoded with `C`.");
accessor!(ZsetKey<C, S> where Codec, Score; "A sorted set whose members are encoded with `C` and whose scores are `S`.");

impl<C: Codec> ListKey<'_, C> {
    /// Appends values, trims to the cap (keeping the newest) and applies the TTL, atomically;
    /// the list's length after the trim.
    pub async fn push(&self, values: &[C::Value]) -> Result<u64> {
        self.handle
            .observed(op!("RPUSH"), async move {
                let h = &self.handle;
                h.settle().await?;
                let len: u64 = h.core.write_value(&self.push_write(values)?).await?;
                Ok(len.min(h.policy.cap.unwrap_or(u64::MAX)))
            })
            .await
    }

    /// The write of [`ListKey::push`], for a transaction or a batch.
    pub(crate) fn push_write(&self, values: &[C::Value]) -> Result<Write> {
        let h = &self.handle;
        Ok(Write::push(h.policy, &h.key, h.encode_all::<C>(values)?, h.ttl))
    }

    /// Elements from `start` to `stop` inclusive (negative counts from the end).
    pub async fn range(&self, start: i64, stop: i64) -> Result<Vec<C::Value>> {
        self.handle
            .observed(op!("LRANGE"), async move {
                let key = self.handle.read_key().await?;
                let cmd = redis::cmd("LRANGE").arg(key).arg(start).arg(stop).clone();
                self.handle.read_all::<C>(key, &cmd, "LRANGE").await
            })
            .await
    }

    /// The number of elements.
    pub async fn len(&self) -> Result<u64> {
        self.handle
            .observed(op!("LLEN"), async move {
                let key = self.handle.read_key().await?;
                self.handle.core.read(redis::cmd("LLEN").arg(key), key, "LLEN").await
            })
            .await
    }
}

impl<C: Codec> SetKey<'_, C> {
    /// Adds members and applies the TTL, atomically; how many were new.
    pub async fn add(&self, members: &[C::Value]) -> Result<u64> {
        self.handle
            .observed(op!("SADD"), async move {
                self.handle.settle().await?;
                self.handle.core.write_value(&self.add_write(members)?).await
            })
            .await
    }

    /// Removes members; how many were there.
    pub async fn remove(&self, members: &[C::Value]) -> Result<u64> {
        self.handle
            .observed(op!("SREM"), async move {
                self.handle.settle().await?;
                self.handle.core.write_value(&self.remove_write(members)?).await
            })
            .await
    }

    /// The write of [`SetKey::add`], for a transaction or a batch.
    pub(crate) fn add_write(&self, members: &[C::Value]) -> Result<Write> {
        let h = &self.handle;
        Ok(Write::add(h.policy, &h.key, h.encode_all::<C>(members)?, h.ttl))
    }

    /// The write of [`SetKey::remove`].
    pub(crate) fn remove_write(&self, members: &[C::Value]) -> Result<Write> {
        let h = &self.handle;
        Ok(Write::remove("SREM", &h.key, h.encode_all::<C>(members)?))
    }

    /// Whether `member` is in the set.
    pub async fn contains(&self, member: &C::Value) -> Result<bool> {
        self.handle
            .observed(op!("SISMEMBER"), async move {
                let key = self.handle.read_key().await?;
                let cmd = redis::cmd("SISMEMBER").arg(key).arg(encode::<C>(key, member)?).clone();
                self.handle.core.read(&cmd, key, "SISMEMBER").await
            })
            .await
    }

    /// Every member at once (`SMEMBERS`); see [`SetKey::scan`] for large sets.
    pub async fn members(&self) -> Result<Vec<C::Value>> {
        self.handle
            .observed(op!("SMEMBERS"), async move {
                let key = self.handle.read_key().await?;
                let cmd = redis::cmd("SMEMBERS").arg(key).clone();
                self.handle.read_all::<C>(key, &cmd, "SMEMBERS").await
            })
            .await
    }

    /// Every member, fetched with `SSCAN` in batches of about `batch`, so a large set never
    /// blocks the server.
    pub async fn scan(&self, batch: u64) -> Result<Vec<C::Value>> {
        self.handle
            .observed(op!("SSCAN"), async move {
                let key = self.handle.read_key().await?;
                let mut cursor = 0u64;
                let mut members = Vec::new();
                loop {
                    let cmd = redis::cmd("SSCAN")
                        .arg(key)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(batch.max(1))
                        .clone();
                    let (next, items): (u64, Vec<Vec<u8>>) = self.handle.core.read(&cmd, key, "SSCAN").await?;
                    for item in items {
                        members.push(decode::<C>(key, &item)?);
                    }
                    if next == 0 {
                        return Ok(members);
                    }
                    cursor = next;
                }
            })
            .await
    }

    /// The number of members.
    pub async fn len(&self) -> Result<u64> {
        self.handle
            .observed(op!("SCARD"), async move {
                let key = self.handle.read_key().await?;
                self.handle.core.read(redis::cmd("SCARD").arg(key), key, "SCARD").await
            })
            .await
    }
}

impl<C: Codec, S: Score> ZsetKey<'_, C, S> {
    /// Adds or re-scores members, trims to the cap (dropping the lowest scores) and, for a time
    /// index with a TTL, members older than the TTL, and applies the TTL, atomically; how many
    /// were new.
    pub async fn add(&self, members: &[(C::Value, S)]) -> Result<u64> {
        self.handle
            .observed(op!("ZADD"), async move {
                self.handle.settle().await?;
                self.handle.core.write_value(&self.add_write(members)?).await
            })
            .await
    }

    /// The write of [`ZsetKey::add`], for a transaction or a batch.
    pub(crate) fn add_write(&self, members: &[(C::Value, S)]) -> Result<Write> {
        let h = &self.handle;
        let members = members
            .iter()
            .map(|(member, score)| Ok((score.to_score(), encode::<C>(&h.key, member)?)))
            .collect::<Result<_>>()?;
        Ok(Write::add_scored(h.policy, &h.key, members, h.ttl))
    }

    /// The write of [`ZsetKey::remove`].
    pub(crate) fn remove_write(&self, members: &[C::Value]) -> Result<Write> {
        let h = &self.handle;
        Ok(Write::remove("ZREM", &h.key, h.encode_all::<C>(members)?))
    }

    /// Removes members; how many were there.
    pub async fn remove(&self, members: &[C::Value]) -> Result<u64> {
        self.handle
            .observed(op!("ZREM"), async move {
                self.handle.settle().await?;
                self.handle.core.write_value(&self.remove_write(members)?).await
            })
            .await
    }

    async fn read_scored(&self, key: &str, cmd: &redis::Cmd) -> Result<Vec<(C::Value, S)>> {
        let items: Vec<(Vec<u8>, f64)> = self.handle.core.read(cmd, key, "ZRANGE").await?;
        items
            .into_iter()
            .map(|(m, s)| Ok((decode::<C>(key, &m)?, S::from_score(s))))
            .collect()
    }

    /// Members with scores between `min` and `max` inclusive, lowest first.
    pub async fn range_by_score(&self, min: &S, max: &S) -> Result<Vec<(C::Value, S)>> {
        self.handle
            .observed(op!("ZRANGE"), async move {
                let key = self.handle.read_key().await?;
                let cmd = redis::cmd("ZRANGE")
                    .arg(key)
                    .arg(min.to_score())
                    .arg(max.to_score())
                    .arg("BYSCORE")
                    .arg("WITHSCORES")
                    .clone();
                self.read_scored(key, &cmd).await
            })
            .await
    }

    /// Members by rank from `start` to `stop` inclusive (negative counts from the highest).
    pub async fn range_by_rank(&self, start: i64, stop: i64) -> Result<Vec<(C::Value, S)>> {
        self.handle
            .observed(op!("ZRANGE"), async move {
                let key = self.handle.read_key().await?;
                let cmd = redis::cmd("ZRANGE")
                    .arg(key)
                    .arg(start)
                    .arg(stop)
                    .arg("WITHSCORES")
                    .clone();
                self.read_scored(key, &cmd).await
            })
            .await
    }

    /// How many members have scores between `min` and `max` inclusive.
    pub async fn count(&self, min: &S, max: &S) -> Result<u64> {
        self.handle
            .observed(op!("ZCOUNT"), async move {
                let key = self.handle.read_key().await?;
                let cmd = redis::cmd("ZCOUNT")
                    .arg(key)
                    .arg(min.to_score())
                    .arg(max.to_score())
                    .clone();
                self.handle.core.read(&cmd, key, "ZCOUNT").await
            })
            .await
    }

    /// The number of members.
    pub async fn len(&self) -> Result<u64> {
        self.handle
            .observed(op!("ZCARD"), async move {
                let key = self.handle.read_key().await?;
                self.handle.core.read(redis::cmd("ZCARD").arg(key), key, "ZCARD").await
            })
            .await
    }

    /// Moves `member` from the index `from` (if any) to this one, as when an entity changes state
    /// (`job:index:pending` → `job:index:running`). The two keys may be on different slots, so
    /// the move is two steps in a fixed order: add to the new index first, then remove from the
    /// old. A crash between them leaves the member in both indexes (found and repaired by an
    /// audit), never in none.
    pub async fn move_from(&self, from: Option<&Self>, member: &C::Value, score: S) -> Result<()> {
        self.handle
            .observed(op!("ZADD"), async move {
                let h = &self.handle;
                h.settle().await?;
                if let Some(from) = from {
                    from.handle.settle().await?;
                }
                let encoded = encode::<C>(&h.key, member)?;
                let add = Write::add_scored(h.policy, &h.key, vec![(score.to_score(), encoded.clone())], h.ttl);
                h.core.apply(&add).await?;
                if let Some(from) = from.filter(|from| from.handle.key != h.key) {
                    from.handle
                        .core
                        .apply(&Write::remove("ZREM", &from.handle.key, vec![encoded]))
                        .await?;
                }
                Ok(())
            })
            .await
    }
}

/// An `XRANGE` entry: its ID and its field/value pairs.
type StreamEntry = (String, Vec<(String, Vec<u8>)>);

impl<C: Codec> StreamKey<'_, C> {
    /// Appends an entry (approximately trimmed to the cap) and applies the TTL, atomically;
    /// the entry's ID.
    pub async fn add(&self, value: &C::Value) -> Result<String> {
        self.handle
            .observed(op!("XADD"), async move {
                let h = &self.handle;
                h.settle().await?;
                let write = Write::append(h.policy, &h.key, encode::<C>(&h.key, value)?, h.ttl);
                h.core.write_value(&write).await
            })
            .await
    }

    /// Entries with IDs from `start` to `end` (`-` and `+` for the ends), oldest first.
    pub async fn range(&self, start: &str, end: &str) -> Result<Vec<(String, C::Value)>> {
        self.handle
            .observed(op!("XRANGE"), async move {
                let key = self.handle.read_key().await?;
                let entries: Vec<StreamEntry> = self
                    .handle
                    .core
                    .read(redis::cmd("XRANGE").arg(key).arg(start).arg(end), key, "XRANGE")
                    .await?;
                entries
                    .into_iter()
                    .map(|(id, fields)| {
                        let data = fields
                            .into_iter()
                            .find(|(name, _)| name == "data")
                            .map(|(_, v)| v)
                            .unwrap_or_default();
                        Ok((id, decode::<C>(key, &data)?))
                    })
                    .collect()
            })
            .await
    }
}

/// Members common to every set: one `SINTER` when the sets share a slot or the server is
/// standalone; on a cluster across slots, each set is read and intersected here, since Redis
/// cannot.
pub(crate) async fn intersect<C: Codec>(core: &Core, sets: &[&SetKey<'_, C>]) -> Result<Vec<C::Value>> {
    let Some(first) = sets.first() else {
        return Ok(Vec::new());
    };
    let one_slot = sets
        .iter()
        .all(|s| keyschema::key_slot(s.key().as_bytes()) == keyschema::key_slot(first.key().as_bytes()));
    if one_slot || !core.connection().is_cluster() {
        let mut cmd = redis::cmd("SINTER");
        for set in sets {
            cmd.arg(set.key());
        }
        let items: Vec<Vec<u8>> = core.read(&cmd, first.key(), "SINTER").await?;
        return items.iter().map(|item| decode::<C>(first.key(), item)).collect();
    }
    let mut common: Option<std::collections::HashSet<Vec<u8>>> = None;
    for set in sets {
        let items: Vec<Vec<u8>> = core
            .read(redis::cmd("SMEMBERS").arg(set.key()), set.key(), "SMEMBERS")
            .await?;
        let items: std::collections::HashSet<Vec<u8>> = items.into_iter().collect();
        common = Some(match common {
            None => items,
            Some(common) => common.intersection(&items).cloned().collect(),
        });
    }
    common
        .unwrap_or_default()
        .iter()
        .map(|item| decode::<C>(first.key(), item))
        .collect()
}
