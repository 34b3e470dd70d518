//! The caching paths against hand-written redis-rs doing the same work on the same connection,
//! on a redis-server started by the bench, measured in the same run:
//! - a cache hit (`CacheKey::get_or_load` on a warm key) against a raw `GET` plus JSON decode;
//! - a two-tier backup of 100,000 entries (`TwoTier::backup_all`), compressed (`lz4(json)`) and
//!   not (`json`), against a hand-written two-tier state doing the same work (drain a map, encode,
//!   seal, pipelines of `SET ... PX` of the same size); the bytes each codec stores are printed.
//!
//! Run: `cargo bench -p keyschema-store --bench caching`. After criterion's cache-hit group, a paired
//! run (`common/paired.rs`, `ROUNDS`) sets each mode's two sides in alternating rounds.

#![allow(missing_docs)] // criterion_group! generates undocumented items.
#![allow(clippy::unwrap_used)] // A benchmark: a failure is a panic with the reason.

#[path = "common/paired.rs"]
mod common;

use common::paired;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use keyschema_store::{CacheKey, Codec, Json, KeyId, Lz4, RedisConnection, Store, TwoTier};
use keyschema_tests::RedisServer;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::runtime::Runtime;

const SCHEMA: &str = r#"keyspace bench
param id int
cache info:<id> string json(Info) ttl 1h "A function's result"
state ctx:<id>:lz4 string lz4(json(Context)) ttl per_write(max = 1h) ttl_factor 3 max_age 1h "Compressed backups"
state ctx:<id>:json string json(Context) ttl per_write(max = 1h) ttl_factor 3 max_age 1h "Plain backups"
"#;
const TASKS: u64 = 50;
const ENTRIES: u64 = 100_000;
/// What a backup writes per pipeline (the store's batch size).
const BATCH: usize = 10_000;
const INTERVAL: Duration = Duration::from_secs(60);

/// A cached function result: a device's description.
#[derive(Clone, Serialize, Deserialize)]
struct Info {
    id: u64,
    name: String,
    model: String,
    location: String,
}

fn info(id: u64) -> Info {
    Info {
        id,
        name: format!("sensor-{id}"),
        model: "OS-2000 air quality".into(),
        location: "Hall 3, north wall".into(),
    }
}

/// A datasource's context, as a metrics pipeline keeps it: the latest values of its datapoints.
#[derive(Clone, Serialize, Deserialize)]
struct Context {
    updated_ms: i64,
    prior: Vec<(String, Vec<f64>)>,
}

fn context(i: u64) -> Context {
    const DATAPOINTS: [&str; 8] = [
        "cpu.user.percent",
        "cpu.system.percent",
        "memory.used.bytes",
        "memory.free.bytes",
        "disk.read.bytes",
        "disk.write.bytes",
        "net.in.bytes",
        "net.out.bytes",
    ];
    Context {
        updated_ms: i as i64,
        prior: DATAPOINTS
            .iter()
            .enumerate()
            .map(|(p, name)| {
                (
                    name.to_string(),
                    (0..4).map(|k| ((i + k) % 97 * (p as u64 + 1)) as f64).collect(),
                )
            })
            .collect(),
    }
}

fn id_of(store: &Store, name: &str) -> KeyId {
    let index = store.schema().keys.iter().position(|key| key.name == name).unwrap();
    KeyId::new(u32::try_from(index).unwrap())
}

fn info_key(i: u64) -> String {
    format!("info:{}", i % 1000)
}

async fn typed_hit(store: &Store, id: KeyId, i: u64) {
    let cache: CacheKey<'_, Json<Info>> = CacheKey::new(store.core(), id, info_key(i));
    let value = cache
        .get_or_load(|| async { Err::<Info, _>("a warm key never loads") })
        .await
        .unwrap();
    std::hint::black_box(value);
}

async fn raw_hit(connection: &RedisConnection, i: u64) {
    let mut connection = connection.clone();
    let bytes: Vec<u8> = redis::cmd("GET")
        .arg(info_key(i))
        .query_async(&mut connection)
        .await
        .unwrap();
    let value: Info = serde_json::from_slice(&bytes).unwrap();
    std::hint::black_box(value);
}

