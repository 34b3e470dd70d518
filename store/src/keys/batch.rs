//! A batch's typed writes: each takes the key's handle, which carries the key's definition,
//! codec and TTL, as a transaction's do ([`super::transaction`]).

use super::StringKey;
use crate::batch::Batch;
use crate::bridge::Around;
use crate::codec::Codec;
use crate::error::Result;

impl Batch<'_> {
    /// Queues a string key's write with its TTL (`SET ... PX`, or under `keepttl`
    /// `SET ... KEEPTTL` and `PEXPIRE ... NX` together). The handle carries the key's codec, so
    /// a value of another type does not compile:
    ///
    /// ```compile_fail
    /// # fn demo(store: keyschema_store::Store, key: keyschema_store::StringKey<'_, keyschema_store::Int>) {
    /// let mut batch = store.batch();
    /// batch.set(&key, &"not a number".to_string()); // expected `i64`
    /// # }
    /// ```
    pub fn set<C: Codec>(&mut self, key: &StringKey<'_, C>, value: &C::Value) -> Result<&mut Self> {
        let write = key.set_write(value)?;
        self.bridge(key.handle.bridge_step(Around::Retire));
        Ok(self.write(write))
    }
}
