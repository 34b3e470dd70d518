//! Typed accessors, one per Redis type: what generated code hands out for a formatted key. Each
//! builds its writes through the one write path ([`crate::write`]), so every write applies the
//! key's policy (TTL, cap, time window) in the same atomic step.

/// Declares an accessor type `$name<'s, T...>` with what every accessor has: `new`, `key`,
/// `with_ttl`, `delete` and `ttl`.
macro_rules! accessor {
    ($name:ident<$($t:ident),+> where $($bound:path),+; $doc:literal) => {
        #[doc = $doc]
        pub struct $name<'s, $($t),+> {
            pub(crate) handle: crate::keys::Handle<'s>,
            types: std::marker::PhantomData<($($t,)+)>,
        }

        impl<'s, $($t: $bound),+> $name<'s, $($t),+> {
            /// The accessor of `key`, an instance of key definition `id` (generated code passes
            /// [`Store::core`](crate::Store::core)).
            pub fn new(core: &'s crate::core::Core, id: crate::policy::KeyId, key: String) -> Self {
                Self {
                    handle: crate::keys::Handle::new(core, id, key),
                    types: std::marker::PhantomData,
                }
            }

            /// The formatted key.
            pub fn key(&self) -> &str {
                &self.handle.key
            }

            /// The same key, its writes applying `ttl` instead of the declared one: for keys
            /// declared `ttl per_write(max = ...)`, within that bound. Any other key, a zero TTL
            /// or one over the bound is [`Error::TtlNotAllowed`](crate::Error::TtlNotAllowed).
            pub fn with_ttl(mut self, ttl: std::time::Duration) -> crate::error::Result<Self> {
                self.handle.ttl = self.handle.policy.ttl_for(&self.handle.key, Some(ttl))?;
                Ok(self)
            }

            /// Deletes the key (and, during a layout change, its old key); whether it existed.
            pub async fn delete(&self) -> crate::error::Result<bool> {
                self.handle.observed(crate::telemetry::op!("DEL"), self.handle.delete()).await
            }

            /// The key's remaining time to live (during a layout change, the old key's when the
            /// new one does not exist yet).
            pub async fn ttl(&self) -> crate::error::Result<crate::core::KeyTtl> {
                self.handle.observed(crate::telemetry::op!("PTTL"), self.handle.ttl()).await
            }

            /// Deletes the key in `transaction` (and, during a layout change, its old key once
            /// the transaction is applied).
            pub fn delete_in(&self, transaction: &mut crate::transaction::Transaction<'_>) -> crate::error::Result<()> {
                transaction.delete(&self.handle.key)?;
                transaction.note(self.handle.id);
                transaction.bridge(self.handle.bridge_step(crate::bridge::Around::Delete));
                Ok(())
            }

            /// The same key, bridged from the previous layout's key for the same values
            /// (generated code, for a store generated with a previous schema): reads fall back
            /// to `previous` and writes settle it as the store's
            /// [`BridgeMode`](crate::BridgeMode) says. `None`: not bridged.
            #[doc(hidden)]
            pub fn bridged(mut self, previous: Option<String>) -> Self {
                self.handle.bridge(previous, None);
                self
            }
        }
    };
}

mod batch;
mod collections;
mod hash;
mod indexed;
mod string;
mod transaction;

pub(crate) use collections::intersect;
pub use collections::{ListKey, SetKey, StreamKey, ZsetKey};
pub use hash::{decode_field, encode_field, field_error, HashKey, HashMapKey};
pub use indexed::IndexedKey;
#[cfg(feature = "ops")]
pub(crate) use indexed::{indexed_value, score_now};
pub(crate) use string::get;
pub use string::StringKey;

use crate::bridge::{self, Around, BridgeStep, Previous, Recode};
use crate::codec::Codec;
use crate::codec::{decode, encode};
use crate::core::{BridgeMode, Core, KeyTtl};
use crate::error::Result;
use crate::policy::{KeyId, KeyPolicy};
use crate::telemetry;
use std::time::Duration;

/// What every accessor holds: the core, the key's policy, the formatted key and the TTL its
/// writes apply.
#[derive(Clone)]
pub(crate) struct Handle<'s> {
    pub(crate) core: &'s Core,
    pub(crate) id: KeyId,
    pub(crate) policy: &'s KeyPolicy,
    pub(crate) key: String,
    pub(crate) ttl: Option<Duration>,
    /// During a layout change, the key the previous layout used for the same values.
    pub(crate) previous: Option<Previous>,
}

impl<'s> Handle<'s> {
    pub(crate) fn new(core: &'s Core, id: KeyId, key: String) -> Self {
        let policy = core.policy(id);
        Self {
            core,
            id,
            policy,
            key,
            ttl: policy.ttl,
            previous: None,
        }
    }

