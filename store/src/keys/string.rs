//! String keys.

use crate::codec::{decode, encode, Codec};
use crate::core::Core;
use crate::error::Result;
use crate::write::Write;

accessor!(StringKey<C> where Codec; "A string key whose value is encoded with `C`.");

impl<C: Codec> StringKey<'_, C> {
    /// The value, if the key exists.
    pub async fn get(&self) -> Result<Option<C::Value>> {
        get::<C>(self.handle.core, &self.handle.key).await
    }

    /// Writes the value with the key's TTL (`SET ... PX`; under `keepttl`, an existing TTL stays).
    pub async fn set(&self, value: &C::Value) -> Result<()> {
        self.handle.core.apply(&self.set_write(value)?).await.map(drop)
    }

    /// The write of [`StringKey::set`], for a transaction or a batch.
    pub(crate) fn set_write(&self, value: &C::Value) -> Result<Write> {
        Ok(self.set_write_encoded(encode::<C>(&self.handle.key, value)?))
    }

    /// The same, for a value already encoded with `C`.
    pub(crate) fn set_write_encoded(&self, bytes: Vec<u8>) -> Write {
        let h = &self.handle;
        Write::set(h.policy, &h.key, bytes, h.ttl)
    }

    /// The value `expected` encoded for a transaction's check.
    pub(crate) fn expected(&self, expected: Option<&C::Value>) -> Result<Option<Vec<u8>>> {
        expected.map(|value| encode::<C>(&self.handle.key, value)).transpose()
    }

    /// Writes the value only if the key does not exist (`SET NX PX`); whether it was written.
    pub async fn set_if_absent(&self, value: &C::Value) -> Result<bool> {
        let h = &self.handle;
        let write = Write::set_if_absent(&h.key, encode::<C>(&h.key, value)?, h.ttl);
        let reply: Option<String> = h.core.write_value(&write).await?;
        Ok(reply.is_some())
    }

    /// Optimistic concurrency: writes `new` (with the key's TTL) only if the stored value is
    /// still `expected` (`None`: the key must not exist), checked and written in one script.
    /// A changed value is [`Error::Conflict`](crate::Error::Conflict): read again and retry.
    pub async fn compare_and_set(&self, expected: Option<&C::Value>, new: &C::Value) -> Result<()> {
        let mut transaction = crate::transaction::Transaction::new(self.handle.core);
        transaction.expect_encoded(self.key(), self.expected(expected)?)?;
        transaction.push_write(self.set_write(new)?)?;
        transaction.execute().await
    }

    /// Reads and deletes the value in one step (`GETDEL`): a write, since it deletes, so it goes
    /// through the write path like any other (durability, retries).
    pub async fn get_and_delete(&self) -> Result<Option<C::Value>> {
        let key = &self.handle.key;
        let bytes: Option<Vec<u8>> = self.handle.core.write_value(&Write::get_and_delete(key)).await?;
        bytes.map(|bytes| decode::<C>(key, &bytes)).transpose()
    }
}

/// Reads a string value; `None` when the key does not exist.
pub(crate) async fn get<C: Codec>(core: &Core, key: &str) -> Result<Option<C::Value>> {
    let bytes: Option<Vec<u8>> = core.read(redis::cmd("GET").arg(key), key, "GET").await?;
    bytes.map(|bytes| decode::<C>(key, &bytes)).transpose()
}
