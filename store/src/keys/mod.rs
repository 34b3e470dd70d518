//! Typed accessors, one per Redis type: what generated code hands out for a formatted key. Every
//! write applies the key's TTL in the same atomic step (one command, or MULTI/EXEC on the key).

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