    /// Bridges the key from `previous` (re-encoding strings with `recode` when set).
    pub(crate) fn bridge(&mut self, previous: Option<String>, recode: Option<Recode>) {
        let string = matches!(
            self.core.schema().keys.get(self.id.index()).map(|key| &key.redis_type),
            Some(keyschema::RedisType::String { .. })
        );
        let mode = self.core.bridge_mode();
        self.previous = previous.map(|key| Previous {
            key,
            recode,
            string,
            mode,
        });
    }

    /// Runs `future`, `operation` on this key, observed ([`crate::telemetry`]).
    pub(crate) fn observed<'h, T: 'h>(
        &'h self,
        operation: crate::telemetry::Operation,
        future: impl std::future::Future<Output = Result<T>> + 'h,
    ) -> impl std::future::Future<Output = Result<T>> + 'h {
        telemetry::observe(self.core, telemetry::Op::on(self.id, operation).at(&self.key), future)
    }

    /// Before a write that adds to the value (or reads part of it): the old key's content is
    /// brought over if the new key does not exist yet.
    pub(crate) async fn settle(&self) -> Result<()> {
        self.settle_found().await.map(drop)
    }

    /// After a write that replaced the whole value: the old key is retired (under `Move`).
    pub(crate) async fn retire(&self) -> Result<()> {
        if let Some(previous) = &self.previous {
            Box::pin(bridge::retire(self.core, previous)).await?;
        }
        Ok(())
    }

    /// The key a read of part of a collection goes to: the new key; during a layout change,
    /// the old key while only that one exists (under `Move`, the old key is moved first and the
    /// new key read). One more round trip per read while the key is bridged.
    pub(crate) async fn read_key(&self) -> Result<&str> {
        let Some(previous) = &self.previous else {
            return Ok(&self.key);
        };
        if previous.mode == BridgeMode::Move {
            self.settle().await?;
            return Ok(&self.key);
        }
        let exists: bool = self
            .core
            .read(redis::cmd("EXISTS").arg(&self.key), &self.key, "EXISTS")
            .await?;
        Ok(if exists { &self.key } else { &previous.key })
    }

    /// After a read of a whole value missed the new key: the key to read instead, if any. The
    /// old key, left in place (`Fallback`); or, under `Move`, the new key again once the old one
    /// has been moved to it (by this call or another instance's). `None`: not bridged.
    pub(crate) async fn fallback_key(&self) -> Result<Option<&str>> {
        let Some(previous) = &self.previous else {
            return Ok(None);
        };
        if previous.mode == BridgeMode::Move {
            // The new key is read again whatever the move found: finding no old key may mean
            // another instance moved it since this read missed.
            self.settle().await?;
            return Ok(Some(&self.key));
        }
        Ok(Some(&previous.key))
    }

    async fn settle_found(&self) -> Result<bridge::Settled> {
        match &self.previous {
            Some(previous) => Box::pin(bridge::settle(self.core, &self.key, previous)).await,
            None => Ok(bridge::Settled::Nothing),
        }
    }

    /// What a batch or transaction does around this key's write.
    pub(crate) fn bridge_step(&self, around: Around) -> Option<BridgeStep> {
        self.previous.as_ref().map(|previous| BridgeStep {
            key: self.key.clone(),
            previous: previous.clone(),
            around,
        })
    }

    /// Deletes the key and its old key; whether either existed.
    pub(crate) async fn delete(&self) -> Result<bool> {
        let removed = self.core.delete(&self.key).await?;
        match &self.previous {
            Some(previous) => Ok(self.core.delete(&previous.key).await? || removed),
            None => Ok(removed),
        }
    }

    /// The key's TTL, or its old key's while only that one exists.
    pub(crate) async fn ttl(&self) -> Result<KeyTtl> {
        let ttl = self.core.ttl(&self.key).await?;
        match (&self.previous, ttl) {
            (Some(previous), KeyTtl::Missing) => self.core.ttl(&previous.key).await,
            _ => Ok(ttl),
        }
    }

    /// Encodes every value with `C`.
    fn encode_all<'v, C: Codec>(&self, values: impl IntoIterator<Item = &'v C::Value>) -> Result<Vec<Vec<u8>>>
    where
        C::Value: 'v,
    {
        values.into_iter().map(|value| encode::<C>(&self.key, value)).collect()
    }

    /// Reads `key` with `cmd` and decodes every item with `C`.
    async fn read_all<C: Codec>(&self, key: &str, cmd: &redis::Cmd, command: &'static str) -> Result<Vec<C::Value>> {
        let items: Vec<Vec<u8>> = self.core.read(cmd, key, command).await?;
        items.iter().map(|bytes| decode::<C>(key, bytes)).collect()
    }
}
