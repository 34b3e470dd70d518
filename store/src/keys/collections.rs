//! Lists, sets, sorted sets and streams. Caps declared in the schema are kept by the writes
//! themselves (trim in the same transaction), never by a background job.

use super::{transaction, Handle};
use crate::codec::Codec;
use crate::store::{decode, encode};
use crate::{Result, Store};
use keyschema::RedisType;
use std::marker::PhantomData;

fn cap_of(store: &Store, def: usize) -> Option<u64> {
    match store.schema().keys.get(def).map(|k| &k.redis_type) {
        Some(RedisType::List { cap, .. } | RedisType::Zset { cap, .. } | RedisType::Stream { cap, .. }) => *cap,
        _ => None,
    }
}

/// For a sorted set scored by time with a TTL, the score below which members are older than the
/// TTL: trimmed on every write, so a time index never holds what has already expired elsewhere.
pub(crate) fn expired_before(store: &Store, def: usize) -> Option<f64> {
    let ttl = store.ttl_of(def)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    let cutoff = now.checked_sub(ttl)?;
    match store.schema().keys.get(def).map(|k| &k.redis_type) {
        Some(RedisType::Zset {
            score: keyschema::ScoreKind::Time,
            ..
        }) => Some(cutoff.as_secs_f64()),
        Some(RedisType::Zset {
            score: keyschema::ScoreKind::TimeMs,
            ..
        }) => Some(cutoff.as_millis() as f64),
        _ => None,
    }
}

fn decode_all<C: Codec>(key: &str, items: Vec<Vec<u8>>) -> Result<Vec<C::Value>> {
    items.iter().map(|bytes| decode::<C>(key, bytes)).collect()
}

accessor!(
    ListKey,
    Codec,
    "A list whose elements are encoded with `T`; a declared cap keeps the newest elements."
);
accessor!(SetKey, Codec, "A set whose members are encoded with `T`.");
accessor!(
    StreamKey,
    Codec,
    "A stream whose entries hold one `data` field encoded with `T`."
);

impl<C: Codec> ListKey<'_, C> {
    /// Appends values, trims to the cap (keeping the newest) and applies the TTL, atomically.
    pub async fn push(&self, values: &[C::Value]) -> Result<u64> {
        let Handle { store, def, key } = &self.handle;
        let mut pipe = transaction();
        let rpush = pipe.cmd("RPUSH").arg(key);
        for value in values {
            rpush.arg(encode::<C>(key, value)?);
        }
        if let Some(cap) = cap_of(store, *def) {
            pipe.cmd("LTRIM")
                .arg(key)
                .arg(-i64::try_from(cap).unwrap_or(i64::MAX))
                .arg(-1)
                .ignore();
        }
        store.push_expire(&mut pipe, *def, key);
        let (len,): (u64,) = store.run_atomic(&pipe, key).await?;
        Ok(len.min(cap_of(store, *def).unwrap_or(u64::MAX)))
    }

    /// Elements from `start` to `stop` inclusive (negative counts from the end).
    pub async fn range(&self, start: i64, stop: i64) -> Result<Vec<C::Value>> {
        let key = &self.handle.key;
        let items: Vec<Vec<u8>> = self
            .handle
            .store
            .query(redis::cmd("LRANGE").arg(key).arg(start).arg(stop), key, "LRANGE")
            .await?;
        decode_all::<C>(key, items)
    }

    /// The number of elements.
    pub async fn len(&self) -> Result<u64> {
        let key = &self.handle.key;
        self.handle.store.query(redis::cmd("LLEN").arg(key), key, "LLEN").await
    }
}

impl<C: Codec> SetKey<'_, C> {
    /// Adds members and applies the TTL, atomically; how many were new.
    pub async fn add(&self, members: &[C::Value]) -> Result<u64> {
        let Handle { store, def, key } = &self.handle;
        let mut pipe = transaction();
        let sadd = pipe.cmd("SADD").arg(key);
        for member in members {
            sadd.arg(encode::<C>(key, member)?);
        }
        store.push_expire(&mut pipe, *def, key);
        let (added,): (u64,) = store.run_atomic(&pipe, key).await?;
        Ok(added)
    }

    /// Removes members; how many were there.
    pub async fn remove(&self, members: &[C::Value]) -> Result<u64> {
        let key = &self.handle.key;
        let mut cmd = redis::cmd("SREM");
        cmd.arg(key);
        for member in members {
            cmd.arg(encode::<C>(key, member)?);
        }
        self.handle.store.query(&cmd, key, "SREM").await
    }

    /// Whether `member` is in the set.
    pub async fn contains(&self, member: &C::Value) -> Result<bool> {
        let key = &self.handle.key;
        self.handle
            .store
            .query(
                redis::cmd("SISMEMBER").arg(key).arg(encode::<C>(key, member)?),
                key,
                "SISMEMBER",
            )
            .await
    }

    /// Every member at once (`SMEMBERS`); see [`SetKey::scan`] for large sets.
    pub async fn members(&self) -> Result<Vec<C::Value>> {
        let key = &self.handle.key;
        let items: Vec<Vec<u8>> = self
            .handle
            .store
            .query(redis::cmd("SMEMBERS").arg(key), key, "SMEMBERS")
            .await?;
        decode_all::<C>(key, items)
    }

    /// Every member, fetched with `SSCAN` in batches of about `batch`, so a large set never
    /// blocks the server.
    pub async fn scan(&self, batch: u64) -> Result<Vec<C::Value>> {
        let key = &self.handle.key;
        let mut cursor = 0u64;
        let mut members = Vec::new();
        loop {
            let (next, items): (u64, Vec<Vec<u8>>) = self
                .handle
                .store
                .query(
                    redis::cmd("SSCAN").arg(key).arg(cursor).arg("COUNT").arg(batch.max(1)),
                    key,
                    "SSCAN",
                )
                .await?;
            members.extend(decode_all::<C>(key, items)?);
            if next == 0 {
                return Ok(members);
            }
            cursor = next;
        }
    }

    /// The number of members.
    pub async fn len(&self) -> Result<u64> {
        let key = &self.handle.key;
        self.handle
            .store
            .query(redis::cmd("SCARD").arg(key), key, "SCARD")
            .await
    }
}

