//! Hash keys: records with declared fields, and maps keyed by a parameter.

use crate::codec::{decode, encode};
use crate::codec::{Codec, HashRecord};
use crate::error::{Error, Result};
use crate::telemetry::op;
use crate::write::Write;

accessor!(HashKey<R> where HashRecord; "A hash key holding a record `R`.");

impl<R: HashRecord> HashKey<'_, R> {
    /// The whole record, if the key exists (`HGETALL`).
    pub async fn get(&self) -> Result<Option<R>> {
        self.handle
            .observed(op!("HGETALL"), async move {
                let h = &self.handle;
                let fields = read_record(h, &h.key).await?;
                if !fields.is_empty() {
                    return R::from_fields(&h.key, fields).map(Some);
                }
                if h.previous.is_none() {
                    return Ok(None);
                }
                // A miss during a layout change: the record may still be in the old layout.
                Box::pin(async move {
                    let Some(key) = h.fallback_key().await? else {
                        return Ok(None);
                    };
                    let fields = read_record(h, key).await?;
                    if fields.is_empty() {
                        return Ok(None);
                    }
                    R::from_fields(key, fields).map(Some)
                })
                .await
            })
            .await
    }

    /// Replaces the whole record and applies the TTL, in one transaction (DEL, HSET, PEXPIRE).
    pub async fn set(&self, record: &R) -> Result<()> {
        self.handle
            .observed(op!("HSET"), async move {
                self.handle.core.apply(&self.set_write(record)?).await?;
                self.handle.retire().await
            })
            .await
    }

    /// The write of [`HashKey::set`], for a transaction or a batch.
    pub(crate) fn set_write(&self, record: &R) -> Result<Write> {
        let h = &self.handle;
        Ok(Write::replace_record(
            h.policy,
            &h.key,
            record.to_fields(&h.key)?,
            h.ttl,
        ))
    }

    /// One field, decoded with `C`.
    pub async fn get_field<C: Codec>(&self, field: &str) -> Result<Option<C::Value>> {
        self.handle
            .observed(op!("HGET"), async move {
                read_field::<C>(&self.handle, |_| Ok(field.as_bytes().to_vec())).await
            })
            .await
    }

    /// Sets one field and applies the TTL, in one transaction.
    pub async fn set_field<C: Codec>(&self, field: &str, value: &C::Value) -> Result<()> {
        self.handle
            .observed(op!("HSET"), async move {
                let h = &self.handle;
                h.settle().await?;
                let fields = vec![(field.as_bytes().to_vec(), encode::<C>(&h.key, value)?)];
                h.core
                    .apply(&Write::set_fields(h.policy, &h.key, fields, h.ttl))
                    .await
                    .map(drop)
            })
            .await
    }
}

accessor!(HashMapKey<F, V> where Codec, Codec; "A hash used as a map: field names encoded with `F`, values with `V`.");

impl<F: Codec, V: Codec> HashMapKey<'_, F, V> {
    /// The value of one entry.
    pub async fn get(&self, field: &F::Value) -> Result<Option<V::Value>> {
        self.handle
            .observed(op!("HGET"), async move {
                read_field::<V>(&self.handle, |key| encode::<F>(key, field)).await
            })
            .await
    }

    /// Sets one entry and applies the TTL, in one transaction.
    pub async fn set(&self, field: &F::Value, value: &V::Value) -> Result<()> {
        self.handle
            .observed(op!("HSET"), async move {
                let h = &self.handle;
                h.settle().await?;
                let fields = vec![(encode::<F>(&h.key, field)?, encode::<V>(&h.key, value)?)];
                h.core
                    .apply(&Write::set_fields(h.policy, &h.key, fields, h.ttl))
                    .await
                    .map(drop)
            })
            .await
    }

    /// Removes one entry; whether it existed.
    pub async fn remove(&self, field: &F::Value) -> Result<bool> {
        self.handle
            .observed(op!("HDEL"), async move {
                let h = &self.handle;
                h.settle().await?;
                let write = Write::remove("HDEL", &h.key, vec![encode::<F>(&h.key, field)?]);
                let removed: i64 = h.core.write_value(&write).await?;
                Ok(removed > 0)
            })
            .await
    }

    /// Every entry.
    pub async fn entries(&self) -> Result<Vec<(F::Value, V::Value)>> {
        self.handle
            .observed(op!("HGETALL"), async move {
                let key = self.handle.read_key().await?;
                let fields: Vec<(Vec<u8>, Vec<u8>)> = self
                    .handle
                    .core
                    .read(redis::cmd("HGETALL").arg(key), key, "HGETALL")
                    .await?;
                fields
                    .into_iter()
                    .map(|(f, v)| Ok((decode::<F>(key, &f)?, decode::<V>(key, &v)?)))
                    .collect()
            })
            .await
    }

    /// The number of entries.
    pub async fn len(&self) -> Result<u64> {
        self.handle
            .observed(op!("HLEN"), async move {
                let key = self.handle.read_key().await?;
                self.handle.core.read(redis::cmd("HLEN").arg(key), key, "HLEN").await
            })
            .await
    }
}

/// One field (`HGET`, the field's name made for the key read), decoded with `C`: of the new key,
/// or during a layout change of the old one while only that exists.
async fn read_field<C: Codec>(
    handle: &super::Handle<'_>,
    field: impl FnOnce(&str) -> Result<Vec<u8>>,
) -> Result<Option<C::Value>> {
    let key = handle.read_key().await?;
    let field = field(key)?;
    let bytes: Option<Vec<u8>> = handle
        .core
        .read(redis::cmd("HGET").arg(key).arg(field), key, "HGET")
        .await?;
    bytes.map(|bytes| decode::<C>(key, &bytes)).transpose()
}

/// Every field of a record (`HGETALL`): none when the key does not exist.
async fn read_record(handle: &super::Handle<'_>, key: &str) -> Result<Vec<(String, Vec<u8>)>> {
    handle.core.read(redis::cmd("HGETALL").arg(key), key, "HGETALL").await
}

/// A decode error for a field of a record (for generated `from_fields`).
pub fn field_error(key: &str, field: &str, codec: &str, reason: impl Into<String>) -> Error {
    Error::Decode {
        key: format!("{key} (field {field})"),
        codec: codec.to_string(),
        reason: reason.into(),
    }
}

/// Encodes one field of a record with `C` (generated `to_fields`).
pub fn encode_field<C: Codec>(key: &str, field: &str, value: &C::Value) -> Result<Vec<u8>> {
    C::encode(value).map_err(|reason| Error::Encode {
        key: format!("{key} (field {field})"),
        codec: C::name().into_owned(),
        reason,
    })
}

/// Decodes one field of a record with `C` (generated `from_fields`).
pub fn decode_field<C: Codec>(key: &str, field: &str, bytes: &[u8]) -> Result<C::Value> {
    C::decode(bytes).map_err(|reason| field_error(key, field, &C::name(), reason))
}
