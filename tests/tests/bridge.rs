//! Layout changes through bridged stores (`Config::previous`), against real servers: a store of
//! `tests/schemas/bridge_v2.keys` generated with `bridge_v1.keys` as its previous layout reads
//! what a store of `bridge_v1.keys` wrote, for every kind of key it bridges, in both modes; locks
//! and leases exclude across the two versions; rate limits count on both. Then a rollout under
//! load of the Cordum keyspace (`cordum.keys` to `cordum-cluster.keys`), on a standalone server
//! and on a 3+3 cluster: no read stale or lost, never two holders of a job's lock, and the
//! audit's count of old-layout keys falling to zero.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_store::ops::{self, AuditOptions};
use keyschema_store::uuid::Uuid;
use keyschema_store::{BridgeMode, KeyTtl, Store};
use keyschema_tests::generated::{bridge_v1, bridge_v2, cordum, cordum_cluster, cordum_cluster_bridged};
use keyschema_tests::generated::{JobState, Thing};
use keyschema_tests::{shared_cluster, shared_standalone, RedisCluster, RedisServer, ServerOptions};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn thing(state: &str) -> Thing {
    Thing { state: state.into() }
}

fn word() -> String {
    format!("w{}", Uuid::new_v4().simple())
}

/// A store of each layout on one server (or cluster).
async fn stores(nodes: Result<String, Vec<String>>) -> (bridge_v1::BridgeStore, bridge_v2::BridgeStore) {
    match nodes {
        Ok(url) => (
            bridge_v1::BridgeStore::connect(&url).await.unwrap(),
            bridge_v2::BridgeStore::connect(&url).await.unwrap(),
        ),
        Err(nodes) => (
            bridge_v1::BridgeStore::connect_cluster(&nodes).await.unwrap(),
            bridge_v2::BridgeStore::connect_cluster(&nodes).await.unwrap(),
        ),
    }
}

async fn exists(store: &Store, key: &str) -> bool {
    store.ttl(key).await.unwrap() != KeyTtl::Missing
}

/// Every key both layouts have for document `id`, as (old, new).
fn document_keys(old: &bridge_v1::BridgeStore, new: &bridge_v2::BridgeStore, id: Uuid) -> Vec<(String, String)> {
    vec![
        (old.doc(id).key().to_string(), new.doc(id).key().to_string()),
        (old.packed(id).key().to_string(), new.packed(id).key().to_string()),
        (old.record(id).key().to_string(), new.record(id).key().to_string()),
        (old.map(id).key().to_string(), new.map(id).key().to_string()),
        (old.events(id).key().to_string(), new.events(id).key().to_string()),
        (old.tags(id).key().to_string(), new.tags(id).key().to_string()),
        (old.scores(id).key().to_string(), new.scores(id).key().to_string()),
        (old.log(id).key().to_string(), new.log(id).key().to_string()),
    ]
}

/// Writes one of everything with the first layout.
async fn write_v1(old: &bridge_v1::BridgeStore, id: Uuid) {
    old.doc(id).set(&thing("A")).await.unwrap();
    old.packed(id).set(&thing("P")).await.unwrap();
    let record = bridge_v1::RecordRecord {
        title: Some("title".into()),
        count: Some(2),
    };
    old.record(id).set(&record).await.unwrap();
    old.map(id).set(&"a".to_string(), &1).await.unwrap();
    old.events(id).push(&["e1".into(), "e2".into()]).await.unwrap();
    old.tags(id).add(&["x".into()]).await.unwrap();
    old.scores(id).add(&[("n".to_string(), 5)]).await.unwrap();
    old.log(id).add(&"l1".to_string()).await.unwrap();
    old.kept(id).set(&"k".to_string()).await.unwrap();
}

