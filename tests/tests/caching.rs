//! Cache-aside against real servers: one load per cold key however many callers (in one process,
//! and across two store instances), the loader's value within the timeout while Redis is down and
//! caching again after it restarts, invalidation by pattern that removes exactly the pattern's
//! keys on standalone and on the cluster, shared counts, early refresh.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_store::keyschema::ParamValue;
use keyschema_store::{CacheKey, ConnectionOptions, Json, KeyId, KeyTtl, Store, StringKey, Text};
use keyschema_tests::{shared_cluster, shared_standalone, unique, RedisServer};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCHEMA: &str = r#"
keyspace opensensor
param deviceID text
param tenant   ident

cache device:<deviceID>            json(DeviceInfo) ttl 5m "Device information, by device"
device:<deviceID>:history          string text ttl 1h      "A neighbour sharing the cache's prefix"
cache report:<tenant>:<deviceID>   text ttl 1m stats shared "A report per tenant and device"
cache fleet:<tenant>               text ttl 1m single_flight instances "A tenant's fleet, loaded once across instances"
cache hot:<deviceID>               text ttl 2s refresh_early "A hot key refreshed before it expires"
"#;

type Info = serde_json::Value;

fn schema() -> Arc<keyschema_store::keyschema::KeySchema> {
    keyschema_store::keyschema::Schema::parse(SCHEMA, "caching.keys")
        .unwrap()
        .model_arc()
}

fn id(store: &Store, name: &str) -> KeyId {
    KeyId::of(store.schema(), name).unwrap()
}

fn options() -> ConnectionOptions {
    ConnectionOptions::default()
        .connection_timeout(Duration::from_millis(300))
        .response_timeout(Duration::from_millis(300))
}

async fn standalone() -> Store {
    Store::connect_with(&shared_standalone().url(), schema(), &options())
        .await
        .unwrap()
}

async fn cluster() -> Store {
    Store::connect_cluster_with(&shared_cluster().urls(), schema(), &options())
        .await
        .unwrap()
}

/// The key `name` with text `values`, formatted (escaped) as generated code does.
fn key_of(store: &Store, name: &str, values: &[&str]) -> String {
    let model = store.schema();
    let values: Vec<ParamValue<'_>> = values.iter().map(|v| ParamValue::Text((*v).into())).collect();
    let mut key = String::new();
    model
        .write_key(&model.keys[id(store, name).index()], &values, &mut key)
        .unwrap();
    key
}

fn device<'s>(store: &'s Store, device_id: &str) -> CacheKey<'s, Json<Info>> {
    CacheKey::new(store.core(), id(store, "device"), key_of(store, "device", &[device_id]))
}

fn text_cache<'s>(store: &'s Store, name: &str, values: &[&str]) -> CacheKey<'s, Text> {
    CacheKey::new(store.core(), id(store, name), key_of(store, name, values))
}

