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

            /// Deletes the key; whether it existed.
            pub async fn delete(&self) -> crate::error::Result<bool> {
                self.handle.core.delete(&self.handle.key).await
            }

            /// The key's remaining time to live.
            pub async fn ttl(&self) -> crate::error::Result<crate::core::KeyTtl> {
                self.handle.core.ttl(&self.handle.key).await
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

use crate::codec::Codec;
use crate::codec::{decode, encode};
use crate::core::Core;
use crate::error::Result;
use crate::policy::{KeyId, KeyPolicy};
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
        }
    }

    /// Encodes every value with `C`.
    fn encode_all<'v, C: Codec>(&self, values: impl IntoIterator<Item = &'v C::Value>) -> Result<Vec<Vec<u8>>>
    where
        C::Value: 'v,
    {
        values.into_iter().map(|value| encode::<C>(&self.key, value)).collect()
    }

    /// Reads with `cmd` and decodes every item with `C`.
    async fn read_all<C: Codec>(&self, cmd: &redis::Cmd, command: &'static str) -> Result<Vec<C::Value>> {
        let items: Vec<Vec<u8>> = self.core.read(cmd, &self.key, command).await?;
        items.iter().map(|bytes| decode::<C>(&self.key, bytes)).collect()
    }
}