/// Reads everything with the second layout: what the first wrote.
async fn read_v2(new: &bridge_v2::BridgeStore, id: Uuid) {
    assert_eq!(new.doc(id).get().await.unwrap(), Some(thing("A")));
    // Written as json(Thing), read as lz4(json(Thing)): re-encoded on the way.
    assert_eq!(new.packed(id).get().await.unwrap(), Some(thing("P")));
    let record = new.record(id).get().await.unwrap().unwrap();
    assert_eq!((record.title.as_deref(), record.count), (Some("title"), Some(2)));
    assert_eq!(new.map(id).get(&"a".to_string()).await.unwrap(), Some(1));
    assert_eq!(new.map(id).len().await.unwrap(), 1);
    assert_eq!(new.events(id).range(0, -1).await.unwrap(), ["e1", "e2"]);
    assert_eq!(new.tags(id).members().await.unwrap(), ["x"]);
    assert!(new.tags(id).contains(&"x".to_string()).await.unwrap());
    assert_eq!(
        new.scores(id).range_by_rank(0, -1).await.unwrap(),
        [("n".to_string(), 5)]
    );
    let log = new.log(id).range("-", "+").await.unwrap();
    assert_eq!(log.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>(), ["l1"]);
    assert_eq!(new.kept(id).get().await.unwrap().as_deref(), Some("k"));
}

