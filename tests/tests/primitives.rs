//! The coordination primitives against real servers, standalone and the 3+3 cluster: mutual
//! exclusion and fencing under contention, a holder paused past its TTL, rate limits at window
//! edges and when Redis is gone, breakers shared by two instances, timers claimed by competing
//! workers, dead-letter queues pruned, and `SCRIPT FLUSH` in the middle of a run.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_store::{
    BreakerState, Claim, ConnectionOptions, DeadLetterQueue, DecisionSource, Delivery, Error, IdempotencyKey, KeyId,
    Lease, LeaseLost, Lock, ParamCodec, RateLimit, Store, StringKey, Text, TimerQueue, Verdict,
};
use keyschema_tests::{shared_cluster, shared_standalone, unique, RedisServer};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SCHEMA: &str = r#"
param id     ident
param tenant ident
param sec    unix_seconds

lock order:lock:{<id>}      ttl 1s                                   "An order's processing lock"
order:{<id>}                string text ttl 1h                       "An order, written under its lock"
lock leader                 ttl 1s lease                             "A leader lease"
lock dlq:cleanup            ttl 5s                                   "Pruning runs under it"
ratelimit rl:<tenant>:<sec> ttl 2s limit 10 fallback closed          "Ten per second per tenant"
ratelimit login:<tenant>    ttl 15m limit 3                          "Failed logins"
ratelimit api:<tenant>      rate 1 per 10s burst 4 fallback local    "GCRA: a burst of five"
ratelimit shut:<tenant>     rate 1 per 10s burst 4 fallback closed   "GCRA, closed without Redis"
ratelimit tries:<tenant>    ttl 15m limit 3 fallback closed          "A counter, closed without Redis"
breaker cb:<id>             ttl 10s threshold 3 open_for 500ms close_after 2 "A shared breaker"
breaker slow:<id>           ttl 1m threshold 1 open_for 30s close_after 1 "Opened for long"
idempotency idem:<id>       ttl 1m                                   "Request dedup"
timers timers:{<id>}        member id visibility 300ms               "Timers"
dlq letters {
  entry dlq:entry:{<id>}    string text ttl 1s                       "A dead letter"
  index dlq:index           member id score time cleanup dlq_cleanup "Dead letters by time"
}
"#;

fn schema() -> Arc<keyschema::KeySchema> {
    keyschema::Schema::parse(SCHEMA, "primitives.keys").unwrap().model_arc()
}

fn id(store: &Store, name: &str) -> KeyId {
    KeyId::of(store.schema(), name).unwrap()
}

fn options() -> ConnectionOptions {
    ConnectionOptions::default()
        .connection_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(500))
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

