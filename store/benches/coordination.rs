//! Coordination writes through the store against the same commands through redis-rs, measured
//! in the same run:
//! - a guarded (fenced) write to a key off the lock's slot, through the store's transaction,
//!   against the same check-and-write as a hand-written Lua script (`redis::Script`: `EVALSHA`,
//!   loading on `NOSCRIPT`): check the watermark's type, read the lock's watermark on the key's slot, refuse an older token,
//!   raise the watermark, write the value with its TTL; one round trip each;
//! - an entity and its index (`index ... of KEY by FIELD`, the index on other slots): the value
//!   `SET ... PX`, then the index commands pipelined (`ZADD` to the key the value names, `ZREM`
//!   from the others); two round trips each.
//!
//! Run: `ROUNDS=501 cargo bench -p keyschema-store --bench coordination`. Criterion's groups
//! first, then the paired runs (alternating rounds of 100 writes, `ROUNDS` of them, default 31),
//! which print the median ratio raw / typed (above 1: the store is faster). Short rounds, many of
//! them: on a shared VM a burst of noise then falls on both sides alike (the same side against
//! itself measures 0.996-0.999 this way).

#![allow(missing_docs)] // criterion_group! generates undocumented items.
#![allow(clippy::unwrap_used)] // A benchmark: a failure is a panic with the reason.

#[path = "common/paired.rs"]
mod common;

use common::paired;
use criterion::{criterion_group, criterion_main, Criterion};
use keyschema_store::{Fence, IndexedKey, Int, Json, KeyId, Lease, RedisConnection, Store, StringKey, Text};
use keyschema_tests::RedisServer;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Runtime};

const SCHEMA: &str = "param id int
param state enum(NEW, RUNNING, DONE)
lock leader ttl 10s lease \"The leader\"
item:<id> string text ttl 1h \"A guarded value\"
job:<id> string json(Job) ttl 1h \"A job\"
index jobs:<state> zset member id score time of job by state \"Jobs by state\"
";
const STATES: [&str; 3] = ["NEW", "RUNNING", "DONE"];
const WRITES: u64 = 100;

/// The hand-written guarded write, the same commands the store's script runs (the watermark's
/// type checked first, as a `GET` of another type would fail after the value's `SET` ran; the
/// value's `SET` replaces any type): KEYS = watermark, value; ARGV = token, watermark TTL, value,
/// value TTL.
const RAW_GUARDED: &str = r"
local found = redis.call('TYPE', KEYS[1])['ok']
if found ~= 'none' and found ~= 'string' then return {-1, KEYS[1]} end
local seen = redis.call('GET', KEYS[1])
if seen and tonumber(seen) > tonumber(ARGV[1]) then return {0, seen} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return 1
";

fn item(store: &Store, i: u64) -> StringKey<'_, Text> {
    StringKey::new(
        store.core(),
        KeyId::of(store.schema(), "item").unwrap(),
        format!("item:{}", i % 1000),
    )
}

fn value() -> String {
    "x".repeat(64)
}

async fn guarded(store: &Store, fence: &Fence, i: u64) {
    let mut tx = store.transaction();
    tx.fenced(fence).unwrap().set(&item(store, i), &value()).unwrap();
    tx.execute().await.unwrap();
}

async fn raw_guarded(connection: &RedisConnection, script: &redis::Script, store: &Store, fence: &Fence, i: u64) {
    let key = format!("item:{}", i % 1000);
    let lock = KeyId::of(store.schema(), "leader").unwrap();
    let watermark = store
        .schema()
        .watermark_key(lock.index(), fence.lock_key(), keyschema::key_slot(key.as_bytes()))
        .unwrap();
    let applied: i64 = script
        .key(&watermark)
        .key(&key)
        .arg(fence.token())
        .arg(86_400_000u64)
        .arg(value())
        .arg(3_600_000u64)
        .invoke_async(&mut connection.clone())
        .await
        .unwrap();
    assert_eq!(applied, 1);
}

async fn rounds(store: &Store, fence: &Fence) -> Duration {
    let start = Instant::now();
    for i in 0..WRITES {
        guarded(store, fence, i).await;
    }
    start.elapsed()
}

async fn raw_rounds(connection: &RedisConnection, script: &redis::Script, store: &Store, fence: &Fence) -> Duration {
    let start = Instant::now();
    for i in 0..WRITES {
        raw_guarded(connection, script, store, fence, i).await;
    }
    start.elapsed()
}