/// A sorted-set score with a meaning: seconds or milliseconds since the epoch, an integer, a float.
pub trait Score: Sized {
    /// The score Redis stores.
    fn to_score(&self) -> f64;
    /// The value of a stored score.
    fn from_score(score: f64) -> Self;
}

impl Score for f64 {
    fn to_score(&self) -> f64 {
        *self
    }
    fn from_score(score: f64) -> Self {
        score
    }
}

impl Score for i64 {
    fn to_score(&self) -> f64 {
        // Scores are doubles: integers beyond 2^53 lose precision, as in Redis itself.
        *self as f64
    }
    fn from_score(score: f64) -> Self {
        score as Self
    }
}

/// A sorted set whose members are encoded with `C` and whose scores are `S`.
pub struct ZsetKey<'s, C, S> {
    handle: Handle<'s>,
    types: PhantomData<(C, S)>,
}

impl<'s, C: Codec, S: Score> ZsetKey<'s, C, S> {
    /// The accessor of `key`, an instance of the key definition at `def`.
    pub fn new(store: &'s Store, def: usize, key: String) -> Self {
        Self {
            handle: Handle { store, def, key },
            types: PhantomData,
        }
    }

    /// The formatted key.
    pub fn key(&self) -> &str {
        &self.handle.key
    }

    /// Adds or re-scores members, trims to the cap (dropping the lowest scores) and applies the
    /// TTL, atomically; how many were new.
    pub async fn add(&self, members: &[(C::Value, S)]) -> Result<u64> {
        let Handle { store, def, key } = &self.handle;
        let mut pipe = transaction();
        let zadd = pipe.cmd("ZADD").arg(key);
        for (member, score) in members {
            zadd.arg(score.to_score()).arg(encode::<C>(key, member)?);
        }
        if let Some(cap) = cap_of(store, *def) {
            let keep = i64::try_from(cap).unwrap_or(i64::MAX);
            pipe.cmd("ZREMRANGEBYRANK").arg(key).arg(0).arg(-keep - 1).ignore();
        }
        if let Some(before) = expired_before(store, *def) {
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(key)
                .arg("-inf")
                .arg(format!("({before}"))
                .ignore();
        }
        store.push_expire(&mut pipe, *def, key);
        let (added,): (u64,) = store.run_atomic(&pipe, key).await?;
        Ok(added)
    }

    /// Removes members; how many were there.
    pub async fn remove(&self, members: &[C::Value]) -> Result<u64> {
        let key = &self.handle.key;
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(key);
        for member in members {
            cmd.arg(encode::<C>(key, member)?);
        }
        self.handle.store.query(&cmd, key, "ZREM").await
    }

    /// Members with scores between `min` and `max` inclusive, lowest first.
    pub async fn range_by_score(&self, min: &S, max: &S) -> Result<Vec<(C::Value, S)>> {
        let key = &self.handle.key;
        let cmd = redis::cmd("ZRANGE")
            .arg(key)
            .arg(min.to_score())
            .arg(max.to_score())
            .arg("BYSCORE")
            .arg("WITHSCORES")
            .clone();
        let items: Vec<(Vec<u8>, f64)> = self.handle.store.query(&cmd, key, "ZRANGE").await?;
        items
            .into_iter()
            .map(|(m, s)| Ok((decode::<C>(key, &m)?, S::from_score(s))))
            .collect()
    }

    /// Members by rank from `start` to `stop` inclusive (negative counts from the highest).
    pub async fn range_by_rank(&self, start: i64, stop: i64) -> Result<Vec<(C::Value, S)>> {
        let key = &self.handle.key;
        let items: Vec<(Vec<u8>, f64)> = self
            .handle
            .store
            .query(
                redis::cmd("ZRANGE").arg(key).arg(start).arg(stop).arg("WITHSCORES"),
                key,
                "ZRANGE",
            )
            .await?;
        items
            .into_iter()
            .map(|(m, s)| Ok((decode::<C>(key, &m)?, S::from_score(s))))
            .collect()
    }

