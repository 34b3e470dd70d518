//! Typed accessors, one per Redis type: what generated code hands out for a formatted key. Every
//! write applies the key's TTL in the same atomic step (one command, or MULTI/EXEC on the key).

/// Declares an accessor type `$name<'s, T>` with `new`, `key` and `delete`, for `T: $bound`.
macro_rules! accessor {
    ($name:ident, $bound:path, $doc:literal) => {
        #[doc = $doc]
        pub struct $name<'s, T> {
            handle: super::Handle<'s>,
            types: std::marker::PhantomData<T>,
        }

        impl<'s, T: $bound> $name<'s, T> {
            /// The accessor of `key`, an instance of the key definition at `def`.
            pub fn new(store: &'s crate::Store, def: usize, key: String) -> Self {
                Self {
                    handle: super::Handle { store, def, key },
                    types: std::marker::PhantomData,
                }
            }

            /// The formatted key.
            pub fn key(&self) -> &str {
                &self.handle.key
            }

            /// Deletes the key; whether it existed.
            pub async fn delete(&self) -> crate::Result<bool> {
                self.handle.store.delete(&self.handle.key).await
            }
        }
    };
}

mod collections;
mod hash;
mod string;

pub(crate) use collections::expired_before;
pub use collections::{ListKey, Score, SetKey, StreamKey, ZsetKey};
pub use hash::{decode_field, encode_field, field_error, HashKey, HashMapKey, HashRecord};
pub use string::StringKey;

use crate::Store;

/// What every accessor holds: the store, the key definition and the formatted key.
#[derive(Clone)]
pub(crate) struct Handle<'s> {
    pub(crate) store: &'s Store,
    pub(crate) def: usize,
    pub(crate) key: String,
}

/// A MULTI/EXEC transaction on one key.
fn transaction() -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.atomic();
    pipe
}