/// Every bridged kind of key, in both modes, through accessors, a transaction and a batch.
async fn every_kind(nodes: Result<String, Vec<String>>) {
    let (old, new) = stores(nodes).await;
    let raw = new.store().clone();
    let id = Uuid::new_v4();
    let keys = document_keys(&old, &new, id);
    for (old_key, new_key) in &keys {
        assert_ne!(old_key, new_key, "the layout moves every document key");
    }
    write_v1(&old, id).await;

    // Fallback (the default): reads answer from the old layout and leave it where it is.
    read_v2(&new, id).await;
    for (old_key, new_key) in &keys {
        assert!(exists(&raw, old_key).await, "{old_key} stays for the old version");
        assert!(!exists(&raw, new_key).await, "a read does not write {new_key}");
    }
    // A TTL is the old key's while only that one exists.
    assert!(matches!(new.doc(id).ttl().await.unwrap(), KeyTtl::Expires(_)));
    // A write that adds to a list first copies what the old layout holds (capped at 5).
    new.events(id).push(&["e3".into()]).await.unwrap();
    assert_eq!(new.events(id).range(0, -1).await.unwrap(), ["e1", "e2", "e3"]);
    assert_eq!(old.events(id).range(0, -1).await.unwrap(), ["e1", "e2"]);
    // A write that replaces goes to the new layout only; the old version still reads its own.
    new.doc(id).set(&thing("B")).await.unwrap();
    assert_eq!(new.doc(id).get().await.unwrap(), Some(thing("B")));
    assert_eq!(old.doc(id).get().await.unwrap(), Some(thing("A")));

    // Move: a key found in the old layout is moved with its TTL, a replacing write retires it.
    let moving = new.bridging(BridgeMode::Move);
    let before = raw.ttl(&keys[5].0).await.unwrap();
    assert_eq!(moving.tags(id).members().await.unwrap(), ["x"]);
    let after = raw.ttl(&keys[5].1).await.unwrap();
    match (before, after) {
        (KeyTtl::Expires(before), KeyTtl::Expires(after)) => assert!(after <= before, "{before:?} {after:?}"),
        other => panic!("the moved set keeps its TTL: {other:?}"),
    }
    assert_eq!(moving.packed(id).get().await.unwrap(), Some(thing("P")));
    let stored: Vec<u8> = raw.get::<keyschema_store::Bytes>(&keys[1].1).await.unwrap().unwrap();
    assert_ne!(
        stored.first(),
        Some(&b'{'),
        "moved in the new codec (lz4), not copied as JSON"
    );
    let record = moving.record(id).get().await.unwrap().unwrap();
    assert_eq!(record.count, Some(2));
    assert_eq!(moving.map(id).entries().await.unwrap(), [("a".to_string(), 1)]);
    assert_eq!(moving.scores(id).len().await.unwrap(), 1);
    assert_eq!(moving.log(id).range("-", "+").await.unwrap().len(), 1);
    // The list and the document already had new keys: their old twins go with the next write.
    assert_eq!(moving.events(id).len().await.unwrap(), 3);
    moving.doc(id).set(&thing("C")).await.unwrap();
    assert!(!exists(&raw, &keys[0].0).await, "a replacing write retires the old key");
    for (old_key, new_key) in keys.iter().filter(|(k, _)| !k.starts_with("events:")) {
        assert!(!exists(&raw, old_key).await, "{old_key} moved");
        assert!(exists(&raw, new_key).await, "{new_key} holds it");
    }

    // A delete removes both layouts, so no read falls back to a deleted value.
    let gone = Uuid::new_v4();
    old.doc(gone).set(&thing("A")).await.unwrap();
    assert!(new.doc(gone).delete().await.unwrap());
    assert_eq!(new.doc(gone).get().await.unwrap(), None);
    assert_eq!(old.doc(gone).get().await.unwrap(), None);

    // A transaction of the document's slot group: the list it appends to is settled first,
    // the document it replaces is retired after it (Move), the one it deletes is deleted in
    // both layouts.
    let tx_id = Uuid::new_v4();
    old.doc(tx_id).set(&thing("A")).await.unwrap();
    old.packed(tx_id).set(&thing("P")).await.unwrap();
    old.events(tx_id).push(&["e1".into()]).await.unwrap();
    let mut tx = moving.id_transaction(tx_id);
    tx.push_events(&["e2".into()]).unwrap();
    tx.set_doc(&thing("T")).unwrap();
    tx.delete_packed().unwrap();
    tx.execute().await.unwrap();
    assert_eq!(moving.events(tx_id).range(0, -1).await.unwrap(), ["e1", "e2"]);
    assert_eq!(moving.doc(tx_id).get().await.unwrap(), Some(thing("T")));
    assert_eq!(moving.packed(tx_id).get().await.unwrap(), None);
    for key in [old.doc(tx_id).key(), old.packed(tx_id).key(), old.events(tx_id).key()] {
        assert!(!exists(&raw, key).await, "{key} is gone after the transaction");
    }
    // A batch's replacing write retires the old key too.
    let batch_id = Uuid::new_v4();
    old.doc(batch_id).set(&thing("A")).await.unwrap();
    let mut batch = raw.batch();
    batch.set(&moving.doc(batch_id), &thing("B")).unwrap();
    batch.send().await.unwrap();
    assert!(!exists(&raw, old.doc(batch_id).key()).await);
    assert_eq!(moving.doc(batch_id).get().await.unwrap(), Some(thing("B")));

    // Keys that cannot be bridged are read in the new layout only (their accessor says why).
    old.retyped(id).set(&"s".to_string()).await.unwrap();
    let retyped = new.retyped(id).range(0, -1).await;
    assert!(
        retyped.is_err(),
        "a string read as a list fails with WRONGTYPE: {retyped:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_key_reads_across_a_layout_change() {
    every_kind(Ok(shared_standalone().url())).await;
    every_kind(Err(shared_cluster().urls())).await;
}

/// Faults and bad values in the old layout: a bridged read while the server is down is a clear
/// error and moves nothing; after a `kill -9` and a restart the old value is read (and moved)
/// again; an old value that does not decode is an error naming the old key, and the old key is
/// left where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridged_read_survives_a_restart_and_names_a_corrupt_old_value() {
    let mut server = RedisServer::start_with(ServerOptions::aof());
    let (old, new) = stores(Ok(server.url())).await;
    let moving = new.bridging(BridgeMode::Move);
    let raw = new.store().clone();
    let id = Uuid::new_v4();
    old.doc(id).set(&thing("A")).await.unwrap();
    old.events(id).push(&["e1".into()]).await.unwrap();

    server.kill();
    let down = moving.doc(id).get().await;
    assert!(
        down.as_ref().is_err_and(keyschema_store::Error::is_unavailable),
        "{down:?}"
    );
    assert!(moving.events(id).push(&["e2".into()]).await.is_err());
    server.restart();
    // Nothing was moved or lost while the server was away: the old layout still has both.
    let mut reconnected = None;
    for _ in 0..50 {
        match moving.doc(id).get().await {
            Ok(found) => {
                reconnected = Some(found);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert_eq!(reconnected, Some(Some(thing("A"))));
    assert!(!exists(&raw, old.doc(id).key()).await, "moved once the server was back");
    moving.events(id).push(&["e2".into()]).await.unwrap();
    assert_eq!(moving.events(id).range(0, -1).await.unwrap(), ["e1", "e2"]);

    // A corrupt value in the old layout (a string whose codec changes): a decode error naming the
    // old key, in both modes, and the old key is not deleted.
    let bad = Uuid::new_v4();
    let mut connection = raw.connection();
    let old_key = old.packed(bad).key().to_string();
    let _: () = keyschema_store::redis::cmd("SET")
        .arg(&old_key)
        .arg("not json")
        .query_async(&mut connection)
        .await
        .unwrap();
    for store in [&new, &moving] {
        match store.packed(bad).get().await {
            Err(keyschema_store::Error::Decode { key, .. }) => assert_eq!(key, old_key),
            other => panic!("{other:?}"),
        }
        assert!(
            exists(&raw, &old_key).await,
            "a value that does not decode stays where it was"
        );
        assert!(!exists(&raw, new.packed(bad).key()).await);
    }
}

/// Instances moving the same key at once (`Move`): each read answers the value, whichever
/// instance moved it (a read that missed the new key, then found the old one already moved by
/// another, reads the new key again).
async fn concurrent_moves(nodes: Result<String, Vec<String>>) {
    let (old, new) = stores(nodes).await;
    let moving = new.bridging(BridgeMode::Move);
    let ids: Vec<Uuid> = (0..100).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        old.doc(*id).set(&thing("A")).await.unwrap();
    }
    let mut reads = Vec::new();
    for id in &ids {
        for _ in 0..4 {
            let (store, id) = (moving.clone(), *id);
            reads.push(tokio::spawn(async move { store.doc(id).get().await.unwrap() }));
        }
    }
    let mut missed = 0;
    for read in reads {
        if read.await.unwrap() != Some(thing("A")) {
            missed += 1;
        }
    }
    assert_eq!(missed, 0, "reads that missed a value being moved");
    for id in &ids {
        assert!(!exists(new.store(), old.doc(*id).key()).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_moving_one_key_at_once_all_read_it() {
    concurrent_moves(Ok(shared_standalone().url())).await;
    concurrent_moves(Err(shared_cluster().urls())).await;
}

/// Locks and leases are taken on both keys/// Locks and leases are taken on both keys: an instance of either version holding one keeps
/// the other out, renewals keep both, and a release frees both.
async fn locks_across(nodes: Result<String, Vec<String>>) {
    let (old, new) = stores(nodes).await;
    let raw = new.store().clone();
    let id = Uuid::new_v4();
    let held = old.job_lock(id).try_acquire().await.unwrap().unwrap();
    assert!(new.job_lock(id).try_acquire().await.unwrap().is_none());
    assert!(
        !exists(&raw, new.job_lock(id).key()).await,
        "a refused take leaves nothing behind"
    );
    held.release().await.unwrap();
    let held = new.job_lock(id).try_acquire().await.unwrap().unwrap();
    assert!(exists(&raw, old.job_lock(id).key()).await && exists(&raw, new.job_lock(id).key()).await);
    assert!(old.job_lock(id).try_acquire().await.unwrap().is_none());
    // Held past its TTL (5 s): renewals keep both keys.
    tokio::time::sleep(Duration::from_millis(6_000)).await;
    assert!(held.is_held());
    assert!(old.job_lock(id).try_acquire().await.unwrap().is_none());
    assert!(held.release().await.unwrap());
    assert!(!exists(&raw, old.job_lock(id).key()).await && !exists(&raw, new.job_lock(id).key()).await);
    assert!(old.job_lock(id).try_acquire().await.unwrap().is_some());

    // The leader lease, renamed: one leader across both versions.
    let leader = new.leader().try_acquire().await.unwrap().unwrap();
    assert!(old.leader().try_acquire().await.unwrap().is_none());
    assert!(leader.step_down().await.unwrap());
    let old_leader = old.leader().try_acquire().await.unwrap().unwrap();
    assert!(new.leader().try_acquire().await.unwrap().is_none());
    assert!(old_leader.step_down().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_lock_or_lease_has_one_holder_across_versions() {
    // Servers of their own: the lease's key has no parameter.
    let server = RedisServer::start();
    locks_across(Ok(server.url())).await;
    let cluster = RedisCluster::start();
    locks_across(Err(cluster.urls())).await;
}

/// A renamed rate limit counts on both keys: the two versions together stay within the limit.
async fn limits_across(nodes: Result<String, Vec<String>>) {
    let (old, new) = stores(nodes).await;
    let name = word();
    assert!(old.login(name.clone()).unwrap().hit().await.unwrap().allowed);
    assert!(old.login(name.clone()).unwrap().hit().await.unwrap().allowed);
    assert!(
        new.login(name.clone()).unwrap().hit().await.unwrap().allowed,
        "the third of 3"
    );
    let fourth = new.login(name.clone()).unwrap().hit().await.unwrap();
    assert!(!fourth.allowed && fourth.remaining == 0, "{fourth:?}");
    assert!(!old.login(name.clone()).unwrap().hit().await.unwrap().allowed);
    // Per server second: 4 per window across both versions.
    let name = word();
    let mut allowed = std::collections::HashMap::<i64, u32>::new();
    for round in 0..12 {
        let decision = if round % 2 == 0 {
            old.rl(name.clone()).hit().await.unwrap()
        } else {
            new.rl(name.clone()).hit().await.unwrap()
        };
        if decision.allowed {
            *allowed.entry(decision.window.unwrap()).or_default() += 1;
        }
    }
    assert!(allowed.values().all(|&n| n <= 4), "{allowed:?}");
    assert!(allowed.values().sum::<u32>() < 12, "{allowed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_rate_limit_counts_on_both_layouts() {
    limits_across(Ok(shared_standalone().url())).await;
    limits_across(Err(shared_cluster().urls())).await;
}

/// The Cordum schema, as `keyschema audit --previous` reads it.
fn cordum_schema() -> Arc<keyschema::Schema> {
    let source = include_str!("../../schema/examples/cordum.keys");
    Arc::new(keyschema::Schema::parse(source, "cordum.keys").unwrap())
}

/// Keys of the previous layout and stale twins, as the audit counts them.
async fn old_layout(nodes: &Result<String, Vec<String>>) -> (u64, u64) {
    let connection = match nodes {
        Ok(url) => keyschema_store::RedisConnection::standalone(url).await.unwrap(),
        Err(nodes) => keyschema_store::RedisConnection::cluster(nodes).await.unwrap(),
    };
    let store = Store::new(connection, cordum_cluster::schema().model_arc()).unwrap();
    let options = AuditOptions {
        previous: Some(cordum_schema()),
        ..AuditOptions::default()
    };
    let report = ops::audit(&store, &options).await.unwrap();
    let layout = report.previous.unwrap();
    (layout.old_keys(), layout.twin_count())
}

const JOBS: usize = 24;

/// A job's id in both generated modules (half of them in the composite layout).
fn job_ids(n: usize) -> Vec<(cordum::JobId, cordum_cluster_bridged::JobId, cordum_cluster::JobId)> {
    (0..n)
        .map(|i| {
            let run = Uuid::new_v4();
            if i % 2 == 0 {
                (
                    cordum::JobId::Simple(run),
                    cordum_cluster_bridged::JobId::Simple(run),
                    cordum_cluster::JobId::Simple(run),
                )
            } else {
                let step = format!("step-{i}");
                (
                    cordum::JobId::Layout1 {
                        run_id: run,
                        step_id: step.clone(),
                        attempt: 1,
                    },
                    cordum_cluster_bridged::JobId::Layout1 {
                        run_id: run,
                        step_id: step.clone(),
                        attempt: 1,
                    },
                    cordum_cluster::JobId::Layout1 {
                        run_id: run,
                        step_id: step,
                        attempt: 1,
                    },
                )
            }
        })
        .collect()
}

/// What the rollout's tasks share: the ids, the last acknowledged attempt of each job, which
/// jobs the new version has taken over, how many holders each job's lock has now, and what went
/// wrong.
struct Rollout {
    jobs: Vec<(cordum::JobId, cordum_cluster_bridged::JobId, cordum_cluster::JobId)>,
    acknowledged: Vec<AtomicU64>,
    taken_over: Vec<AtomicBool>,
    holders: Vec<AtomicU32>,
    overlaps: AtomicU64,
    processed: [AtomicU64; 2],
    reads: AtomicU64,
    errors: Mutex<Vec<String>>,
    stop_old: AtomicBool,
    stop_new: AtomicBool,
    moving: AtomicBool,
}

impl Rollout {
    fn error(&self, message: String) {
        self.errors.lock().unwrap().push(message);
    }

    /// Inside a job's lock: counts the holders (more than one is an overlap).
    fn enter(&self, job: usize) {
        if self.holders[job].fetch_add(1, Ordering::SeqCst) != 0 {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn leave(&self, job: usize) {
        self.holders[job].fetch_sub(1, Ordering::SeqCst);
    }
}

const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Which version a worker runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    Old = 0,
    New = 1,
}

/// One job processed by a worker of `version`: under the job's lock, unless the job belongs to
/// the other version (the new one takes jobs over one by one), read its state, which must be the
/// last acknowledged one, and write the next attempt.
async fn process(
    version: Version,
    lock: keyschema_store::Lock<'_>,
    key: keyschema_store::StringKey<'_, keyschema_store::Json<JobState>>,
    state: &Rollout,
    job: usize,
) {
    let Ok(guard) = lock.acquire(LOCK_WAIT).await else {
        return;
    };
    state.enter(job);
    if state.taken_over[job].load(Ordering::SeqCst) == (version == Version::New) {
        let expected = state.acknowledged[job].load(Ordering::SeqCst);
        match key.get().await {
            Ok(Some(found)) if u64::from(found.attempt) == expected => {
                let next = JobState {
                    state: "RUNNING".into(),
                    attempt: found.attempt + 1,
                };
                if key.set(&next).await.is_ok() {
                    state.acknowledged[job].store(expected + 1, Ordering::SeqCst);
                    state.processed[version as usize].fetch_add(1, Ordering::SeqCst);
                }
            }
            other => state.error(format!(
                "worker of version {}, job {job}: read {other:?}, expected attempt {expected}",
                version as usize + 1
            )),
        }
    }
    state.leave(job);
    let _ = guard.release().await;
}

/// A worker of the previous version.
async fn old_worker(store: cordum::CordumStore, state: Arc<Rollout>, seed: usize) {
    let mut n = seed;
    while !state.stop_old.load(Ordering::SeqCst) {
        n = n.wrapping_mul(7).wrapping_add(3);
        let job = n % JOBS;
        let id = &state.jobs[job].0;
        let (lock, key) = (
            store.cordum_scheduler_job(id.clone()).unwrap(),
            store.job_state(id.clone()).unwrap(),
        );
        process(Version::Old, lock, key, &state, job).await;
    }
}

/// A worker of the new version, through the bridge (`Fallback`, then `Move` once no old worker
/// runs).
async fn new_worker(store: cordum_cluster_bridged::CordumStore, state: Arc<Rollout>, seed: usize) {
    let moving = store.bridging(BridgeMode::Move);
    let mut n = seed;
    while !state.stop_new.load(Ordering::SeqCst) {
        n = n.wrapping_mul(7).wrapping_add(5);
        let job = n % JOBS;
        let store = if state.moving.load(Ordering::SeqCst) {
            &moving
        } else {
            &store
        };
        process_new(store, &state, job).await;
    }
}

async fn process_new(store: &cordum_cluster_bridged::CordumStore, state: &Rollout, job: usize) {
    let id = &state.jobs[job].1;
    let (lock, key) = (
        store.cordum_scheduler_job(id.clone()).unwrap(),
        store.job_state(id.clone()).unwrap(),
    );
    process(Version::New, lock, key, state, job).await;
}

/// A reader of the new version, outside the locks: each read must return the value last
/// acknowledged when it started, or a later one (never an older one, never none).
async fn reader(store: cordum_cluster_bridged::CordumStore, state: Arc<Rollout>, seed: usize) {
    let moving = store.bridging(BridgeMode::Move);
    let mut n = seed;
    while !state.stop_new.load(Ordering::SeqCst) {
        n = n.wrapping_mul(7).wrapping_add(11);
        let job = n % JOBS;
        let store = if state.moving.load(Ordering::SeqCst) {
            &moving
        } else {
            &store
        };
        let before = state.acknowledged[job].load(Ordering::SeqCst);
        let read = store.job_state(state.jobs[job].1.clone()).unwrap().get().await;
        let after = state.acknowledged[job].load(Ordering::SeqCst);
        match read {
            // At most one write of a job is in flight (under its lock), and it may be seen
            // before its writer records it as acknowledged.
            Ok(Some(found)) if (before..=after + 1).contains(&u64::from(found.attempt)) => {
                state.reads.fetch_add(1, Ordering::SeqCst);
            }
            other => state.error(format!(
                "reader, job {job}: read {other:?}, acknowledged {before}..={after}"
            )),
        }
    }
}

/// The rollout: the old version alone; then both, the new one taking jobs over one by one
/// (`Fallback`); then the new one alone (`Move`) processing every job once more; the audit
/// finds no key of the old layout; and a store generated without the bridge reads every job's
/// last state.
async fn rollout(nodes: Result<String, Vec<String>>) {
    let (old, new, plain) = match &nodes {
        Ok(url) => (
            cordum::CordumStore::connect(url).await.unwrap(),
            cordum_cluster_bridged::CordumStore::connect(url).await.unwrap(),
            cordum_cluster::CordumStore::connect(url).await.unwrap(),
        ),
        Err(nodes) => (
            cordum::CordumStore::connect_cluster(nodes).await.unwrap(),
            cordum_cluster_bridged::CordumStore::connect_cluster(nodes)
                .await
                .unwrap(),
            cordum_cluster::CordumStore::connect_cluster(nodes).await.unwrap(),
        ),
    };
    let state = Arc::new(Rollout {
        jobs: job_ids(JOBS),
        acknowledged: (0..JOBS).map(|_| AtomicU64::new(1)).collect(),
        taken_over: (0..JOBS).map(|_| AtomicBool::new(false)).collect(),
        holders: (0..JOBS).map(|_| AtomicU32::new(0)).collect(),
        overlaps: AtomicU64::new(0),
        processed: [AtomicU64::new(0), AtomicU64::new(0)],
        reads: AtomicU64::new(0),
        errors: Mutex::new(Vec::new()),
        stop_old: AtomicBool::new(false),
        stop_new: AtomicBool::new(false),
        moving: AtomicBool::new(false),
    });
    // The old version wrote every job's first state.
    for (id, _, _) in &state.jobs {
        let first = JobState {
            state: "PENDING".into(),
            attempt: 1,
        };
        old.job_state(id.clone()).unwrap().set(&first).await.unwrap();
    }
    assert_eq!(
        old_layout(&nodes).await,
        (JOBS as u64, 0),
        "every job in the old layout"
    );

    let started = Instant::now();
    let mut old_tasks = Vec::new();
    for seed in 0..3 {
        old_tasks.push(tokio::spawn(old_worker(old.clone(), Arc::clone(&state), seed)));
    }
    let mut new_tasks = Vec::new();
    for seed in 0..3 {
        new_tasks.push(tokio::spawn(new_worker(new.clone(), Arc::clone(&state), seed + 100)));
    }
    for seed in 0..2 {
        new_tasks.push(tokio::spawn(reader(new.clone(), Arc::clone(&state), seed + 200)));
    }
    // The new version takes the jobs over one by one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for taken in &state.taken_over {
        taken.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    state.stop_old.store(true, Ordering::SeqCst);
    for task in old_tasks {
        task.await.unwrap();
    }
    // No instance of the old version runs: the new one moves what is left.
    state.moving.store(true, Ordering::SeqCst);
    let moving = new.bridging(BridgeMode::Move);
    for job in 0..JOBS {
        process_new(&moving, &state, job).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    state.stop_new.store(true, Ordering::SeqCst);
    for task in new_tasks {
        task.await.unwrap();
    }
    let errors = state.errors.lock().unwrap().clone();
    let processed = [
        state.processed[0].load(Ordering::SeqCst),
        state.processed[1].load(Ordering::SeqCst),
    ];
    let reads = state.reads.load(Ordering::SeqCst);
    println!(
        "rollout ({}): {} ms, processed old {} new {}, reads {reads}, overlaps {}, errors {}",
        if nodes.is_ok() { "standalone" } else { "cluster" },
        started.elapsed().as_millis(),
        processed[0],
        processed[1],
        state.overlaps.load(Ordering::SeqCst),
        errors.len()
    );
    assert!(
        errors.is_empty(),
        "{} stale or lost reads: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert_eq!(state.overlaps.load(Ordering::SeqCst), 0, "two holders of a job's lock");
    assert!(processed[0] > 0 && processed[1] >= JOBS as u64, "{processed:?}");
    assert!(reads > 0);
    // Every job was written by the new version under Move: nothing is left in the old layout.
    assert_eq!(old_layout(&nodes).await, (0, 0), "the old layout is empty");
    // The bridge is removed: a store generated without it reads every job's last state.
    for (job, (_, _, id)) in state.jobs.iter().enumerate() {
        let found = plain.job_state(id.clone()).unwrap().get().await.unwrap().unwrap();
        assert_eq!(u64::from(found.attempt), state.acknowledged[job].load(Ordering::SeqCst));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_under_load_loses_nothing_and_never_has_two_holders() {
    // Servers of their own, so the audit counts this test's keys alone.
    let server = RedisServer::start();
    rollout(Ok(server.url())).await;
    let cluster = RedisCluster::start();
    rollout(Err(cluster.urls())).await;
}
