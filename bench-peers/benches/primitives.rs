//! The primitives against the same Lua scripts called through redis-rs directly on the same
//! connection, and the lock against the `rslock` crate (a Rust redlock) on the same server, in
//! one run, one task and 50 tasks: lock acquire + release (with and without the fencing token),
//! a rate-limit decision (counter and GCRA), a breaker's permit while closed, a timer queue poll.
//!
//! After criterion's groups, each pair runs again **in alternation** (`paired ...` lines): rounds
//! of the same number of operations on each side, the side going first alternating, the median
//! ratio printed. The VM's speed drifts by more than the differences measured: criterion measures
//! one side, then the other; alternation exposes both to the same drift.
//!
//! One task runs on a current-thread runtime, 50 tasks on a two-worker one, each with its own
//! connections. On two workers a lone caller's rounds came out 6x faster or 6x slower depending
//! on whether tokio had put it beside its connection's driver task or across threads (a wake-up
//! through the hypervisor each round trip): the ratio measured that placement, not the code.
//!
//! Run: `cargo bench --manifest-path bench-peers/Cargo.toml --bench primitives`.

#![allow(missing_docs)] // criterion_group! generates undocumented items.
#![allow(clippy::unwrap_used)] // A benchmark: a failure is a panic with the reason.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keyschema_store::{
    scripts, Breaker, Delivery, KeyId, Lock, ParamCodec, RateLimit, RedisConnection, Store, TimerQueue,
};
use keyschema_tests::RedisServer;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::{Builder, Runtime};

const SCHEMA: &str = r#"
param id int
lock lock:{<id>}          ttl 10s                              "A lock"
ratelimit count:<id>      ttl 60s limit 1000000000             "A counter"
ratelimit gcra:<id>       rate 1000000 per 1s burst 1000000    "GCRA"
breaker cb:<id>           ttl 10s threshold 5                  "A breaker"
timers timers:<id>        member id                            "A timer queue"
"#;
const TASKS: u64 = 50;
/// The server's TIME at the bench's start is far past any score this bench schedules.
type Time = keyschema_store::chrono::DateTime<keyschema_store::chrono::Utc>;

/// Runs `op(i)` `iters` times, on `tasks` tasks, and the time it took.
async fn run<F, Fut>(iters: u64, tasks: u64, op: F) -> Duration
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut i = task;
                while i < iters {
                    op(i).await;
                    i += tasks;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    start.elapsed()
}

/// An operation as the benchmarks call it.
type Op = Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

fn op<F, Fut>(f: F) -> Op
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |i| Box::pin(f(i)))
}

/// Every operation measured, on connections made in one runtime (their driver tasks live there).
struct Ops {
    lock: Op,
    raw_lock: Op,
    fenced: Op,
    raw_fenced: Op,
    rslock: Op,
    counter: Op,
    raw_counter: Op,
    gcra: Op,
    raw_gcra: Op,
    breaker: Op,
    raw_breaker: Op,
    timers: Op,
    raw_timers: Op,
}