/// Times `iters` lookups, by one task or spread over [`TASKS`] tasks.
async fn lookups<S, F, Fut>(state: S, iters: u64, tasks: u64, lookup: F) -> Duration
where
    S: Clone + Send + 'static,
    F: Fn(S, u64) -> Fut + Copy + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let state = state.clone();
            tokio::spawn(async move {
                for i in (t..iters).step_by(tasks as usize) {
                    lookup(state.clone(), i).await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    start.elapsed()
}

fn cache_hits(c: &mut Criterion, runtime: &Runtime, store: &Store, connection: &RedisConnection) {
    let id = id_of(store, "info");
    runtime.block_on(async {
        for i in 0..1000 {
            let cache: CacheKey<'_, Json<Info>> = CacheKey::new(store.core(), id, info_key(i));
            cache.get_or_load(|| async { Ok::<_, String>(info(i)) }).await.unwrap();
        }
    });
    let mut group = c.benchmark_group("cache hit");
    group.throughput(Throughput::Elements(1));
    for tasks in [1, TASKS] {
        let mode = if tasks == 1 {
            "one task".to_string()
        } else {
            format!("{tasks} tasks")
        };
        group.bench_function(format!("get_or_load, {mode}"), |b| {
            b.to_async(runtime).iter_custom(|iters| {
                lookups(store.clone(), iters, tasks, move |store, i| async move {
                    typed_hit(&store, id, i).await
                })
            });
        });
        group.bench_function(format!("raw GET + decode, {mode}"), |b| {
            b.to_async(runtime).iter_custom(|iters| {
                lookups(connection.clone(), iters, tasks, |connection, i| async move {
                    raw_hit(&connection, i).await;
                })
            });
        });
    }
    group.finish();
    for (tasks, operations) in [(1, 500), (TASKS, 10_000)] {
        paired(
            runtime,
            &format!("cache hit, {tasks} task(s), get_or_load / raw GET + decode"),
            || {
                lookups(store.clone(), operations, tasks, move |store, i| async move {
                    typed_hit(&store, id, i).await
                })
            },
            || {
                lookups(connection.clone(), operations, tasks, |connection, i| async move {
                    raw_hit(&connection, i).await;
                })
            },
        );
    }
}

/// What the raw side writes for an entry: the same envelope as the store's (tag, written-at,
/// interval, codec bytes).
fn envelope(body: &[u8], interval: Duration) -> Vec<u8> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut sealed = Vec::with_capacity(19 + body.len());
    sealed.extend_from_slice(b"ks2");
    sealed.extend_from_slice(&now.to_be_bytes());
    sealed.extend_from_slice(&(interval.as_millis() as u64).to_be_bytes());
    sealed.extend_from_slice(body);
    sealed
}

/// A hand-written two-tier state: a map in the process, backed up by draining it and writing
/// every entry the way the store does (encode, seal, `SET key value PX ttl`) in pipelines of
/// [`BATCH`], replies ignored.
struct RawTier {
    suffix: &'static str,
    local: Mutex<HashMap<u64, (Context, Duration)>>,
}

impl RawTier {
    async fn backup_all<C: Codec<Value = Context>>(&self, connection: &RedisConnection) {
        let mut connection = connection.clone();
        let taken: Vec<(u64, (Context, Duration))> = self.local.lock().unwrap().drain().collect();
        for chunk in taken.chunks(BATCH) {
            let mut pipe = redis::pipe();
            for (i, (value, interval)) in chunk {
                pipe.cmd("SET")
                    .arg(format!("ctx:{i}:{}", self.suffix))
                    .arg(envelope(&C::encode(value).unwrap(), *interval))
                    .arg("PX")
                    .arg((*interval * 3).as_millis() as u64)
                    .ignore();
            }
            let _: () = pipe.query_async(&mut connection).await.unwrap();
        }
    }
}

/// Times `iters` backups of `entries`, each after filling the state again (not timed).
async fn timed_backups<F: std::future::Future<Output = u64>>(
    iters: u64,
    entries: &[(u64, Context)],
    fill: impl Fn(u64, Context),
    backup: impl Fn() -> F,
    bytes: &AtomicU64,
) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        for (i, value) in entries {
            fill(*i, value.clone());
        }
        let start = Instant::now();
        bytes.store(backup().await, Ordering::Relaxed);
        spent += start.elapsed();
    }
    spent
}

