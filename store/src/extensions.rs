//! State that features keep per store without the core naming them: a map from a type to its
//! one value, created on first use and shared by every clone of the store. The core holds the
//! map; a feature asks for its own type (`core.extension::<Renewals>()`), so the core compiles
//! without knowing which features exist, as a connection holds an optional cache it never names.
//!
//! Reads take no lock and write no shared memory: the map is append-only, a fixed row of slots
//! set once each, so a lookup is a few loads. Every operation looks up its features' state, and
//! a lock or a reference count here was written by every operation on every thread (5-6% of the
//! throughput of 50 tasks on two cores).

use std::any::{Any, TypeId};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Room for the crate's types of extension, each set at most once: five use it today (`Caches`,
/// `LocalBreakers`, `LocalLimits`, lock `Renewals` and `Telemetry`), and only this crate's own
/// private types can.
const SLOTS: usize = 16;

type Slot = OnceLock<(TypeId, Box<dyn Any + Send + Sync>)>;

/// One value per type, each created by `Default` when first asked for.
#[derive(Default)]
pub(crate) struct Extensions {
    /// Filled in order, never emptied.
    slots: [Slot; SLOTS],
    /// Held while a slot is filled, so one type gets one slot.
    filling: Mutex<()>,
}

impl Extensions {
    /// The value of type `T`, created now if it is the first time it is asked for. It is shared
    /// (an `Arc`) for the features whose tasks outlive a call, such as lock renewals.
    pub(crate) fn get<T: Default + Send + Sync + 'static>(&self) -> &Arc<T> {
        let id = TypeId::of::<T>();
        if let Some(value) = self.find::<T>(id) {
            return value;
        }
        let _filling = self.filling.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = self.find::<T>(id) {
            return value;
        }
        let slot = self
            .slots
            .iter()
            .find(|slot| slot.get().is_none())
            // The crate has fewer types of extension than slots (`every_extension_type_fits`).
            .unwrap_or_else(|| unreachable!("more than {SLOTS} types of extension"));
        let (_, value) = slot.get_or_init(|| (id, Box::new(Arc::new(T::default()))));
        // The slot was empty, and slots are only filled under `filling`: it holds an `Arc<T>`.
        value
            .downcast_ref::<Arc<T>>()
            .unwrap_or_else(|| unreachable!("an extension is stored under its own type"))
    }

    fn find<T: 'static>(&self, id: TypeId) -> Option<&Arc<T>> {
        self.slots
            .iter()
            .map_while(OnceLock::get)
            .find(|(slot_id, _)| *slot_id == id)
            .and_then(|(_, value)| value.downcast_ref::<Arc<T>>())
    }

    /// How many types have a value.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.iter().map_while(OnceLock::get).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Default)]
    struct Counter(AtomicU32);

    #[derive(Default)]
    struct Other(u8);

    #[test]
    fn each_type_has_one_value_shared_by_every_caller() {
        let extensions = Extensions::default();
        extensions.get::<Counter>().0.fetch_add(1, Ordering::Relaxed);
        extensions.get::<Counter>().0.fetch_add(1, Ordering::Relaxed);
        assert_eq!(extensions.get::<Counter>().0.load(Ordering::Relaxed), 2);
        assert_eq!(extensions.get::<Other>().0, 0);
        assert!(Arc::ptr_eq(extensions.get::<Counter>(), extensions.get::<Counter>()));
        assert_eq!(extensions.len(), 2);
    }

    #[test]
    fn concurrent_first_uses_create_one_value() {
        let extensions = Arc::new(Extensions::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let extensions = Arc::clone(&extensions);
                std::thread::spawn(move || {
                    extensions.get::<Counter>().0.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(extensions.get::<Counter>().0.load(Ordering::Relaxed), 8);
        assert_eq!(extensions.len(), 1);
    }

    /// Every slot holds its own type's value.
    #[test]
    fn every_slot_can_be_filled() {
        #[derive(Default)]
        struct Typed<const N: usize>(usize);
        let extensions = Extensions::default();
        macro_rules! fill {
            ($($n:literal)*) => {$(
                assert_eq!(extensions.get::<Typed<$n>>().0, 0);
            )*};
        }
        fill!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        assert_eq!(extensions.len(), SLOTS);
        assert!(Arc::ptr_eq(extensions.get::<Typed<7>>(), extensions.get::<Typed<7>>()));
    }
}