impl Ops {
    fn new(runtime: &Runtime, server: &RedisServer) -> Self {
        let schema = keyschema::Schema::parse(SCHEMA, "bench.keys").unwrap().model_arc();
        let connection = runtime.block_on(RedisConnection::standalone(&server.url())).unwrap();
        let store = Store::new(connection.clone(), Arc::clone(&schema)).unwrap();
        let id = |name: &str| KeyId::of(&schema, name).unwrap();
        let (lock_id, count_id, gcra_id, cb_id, timers_id) =
            (id("lock"), id("count"), id("gcra"), id("cb"), id("timers"));

        // The first seconds of a fresh server and process run slower (allocators, caches, the
        // CPU's clock): without this, whichever benchmark runs first is measured slow. Timers far
        // in the future: a poll claims nothing, which is what pollers do most of.
        runtime.block_on(async {
            let until = Instant::now() + Duration::from_secs(3);
            let mut i = 0u64;
            while Instant::now() < until {
                let lock = Lock::new(store.core(), lock_id, format!("lock:{{{}}}", i % 1000));
                lock.try_acquire().await.unwrap().unwrap().release().await.unwrap();
                i += 1;
            }
            for q in 0..1000 {
                let queue = TimerQueue::<ParamCodec<i64>, Time>::new(store.core(), timers_id, format!("timers:{q}"));
                let later = keyschema_store::chrono::Utc::now() + keyschema_store::chrono::Duration::days(1);
                queue.schedule(&1, &later).await.unwrap();
            }
        });

        let s = store.clone();
        let lock = op(move |i| {
            let store = s.clone();
            async move {
                let lock = Lock::new(store.core(), lock_id, format!("lock:{{{}}}", i % 1000));
                let guard = lock.try_acquire().await.unwrap().unwrap();
                assert!(guard.release().await.unwrap());
            }
        });
        let release = Arc::new(redis::Script::new(scripts::LOCK_RELEASE));
        let raw = connection.clone();
        let raw_lock = op(move |i| {
            let (connection, release) = (raw.clone(), Arc::clone(&release));
            async move {
                let key = format!("lock:{{{}}}", i % 1000);
                let token = uuid::Uuid::new_v4().simple().to_string();
                let mut set = redis::cmd("SET");
                set.arg(&key).arg(&token).arg("NX").arg("PX").arg(10_000);
                let taken: redis::Value = set.query_async(&mut connection.clone()).await.unwrap();
                assert_eq!(taken, redis::Value::Okay);
                assert_eq!(
                    invoke(&connection, &release, &[&key], &[&token]).await,
                    redis::Value::Int(1)
                );
            }
        });
        let s = store.clone();
        let fenced = op(move |i| {
            let store = s.clone();
            async move {
                let lock = Lock::new(store.core(), lock_id, format!("lock:{{{}}}", i % 1000));
                let guard = lock.try_acquire().await.unwrap().unwrap();
                assert!(guard.fence().await.unwrap().token() > 0);
                assert!(guard.release().await.unwrap());
            }
        });
        let (fence, release) = (
            Arc::new(redis::Script::new(scripts::LOCK_FENCE)),
            Arc::new(redis::Script::new(scripts::LOCK_RELEASE)),
        );
        let raw = connection.clone();
        let raw_fenced = op(move |i| {
            let (connection, fence, release) = (raw.clone(), Arc::clone(&fence), Arc::clone(&release));
            async move {
                let key = format!("lock:{{{}}}", i % 1000);
                let counter = format!("{key}:fence");
                let token = uuid::Uuid::new_v4().simple().to_string();
                let mut set = redis::cmd("SET");
                set.arg(&key).arg(&token).arg("NX").arg("PX").arg(10_000);
                let taken: redis::Value = set.query_async(&mut connection.clone()).await.unwrap();
                assert_eq!(taken, redis::Value::Okay);
                let issued = invoke(&connection, &fence, &[&key, &counter], &[&token, "86400000"]).await;
                assert!(matches!(issued, redis::Value::Int(n) if n > 0));
                assert_eq!(
                    invoke(&connection, &release, &[&key], &[&token]).await,
                    redis::Value::Int(1)
                );
            }
        });
        let manager = Arc::new(rslock::LockManager::new(vec![server.url()]));
        let rslock = op(move |i| {
            let manager = Arc::clone(&manager);
            async move {
                let lock = manager
                    .lock(format!("rslock:{}", i % 1000).as_bytes(), Duration::from_secs(10))
                    .await
                    .unwrap();
                manager.unlock(&lock).await;
            }
        });

        let s = store.clone();
        let counter = op(move |i| {
            let store = s.clone();
            async move {
                let limit = RateLimit::new(store.core(), count_id, format!("count:{}", i % 1000));
                assert!(limit.hit().await.unwrap().allowed);
            }
        });
        let window = Arc::new(redis::Script::new(scripts::RATE_WINDOW));
        let raw = connection.clone();
        let raw_counter = op(move |i| {
            let (connection, window) = (raw.clone(), Arc::clone(&window));
            async move {
                let key = format!("count:{}", i % 1000);
                let reply = invoke(&connection, &window, &[&key], &["1000000000", "60000", "", "1"]).await;
                assert!(matches!(reply, redis::Value::Array(_)));
            }
        });
        let s = store.clone();
        let gcra = op(move |i| {
            let store = s.clone();
            async move {
                let limit = RateLimit::new(store.core(), gcra_id, format!("gcra:{}", i % 1000));
                let _ = limit.hit().await.unwrap();
            }
        });
        let script = Arc::new(redis::Script::new(scripts::RATE_GCRA));
        let raw = connection.clone();
        let raw_gcra = op(move |i| {
            let (connection, gcra) = (raw.clone(), Arc::clone(&script));
            async move {
                let key = format!("gcra:{}", i % 1000);
                let interval = (1000.0_f64 / 1_000_000.0).to_string();
                let tolerance = (1000.0_f64 / 1_000_000.0 * 1_000_000.0).to_string();
                let reply = invoke(&connection, &gcra, &[&key], &[&interval, &tolerance, "1"]).await;
                assert!(matches!(reply, redis::Value::Array(_)));
            }
        });

        let s = store.clone();
        let breaker = op(move |i| {
            let store = s.clone();
            async move {
                let breaker = Breaker::new(store.core(), cb_id, format!("cb:{}", i % 1000));
                breaker.call(|| async { Ok::<_, ()>(()) }).await.unwrap();
            }
        });
        let permit = Arc::new(redis::Script::new(scripts::BREAKER_PERMIT));
        let raw = connection.clone();
        let raw_breaker = op(move |i| {
            let (connection, permit) = (raw.clone(), Arc::clone(&permit));
            async move {
                let key = format!("cb:{}", i % 1000);
                let state = format!("{{{key}}}:state");
                let reply = invoke(&connection, &permit, &[&key, &state], &["30000", "60000"]).await;
                assert!(matches!(reply, redis::Value::Array(_)));
            }
        });

        let s = store.clone();
        let timers = op(move |i| {
            let store = s.clone();
            async move {
                let queue = TimerQueue::<ParamCodec<i64>, Time>::new(store.core(), timers_id, format!("timers:{}", i % 1000));
                assert!(queue.claim_due(10, Delivery::AtLeastOnce).await.unwrap().is_empty());
            }
        });
        let claim = Arc::new(redis::Script::new(scripts::TIMER_CLAIM));
        let raw = connection;
        let raw_timers = op(move |i| {
            let (connection, claim) = (raw.clone(), Arc::clone(&claim));
            async move {
                let key = format!("timers:{}", i % 1000);
                let reply = invoke(&connection, &claim, &[&key], &["10", "1", "30000"]).await;
                assert_eq!(reply, redis::Value::Array(Vec::new()));
            }
        });

        Self {
            lock,
            raw_lock,
            fenced,
            raw_fenced,
            rslock,
            counter,
            raw_counter,
            gcra,
            raw_gcra,
            breaker,
            raw_breaker,
            timers,
            raw_timers,
        }
    }

