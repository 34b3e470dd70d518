//! With the `telemetry` feature and nothing listening (no `tracing` subscriber, no `metrics`
//! recorder), an operation does what it does without the feature: it allocates nothing for
//! telemetry (docs/observability.md). Counted with a counting allocator, against the same calls
//! with a recorder installed on the thread, which do allocate their record.
//!
//! `cargo test -p keyschema-store --features telemetry --test telemetry_idle`

#![cfg(feature = "telemetry")]
#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_store::{KeyId, Store, StringKey, Text};
use keyschema_tests::telemetry::NullRecorder;
use keyschema_tests::RedisServer;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code)] // A global allocator is an unsafe trait: this one forwards to the system's.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CALLS: usize = 200;

/// Allocations made by `CALLS` reads and writes through a typed key.
async fn allocations(store: &Store) -> usize {
    let key: StringKey<'_, Text> = StringKey::new(store.core(), KeyId::new(0), "note:a".into());
    let value = "v".to_string();
    // Warm: handles, connections, buffers.
    key.set(&value).await.unwrap();
    key.get().await.unwrap();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..CALLS {
        key.set(&value).await.unwrap();
        key.get().await.unwrap();
    }
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn with_nothing_listening_an_operation_allocates_nothing_for_telemetry() {
    // One thread, so the thread's recorder is the one every poll sees.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = RedisServer::start();
        let schema: Arc<keyschema::KeySchema> =
            keyschema::Schema::parse("param id ident\nnote:<id> string text ttl 1h \"A note\"\n", "idle.keys")
                .unwrap()
                .model_arc();
        let store = Store::connect(&server.url(), schema).await.unwrap();
        let idle = allocations(&store).await;
        let recorder = NullRecorder::default();
        let _guard = metrics::set_default_local_recorder(&recorder);
        let listened = allocations(&store).await;
        // Listened to, each operation boxes its state: one allocation more per call (give or
        // take the client's own buffers). Idle, the same calls make none of them.
        assert!(
            listened >= idle + 2 * CALLS * 9 / 10,
            "{idle} allocations idle, {listened} with a recorder: the idle path allocated for telemetry"
        );
    });
}
