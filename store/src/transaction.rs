//! Transactions over one slot group: writes to keys sharing a hash tag, applied together by
//! MULTI/EXEC, each with its key's TTL and cap. Generated code builds them per slot group, so
//! their keys share a slot by construction; the check here is a guard for hand-built ones.

use crate::codec::Codec;
use crate::keys::{HashRecord, Score};
use crate::store::encode;
use crate::{Error, Result, Store};
use keyschema::{RedisType, TtlOnWrite};

/// Writes to keys of one slot, sent as one MULTI/EXEC.
pub struct Transaction<'s> {
    store: &'s Store,
    pipe: redis::Pipeline,
    first: Option<(u16, String)>,
}

impl Store {
    /// An empty transaction.
    pub fn transaction(&self) -> Transaction<'_> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        Transaction {
            store: self,
            pipe,
            first: None,
        }
    }
}

impl<'s> Transaction<'s> {
    fn check(&mut self, key: &str) -> Result<()> {
        let slot = keyschema::key_slot(key.as_bytes());
        match &self.first {
            None => self.first = Some((slot, key.to_string())),
            Some((first_slot, _)) if *first_slot == slot => {}
            Some((_, first)) => {
                return Err(Error::CrossSlot {
                    key: key.to_string(),
                    first: first.clone(),
                })
            }
        }
        Ok(())
    }

    fn keep_ttl(&self, def: usize) -> bool {
        self.store
            .schema()
            .keys
            .get(def)
            .is_some_and(|k| k.ttl_on_write == TtlOnWrite::Keep)
    }

    fn cap(&self, def: usize) -> Option<i64> {
        match self.store.schema().keys.get(def).map(|k| &k.redis_type) {
            Some(RedisType::List { cap, .. } | RedisType::Zset { cap, .. }) => {
                cap.map(|c| i64::try_from(c).unwrap_or(i64::MAX))
            }
            _ => None,
        }
    }

    /// Writes a string value (its TTL refreshed, or kept under `keepttl`).
    pub fn set<C: Codec>(&mut self, def: usize, key: &str, value: &C::Value) -> Result<&mut Self> {
        self.check(key)?;
        let bytes = encode::<C>(key, value)?;
        if self.keep_ttl(def) {
            // KEEPTTL, then PEXPIRE NX: a new key gets its TTL, an existing one keeps its own.
            self.pipe.cmd("SET").arg(key).arg(bytes).arg("KEEPTTL").ignore();
            self.store.push_expire(&mut self.pipe, def, key);
        } else {
            let set = self.pipe.cmd("SET").arg(key).arg(bytes);
            if let Some(ttl) = self.store.ttl_of(def) {
                set.arg("PX").arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
            }
            set.ignore();
        }
        Ok(self)
    }

    /// Replaces a hash record.
    pub fn set_record<R: HashRecord>(&mut self, def: usize, key: &str, record: &R) -> Result<&mut Self> {
        self.check(key)?;
        let fields = record.to_fields(key)?;
        self.pipe.cmd("DEL").arg(key).ignore();
        if !fields.is_empty() {
            let hset = self.pipe.cmd("HSET").arg(key);
            for (name, value) in &fields {
                hset.arg(*name).arg(value);
            }
            hset.ignore();
        }
        self.store.push_expire(&mut self.pipe, def, key);
        Ok(self)
    }

    /// Appends to a list, trimmed to its cap.
    pub fn push<C: Codec>(&mut self, def: usize, key: &str, values: &[C::Value]) -> Result<&mut Self> {
        self.check(key)?;
        let rpush = self.pipe.cmd("RPUSH").arg(key);
        for value in values {
            rpush.arg(encode::<C>(key, value)?);
        }
        rpush.ignore();
        if let Some(cap) = self.cap(def) {
            self.pipe.cmd("LTRIM").arg(key).arg(-cap).arg(-1).ignore();
        }
        self.store.push_expire(&mut self.pipe, def, key);
        Ok(self)
    }

    /// Adds members to a set.
    pub fn add<C: Codec>(&mut self, def: usize, key: &str, members: &[C::Value]) -> Result<&mut Self> {
        self.check(key)?;
        let sadd = self.pipe.cmd("SADD").arg(key);
        for member in members {
            sadd.arg(encode::<C>(key, member)?);
        }
        sadd.ignore();
        self.store.push_expire(&mut self.pipe, def, key);
        Ok(self)
    }

    /// Adds scored members to a sorted set, trimmed to its cap.
    pub fn add_scored<C: Codec, S: Score>(
        &mut self,
        def: usize,
        key: &str,
        members: &[(C::Value, S)],
    ) -> Result<&mut Self> {
        self.check(key)?;
        let zadd = self.pipe.cmd("ZADD").arg(key);
        for (member, score) in members {
            zadd.arg(score.to_score()).arg(encode::<C>(key, member)?);
        }
        zadd.ignore();
        if let Some(cap) = self.cap(def) {
            self.pipe.cmd("ZREMRANGEBYRANK").arg(key).arg(0).arg(-cap - 1).ignore();
        }
        if let Some(before) = crate::keys::expired_before(self.store, def) {
            self.pipe
                .cmd("ZREMRANGEBYSCORE")
                .arg(key)
                .arg("-inf")
                .arg(format!("({before}"))
                .ignore();
        }
        self.store.push_expire(&mut self.pipe, def, key);
        Ok(self)
    }

    /// Deletes a key.
    pub fn delete(&mut self, key: &str) -> Result<&mut Self> {
        self.check(key)?;
        self.pipe.cmd("DEL").arg(key).ignore();
        Ok(self)
    }

    /// Applies every write at once (MULTI/EXEC).
    pub async fn execute(self) -> Result<()> {
        let Some((_, first)) = self.first else { return Ok(()) };
        self.store.run_atomic::<()>(&self.pipe, &first).await
    }
}
