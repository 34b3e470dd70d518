//! Single flight in one process: callers missing the same key wait for one load. The first
//! caller creates the key's flight and holds its lock while loading; the others queue on the
//! lock and find the value there. A failed load leaves the flight empty, so the next caller in
//! line loads (one at a time, never all at once).

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The value of one load, for the callers that waited for it.
pub(crate) type Flight<V> = tokio::sync::Mutex<Option<V>>;

/// The flights in progress, by key. Values of every cache live here, so each flight is stored
/// type-erased and recovered by its value type (a key belongs to one cache, so to one type).
#[derive(Default)]
pub(crate) struct Flights {
    by_key: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

impl Flights {
    /// The flight of `key`, and whether this call created it.
    pub(crate) fn join<V: Send + 'static>(&self, key: &str) -> (Arc<Flight<V>>, bool) {
        let mut by_key = self.by_key.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(existing) = by_key.get(key) {
            if let Ok(flight) = Arc::clone(existing).downcast::<Flight<V>>() {
                return (flight, false);
            }
        }
        let flight: Arc<Flight<V>> = Arc::new(tokio::sync::Mutex::new(None));
        by_key.insert(key.to_string(), flight.clone());
        (flight, true)
    }

    /// Ends the flight of `key` once its value is known: later callers read Redis again.
    pub(crate) fn end<V: Send + 'static>(&self, key: &str, flight: &Arc<Flight<V>>) {
        let mut by_key = self.by_key.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let same = by_key
            .get(key)
            .is_some_and(|current| std::ptr::addr_eq(Arc::as_ptr(current), Arc::as_ptr(flight)));
        if same {
            by_key.remove(key);
        }
    }
}
