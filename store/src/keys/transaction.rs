//! A transaction's typed writes: each takes the key's handle, which carries the key's definition,
//! codec and TTL, so a value of the wrong type does not compile and a key cannot be written with
//! another key's policy. The collection writes are the accessors' own ([`SetKey::add`] and
//! [`SetKey::remove`], ...), built by the same code.

use super::{HashKey, ListKey, SetKey, StringKey, ZsetKey};
use crate::bridge::Around;
use crate::codec::{Codec, HashRecord, Score};
use crate::error::Result;
use crate::transaction::Transaction;

impl Transaction<'_> {
    /// Writes a string key's value with its TTL. The handle carries the key's codec, so a value
    /// of another type does not compile:
    ///
    /// ```compile_fail
    /// # async fn demo(store: keyschema_store::Store, key: keyschema_store::StringKey<'_, keyschema_store::Int>) {
    /// let mut tx = store.transaction();
    /// tx.set(&key, &"not a number".to_string()); // expected `i64`
    /// # }
    /// ```
    pub fn set<C: Codec>(&mut self, key: &StringKey<'_, C>, value: &C::Value) -> Result<&mut Self> {
        let write = key.set_write(value)?;
        self.note(key.handle.id);
        self.bridge(key.handle.bridge_step(Around::Retire));
        self.push_write(write)
    }

    /// Replaces a hash record.
    pub fn set_record<R: HashRecord>(&mut self, key: &HashKey<'_, R>, record: &R) -> Result<&mut Self> {
        let write = key.set_write(record)?;
        self.note(key.handle.id);
        self.bridge(key.handle.bridge_step(Around::Retire));
        self.push_write(write)
    }

    /// Appends to a list, trimmed to its cap.
    pub fn push<C: Codec>(&mut self, key: &ListKey<'_, C>, values: &[C::Value]) -> Result<&mut Self> {
        let write = key.push_write(values)?;
        self.note(key.handle.id);
        self.bridge(key.handle.bridge_step(Around::Settle));
        self.push_write(write)
    }

    /// Adds members to a set.
    pub fn add<C: Codec>(&mut self, key: &SetKey<'_, C>, members: &[C::Value]) -> Result<&mut Self> {
        let write = key.add_write(members)?;
        self.note(key.handle.id);
        self.bridge(key.handle.bridge_step(Around::Settle));
        self.push_write(write)
    }

    /// Removes members from a set.
    pub fn remove<C: Codec>(&mut self, key: &SetKey<'_, C>, members: &[C::Value]) -> Result<&mut Self> {
        let write = key.remove_write(members)?;
        self.note(key.handle.id);
        self.bridge(key.handle.bridge_step(Around::Settle));
        self.push_write(write)
    }

    /// Adds scored members to a sorted set, trimmed to its cap.
    pub fn add_scored<C: Codec, S: Score>(
        &mut self,
        key: &ZsetKey<'_, C, S>,
        members: &[(C::Value, S)],
    ) -> Result<&mut Self> {
        let write = key.add_write(members)?;
        self.note(key.handle.id);
        self.bridge(key.handle.bridge_step(Around::Settle));
        self.push_write(write)
    }

    /// Removes members from a sorted set.
    pub fn remove_scored<C: Codec, S: Score>(
        &mut self,
        key: &ZsetKey<'_, C, S>,
        members: &[C::Value],
    ) -> Result<&mut Self> {
        let write = key.remove_write(members)?;
        self.note(key.handle.id);
        self.bridge(key.handle.bridge_step(Around::Settle));
        self.push_write(write)
    }

    /// Optimistic concurrency: the transaction applies only if the string key still holds
    /// `value` (`None`: the key must not exist) when it runs; otherwise [`Error::Conflict`], and
    /// nothing is written. Read, decide, expect what was read, write; retry on conflict.
    pub fn expect<C: Codec>(&mut self, key: &StringKey<'_, C>, value: Option<&C::Value>) -> Result<&mut Self> {
        // Compared with the new key, so an old-layout value is moved there first.
        self.note(key.handle.id);
        self.bridge(key.handle.bridge_step(Around::Settle));
        self.expect_encoded(key.key(), key.expected(value)?)
    }
}