fn backups(c: &mut Criterion, runtime: &Runtime, store: &Store, connection: &RedisConnection) {
    let entries: Vec<(u64, Context)> = (0..ENTRIES).map(|i| (i, context(i))).collect();
    let compressed: TwoTier<u64, Lz4<Json<Context>>> =
        TwoTier::new(store.core(), id_of(store, "ctx_lz4"), |i| Ok(format!("ctx:{i}:lz4"))).unwrap();
    let plain: TwoTier<u64, Json<Context>> =
        TwoTier::new(store.core(), id_of(store, "ctx_json"), |i| Ok(format!("ctx:{i}:json"))).unwrap();

    let mut group = c.benchmark_group("backup of 100,000 entries");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    group.throughput(Throughput::Elements(ENTRIES));
    let bytes = [AtomicU64::new(0), AtomicU64::new(0)];
    let raw = |suffix| RawTier {
        suffix,
        local: Mutex::new(HashMap::new()),
    };
    let (raw_compressed, raw_plain) = (raw("lz4"), raw("json"));
    let not_counted = AtomicU64::new(0);
    group.bench_function("TwoTier::backup_all, lz4(json)", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let tier = &compressed;
            timed_backups(
                iters,
                &entries,
                |i, value| tier.insert(i, value, INTERVAL),
                || async { tier.backup_all().await.unwrap().bytes },
                &bytes[0],
            )
        });
    });
    group.bench_function("hand-written redis-rs, lz4(json)", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let tier = &raw_compressed;
            timed_backups(
                iters,
                &entries,
                |i, value| drop(tier.local.lock().unwrap().insert(i, (value, INTERVAL))),
                || async {
                    tier.backup_all::<Lz4<Json<Context>>>(connection).await;
                    0
                },
                &not_counted,
            )
        });
    });
    group.bench_function("TwoTier::backup_all, json", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let tier = &plain;
            timed_backups(
                iters,
                &entries,
                |i, value| tier.insert(i, value, INTERVAL),
                || async { tier.backup_all().await.unwrap().bytes },
                &bytes[1],
            )
        });
    });
    group.bench_function("hand-written redis-rs, json", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let tier = &raw_plain;
            timed_backups(
                iters,
                &entries,
                |i, value| drop(tier.local.lock().unwrap().insert(i, (value, INTERVAL))),
                || async {
                    tier.backup_all::<Json<Context>>(connection).await;
                    0
                },
                &not_counted,
            )
        });
    });
    group.finish();

    let used = |pattern: &str| {
        runtime.block_on(async {
            let mut connection = connection.clone();
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(pattern)
                .query_async(&mut connection)
                .await
                .unwrap();
            let mut total = 0u64;
            for chunk in keys.chunks(BATCH) {
                let mut pipe = redis::pipe();
                for key in chunk {
                    pipe.cmd("STRLEN").arg(key);
                }
                let lengths: Vec<u64> = pipe.query_async(&mut connection).await.unwrap();
                total += lengths.iter().sum::<u64>();
            }
            (keys.len(), total)
        })
    };
    let (lz4_keys, lz4_bytes) = used("ctx:*:lz4");
    let (json_keys, json_bytes) = used("ctx:*:json");
    // The reports count what the server holds (when both backups ran: a filter may skip one).
    if bytes.iter().all(|b| b.load(Ordering::Relaxed) > 0) {
        assert_eq!([lz4_bytes, json_bytes], bytes.map(AtomicU64::into_inner));
    }
    if lz4_keys != ENTRIES as usize || json_keys != ENTRIES as usize {
        return; // A filter skipped a layout.
    }
    println!(
        "bytes stored for {ENTRIES} entries: lz4(json) {lz4_bytes} ({} per entry), json {json_bytes} ({} per entry): \
         compression saves {:.0}%",
        lz4_bytes / ENTRIES,
        json_bytes / ENTRIES,
        100.0 * (1.0 - lz4_bytes as f64 / json_bytes as f64)
    );
}

fn bench(c: &mut Criterion) {
    let server = RedisServer::start();
    let runtime = Runtime::new().unwrap();
    let schema = keyschema::Schema::parse(SCHEMA, "bench.keys").unwrap().model_arc();
    let connection = runtime.block_on(RedisConnection::standalone(&server.url())).unwrap();
    let store = Store::new(connection.clone(), Arc::clone(&schema)).unwrap();
    cache_hits(c, &runtime, &store, &connection);
    backups(c, &runtime, &store, &connection);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
