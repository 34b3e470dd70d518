//! Idempotency keys (`idempotency` keys): the first caller's value wins, a duplicate gets it
//! back, and the final result replaces it keeping the TTL.

use crate::codec::Codec;
use crate::codec::{decode, encode};
use crate::error::Result;
use crate::recording;
use crate::telemetry::{self, op, Op};
use crate::write::Write;

accessor!(IdempotencyKey<C> where Codec; "An idempotency key whose values are encoded with `C`.");

/// The answer to [`IdempotencyKey::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim<V> {
    /// The key was free: this caller does the work.
    First,
    /// Another caller claimed it first: its value (a marker, or the final result).
    Duplicate(V),
}

impl<C: Codec> IdempotencyKey<'_, C> {
    /// Claims the key with `value` (`SET NX GET PX`, one round trip): [`Claim::First`], or the
    /// value of whoever claimed it first.
    pub async fn claim(&self, value: &C::Value) -> Result<Claim<C::Value>> {
        telemetry::observe(self.handle.core, Op::on(self.handle.id, op!("CLAIM")), async move {
            let h = &self.handle;
            let write = Write::claim(h.policy, &h.key, encode::<C>(&h.key, value)?, h.ttl);
            let previous: Option<Vec<u8>> = h.core.write_value(&write).await?;
            Ok(match previous {
                None => {
                    recording::decision("first");
                    Claim::First
                }
                Some(bytes) => {
                    recording::decision("duplicate");
                    Claim::Duplicate(decode::<C>(&h.key, &bytes)?)
                }
            })
        })
        .await
    }

    /// Records the final result, keeping the TTL the claim set; false when the key is gone (it
    /// expired, or was deleted to allow a retry).
    pub async fn complete(&self, result: &C::Value) -> Result<bool> {
        telemetry::observe(self.handle.core, Op::on(self.handle.id, op!("SET")), async move {
            let h = &self.handle;
            let write = Write::replace_keeping_ttl(h.policy, &h.key, encode::<C>(&h.key, result)?);
            let reply: Option<String> = h.core.write_value(&write).await?;
            Ok(reply.is_some())
        })
        .await
    }

    /// The value claimed or recorded, if any.
    pub async fn get(&self) -> Result<Option<C::Value>> {
        telemetry::observe(self.handle.core, Op::on(self.handle.id, op!("GET")), async move {
            crate::keys::get::<C>(self.handle.core, &self.handle.key).await
        })
        .await
    }
}
