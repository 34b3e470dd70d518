//! State that features keep per store without the core naming them: a map from a type to its
//! one value, created on first use and shared by every clone of the store. The core holds the
//! map; a feature asks for its own type (`core.extension::<Renewals>()`), so the core compiles
//! without knowing which features exist, as a connection holds an optional cache it never names.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// One value per type, each created by `Default` when first asked for.
#[derive(Default)]
pub(crate) struct Extensions {
    values: RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Extensions {
    /// The value of type `T`, created now if it is the first time it is asked for.
    pub(crate) fn get<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let id = TypeId::of::<T>();
        // The maps hold `Arc`s only, which a panicking holder cannot leave half-changed.
        let found = self
            .values
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned();
        let value = match found {
            Some(value) => value,
            None => Arc::clone(
                self.values
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(id)
                    .or_insert_with(|| Arc::new(T::default())),
            ),
        };
        // The entry of `TypeId::of::<T>()` is only ever created from a `T`.
        value
            .downcast::<T>()
            .unwrap_or_else(|_| unreachable!("an extension is stored under its own type"))
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
        assert!(Arc::ptr_eq(&extensions.get::<Counter>(), &extensions.get::<Counter>()));
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
    }
}
