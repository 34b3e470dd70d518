//! The futures of the store's calls, as a service's task holds them (beside a cloned `Store`),
//! stay under glibc's 1,032-byte per-thread cache: a boxed or spawned future above it is served
//! by the arena under its lock, which cost 5-10% of a primitive's client CPU at 50 tasks
//! (docs/architecture.md, "Rare paths of a call are boxed"). Sizes are those of a release build
//! (a debug build lays futures out differently), so this test runs in release only:
//!
//! ```sh
//! cargo test --release -p keyschema-store --test future_sizes -- --nocapture
//! ```
//!
//! `scripts/test` runs it so; it prints every size.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_store::{
    Breaker, CacheKey, Delivery, IdempotencyKey, KeyId, Lock, RateLimit, Store, StringKey, Text, TimerQueue,
};
use keyschema_tests::RedisServer;
use std::sync::Arc;

/// The largest request glibc's per-thread cache (tcache) serves.
const THREAD_CACHE_LIMIT: usize = 1_032;

const SCHEMA: &str = "\
param id ident
note:<id> string text ttl 1h \"A note\"
lock lock:<id> ttl 10s \"A lock\"
ratelimit rl:<id> ttl 1s limit 100 \"A limit\"
breaker cb:<id> ttl 30s threshold 5 open_for 10s \"A breaker\"
idempotency once:<id> ttl 1h \"A claim\"
timers due member id visibility 30s \"Timers\"
cache page:<id> text ttl 1m \"A cached page\"
";

fn id(store: &Store, name: &str) -> KeyId {
    KeyId::of(store.schema(), name).unwrap_or_else(|| panic!("no key {name}"))
}

/// The bytes a task holds for `future` beside a cloned store.
fn held<F>(future: &F) -> usize {
    std::mem::size_of_val(future) + std::mem::size_of::<Store>()
}

#[tokio::test]
#[cfg_attr(
    debug_assertions,
    ignore = "future sizes are a release build's: cargo test --release -p keyschema-store --test future_sizes"
)]
async fn every_call_held_beside_a_store_fits_the_allocators_thread_cache() {
    let server = RedisServer::start();
    let schema: Arc<keyschema::KeySchema> = keyschema::Schema::parse(SCHEMA, "sizes.keys").unwrap().model_arc();
    let store = Store::connect(&server.url(), schema).await.unwrap();
    let core = store.core();
    let value = "v".to_string();
    let mut sizes: Vec<(&str, usize)> = Vec::new();

    sizes.push(("Store::get", held(&store.get::<Text>("note:a"))));
    let note: StringKey<'_, Text> = StringKey::new(core, id(&store, "note"), "note:a".into());
    sizes.push(("StringKey::get", held(&note.get())));
    sizes.push(("StringKey::set", held(&note.set(&value))));
    sizes.push(("StringKey::get_and_delete", held(&note.get_and_delete())));
    let lock = Lock::new(core, id(&store, "lock"), "lock:a".into());
    sizes.push(("Lock::try_acquire", held(&lock.try_acquire())));
    sizes.push(("Lock::acquire", held(&lock.acquire(std::time::Duration::from_secs(1)))));
    let guard = lock.try_acquire().await.unwrap().unwrap();
    sizes.push(("LockGuard::fence", held(&guard.fence())));
    let limit = RateLimit::new(core, id(&store, "rl"), "rl:a".into());
    sizes.push(("RateLimit::hit", held(&limit.hit())));
    let breaker = Breaker::new(core, id(&store, "cb"), "cb:a".into());
    sizes.push(("Breaker::permit", held(&breaker.permit())));
    sizes.push((
        "Breaker::call",
        held(&breaker.call(|| async { Ok::<_, std::io::Error>(()) })),
    ));
    let once: IdempotencyKey<'_, Text> = IdempotencyKey::new(core, id(&store, "once"), "once:a".into());
    sizes.push(("IdempotencyKey::claim", held(&once.claim(&value))));
    let timers: TimerQueue<'_, Text, i64> = TimerQueue::new(core, id(&store, "due"), "due".into());
    sizes.push((
        "TimerQueue::claim_due",
        held(&timers.claim_due(10, Delivery::AtLeastOnce)),
    ));
    let page: CacheKey<'_, Text> = CacheKey::new(core, id(&store, "page"), "page:a".into());
    sizes.push((
        "CacheKey::get_or_load",
        held(&page.get_or_load(|| async { Ok::<_, std::io::Error>("p".to_string()) })),
    ));

    for (name, size) in &sizes {
        eprintln!(
            "{name:<28} {size:>5} bytes held (future + {} of Store)",
            std::mem::size_of::<Store>()
        );
    }
    let over: Vec<_> = sizes.iter().filter(|(_, size)| *size > THREAD_CACHE_LIMIT).collect();
    assert!(
        over.is_empty(),
        "futures over glibc's {THREAD_CACHE_LIMIT}-byte thread cache: {over:?}"
    );
    guard.release().await.unwrap();
}
