//! Typed store operations against hand-written redis-rs calls doing the same work on the same
//! connection, against a redis-server started by the bench, measured in the same run; plus
//! `redis-benchmark -c 50` as the server's own reference and the latency of a typed lookup.
//!
//! Run: `cargo bench -p keyschema-store --bench typed_vs_raw`. After criterion's groups, a paired
//! run sets each typed mode against its raw one in alternating rounds of equal work (`ROUNDS`,
//! default 31) and prints the median ratio: on a shared VM, criterion's groups (one side, then the
//! other) drift by more than the difference measured.

#![allow(missing_docs)] // criterion_group! generates undocumented items.
#![allow(clippy::unwrap_used)] // A benchmark: a failure is a panic with the reason.

#[path = "common/paired.rs"]
mod common;
#[path = "common/recording.rs"]
mod recording;

use common::paired;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keyschema_store::{RedisConnection, Store, StringKey, Text};
use keyschema_tests::RedisServer;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Runtime};

const SCHEMA: &str = "param id int\nitem:<id> string text ttl 1h \"A benchmark value\"\n";
const TASKS: u64 = 50;

fn key(i: u64) -> String {
    format!("item:{}", i % 1000)
}

fn value() -> String {
    "x".repeat(64)
}

async fn typed(store: &Store, i: u64) {
    let access: StringKey<'_, Text> = StringKey::new(store.core(), keyschema_store::KeyId::new(0), key(i));
    access.set(&value()).await.unwrap();
    let _ = access.get().await.unwrap();
}

async fn raw(connection: &RedisConnection, i: u64) {
    let mut connection = connection.clone();
    let key = key(i);
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(value())
        .arg("PX")
        .arg(3_600_000u64)
        .query_async(&mut connection)
        .await
        .unwrap();
    let _: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut connection).await.unwrap();
}