    /// Criterion's groups: (group, [(benchmark, operation)]).
    fn groups(&self) -> [(&'static str, Vec<(&'static str, &Op)>); 4] {
        [
            (
                "lock acquire+release",
                vec![
                    ("keyschema Lock", &self.lock),
                    ("raw redis-rs, same commands", &self.raw_lock),
                    ("keyschema Lock, fenced", &self.fenced),
                    ("raw redis-rs, same commands, fenced", &self.raw_fenced),
                    ("rslock", &self.rslock),
                ],
            ),
            (
                "rate-limit decision",
                vec![
                    ("keyschema counter", &self.counter),
                    ("raw redis-rs counter, same script", &self.raw_counter),
                    ("keyschema GCRA", &self.gcra),
                    ("raw redis-rs GCRA, same script", &self.raw_gcra),
                ],
            ),
            (
                "breaker call (closed)",
                vec![
                    ("keyschema Breaker", &self.breaker),
                    ("raw redis-rs, same script", &self.raw_breaker),
                ],
            ),
            (
                "timer claim (poll)",
                vec![
                    ("keyschema TimerQueue", &self.timers),
                    ("raw redis-rs, same script", &self.raw_timers),
                ],
            ),
        ]
    }

    /// The paired comparisons: (name, keyschema, its baseline).
    fn pairs(&self) -> [(&'static str, &Op, &Op); 7] {
        [
            (
                "lock acquire + release, keyschema / same commands raw",
                &self.lock,
                &self.raw_lock,
            ),
            (
                "lock acquire + fence + release, keyschema / same commands raw",
                &self.fenced,
                &self.raw_fenced,
            ),
            ("lock acquire + release, keyschema / rslock", &self.lock, &self.rslock),
            (
                "rate limit counter, keyschema / same script raw",
                &self.counter,
                &self.raw_counter,
            ),
            (
                "rate limit GCRA, keyschema / same script raw",
                &self.gcra,
                &self.raw_gcra,
            ),
            (
                "breaker call, keyschema / same script raw",
                &self.breaker,
                &self.raw_breaker,
            ),
            (
                "timer poll, keyschema / same script raw",
                &self.timers,
                &self.raw_timers,
            ),
        ]
    }
}