/// 100 callers on one cold key: the loader runs once, every caller gets its value, the key has
/// the declared TTL on the server.
async fn single_flight(store: Store) {
    let store = Arc::new(store);
    let device_id = unique("cold-");
    let loads = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..100)
        .map(|_| {
            let (store, device_id, loads) = (store.clone(), device_id.clone(), loads.clone());
            tokio::spawn(async move {
                device(&store, &device_id)
                    .get_or_load(|| async {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, std::io::Error>(serde_json::json!({ "device": device_id, "model": "X1" }))
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.await.unwrap()["model"], "X1");
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1, "one load for 100 callers");
    let cache = device(&store, &device_id);
    match store.ttl(cache.key()).await.unwrap() {
        KeyTtl::Expires(ttl) => assert!(
            ttl > Duration::from_secs(290) && ttl <= Duration::from_secs(300),
            "{ttl:?}"
        ),
        other => panic!("{}: {other:?}", cache.key()),
    }
    let stats = store.cache_stats(id(&store, "device")).await.unwrap();
    assert_eq!(stats.loads, 1);
    // Each call counted once: the loader's call a miss, the 99 that waited for it hits.
    assert_eq!((stats.misses, stats.hits, stats.fallbacks), (1, 99, 0), "{stats:?}");
    assert!(cache.invalidate().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_callers_on_a_cold_key_load_it_once() {
    single_flight(standalone().await).await;
    single_flight(cluster().await).await;
}

/// Two store instances (two processes' worth of state), 50 callers each, `single_flight
/// instances`: one load in total.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn across_instances_a_cold_key_is_loaded_once_in_total() {
    for (first, second) in [
        (standalone().await, standalone().await),
        (cluster().await, cluster().await),
    ] {
        let tenant = unique("t");
        let loads = Arc::new(AtomicU64::new(0));
        let mut callers = Vec::new();
        for store in [Arc::new(first), Arc::new(second)] {
            for _ in 0..50 {
                let (store, tenant, loads) = (store.clone(), tenant.clone(), loads.clone());
                callers.push(tokio::spawn(async move {
                    text_cache(&store, "fleet", &[&tenant])
                        .get_or_load(|| async {
                            loads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            Ok::<_, std::io::Error>("fleet of 12".to_string())
                        })
                        .await
                        .unwrap()
                }));
            }
        }
        for caller in callers {
            assert_eq!(caller.await.unwrap(), "fleet of 12");
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one load across two instances");
    }
}

/// Redis stopped in the middle of a run: every call still answers the loader's value, within
/// the connection timeout; after a restart the cache is used again; the counts say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_calls_answer_uncached_within_the_timeout_and_caching_resumes() {
    let mut server = RedisServer::start();
    let store = Store::connect_with(&server.url(), schema(), &options()).await.unwrap();
    let device_id = unique("fallback-");
    let loads = AtomicU64::new(0);
    let calls = AtomicU64::new(0);
    let call = || async {
        calls.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let value = device(&store, &device_id)
            .get_or_load(|| async {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(serde_json::json!({ "model": "X1" }))
            })
            .await
            .unwrap();
        assert_eq!(value["model"], "X1");
        started.elapsed()
    };
    for _ in 0..20 {
        call().await;
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1, "cached while Redis is up");

    server.stop();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        slowest = slowest.max(call().await);
    }
    // A refused connection fails at once; the bound is the connection timeout.
    assert!(
        slowest < Duration::from_millis(600),
        "slowest call while down: {slowest:?}"
    );
    assert_eq!(loads.load(Ordering::SeqCst), 21, "every call while down loaded");

    server.restart();
    // The first calls after the restart may still find the connection down; within a few
    // seconds one stores the value, and from then on every call is a hit.
    let resumed = Instant::now();
    let mut before = loads.load(Ordering::SeqCst);
    loop {
        call().await;
        let now = loads.load(Ordering::SeqCst);
        if now == before {
            break;
        }
        before = now;
        assert!(resumed.elapsed() < Duration::from_secs(5), "caching did not resume");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..20 {
        call().await;
    }
    let after = loads.load(Ordering::SeqCst);
    assert_eq!(after, before, "cached again after the restart");
    let stats = store.cache_stats(id(&store, "device")).await.unwrap();
    assert!(stats.fallbacks >= 20, "{stats:?}");
    assert_eq!(stats.loads, after);
    // Each call counted once, through the outage and the restart too.
    assert_eq!(
        stats.hits + stats.misses + stats.fallbacks,
        calls.load(Ordering::SeqCst),
        "{stats:?}"
    );
    server.stop();
}

/// Fills `count` keys per tenant for two tenants, with device ids that need escaping, and as
/// many keys of the neighbouring `device:<deviceID>:history` pattern.
async fn fill(store: &Store, run: &str, count: usize) -> (Vec<String>, Vec<String>) {
    let mut reports = Vec::new();
    let mut neighbours = Vec::new();
    for i in 0..count {
        // `:` and `{` are escaped in keys; `*` and `?` are glob characters.
        let device_id = format!("{run}-d{i}:a*b?{{x}}");
        for tenant in ["acme", "other"] {
            let cache = text_cache(store, "report", &[tenant, &device_id]);
            cache
                .get_or_load(|| async { Ok::<_, std::io::Error>(format!("report {i}")) })
                .await
                .unwrap();
            reports.push(cache.key().to_string());
        }
        let history = key_of(store, "device_history", &[&device_id]);
        StringKey::<Text>::new(store.core(), id(store, "device_history"), history.clone())
            .set(&"h".to_string())
            .await
            .unwrap();
        let device = device(store, &device_id);
        device
            .get_or_load(|| async { Ok::<_, std::io::Error>(serde_json::json!({})) })
            .await
            .unwrap();
        neighbours.push(history);
        neighbours.push(device.key().to_string());
    }
    (reports, neighbours)
}

async fn existing(store: &Store, keys: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for key in keys {
        if store.ttl(key).await.unwrap() != KeyTtl::Missing {
            found.insert(key.clone());
        }
    }
    found
}

async fn invalidation(store: Store) {
    let run = unique("inv");
    let (reports, neighbours) = fill(&store, &run, 150).await;
    let report = id(&store, "report");
    // One tenant's keys, fixed by a value: only those go.
    let removed = store.invalidate(report, &[("tenant", "acme")]).await.unwrap();
    assert!(removed >= 150, "{removed}");
    let left = existing(&store, &reports).await;
    assert_eq!(left.len(), 150);
    assert!(left.iter().all(|key| key.starts_with("report:other:")), "{left:?}");
    // One device of the other tenant, its id full of escapes and glob characters.
    let one = format!("{run}-d7:a*b?{{x}}");
    assert_eq!(
        store
            .invalidate(report, &[("tenant", "other"), ("deviceID", &one)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(existing(&store, &reports).await.len(), 149);
    // Everything of the pattern; the neighbour patterns (`device:*` also matches
    // `device:<id>:history`) keep all of their keys.
    store.invalidate(report, &[]).await.unwrap();
    assert!(existing(&store, &reports).await.is_empty());
    assert_eq!(existing(&store, &neighbours).await.len(), neighbours.len());
    store.invalidate(id(&store, "device"), &[]).await.unwrap();
    let left = existing(&store, &neighbours).await;
    assert_eq!(left.len(), 150, "only the history keys are left");
    assert!(left.iter().all(|key| key.ends_with(":history")));
    for key in left {
        store.delete(&key).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidation_by_pattern_removes_exactly_the_patterns_keys() {
    invalidation(standalone().await).await;
    invalidation(cluster().await).await;
}

/// `stats shared`: two instances' counts add up in Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_counts_add_up_across_instances() {
    let (first, second) = (standalone().await, standalone().await);
    let report = id(&first, "report");
    let before = first.cache_stats(report).await.unwrap();
    let tenant = unique("s");
    for store in [&first, &second] {
        for device_id in ["a", "b", "c"] {
            text_cache(store, "report", &[&tenant, device_id])
                .get_or_load(|| async { Ok::<_, std::io::Error>("r".to_string()) })
                .await
                .unwrap();
        }
    }
    second.cache_stats(report).await.unwrap();
    let after = first.cache_stats(report).await.unwrap();
    assert_eq!(after.misses - before.misses, 3, "the first instance missed a, b, c");
    assert_eq!(after.hits - before.hits, 3, "the second found them");
    assert_eq!(after.loads - before.loads, 3);
    store_cleanup(&first, report, &tenant).await;
}

async fn store_cleanup(store: &Store, id: KeyId, tenant: &str) {
    store.invalidate(id, &[("tenant", tenant)]).await.unwrap();
}

/// `refresh_early`: a key read continuously near its expiry is reloaded before it expires, so
/// readers never miss; without reads it simply expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_keys_are_refreshed_before_they_expire() {
    let store = standalone().await;
    let device_id = unique("hot-");
    let loads = AtomicU64::new(0);
    let started = Instant::now();
    let mut misses_after_first = 0;
    while started.elapsed() < Duration::from_secs(5) {
        let cache = text_cache(&store, "hot", &[&device_id]);
        let value = cache
            .get_or_load(|| async {
                loads.fetch_add(1, Ordering::SeqCst);
                // A slow load makes refreshing early worth it.
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok::<_, std::io::Error>(format!("v{}", loads.load(Ordering::SeqCst)))
            })
            .await;
        assert!(value.is_ok());
        if loads.load(Ordering::SeqCst) > 1 && store.ttl(cache.key()).await.unwrap() == KeyTtl::Missing {
            misses_after_first += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let loads = loads.load(Ordering::SeqCst);
    // 5 s of a 2 s TTL: refreshed at least twice, not on every read.
    assert!((3..=20).contains(&loads), "{loads} loads");
    assert_eq!(misses_after_first, 0, "the key never expired under reads");
}