fn job(store: &Store, i: u64) -> IndexedKey<'_, Json<serde_json::Value>> {
    let id = (i % 1000) as i64;
    let entity = StringKey::new(
        store.core(),
        KeyId::of(store.schema(), "job").unwrap(),
        format!("job:{id}"),
    );
    IndexedKey::new::<Int>(entity, KeyId::of(store.schema(), "jobs").unwrap(), &id).unwrap()
}

async fn indexed(store: &Store, i: u64) {
    let state = STATES[(i % 3) as usize];
    job(store, i).set(&serde_json::json!({ "state": state })).await.unwrap();
}

async fn raw_indexed(connection: &RedisConnection, i: u64) {
    let id = i % 1000;
    let state = STATES[(i % 3) as usize];
    let value = serde_json::to_vec(&serde_json::json!({ "state": state })).unwrap();
    let mut connection = connection.clone();
    let _: () = redis::cmd("SET")
        .arg(format!("job:{id}"))
        .arg(value)
        .arg("PX")
        .arg(3_600_000u64)
        .query_async(&mut connection)
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let mut pipe = redis::pipe();
    pipe.cmd("ZADD").arg(format!("jobs:{state}")).arg(now).arg(id).ignore();
    for other in STATES.iter().filter(|s| **s != state) {
        pipe.cmd("ZREM").arg(format!("jobs:{other}")).arg(id).ignore();
    }
    let _: () = pipe.query_async(&mut connection).await.unwrap();
}

async fn indexed_rounds(store: &Store) -> Duration {
    let start = Instant::now();
    for i in 0..WRITES {
        indexed(store, i).await;
    }
    start.elapsed()
}

async fn raw_indexed_rounds(connection: &RedisConnection) -> Duration {
    let start = Instant::now();
    for i in 0..WRITES {
        raw_indexed(connection, i).await;
    }
    start.elapsed()
}

/// The store, its connection and a fence of the held lease, on `runtime`.
fn setup(
    runtime: &Runtime,
    server: &RedisServer,
    lease_key: &str,
) -> (Store, RedisConnection, Fence, keyschema_store::LeaderLease) {
    let schema = keyschema::Schema::parse(SCHEMA, "bench.keys").unwrap().model_arc();
    let connection = runtime.block_on(RedisConnection::standalone(&server.url())).unwrap();
    let store = Store::new(connection.clone(), Arc::clone(&schema)).unwrap();
    let (lease, fence) = runtime.block_on(async {
        let lease = Lease::new(
            store.core(),
            KeyId::of(store.schema(), "leader").unwrap(),
            lease_key.to_string(),
        );
        let held = lease.try_acquire().await.unwrap().expect("the bench's own server");
        let fence = held.fence().await.unwrap().clone();
        (held, fence)
    });
    (store, connection, fence, lease)
}

fn bench(c: &mut Criterion) {
    let server = RedisServer::start();
    let runtime = Runtime::new().unwrap();
    let (store, connection, fence, _lease) = setup(&runtime, &server, "leader");
    let script = redis::Script::new(RAW_GUARDED);
    let mut group = c.benchmark_group("guarded write off the lock's slot");
    group.bench_function("typed store", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let (store, fence) = (store.clone(), fence.clone());
            async move {
                let start = Instant::now();
                for i in 0..iters {
                    guarded(&store, &fence, i).await;
                }
                start.elapsed()
            }
        });
    });
    group.bench_function("raw redis-rs script", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let (store, connection, fence, script) = (store.clone(), connection.clone(), fence.clone(), script.clone());
            async move {
                let start = Instant::now();
                for i in 0..iters {
                    raw_guarded(&connection, &script, &store, &fence, i).await;
                }
                start.elapsed()
            }
        });
    });
    group.finish();
    let mut group = c.benchmark_group("entity and index on other slots");
    group.bench_function("typed store", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let store = store.clone();
            async move {
                let start = Instant::now();
                for i in 0..iters {
                    indexed(&store, i).await;
                }
                start.elapsed()
            }
        });
    });
    group.bench_function("raw redis-rs", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let connection = connection.clone();
            async move {
                let start = Instant::now();
                for i in 0..iters {
                    raw_indexed(&connection, i).await;
                }
                start.elapsed()
            }
        });
    });
    group.finish();

    // One task on a current-thread runtime, as the other paired runs.
    let single = Builder::new_current_thread().enable_all().build().unwrap();
    let (store, connection, fence, _lease) = setup(&single, &server, "leader:paired");
    paired(
        &single,
        "guarded write off the lock's slot, one task, typed / raw",
        || rounds(&store, &fence),
        || raw_rounds(&connection, &script, &store, &fence),
    );
    paired(
        &single,
        "entity and index on other slots, one task, typed / raw",
        || indexed_rounds(&store),
        || raw_indexed_rounds(&connection),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