fn bench(c: &mut Criterion) {
    // With `KEYSCHEMA_BENCH_RECORD=1` (and the `telemetry` feature, so there is something to
    // record), every span and metric of the typed side is collected.
    if recording::install_if_asked() {
        println!(
            "recording spans and metrics (telemetry: {})",
            cfg!(feature = "telemetry")
        );
    }
    let server = RedisServer::start();
    let runtime = Runtime::new().unwrap();
    let schema = keyschema::Schema::parse(SCHEMA, "bench.keys").unwrap().model_arc();
    let connection = runtime.block_on(RedisConnection::standalone(&server.url())).unwrap();
    let store = Store::new(connection.clone(), Arc::clone(&schema)).unwrap();

    let mut group = c.benchmark_group("set+get");
    group.throughput(Throughput::Elements(2));
    group.bench_function("typed store, one task", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let store = store.clone();
            async move {
                let start = Instant::now();
                for i in 0..iters {
                    typed(&store, i).await;
                }
                start.elapsed()
            }
        });
    });
    group.bench_function("raw redis-rs, one task", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let connection = connection.clone();
            async move {
                let start = Instant::now();
                for i in 0..iters {
                    raw(&connection, i).await;
                }
                start.elapsed()
            }
        });
    });
    group.bench_function("typed store, 50 tasks", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let store = store.clone();
            async move {
                let start = Instant::now();
                let tasks: Vec<_> = (0..TASKS)
                    .map(|t| {
                        let store = store.clone();
                        tokio::spawn(async move {
                            for i in (t..iters).step_by(TASKS as usize) {
                                typed(&store, i).await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                start.elapsed()
            }
        });
    });
    group.bench_function("raw redis-rs, 50 tasks", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let connection = connection.clone();
            async move {
                let start = Instant::now();
                let tasks: Vec<_> = (0..TASKS)
                    .map(|t| {
                        let connection = connection.clone();
                        tokio::spawn(async move {
                            for i in (t..iters).step_by(TASKS as usize) {
                                raw(&connection, i).await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                start.elapsed()
            }
        });
    });
    group.finish();

    // Pipelined: batches of 100 writes then 100 reads.
    let mut group = c.benchmark_group("pipelined, batches of 100");
    group.throughput(Throughput::Elements(200));
    group.bench_function("typed store batch", |b| {
        b.to_async(&runtime).iter(|| {
            let store = store.clone();
            async move { typed_batch(&store).await }
        });
    });
    group.bench_function("raw redis-rs pipeline", |b| {
        b.to_async(&runtime).iter(|| {
            let connection = connection.clone();
            async move { raw_batch(&connection).await }
        });
    });
    group.finish();

    // Latency of one typed lookup, one at a time.
    let mut samples: Vec<Duration> = runtime.block_on(async {
        let access: StringKey<'_, Text> = StringKey::new(store.core(), keyschema_store::KeyId::new(0), key(1));
        access.set(&value()).await.unwrap();
        let mut samples = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let start = Instant::now();
            let _ = access.get().await.unwrap();
            samples.push(start.elapsed());
        }
        samples
    });
    samples.sort();
    println!(
        "typed lookup latency over {} gets: p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
        samples[samples.len() - 1]
    );

    paired_runs(&server, &schema);
    paired_bridged(&server, &schema);

    // The server's own reference, same server, same run.
    match std::process::Command::new("redis-benchmark")
        .args([
            "-p",
            &server.port().to_string(),
            "-t",
            "set,get",
            "-c",
            "50",
            "-n",
            "200000",
            "-q",
        ])
        .output()
    {
        Ok(output) => println!(
            "redis-benchmark -c 50 -t set,get:\n{}",
            String::from_utf8_lossy(&output.stdout).replace('\r', "\n")
        ),
        Err(error) => println!("redis-benchmark not run: {error}"),
    }
}

/// `operations` calls of `op` spread over `tasks` tasks; the wall time.
async fn spread<F, Fut>(operations: u64, tasks: u64, op: F) -> Duration
where
    F: Fn(u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send,
{
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let op = op.clone();
            tokio::spawn(async move {
                for i in (t..operations).step_by(tasks as usize) {
                    op(i).await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    start.elapsed()
}

fn paired_runs(server: &RedisServer, schema: &Arc<keyschema::KeySchema>) {
    // One task on a current-thread runtime with its own connection: on two workers a lone
    // caller's rounds measure where tokio places it beside its connection's driver.
    let single = Builder::new_current_thread().enable_all().build().unwrap();
    let connection = single.block_on(RedisConnection::standalone(&server.url())).unwrap();
    let store = Store::new(connection.clone(), Arc::clone(schema)).unwrap();
    paired(
        &single,
        "set+get, one task, typed / raw",
        || async {
            let start = Instant::now();
            for i in 0..500 {
                typed(&store, i).await;
            }
            start.elapsed()
        },
        || async {
            let start = Instant::now();
            for i in 0..500 {
                raw(&connection, i).await;
            }
            start.elapsed()
        },
    );
    let multi = Runtime::new().unwrap();
    let connection = multi.block_on(RedisConnection::standalone(&server.url())).unwrap();
    let store = Store::new(connection.clone(), Arc::clone(schema)).unwrap();
    paired(
        &multi,
        "set+get, 50 tasks, typed / raw",
        || {
            let store = store.clone();
            spread(10_000, TASKS, move |i| {
                let store = store.clone();
                async move { typed(&store, i).await }
            })
        },
        || {
            let connection = connection.clone();
            spread(10_000, TASKS, move |i| {
                let connection = connection.clone();
                async move { raw(&connection, i).await }
            })
        },
    );
    paired(
        &multi,
        "pipelined, batches of 100 SET then 100 GET, typed / raw",
        || async {
            let start = Instant::now();
            for _ in 0..20 {
                typed_batch(&store).await;
            }
            start.elapsed()
        },
        || async {
            let start = Instant::now();
            for _ in 0..20 {
                raw_batch(&connection).await;
            }
            start.elapsed()
        },
    );
}

/// The keys of the bridged reads: a thousand present in the new layout (`item:0` to
/// `item:999`), a thousand only in the old one (`old:item:1000` to `old:item:1999`).
fn bridged_keys(i: u64, present: bool) -> (String, String) {
    let n = if present { i % 1000 } else { 1000 + i % 1000 };
    (format!("item:{n}"), format!("old:item:{n}"))
}

/// A bridged string key's read (`Config::previous`), which finds its value in the new layout
/// (`present`) or only in the old one.
async fn bridged_get(store: &Store, i: u64, present: bool) {
    let (new, old) = bridged_keys(i, present);
    let access: StringKey<'_, Text> =
        StringKey::new(store.core(), keyschema_store::KeyId::new(0), new).bridged(Some(old));
    assert!(access.get().await.unwrap().is_some());
}

/// The same by hand: `GET` the new key, and the old one when it is missing.
async fn raw_fallback_get(connection: &RedisConnection, i: u64, present: bool) {
    let mut connection = connection.clone();
    let (new, old) = bridged_keys(i, present);
    let found: Option<String> = redis::cmd("GET").arg(&new).query_async(&mut connection).await.unwrap();
    if found.is_none() {
        let old: Option<String> = redis::cmd("GET").arg(&old).query_async(&mut connection).await.unwrap();
        assert!(old.is_some());
    }
}

/// Bridged reads against the same commands by hand: a hit in the new layout (what a bridged
/// store costs once keys have moved) and a fallback to the old one (before).
fn paired_bridged(server: &RedisServer, schema: &Arc<keyschema::KeySchema>) {
    let single = Builder::new_current_thread().enable_all().build().unwrap();
    let connection = single.block_on(RedisConnection::standalone(&server.url())).unwrap();
    let store = Store::new(connection.clone(), Arc::clone(schema)).unwrap();
    single.block_on(async {
        let mut c = connection.clone();
        for i in 0..1000u64 {
            let (present, _) = bridged_keys(i, true);
            let (_, old) = bridged_keys(i, false);
            let _: () = redis::cmd("SET")
                .arg(&present)
                .arg(value())
                .query_async(&mut c)
                .await
                .unwrap();
            let _: () = redis::cmd("SET")
                .arg(&old)
                .arg(value())
                .query_async(&mut c)
                .await
                .unwrap();
        }
    });
    for present in [true, false] {
        let name = if present {
            "bridged get, new key present, one task, typed / raw GET"
        } else {
            "bridged get, old layout only (Fallback), one task, typed / raw GET + GET"
        };
        paired(
            &single,
            name,
            || async {
                let start = Instant::now();
                for i in 0..500 {
                    bridged_get(&store, i, present).await;
                }
                start.elapsed()
            },
            || async {
                let start = Instant::now();
                for i in 0..500 {
                    raw_fallback_get(&connection, i, present).await;
                }
                start.elapsed()
            },
        );
    }
    let multi = Runtime::new().unwrap();
    let connection = multi.block_on(RedisConnection::standalone(&server.url())).unwrap();
    let store = Store::new(connection.clone(), Arc::clone(schema)).unwrap();
    for present in [true, false] {
        let name = if present {
            "bridged get, new key present, 50 tasks, typed / raw GET"
        } else {
            "bridged get, old layout only (Fallback), 50 tasks, typed / raw GET + GET"
        };
        paired(
            &multi,
            name,
            || {
                let store = store.clone();
                spread(10_000, TASKS, move |i| {
                    let store = store.clone();
                    async move { bridged_get(&store, i, present).await }
                })
            },
            || {
                let connection = connection.clone();
                spread(10_000, TASKS, move |i| {
                    let connection = connection.clone();
                    async move { raw_fallback_get(&connection, i, present).await }
                })
            },
        );
    }
}

async fn typed_batch(store: &Store) -> usize {
    let mut writes = store.batch();
    for i in 0..100 {
        let access: StringKey<'_, Text> = StringKey::new(store.core(), keyschema_store::KeyId::new(0), key(i));
        writes.set(&access, &value()).unwrap();
    }
    // Replies of the writes are not kept, as the raw side ignores them.
    writes.send().await.unwrap();
    let mut reads = store.batch();
    let tickets: Vec<_> = (0..100).map(|i| reads.get::<Text>(&key(i))).collect();
    let replies = reads.execute().await.unwrap();
    tickets.iter().filter(|t| replies.get(t).unwrap().is_some()).count()
}

async fn raw_batch(connection: &RedisConnection) -> usize {
    let mut connection = connection.clone();
    let mut writes = redis::pipe();
    for i in 0..100 {
        writes
            .cmd("SET")
            .arg(key(i))
            .arg(value())
            .arg("PX")
            .arg(3_600_000u64)
            .ignore();
    }
    let _: () = writes.query_async(&mut connection).await.unwrap();
    let mut reads = redis::pipe();
    for i in 0..100 {
        reads.cmd("GET").arg(key(i));
    }
    let values: Vec<Option<String>> = reads.query_async(&mut connection).await.unwrap();
    values.iter().filter(|v| v.is_some()).count()
}

criterion_group!(benches, bench);
criterion_main!(benches);
