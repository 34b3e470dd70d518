//! String keys.

use super::Handle;
use crate::codec::Codec;
use crate::store::{decode, encode, KeyTtl};
use crate::{Result, Store};
use std::marker::PhantomData;

/// A string key whose value is encoded with `C`.
pub struct StringKey<'s, C> {
    handle: Handle<'s>,
    codec: PhantomData<C>,
}

impl<'s, C: Codec> StringKey<'s, C> {
    /// The accessor of `key`, an instance of the key definition at `def`.
    pub fn new(store: &'s Store, def: usize, key: String) -> Self {
        Self {
            handle: Handle { store, def, key },
            codec: PhantomData,
        }
    }

    /// The formatted key.
    pub fn key(&self) -> &str {
        &self.handle.key
    }

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

    /// Deletes the key; whether it existed.
    pub async fn delete(&self) -> Result<bool> {
        self.handle.store.delete(&self.handle.key).await
    }

    /// The key's remaining time to live.
    pub async fn ttl(&self) -> Result<KeyTtl> {
        self.handle.store.ttl(&self.handle.key).await
    }
}