/// 32 tasks take one lock over and over: the critical section is never entered twice, the
/// fencing tokens seen inside it strictly increase, and a write with an older token is refused.
async fn contention(store: Store, tasks: usize, rounds: usize) {
    let key = format!("order:lock:{{{}}}", unique("c"));
    let inside = Arc::new(AtomicBool::new(false));
    let overlaps = Arc::new(AtomicU64::new(0));
    let tokens = Arc::new(Mutex::new(Vec::with_capacity(tasks * rounds)));
    let lock_id = id(&store, "order_lock");
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (store, key, inside, overlaps, tokens) = (
            store.clone(),
            key.clone(),
            Arc::clone(&inside),
            Arc::clone(&overlaps),
            Arc::clone(&tokens),
        );
        handles.push(tokio::spawn(async move {
            let lock = Lock::new(store.core(), lock_id, key);
            let mut taken = 0;
            while taken < rounds {
                let Some(guard) = lock.try_acquire().await.unwrap() else {
                    tokio::task::yield_now().await;
                    continue;
                };
                if inside.swap(true, Ordering::SeqCst) {
                    overlaps.fetch_add(1, Ordering::SeqCst);
                }
                let token = guard.fence().await.unwrap().token();
                tokens.lock().unwrap().push(token);
                inside.store(false, Ordering::SeqCst);
                assert!(guard.release().await.unwrap(), "the holder releases its own lock");
                taken += 1;
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "the critical section was entered twice"
    );
    let tokens = tokens.lock().unwrap();
    assert_eq!(tokens.len(), tasks * rounds);
    assert!(
        tokens.windows(2).all(|w| w[0] < w[1]),
        "fencing tokens must strictly increase"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contended_lock_is_exclusive_and_its_tokens_increase_standalone() {
    contention(standalone().await, 32, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contended_lock_is_exclusive_and_its_tokens_increase_on_the_cluster() {
    contention(cluster().await, 32, 250).await;
}

/// A guarded write commits while its token is the newest and is refused once a newer one was
/// issued; a non-owner can neither release nor keep the lock.
async fn fencing(store: Store) {
    let order = unique("f");
    let lock = Lock::new(
        store.core(),
        id(&store, "order_lock"),
        format!("order:lock:{{{order}}}"),
    );
    let order_key = format!("order:{{{order}}}");
    let first = lock.try_acquire().await.unwrap().unwrap();
    let stale = first.fence().await.unwrap().clone();
    let mut write = store.transaction();
    write
        .fenced(&stale)
        .unwrap()
        .set(
            &StringKey::<Text>::new(store.core(), id(&store, "order"), order_key.clone()),
            &"first".to_string(),
        )
        .unwrap();
    write.execute().await.unwrap();
    // The first holder's lock expires (its process paused, say); a second holder takes it.
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = lock.acquire(Duration::from_secs(3)).await.unwrap();
    let fence = second.fence().await.unwrap().clone();
    assert!(fence.token() > stale.token());
    let mut late = store.transaction();
    late.fenced(&stale)
        .unwrap()
        .set(
            &StringKey::<Text>::new(store.core(), id(&store, "order"), order_key.clone()),
            &"stale".to_string(),
        )
        .unwrap();
    let refused = late.execute().await.unwrap_err();
    assert!(
        matches!(&refused, Error::Fenced { token, current, .. } if *token == stale.token() && *current == fence.token()),
        "{refused}"
    );
    assert_eq!(store.get::<Text>(&order_key).await.unwrap().as_deref(), Some("first"));
    // The new holder's write goes through.
    let mut write = store.transaction();
    write
        .fenced(&fence)
        .unwrap()
        .set(
            &StringKey::<Text>::new(store.core(), id(&store, "order"), order_key.clone()),
            &"second".to_string(),
        )
        .unwrap();
    write.execute().await.unwrap();
    assert!(second.release().await.unwrap());
    // Released: another owner's release finds nothing of its own.
    assert!(lock.try_acquire().await.unwrap().unwrap().release().await.unwrap());

    // The fence is issued only to the owner: a holder whose lock passed to another before it
    // asked gets none, and the counter did not move.
    let third = lock.try_acquire().await.unwrap().unwrap();
    let mut taken_over = keyschema_store::redis::cmd("SET");
    taken_over.arg(lock.key()).arg("another-owner").arg("PX").arg(5000);
    let _: () = taken_over.query_async(&mut store.connection()).await.unwrap();
    let refused = third.fence().await.unwrap_err();
    assert!(
        matches!(&refused, Error::LockNotHeld { key } if key == lock.key()),
        "{refused}"
    );
    // No work ran, so the message says nothing of work.
    assert!(refused.to_string().contains("no longer held"), "{refused}");
    assert!(!refused.to_string().contains("work"), "{refused}");
    let counter: Option<i64> = store.get::<keyschema_store::Int>(fence.counter_key()).await.unwrap();
    assert_eq!(counter.map(|n| n as u64), Some(fence.token()));
    assert!(!third.release().await.unwrap(), "not its lock any more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guarded_writes_with_a_stale_token_are_refused() {
    fencing(standalone().await).await;
    fencing(cluster().await).await;
}

/// A lease guards keys on three other slots: each round the lease passes to a new holder (the
/// old one "paused": its key expired under it, simulated by deleting it), the new holder writes
/// the three keys, and the old holder's guarded writes arrive late. Over 1,000 rounds not one
/// stale write is applied to a slot after the new holder wrote there; one sent before the new
/// holder wrote there is ordered before it (applied, then overwritten); the tokens applied on
/// each slot (its watermark) strictly increase; every key ends with its round's new value.
async fn fencing_across_slots(store: Store) {
    const ROUNDS: usize = 1_000;
    let lease_key = format!("leader{}", unique("x"));
    let lease = Lease::new(store.core(), id(&store, "leader"), lease_key.clone());
    let counter_slot = keyschema::key_slot(format!("{{{lease_key}}}:fence").as_bytes());
    // Three keys on three slots, none the lease's.
    let mut keys: Vec<String> = Vec::new();
    for n in 0.. {
        let key = format!("order:{{{}-{n}}}", unique("g"));
        let slot = keyschema::key_slot(key.as_bytes());
        if slot != counter_slot && keys.iter().all(|k| keyschema::key_slot(k.as_bytes()) != slot) {
            keys.push(key);
        }
        if keys.len() == 3 {
            break;
        }
    }
    let order = id(&store, "order");
    let leader = id(&store, "leader");
    let guarded = |fence: keyschema_store::Fence, key: String, value: String| {
        let store = store.clone();
        async move {
            let mut tx = store.transaction();
            let handle = StringKey::<Text>::new(store.core(), order, key);
            tx.fenced(&fence).unwrap().set(&handle, &value).unwrap();
            tx.execute().await
        }
    };
    let watermark = |key: &str| {
        store
            .schema()
            .watermark_key(leader.index(), &lease_key, keyschema::key_slot(key.as_bytes()))
            .unwrap()
    };
    let mut old = lease.try_acquire().await.unwrap().unwrap();
    let mut old_fence = old.fence().await.unwrap().clone();
    let mut last_applied = vec![0u64; keys.len()];
    let (mut stale_applied, mut stale_refused, mut early_applied) = (0usize, 0usize, 0usize);
    for round in 0..ROUNDS {
        // The old holder's lease expires while it is paused; a new holder takes it.
        let _: () = keyschema_store::redis::cmd("DEL")
            .arg(&lease_key)
            .query_async(&mut store.connection())
            .await
            .unwrap();
        let new = lease.try_acquire().await.unwrap().expect("the lease is free");
        let new_fence = new.fence().await.unwrap().clone();
        assert!(new_fence.token() > old_fence.token());
        // The last key: the old holder's write arrives before the new holder's, so it is
        // applied, ordered before the new holder's (which overwrites it).
        let early = keys.len() - 1;
        let value = format!("{round}-stale-early");
        match guarded(old_fence.clone(), keys[early].clone(), value).await {
            Ok(()) => early_applied += 1,
            Err(Error::Fenced { .. }) => {}
            Err(other) => panic!("{other}"),
        }
        for (n, key) in keys.iter().enumerate() {
            guarded(new_fence.clone(), key.clone(), format!("{round}-new"))
                .await
                .unwrap();
            // The paused holder wakes and writes: refused on every slot the new holder wrote.
            match guarded(old_fence.clone(), key.clone(), format!("{round}-stale")).await {
                Ok(()) => stale_applied += 1,
                Err(Error::Fenced {
                    counter,
                    token,
                    current,
                    ..
                }) => {
                    assert_eq!((token, current), (old_fence.token(), new_fence.token()));
                    assert_eq!(counter, watermark(key));
                    stale_refused += 1;
                }
                Err(other) => panic!("{other}"),
            }
            let applied: Option<i64> = store.get::<keyschema_store::Int>(&watermark(key)).await.unwrap();
            let applied = applied.unwrap() as u64;
            assert!(
                applied > last_applied[n],
                "slot of {key}: {applied} after {}",
                last_applied[n]
            );
            last_applied[n] = applied;
            assert_eq!(store.get::<Text>(key).await.unwrap(), Some(format!("{round}-new")));
        }
        drop(old);
        (old, old_fence) = (new, new_fence);
    }
    assert_eq!(
        stale_applied, 0,
        "stale writes applied after the new holder wrote the slot"
    );
    assert_eq!(stale_refused, ROUNDS * keys.len());
    assert_eq!(
        early_applied, ROUNDS,
        "a stale write before the new holder's is ordered before it"
    );
    // The watermarks are the schema's keys, with its TTL.
    // The test's lease key has a suffix (so runs do not meet); the schema's own `leader` key's
    // watermarks are the schema's `leader_fenced` keys.
    let parsed = keyschema::Schema::parse(SCHEMA, "primitives.keys").unwrap();
    for key in &keys {
        let slot = keyschema::key_slot(key.as_bytes());
        let declared = parsed.model().watermark_key(leader.index(), "leader", slot).unwrap();
        let found = parsed
            .matcher()
            .find(&declared)
            .map(|k| parsed.model().keys[k].name.as_str());
        assert_eq!(found, Some("leader_fenced"), "{declared}");
        let watermark = watermark(key);
        match store.ttl(&watermark).await.unwrap() {
            keyschema_store::KeyTtl::Expires(ttl) => assert!(ttl > Duration::from_secs(86_000), "{ttl:?}"),
            other => panic!("{watermark}: {other:?}"),
        }
    }
    assert!(old.step_down().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_fences_writes_to_keys_on_other_slots_standalone() {
    fencing_across_slots(standalone().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_fences_writes_to_keys_on_other_slots_on_the_cluster() {
    fencing_across_slots(cluster().await).await;
}

/// A holder whose process stops past the TTL: when it runs again its lease is already known
/// lost, the signal fires, and its guarded write is refused.
#[test]
fn a_holder_paused_past_its_ttl_loses_the_lease_and_its_writes() {
    let holder_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let other_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let name = unique("p");
    let holder_store = holder_runtime.block_on(standalone());
    let lease = Lease::new(
        holder_store.core(),
        id(&holder_store, "leader"),
        format!("leader{name}"),
    );
    // `leader` has no parameter; the test uses its own key so runs do not meet.
    let held = holder_runtime.block_on(lease.try_acquire()).unwrap().unwrap();
    let stale = holder_runtime.block_on(held.fence()).unwrap().clone();
    // The whole holder runtime stops (a GC pause, SIGSTOP): nothing renews the lease.
    std::thread::sleep(Duration::from_millis(1500));
    let key = format!("leader{name}");
    let taker = other_runtime.block_on(async {
        let store = standalone().await;
        let lease = Lease::new(store.core(), id(&store, "leader"), key);
        let next = lease.acquire(Duration::from_secs(2)).await.unwrap();
        let token = next.fence().await.unwrap().token();
        // Keep it held (renewed) while the first holder wakes.
        (store, next, token)
    });
    holder_runtime.block_on(async {
        assert!(!held.is_held(), "past its TTL the lease is not trusted");
        tokio::time::timeout(Duration::from_millis(100), held.lost())
            .await
            .expect("the lost signal fires at once");
        // Work handed to the lost lease does not start, and the error says so.
        let ran = AtomicBool::new(false);
        let refused = held.run(async { ran.store(true, Ordering::SeqCst) }).await.unwrap_err();
        assert_eq!(refused, LeaseLost::BeforeWork);
        assert!(!ran.load(Ordering::SeqCst), "the work ran under a lost lease");
        assert!(refused.to_string().contains("did not run"), "{refused}");
        // The lease's slot holds the lease and its counter: a guarded delete of the lease.
        let mut guarded = holder_store.transaction();
        guarded.fenced(&stale).unwrap();
        guarded.delete(&format!("leader{name}")).unwrap();
        let refused = guarded.execute().await.unwrap_err();
        assert!(matches!(refused, Error::Fenced { .. }), "{refused}");
    });
    assert!(taker.1.is_held());
    assert!(taker.2 > stale.token());
    other_runtime.block_on(async move {
        let (_store, next, _) = taker;
        assert!(next.step_down().await.unwrap());
    });
}

/// A held lease is renewed in the background: held well past its TTL, still ours, while other
/// locks are taken and released by the thousand around it (their places in the store's renewal
/// register are reused, and their queued renewals must not touch it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lease_is_renewed_and_with_lock_releases_on_every_path() {
    let store = standalone().await;
    let lease = Lease::new(store.core(), id(&store, "leader"), format!("leader{}", unique("r")));
    let held = lease.try_acquire().await.unwrap().unwrap();
    let until = Instant::now() + Duration::from_millis(2500);
    let churn: Vec<_> = (0..8)
        .map(|task| {
            let store = store.clone();
            let prefix = unique(&format!("churn{task}"));
            tokio::spawn(async move {
                let mut taken = 0u64;
                while Instant::now() < until {
                    let key = format!("order:lock:{{{prefix}-{}}}", taken % 50);
                    let lock = Lock::new(store.core(), id(&store, "order_lock"), key);
                    let guard = lock.try_acquire().await.unwrap().expect("each task has its own keys");
                    assert!(guard.release().await.unwrap(), "released while still ours");
                    taken += 1;
                }
                taken
            })
        })
        .collect();
    let mut taken = 0;
    for task in churn {
        taken += task.await.unwrap();
    }
    assert!(taken > 1000, "only {taken} locks taken around the lease");
    assert!(held.is_held());
    assert!(lease.try_acquire().await.unwrap().is_none());
    assert!(held.step_down().await.unwrap());

    let lock = Lock::new(
        store.core(),
        id(&store, "order_lock"),
        format!("order:lock:{{{}}}", unique("w")),
    );
    // Ends normally: released.
    let token = lock
        .with_lock(Duration::from_secs(1), |held| async move {
            held.fence().await.unwrap().token()
        })
        .await
        .unwrap();
    assert!(token > 0);
    assert!(lock.try_acquire().await.unwrap().unwrap().release().await.unwrap());
    // Panics: released by the guard's drop.
    let panicked = {
        let store = store.clone();
        let key = lock.key().to_string();
        tokio::spawn(async move {
            let lock = Lock::new(store.core(), id(&store, "order_lock"), key);
            lock.with_lock(Duration::from_secs(1), |_| async { panic!("the work fails") })
                .await
        })
        .await
    };
    assert!(panicked.is_err());
    // Cancelled (the caller gave up): released by the guard's drop.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        lock.with_lock(Duration::from_secs(1), |_| std::future::pending::<()>()),
    )
    .await;
    assert!(cancelled.is_err());
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        if let Some(guard) = lock.try_acquire().await.unwrap() {
            guard.release().await.unwrap();
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a dropped guard must release the lock, not leave it to its TTL"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// 16 tasks hit a per-second limit of 10 across several window edges: every server second
/// allows exactly 10.
async fn windows_are_exact(store: Store) {
    let tenant = unique("t");
    let allowed: Arc<Mutex<BTreeMap<i64, u64>>> = Arc::default();
    let until = Instant::now() + Duration::from_millis(2500);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (store, tenant, allowed) = (store.clone(), tenant.clone(), Arc::clone(&allowed));
        tasks.push(tokio::spawn(async move {
            let id = id(&store, "rl");
            let limit = RateLimit::per_second(store.core(), id, |second| Ok(format!("rl:{tenant}:{second}")));
            while Instant::now() < until {
                let decision = limit.hit().await.unwrap();
                assert_eq!(decision.source, DecisionSource::Redis);
                if decision.allowed {
                    *allowed.lock().unwrap().entry(decision.window.unwrap()).or_default() += 1;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let allowed = allowed.lock().unwrap();
    assert!(allowed.len() >= 2, "the run crosses a window edge: {allowed:?}");
    assert!(allowed.values().all(|&n| n == 10), "exactly 10 per second: {allowed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_second_limit_allows_exactly_n_per_server_second() {
    windows_are_exact(standalone().await).await;
    windows_are_exact(cluster().await).await;
}

async fn counters_and_gcra(store: Store) {
    // Failed logins: three allowed, the fourth blocked, reset on success.
    let login = RateLimit::new(store.core(), id(&store, "login"), format!("login:{}", unique("u")));
    for n in 1..=3 {
        let decision = login.hit().await.unwrap();
        assert!(decision.allowed && decision.remaining == 3 - n);
    }
    let blocked = login.hit().await.unwrap();
    assert!(!blocked.allowed && blocked.retry_after > Duration::from_secs(14 * 60));
    let ttl = store.ttl(&login.current_key().unwrap()).await.unwrap();
    assert!(matches!(ttl, keyschema_store::KeyTtl::Expires(left) if left > Duration::from_secs(14 * 60)));
    login.reset().await.unwrap();
    assert!(login.hit().await.unwrap().allowed);
    // GCRA, burst 4: twenty concurrent requests, exactly five through.
    let api = RateLimit::new(store.core(), id(&store, "api"), format!("api:{}", unique("g")));
    let key = api.current_key().unwrap();
    let hits: Vec<_> = (0..20)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                RateLimit::new(store.core(), id(&store, "api"), key)
                    .hit()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut decisions = Vec::new();
    for hit in hits {
        decisions.push(hit.await.unwrap());
    }
    assert_eq!(decisions.iter().filter(|d| d.allowed).count(), 5);
    let refused = decisions.iter().find(|d| !d.allowed).unwrap();
    assert!(refused.retry_after > Duration::from_secs(9) && refused.retry_after <= Duration::from_secs(10));
    assert_eq!(refused.verdict, Verdict::Limited);
    assert!(decisions
        .iter()
        .filter(|d| d.allowed)
        .all(|d| d.verdict == Verdict::Allowed));
    assert_eq!(api.limit(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_block_above_the_limit_and_gcra_allows_the_burst_exactly() {
    counters_and_gcra(standalone().await).await;
    counters_and_gcra(cluster().await).await;
}

/// Redis stopped: each limit answers with its declared fallback, within the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_rate_limits_apply_their_declared_fallback() {
    let mut server = RedisServer::start();
    let store = Store::connect_with(&server.url(), schema(), &options()).await.unwrap();
    server.stop();
    let window = RateLimit::per_second(store.core(), id(&store, "rl"), |second| Ok(format!("rl:down:{second}")));
    let started = Instant::now();
    let closed = window.hit().await.unwrap();
    assert!(started.elapsed() < options().deadline() + Duration::from_millis(500));
    assert_eq!(closed.source, DecisionSource::Fallback(keyschema::Fallback::Closed));
    assert!(!closed.allowed);
    // Refused for want of Redis, not for the limit, and not "retry now": the window (a second).
    assert_eq!(closed.verdict, Verdict::Unavailable);
    assert_eq!(closed.retry_after, Duration::from_secs(1));
    // The window of each kind: a GCRA's period, a counter's TTL.
    for (name, window) in [("shut", Duration::from_secs(10)), ("tries", Duration::from_secs(900))] {
        let limit = RateLimit::new(store.core(), id(&store, name), format!("{name}:down"));
        let decision = limit.hit().await.unwrap();
        assert_eq!(
            (decision.verdict, decision.retry_after),
            (Verdict::Unavailable, window),
            "{name}"
        );
    }
    // `fallback local`: the same GCRA in this process, a burst of five.
    let api = RateLimit::new(store.core(), id(&store, "api"), "api:down".into());
    let mut allowed = 0;
    for _ in 0..8 {
        let decision = api.hit().await.unwrap();
        assert_eq!(decision.source, DecisionSource::Fallback(keyschema::Fallback::Local));
        allowed += usize::from(decision.allowed);
    }
    assert_eq!(allowed, 5);
}

/// Two instances share one breaker: failures seen by one open it for both; after `open_for`
/// one probe at a time goes through; two successful probes close it.
async fn shared_breaker(a: Store, b: Store) {
    let key = format!("cb:{}", unique("b"));
    let one = keyschema_store::Breaker::new(a.core(), id(&a, "cb"), key.clone());
    let two = keyschema_store::Breaker::new(b.core(), id(&b, "cb"), key);
    for _ in 0..3 {
        let failed = one.call(|| async { Err::<(), _>("down") }).await;
        assert!(matches!(failed, Err(keyschema_store::BreakerError::Failed("down"))));
    }
    assert!(matches!(two.status().await.state, BreakerState::Open { .. }));
    assert!(matches!(
        two.call(|| async { Ok::<_, ()>(()) }).await,
        Err(keyschema_store::BreakerError::Open { .. })
    ));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(two.status().await.state, BreakerState::HalfOpen);
    let probe = two.permit().await.unwrap().expect("one probe goes through");
    assert!(probe.is_probe());
    assert!(
        one.permit().await.unwrap().is_err(),
        "a second probe waits for the first"
    );
    assert_eq!(probe.success().await.unwrap().state, BreakerState::HalfOpen);
    let probe = one.permit().await.unwrap().expect("the next probe");
    assert_eq!(probe.success().await.unwrap().state, BreakerState::Closed);
    assert!(one.call(|| async { Ok::<_, ()>(1) }).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_is_shared_by_two_instances() {
    shared_breaker(standalone().await, standalone().await).await;
    shared_breaker(cluster().await, cluster().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_breaker_falls_back_to_a_local_one() {
    let mut server = RedisServer::start();
    let store = Store::connect_with(&server.url(), schema(), &options()).await.unwrap();
    let breaker = keyschema_store::Breaker::new(store.core(), id(&store, "cb"), "cb:local".into());
    server.stop();
    for _ in 0..3 {
        assert!(breaker.call(|| async { Err::<(), _>(()) }).await.is_err());
    }
    let status = breaker.status().await;
    assert!(
        status.local && matches!(status.state, BreakerState::Open { .. }),
        "{status:?}"
    );
    assert!(matches!(
        breaker.call(|| async { Ok::<_, ()>(()) }).await,
        Err(keyschema_store::BreakerError::Open { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_give_duplicates_the_first_value_and_keep_the_ttl() {
    for store in [standalone().await, cluster().await] {
        let key = IdempotencyKey::<Text>::new(store.core(), id(&store, "idem"), format!("idem:{}", unique("i")));
        assert_eq!(key.claim(&"pending".into()).await.unwrap(), Claim::First);
        assert_eq!(
            key.claim(&"other".into()).await.unwrap(),
            Claim::Duplicate("pending".to_string())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(key.complete(&"done: 42".into()).await.unwrap());
        assert_eq!(
            key.claim(&"again".into()).await.unwrap(),
            Claim::Duplicate("done: 42".into())
        );
        let keyschema_store::KeyTtl::Expires(left) = key.ttl().await.unwrap() else {
            panic!("the claim's TTL is kept")
        };
        assert!(left < Duration::from_secs(60) && left > Duration::from_secs(55));
    }
}

/// 10,000 timers, four workers claiming at once: each fires exactly once, none before its time;
/// a claimed timer not acknowledged fires again after the visibility timeout.
async fn timers(store: Store) {
    let queue_key = format!("timers:{{{}}}", unique("q"));
    let queue = TimerQueue::<ParamCodec<String>, keyschema_store::chrono::DateTime<keyschema_store::chrono::Utc>>::new(
        store.core(),
        id(&store, "timers"),
        queue_key.clone(),
    );
    let start = keyschema_store::chrono::Utc::now();
    let mut due: HashMap<String, keyschema_store::chrono::DateTime<keyschema_store::chrono::Utc>> = HashMap::new();
    for n in 0..10_000 {
        let at = start + keyschema_store::chrono::Duration::milliseconds(n % 1500);
        due.insert(format!("t{n}"), at);
    }
    let mut batch = Vec::new();
    for (member, at) in &due {
        batch.push(queue.schedule(member, at));
        if batch.len() == 500 {
            for schedule in batch.drain(..) {
                schedule.await.unwrap();
            }
        }
    }
    for schedule in batch {
        schedule.await.unwrap();
    }
    let due = Arc::new(due);
    let fired: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let early = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (store, key, due, fired, early) = (
            store.clone(),
            queue_key.clone(),
            Arc::clone(&due),
            Arc::clone(&fired),
            Arc::clone(&early),
        );
        workers.push(tokio::spawn(async move {
            let queue =
                TimerQueue::<ParamCodec<String>, keyschema_store::chrono::DateTime<keyschema_store::chrono::Utc>>::new(
                    store.core(),
                    id(&store, "timers"),
                    key,
                );
            // Until every timer fired and then past the visibility timeout (300 ms), so a second
            // delivery would be seen; bounded, on a loaded machine, by a generous deadline.
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut all_fired_at: Option<Instant> = None;
            while Instant::now() < deadline {
                if fired.lock().unwrap().len() == 10_000 {
                    let since = *all_fired_at.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_millis(600) {
                        break;
                    }
                }
                let claimed = queue.claim_due(100, Delivery::AtLeastOnce).await.unwrap();
                if claimed.is_empty() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                let now = keyschema_store::chrono::Utc::now();
                for timer in claimed {
                    // The server's clock decides; this process's may differ by a scheduling tick.
                    if now + keyschema_store::chrono::Duration::milliseconds(5) < due[&timer.member] {
                        early.fetch_add(1, Ordering::Relaxed);
                    }
                    // The claim says when the timer was due (as scheduled, to the millisecond)
                    // and when the server claimed it: never before.
                    let scheduled = std::time::SystemTime::from(due[&timer.member]);
                    let off = timer.due.duration_since(scheduled).unwrap_or_else(|e| e.duration());
                    assert!(off < Duration::from_millis(1), "due {:?} vs {scheduled:?}", timer.due);
                    assert!(timer.claimed_at >= timer.due, "claimed before it was due");
                    assert!(timer.lateness() < Duration::from_secs(30), "{:?}", timer.lateness());
                    let visible = timer.visible_again.unwrap().duration_since(timer.claimed_at).unwrap();
                    assert_eq!(visible.as_millis(), 300, "visible again after the visibility timeout");
                    assert!(queue.ack(&timer).await.unwrap());
                    *fired.lock().unwrap().entry(timer.member).or_default() += 1;
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let fired = fired.lock().unwrap().clone();
    assert_eq!(fired.len(), 10_000);
    assert!(fired.values().all(|&n| n == 1), "each timer fires exactly once");
    assert_eq!(early.load(Ordering::Relaxed), 0, "no timer fires before its time");
    assert!(queue.is_empty().await.unwrap());

    // Not acknowledged: it fires again after the visibility timeout (300 ms), and the stale
    // acknowledgement does not remove the redelivered timer.
    queue
        .schedule(&"lost".to_string(), &keyschema_store::chrono::Utc::now())
        .await
        .unwrap();
    let first = queue.claim_due(10, Delivery::AtLeastOnce).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(queue.claim_due(10, Delivery::AtLeastOnce).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(350)).await;
    let again = queue.claim_due(10, Delivery::AtLeastOnce).await.unwrap();
    assert_eq!(again.len(), 1);
    // Redelivered: due when the first claim's visibility ran out, claimed after it.
    assert_eq!(Some(again[0].due), first[0].visible_again);
    assert!(
        again[0].lateness() >= Duration::from_millis(40),
        "{:?}",
        again[0].lateness()
    );
    assert!(!queue.ack(&first[0]).await.unwrap());
    assert!(queue.ack(&again[0]).await.unwrap());
    // At most once: removed as claimed.
    queue
        .schedule(&"once".to_string(), &keyschema_store::chrono::Utc::now())
        .await
        .unwrap();
    let once = queue.claim_due(10, Delivery::AtMostOnce).await.unwrap();
    assert_eq!(once.len(), 1);
    assert_eq!(once[0].visible_again, None, "removed by the claim");
    assert!(queue.is_empty().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_fire_once_among_competing_workers() {
    timers(standalone().await).await;
    timers(cluster().await).await;
}

fn entry_key(id: &String) -> Result<String, keyschema::FormatError> {
    Ok(format!("dlq:entry:{{{id}}}"))
}

/// Every entry has its TTL; once they expire, prune leaves no dangling index member.
async fn dead_letters(store: Store) {
    let queue = DeadLetterQueue::<
        ParamCodec<String>,
        Text,
        keyschema_store::chrono::DateTime<keyschema_store::chrono::Utc>,
    >::new(
        store.core(),
        id(&store, "dlq_entry"),
        entry_key,
        id(&store, "dlq_index"),
        "dlq:index".into(),
        Some(Lock::new(store.core(), id(&store, "dlq_cleanup"), "dlq:cleanup".into())),
    );
    let prefix = unique("d");
    for n in 0..50 {
        let letter = format!("{prefix}-{n}");
        queue
            .push(&letter, &keyschema_store::chrono::Utc::now(), &format!("failed {n}"))
            .await
            .unwrap();
        let ttl = store.ttl(&entry_key(&letter).unwrap()).await.unwrap();
        assert!(matches!(ttl, keyschema_store::KeyTtl::Expires(left) if left <= Duration::from_secs(1)));
    }
    let first = format!("{prefix}-0");
    assert_eq!(queue.get(&first).await.unwrap().as_deref(), Some("failed 0"));
    let replayed = queue
        .replay(&first, |entry| async move { Ok::<_, ()>(entry.len()) })
        .await
        .unwrap();
    assert_eq!(replayed, Some(Ok(8)));
    assert!(queue.get(&first).await.unwrap().is_none());
    let listed = queue.list(0, 1000).await.unwrap();
    assert!(listed.iter().filter(|l| l.id.starts_with(&prefix)).count() >= 49);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let pruned = queue.prune(16).await.unwrap().expect("the cleanup lock is free");
    assert!(pruned >= 49, "pruned {pruned}");
    let mut connection = store.connection();
    let members: Vec<String> = keyschema_store::redis::cmd("ZRANGE")
        .arg("dlq:index")
        .arg(0)
        .arg(-1)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(
        !members.iter().any(|m| m.starts_with(&prefix)),
        "dangling members: {members:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_expire_and_prune_leaves_no_dangling_member() {
    dead_letters(standalone().await).await;
    dead_letters(cluster().await).await;
}

/// `SCRIPT FLUSH` on every node while callers run: they see no error (scripts are sent by hash
/// and sent whole again on `NOSCRIPT`).
async fn script_flush(store: Store, nodes: Vec<String>) {
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for task in 0..4 {
        let (store, stop, calls) = (store.clone(), Arc::clone(&stop), Arc::clone(&calls));
        tasks.push(tokio::spawn(async move {
            let lock = Lock::new(
                store.core(),
                id(&store, "order_lock"),
                format!("order:lock:{{{}}}", unique("s")),
            );
            let limit = RateLimit::new(store.core(), id(&store, "api"), format!("api:{task}{}", unique("s")));
            while !stop.load(Ordering::Relaxed) {
                lock.try_acquire().await.unwrap().unwrap().release().await.unwrap();
                limit.hit().await.unwrap();
                calls.fetch_add(2, Ordering::Relaxed);
            }
        }));
    }
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        for node in &nodes {
            let client = keyschema_store::redis::Client::open(node.as_str()).unwrap();
            let mut connection = client.get_multiplexed_async_connection().await.unwrap();
            let _: () = keyschema_store::redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query_async(&mut connection)
                .await
                .unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    assert!(calls.load(Ordering::Relaxed) > 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_flush_in_the_middle_of_a_run_is_invisible_to_callers() {
    script_flush(standalone().await, vec![shared_standalone().url()]).await;
    script_flush(cluster().await, shared_cluster().urls()).await;
}

/// A lock taken over by another owner while work runs under it: the next renewal finds the other
/// owner, the work is cancelled, and the error says the lock was lost while the work ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_lost_during_the_work_cancels_it_and_says_so() {
    let store = standalone().await;
    let lock = Lock::new(
        store.core(),
        id(&store, "order_lock"),
        format!("order:lock:{{{}}}", unique("lost")),
    );
    let finished = AtomicBool::new(false);
    let key = lock.key().to_string();
    let outcome = lock
        .with_lock(Duration::from_secs(1), |_held| async {
            // Another owner takes the key; the renewal at a third of the TTL finds it.
            let mut taken_over = keyschema_store::redis::cmd("SET");
            taken_over.arg(&key).arg("another-owner").arg("PX").arg(5000);
            let _: () = taken_over.query_async(&mut store.connection()).await.unwrap();
            tokio::time::sleep(Duration::from_secs(3)).await;
            finished.store(true, Ordering::SeqCst);
        })
        .await;
    let lost = outcome.unwrap_err();
    assert!(matches!(&lost, Error::LockLost { key: k } if *k == key), "{lost}");
    assert!(lost.to_string().contains("while the work ran"), "{lost}");
    assert!(!finished.load(Ordering::SeqCst), "the work was not cancelled");
    // The other owner's lock is untouched by the release on the way out.
    assert_eq!(store.get::<Text>(&key).await.unwrap().as_deref(), Some("another-owner"));
}

/// libfaketime, which runs a process with its clock moved (`apt-get install faketime`).
const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// The reader of the breaker clock test, in a child process whose clock runs an hour ahead of
/// the server's (`--ignored`; the parent passes the server and the breaker's key): prints its
/// clock and the breaker's status.
#[tokio::test]
#[ignore = "the child process of a_breaker_reads_its_open_time_on_the_server_clock"]
async fn breaker_status_process() {
    let url = std::env::var("BREAKER_CLOCK_URL").expect("run by the clock test");
    let key = std::env::var("BREAKER_CLOCK_KEY").expect("run by the clock test");
    let store = Store::connect_with(&url, schema(), &options()).await.unwrap();
    let breaker = keyschema_store::Breaker::new(store.core(), id(&store, "slow"), key);
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let status = breaker.status().await;
    let state = match status.state {
        _ if status.local => "local".to_string(),
        BreakerState::Open { retry_after } => format!("open {}", retry_after.as_millis()),
        BreakerState::HalfOpen => "half-open".into(),
        BreakerState::Closed => "closed".into(),
    };
    println!("CLOCK {clock}\nSTATUS {state}");
}

/// A breaker opened for 30 s, read by a process whose clock is an hour ahead: it is open, for
/// at most 30 s more, because its open time is compared with the server's clock (`TIME`), as the
/// scripts that open and probe it do. Compared with the reader's clock it would read half-open,
/// and a call would then be refused by the next script anyway.
#[tokio::test]
async fn a_breaker_reads_its_open_time_on_the_server_clock() {
    assert!(
        std::path::Path::new(FAKETIME).exists(),
        "this test runs a reader with its clock an hour ahead through libfaketime, at {FAKETIME}: \
         install it (`apt-get install faketime`; .ci/run does)"
    );
    let store = standalone().await;
    let key = format!("slow:{}", unique("clock"));
    let breaker = keyschema_store::Breaker::new(store.core(), id(&store, "slow"), key.clone());
    assert!(breaker.call(|| async { Err::<(), _>(()) }).await.is_err());
    assert!(matches!(breaker.status().await.state, BreakerState::Open { .. }));
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "breaker_status_process", "--nocapture"])
        .env("LD_PRELOAD", FAKETIME)
        .env("FAKETIME", "+1h")
        // Timers and timeouts keep the real monotonic clock.
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("BREAKER_CLOCK_URL", shared_standalone().url())
        .env("BREAKER_CLOCK_KEY", &key)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = |prefix: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line in the reader's output:\n{stdout}"))
            .to_string()
    };
    // The reader's clock really was moved: otherwise this test could not fail.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ahead = line("CLOCK ").parse::<u64>().unwrap().saturating_sub(now);
    assert!(
        (3_500..=3_700).contains(&ahead),
        "the reader's clock is {ahead} s ahead"
    );
    let status = line("STATUS ");
    let left: u64 = status
        .strip_prefix("open ")
        .unwrap_or_else(|| panic!("the breaker read `{status}`, not open"))
        .parse()
        .unwrap();
    assert!((1..=30_000).contains(&left), "open for {left} ms more");
}