/// The CPU time this process has used (all its threads; the server is another process), from
/// `/proc/self/stat` in clock ticks of 10 ms (Linux's `USER_HZ`).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the command name, which is in parentheses: utime and stime are the 12th
    // and 13th of them.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Each pair (keyschema, its baseline) in alternation on `tasks` tasks: `ROUNDS` rounds of the
/// same number of operations on each side, the side going first alternating; prints keyschema's
/// throughput over the baseline's, the median round and the range, and the client's CPU time per
/// operation against the baseline's over all rounds (less noisy than throughput, and what limits
/// it when 50 tasks share two cores with the server). `PAIRED=text` runs only the pairs whose
/// name contains it; `ROUNDS=n` sets the number of rounds (41: with 15, the medians at 50 tasks
/// moved by ±0.05 between runs).
fn paired(runtime: &Runtime, pairs: &[(&str, &Op, &Op)], tasks: u64) {
    let only = std::env::var("PAIRED").unwrap_or_default();
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(41)
        .max(1);
    let operations = if tasks == 1 { 1_500 } else { 15_000 };
    let mode = if tasks == 1 {
        "one task".to_string()
    } else {
        format!("{tasks} tasks")
    };
    for (name, ours, theirs) in pairs.iter().filter(|(name, ..)| name.contains(only.as_str())) {
        let timed = |op: &Op| {
            let op = Arc::clone(op);
            async move {
                let cpu = process_cpu();
                let wall = run(operations, tasks, move |i| op(i)).await;
                (wall, process_cpu() - cpu)
            }
        };
        let (mut our_cpu, mut their_cpu) = (Duration::ZERO, Duration::ZERO);
        let mut ratios: Vec<f64> = (0..rounds)
            .map(|round| {
                let (ours, theirs) = runtime.block_on(async {
                    if round % 2 == 0 {
                        let ours = timed(ours).await;
                        (ours, timed(theirs).await)
                    } else {
                        let theirs = timed(theirs).await;
                        (timed(ours).await, theirs)
                    }
                });
                our_cpu += ours.1;
                their_cpu += theirs.1;
                theirs.0.as_secs_f64() / ours.0.as_secs_f64()
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        let per_op = |cpu: Duration| cpu.as_secs_f64() * 1e6 / (rounds as f64 * operations as f64);
        println!(
            "paired {name}, {mode}: {:.3} (median of {rounds} rounds, range {:.3}-{:.3}); client CPU per op {:.1} µs against {:.1} µs",
            ratios[rounds / 2],
            ratios[0],
            ratios[rounds - 1],
            per_op(our_cpu),
            per_op(their_cpu),
        );
    }
}

/// Invokes `script` by hash (loaded on `NOSCRIPT`), as the store does.
async fn invoke(connection: &RedisConnection, script: &redis::Script, keys: &[&str], args: &[&str]) -> redis::Value {
    let mut invocation = script.prepare_invoke();
    for key in keys {
        invocation.key(*key);
    }
    for arg in args {
        invocation.arg(*arg);
    }
    invocation.invoke_async(&mut connection.clone()).await.unwrap()
}

fn bench(c: &mut Criterion) {
    let server = RedisServer::start();
    let single = Builder::new_current_thread().enable_all().build().unwrap();
    let multi = Runtime::new().unwrap();
    let (one, many) = (Ops::new(&single, &server), Ops::new(&multi, &server));
    for ((group, one), (_, many)) in one.groups().into_iter().zip(many.groups()) {
        let mut group = c.benchmark_group(group);
        group.throughput(Throughput::Elements(1));
        for ((name, one), (_, many)) in one.into_iter().zip(many) {
            for (runtime, tasks, op) in [(&single, 1, one), (&multi, TASKS, many)] {
                let label = if tasks == 1 {
                    format!("{name}, one task")
                } else {
                    format!("{name}, {tasks} tasks")
                };
                group.bench_function(label, |b| {
                    b.to_async(runtime).iter_custom(|iters| {
                        let op = Arc::clone(op);
                        run(iters, tasks, move |i| op(i))
                    });
                });
            }
        }
        group.finish();
    }
    paired(&single, &one.pairs(), 1);
    paired(&multi, &many.pairs(), TASKS);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