    /// How many members have scores between `min` and `max` inclusive.
    pub async fn count(&self, min: &S, max: &S) -> Result<u64> {
        let key = &self.handle.key;
        self.handle
            .store
            .query(
                redis::cmd("ZCOUNT").arg(key).arg(min.to_score()).arg(max.to_score()),
                key,
                "ZCOUNT",
            )
            .await
    }

    /// The number of members.
    pub async fn len(&self) -> Result<u64> {
        let key = &self.handle.key;
        self.handle
            .store
            .query(redis::cmd("ZCARD").arg(key), key, "ZCARD")
            .await
    }

    /// Deletes the key; whether it existed.
    pub async fn delete(&self) -> Result<bool> {
        self.handle.store.delete(&self.handle.key).await
    }

    /// Moves `member` from the index `from` (if any) to this one, as when an entity changes state
    /// (`job:index:pending` → `job:index:running`). The two keys may be on different slots, so
    /// the move is two steps in a fixed order: add to the new index first, then remove from the
    /// old. A crash between them leaves the member in both indexes (found and repaired by an
    /// audit), never in none.
    pub async fn move_from(&self, from: Option<&Self>, member: &C::Value, score: S) -> Result<()> {
        self.add(&[(clone_via_codec::<C>(&self.handle.key, member)?, score)])
            .await?;
        if let Some(from) = from.filter(|from| from.handle.key != self.handle.key) {
            from.remove(&[clone_via_codec::<C>(&from.handle.key, member)?]).await?;
        }
        Ok(())
    }
}

/// A copy of a value made through its codec (values need not be `Clone`).
fn clone_via_codec<C: Codec>(key: &str, value: &C::Value) -> Result<C::Value> {
    decode::<C>(key, &encode::<C>(key, value)?)
}

/// An `XRANGE` entry: its ID and its field/value pairs.
type StreamEntry = (String, Vec<(String, Vec<u8>)>);

impl<C: Codec> StreamKey<'_, C> {
    /// Appends an entry (approximately trimmed to the cap) and applies the TTL, atomically;
    /// the entry's ID.
    pub async fn add(&self, value: &C::Value) -> Result<String> {
        let Handle { store, def, key } = &self.handle;
        let mut pipe = transaction();
        let xadd = pipe.cmd("XADD").arg(key);
        if let Some(cap) = cap_of(store, *def) {
            xadd.arg("MAXLEN").arg("~").arg(cap);
        }
        xadd.arg("*").arg("data").arg(encode::<C>(key, value)?);
        store.push_expire(&mut pipe, *def, key);
        let (id,): (String,) = store.run_atomic(&pipe, key).await?;
        Ok(id)
    }

    /// Entries with IDs from `start` to `end` (`-` and `+` for the ends), oldest first.
    pub async fn range(&self, start: &str, end: &str) -> Result<Vec<(String, C::Value)>> {
        let key = &self.handle.key;
        let entries: Vec<StreamEntry> = self
            .handle
            .store
            .query(redis::cmd("XRANGE").arg(key).arg(start).arg(end), key, "XRANGE")
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
    }
}

impl Store {
    /// Members common to every set (search by several indexes, as the catalog's type, owner and
    /// namespace). One `SINTER` when the sets share a slot or the server is standalone; on a
    /// cluster across slots, each set is read and intersected here, since Redis cannot.
    pub async fn intersect<C: Codec>(&self, sets: &[&SetKey<'_, C>]) -> Result<Vec<C::Value>> {
        let Some(first) = sets.first() else {
            return Ok(Vec::new());
        };
        let one_slot = sets
            .iter()
            .all(|s| keyschema::key_slot(s.key().as_bytes()) == keyschema::key_slot(first.key().as_bytes()));
        if one_slot || matches!(self.connection(), crate::RedisConnection::Standalone(_)) {
            let mut cmd = redis::cmd("SINTER");
            for set in sets {
                cmd.arg(set.key());
            }
            let items: Vec<Vec<u8>> = self.query(&cmd, first.key(), "SINTER").await?;
            return decode_all::<C>(first.key(), items);
        }
        let mut common: Option<std::collections::HashSet<Vec<u8>>> = None;
        for set in sets {
            let items: Vec<Vec<u8>> = self
                .query(redis::cmd("SMEMBERS").arg(set.key()), set.key(), "SMEMBERS")
                .await?;
            let items: std::collections::HashSet<Vec<u8>> = items.into_iter().collect();
            common = Some(match common {
                None => items,
                Some(common) => common.intersection(&items).cloned().collect(),
            });
        }
        decode_all::<C>(first.key(), common.unwrap_or_default().into_iter().collect())
    }
}
