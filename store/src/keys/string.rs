//! String keys.

use crate::codec::{decode, encode, Codec};
use crate::core::Core;
use crate::error::Result;
use crate::telemetry::op;
use crate::write::Write;

accessor!(StringKey<C> where Codec; "A string key whose value is encoded with `C`.");

impl<C: Codec> StringKey<'_, C> {
    /// The value, if the key exists.
    pub async fn get(&self) -> Result<Option<C::Value>> {
        self.handle
            .observed(op!("GET"), async move {
                let h = &self.handle;
                if let Some(value) = get::<C>(h.core, &h.key).await? {
                    return Ok(Some(value));
                }
                if h.previous.is_none() {
                    return Ok(None);
                }
                // A miss during a layout change: the value may still be in the old layout. Boxed, so
                // the bridge stays out of every other read's future.
                Box::pin(async move {
                    match h.fallback_key().await? {
                        Some(key) if key == h.key => get::<C>(h.core, key).await,
                        Some(key) => self.get_previous(key).await,
                        None => Ok(None),
                    }
                })
                .await
            })
            .await
    }

    /// The value of the previous layout's key, in its codec when that changed.
    async fn get_previous(&self, key: &str) -> Result<Option<C::Value>> {
        let h = &self.handle;
        let recode = h.previous.as_ref().and_then(|previous| previous.recode);
        let bytes: Option<Vec<u8>> = h.core.read(redis::cmd("GET").arg(key), key, "GET").await?;
        let Some(bytes) = bytes else { return Ok(None) };
        let bytes = match recode {
            Some(recode) => recode(key, &bytes)?,
            None => bytes,
        };
        decode::<C>(key, &bytes).map(Some)
    }

    /// The same key, bridged from `previous`, the previous layout's key whose value was
    /// written with codec `O` (generated code, for a key whose codec changed).
    #[doc(hidden)]
    pub fn bridged_from<O: Codec<Value = C::Value>>(mut self, previous: Option<String>) -> Self {
        self.handle.bridge(previous, Some(recode::<O, C>));
        self
    }

    /// Writes the value with the key's TTL (`SET ... PX`; under `keepttl`, an existing TTL stays).
    pub async fn set(&self, value: &C::Value) -> Result<()> {
        self.handle
            .observed(op!("SET"), async move {
                self.handle.core.apply(&self.set_write(value)?).await?;
                self.handle.retire().await
            })
            .await
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
        self.handle
            .observed(op!("SET"), async move {
                let h = &self.handle;
                h.settle().await?;
                let write = Write::set_if_absent(&h.key, encode::<C>(&h.key, value)?, h.ttl);
                let reply: Option<String> = h.core.write_value(&write).await?;
                Ok(reply.is_some())
            })
            .await
    }

    /// Optimistic concurrency: writes `new` (with the key's TTL) only if the stored value is
    /// still `expected` (`None`: the key must not exist), checked and written in one script.
    /// A changed value is [`Error::Conflict`](crate::Error::Conflict): read again and retry.
    pub async fn compare_and_set(&self, expected: Option<&C::Value>, new: &C::Value) -> Result<()> {
        self.handle
            .observed(op!("SET"), async move {
                self.handle.settle().await?;
                let mut transaction = crate::transaction::Transaction::new(self.handle.core);
                transaction.expect_encoded(self.key(), self.expected(expected)?)?;
                transaction.push_write(self.set_write(new)?)?;
                transaction.execute().await?;
                self.handle.retire().await
            })
            .await
    }

    /// Reads and deletes the value in one step (`GETDEL`): a write, since it deletes, so it goes
    /// through the write path like any other (durability, retries).
    pub async fn get_and_delete(&self) -> Result<Option<C::Value>> {
        self.handle
            .observed(op!("GETDEL"), async move {
                let h = &self.handle;
                h.settle().await?;
                let bytes: Option<Vec<u8>> = h.core.write_value(&Write::get_and_delete(&h.key)).await?;
                if let Some(previous) = &h.previous {
                    // A delete removes the key in both layouts, so no read falls back to the old one.
                    h.core.delete(&previous.key).await?;
                }
                bytes.map(|bytes| decode::<C>(&h.key, &bytes)).transpose()
            })
            .await
    }
}

/// Reads a string value; `None` when the key does not exist.
pub(crate) async fn get<C: Codec>(core: &Core, key: &str) -> Result<Option<C::Value>> {
    let bytes: Option<Vec<u8>> = core.read(redis::cmd("GET").arg(key), key, "GET").await?;
    bytes.map(|bytes| decode::<C>(key, &bytes)).transpose()
}

/// Re-encodes a value of the previous layout's codec `O` in codec `C` (both of one value type).
fn recode<O: Codec, C: Codec<Value = O::Value>>(key: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    encode::<C>(key, &decode::<O>(key, bytes)?)
}
