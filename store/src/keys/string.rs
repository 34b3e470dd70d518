//! String keys.

use super::Handle;
use crate::codec::Codec;
use crate::store::{decode, encode, KeyTtl};
use crate::Result;

/// `KEYS[1]`; `ARGV`: has-expected, expected bytes, new bytes, TTL ms (0: none), keep-TTL flag.
static COMPARE_AND_SET: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        "local current = redis.call('GET', KEYS[1]) \
         if ARGV[1] == '1' then \
           if current ~= ARGV[2] then return 0 end \
         elseif current then return 0 end \
         local ttl = tonumber(ARGV[4]) \
         if ttl == 0 then redis.call('SET', KEYS[1], ARGV[3]) \
         elseif ARGV[5] == '1' and current then redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL') \
         else redis.call('SET', KEYS[1], ARGV[3], 'PX', ttl) end \
         return 1",
    )
});

accessor!(StringKey, Codec, "A string key whose value is encoded with `T`.");

impl<C: Codec> StringKey<'_, C> {
    /// The value, if the key exists.
    pub async fn get(&self) -> Result<Option<C::Value>> {
        self.handle.store.get::<C>(&self.handle.key).await
    }

    /// Writes the value with the key's TTL (`SET ... PX`, or keeping the TTL under `keepttl`).
    pub async fn set(&self, value: &C::Value) -> Result<()> {
        self.handle
            .store
            .set::<C>(self.handle.def, &self.handle.key, value)
            .await
    }

    /// Writes the value only if the key does not exist (`SET NX PX`); whether it was written.
    pub async fn set_if_absent(&self, value: &C::Value) -> Result<bool> {
        let Handle { store, def, key } = &self.handle;
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(encode::<C>(key, value)?).arg("NX");
        if let Some(ttl) = store.ttl_of(*def) {
            cmd.arg("PX").arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        }
        let reply: Option<String> = store.query(&cmd, key, "SET").await?;
        Ok(reply.is_some())
    }

    /// Optimistic concurrency: writes `new` (with the key's TTL) only if the stored value is
    /// still `expected` (`None`: the key must not exist), checked and written in one script.
    /// A changed value is [`Error::Conflict`](crate::Error::Conflict): read again and retry.
    pub async fn compare_and_set(&self, expected: Option<&C::Value>, new: &C::Value) -> Result<()> {
        let Handle { store, def, key } = &self.handle;
        let expected = expected.map(|value| encode::<C>(key, value)).transpose()?;
        let ttl = store
            .ttl_of(*def)
            .map_or(0, |ttl| u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        let keep = store
            .schema()
            .keys
            .get(*def)
            .is_some_and(|k| k.ttl_on_write == keyschema::TtlOnWrite::Keep);
        let mut invocation = COMPARE_AND_SET.key(key);
        invocation
            .arg(u8::from(expected.is_some()))
            .arg(expected.unwrap_or_default())
            .arg(encode::<C>(key, new)?)
            .arg(ttl)
            .arg(u8::from(keep));
        let written: i64 = invocation
            .invoke_async(&mut store.connection())
            .await
            .map_err(|source| crate::Error::Command {
                key: key.clone(),
                command: "EVALSHA",
                source,
            })?;
        if written == 1 {
            Ok(())
        } else {
            Err(crate::Error::Conflict { key: key.clone() })
        }
    }

    /// Reads and deletes the value in one step (`GETDEL`).
    pub async fn get_and_delete(&self) -> Result<Option<C::Value>> {
        let key = &self.handle.key;
        let bytes: Option<Vec<u8>> = self
            .handle
            .store
            .query(redis::cmd("GETDEL").arg(key), key, "GETDEL")
            .await?;
        bytes.map(|bytes| decode::<C>(key, &bytes)).transpose()
    }

    /// The key's remaining time to live.
    pub async fn ttl(&self) -> Result<KeyTtl> {
        self.handle.store.ttl(&self.handle.key).await
    }
}
