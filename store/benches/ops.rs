//! The keyspace operations against hand-written redis-rs doing the same commands, on servers
//! started by the bench, measured in the same run:
//! - the audit of 100,000 keys on a standalone server (`Store::audit`, index checks off so both
//!   sides send the same commands) against a loop of `SCAN` + a pipeline of `TYPE` and `PTTL` per
//!   page that counts keys per type and TTL;
//! - the migration of 100,000 keys from a standalone server to a 3+3 cluster in the hash-tagged
//!   layout (`ops::migrate`) against a loop of `SCAN` + a pipeline of `PTTL` and `DUMP` per page
//!   and a `RESTORE` per key sent concurrently on the cluster connection, renaming by hand.
//!
//! Run: `cargo bench -p keyschema-store --features ops --bench ops`. The comparisons with
//! `redis-cli` on 1,000,000 keys are whole commands, timed with `/usr/bin/time` (see
//! docs/benchmarks.md).

#![allow(missing_docs)] // criterion_group! generates undocumented items.
#![allow(clippy::unwrap_used)] // A benchmark: a failure is a panic with the reason.

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use keyschema_store::ops::{self, AuditOptions, MigrateOptions};
use keyschema_store::{RedisConnection, Store};
use keyschema_tests::{RedisCluster, RedisServer};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

const KEYS: usize = 100_000;
const PAGE: usize = 1000;

const FROM: &str = r#"keyspace bench
param id uuid
job:state:<id>  string text ttl 7d "A job's state"
job:events:<id> list text ttl 7d "A job's events"
"#;
const TO: &str = r#"keyspace bench
param id uuid
job:state:{<id>}  string text ttl 7d "A job's state"
job:events:{<id>} list text ttl 7d "A job's events"
"#;

fn uuid(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i, i * 7919)
}

/// Half job states (a short string with a TTL), half event lists (two items, a TTL).
async fn fill(connection: &mut RedisConnection) {
    for chunk in (0..KEYS / 2).collect::<Vec<_>>().chunks(PAGE) {
        let mut pipe = redis::pipe();
        for &i in chunk {
            let id = uuid(i);
            pipe.cmd("SET")
                .arg(format!("job:state:{id}"))
                .arg("RUNNING")
                .arg("PX")
                .arg(600_000_000)
                .ignore();
            pipe.cmd("RPUSH")
                .arg(format!("job:events:{id}"))
                .arg("created")
                .arg("scheduled")
                .ignore();
            pipe.cmd("PEXPIRE")
                .arg(format!("job:events:{id}"))
                .arg(600_000_000)
                .ignore();
        }
        pipe.query_async::<()>(connection).await.unwrap();
    }
}

/// What a hand-written audit script counts: keys per type, with and without a TTL.
async fn hand_written_audit(connection: &mut RedisConnection) -> HashMap<(String, bool), u64> {
    let mut counts = HashMap::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(PAGE)
            .query_async(connection)
            .await
            .unwrap();
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("TYPE").arg(key).cmd("PTTL").arg(key);
        }
        let replies: Vec<redis::Value> = pipe.query_async(connection).await.unwrap();
        for pair in replies.chunks(2) {
            if let (redis::Value::SimpleString(kind), redis::Value::Int(ttl)) = (&pair[0], &pair[1]) {
                *counts.entry((kind.clone(), *ttl >= 0)).or_insert(0) += 1;
            }
        }
        if next == 0 {
            return counts;
        }
        cursor = next;
    }
}

/// A hand-written migration: pages of `PTTL` + `DUMP`, then a `RESTORE` per key under its new
/// name, all of a page sent at once on the cluster connection.
async fn hand_written_migration(source: &mut RedisConnection, target: &RedisConnection) -> u64 {
    let mut copied = 0;
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(PAGE)
            .query_async(source)
            .await
            .unwrap();
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("PTTL").arg(key).cmd("DUMP").arg(key);
        }
        let replies: Vec<redis::Value> = pipe.query_async(source).await.unwrap();
        let restores = keys.iter().zip(replies.chunks(2)).filter_map(|(key, pair)| {
            let (redis::Value::Int(ttl), redis::Value::BulkString(payload)) = (&pair[0], &pair[1]) else {
                return None;
            };
            let (prefix, id) = key.rsplit_once(':')?;
            let mut cmd = redis::cmd("RESTORE");
            cmd.arg(format!("{prefix}:{{{id}}}"))
                .arg((*ttl).max(0))
                .arg(payload.as_slice());
            let mut target = target.clone();
            Some(async move { cmd.query_async::<()>(&mut target).await })
        });
        for result in futures_util::future::join_all(restores).await {
            result.unwrap();
            copied += 1;
        }
        if next == 0 {
            return copied;
        }
        cursor = next;
    }
}

fn flush(cluster: &RedisCluster) {
    for shard in cluster.shards(0) {
        cluster.nodes()[shard.primary].connect().cmd(&["FLUSHALL"]).unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let server = RedisServer::start();
    let cluster = RedisCluster::start();
    let from = keyschema::Schema::parse(FROM, "from.keys").unwrap();
    let to = keyschema::Schema::parse(TO, "to.keys").unwrap();
    let (source, target, raw_source, raw_target) = runtime.block_on(async {
        let mut raw_source = RedisConnection::standalone(&server.url()).await.unwrap();
        fill(&mut raw_source).await;
        let source = Store::new(raw_source.clone(), from.model_arc()).unwrap();
        let raw_target = RedisConnection::cluster(&cluster.urls()).await.unwrap();
        let target = Store::new(raw_target.clone(), to.model_arc()).unwrap();
        (source, target, raw_source, raw_target)
    });

    let mut group = c.benchmark_group("audit_100k_keys");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(KEYS as u64));
    let options = AuditOptions {
        indexes: false,
        ..AuditOptions::default()
    };
    group.bench_function("keyschema", |b| {
        b.to_async(&runtime).iter(|| async {
            let report = keyschema_store::ops::audit(&source, &options).await.unwrap();
            assert_eq!(report.keys, KEYS as u64);
        });
    });
    group.bench_function("hand_written", |b| {
        b.to_async(&runtime).iter(|| {
            let mut connection = raw_source.clone();
            async move {
                let counts = hand_written_audit(&mut connection).await;
                assert_eq!(counts.values().sum::<u64>(), KEYS as u64);
            }
        });
    });
    group.finish();

    let mut group = c.benchmark_group("migrate_100k_keys_to_a_cluster");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .throughput(Throughput::Elements(KEYS as u64));
    group.bench_function("keyschema", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let (source, target, cluster) = (&source, &target, &cluster);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    flush(cluster);
                    let started = Instant::now();
                    let report = ops::migrate(source, target, &MigrateOptions::default()).await.unwrap();
                    total += started.elapsed();
                    assert_eq!(report.copied, KEYS as u64);
                }
                total
            }
        });
    });
    group.bench_function("hand_written", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let (raw_target, cluster) = (&raw_target, &cluster);
            let mut raw_source = raw_source.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    flush(cluster);
                    let started = Instant::now();
                    let copied = hand_written_migration(&mut raw_source, raw_target).await;
                    total += started.elapsed();
                    assert_eq!(copied, KEYS as u64);
                }
                total
            }
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
