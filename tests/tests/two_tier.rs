//! Two-tier state (`state ctx:{<datasource>}:context` in `state.keys`) against real servers:
//! 100,000 entries backed up (each with its TTL: interval × factor, within the bound) and
//! restored on standalone and on the cluster; stale and corrupt backups discarded and counted; a
//! partition handover backs up only the leaving entries; a backup that cannot be written keeps
//! every entry in memory.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_store::{Codec, ConnectionOptions, Json, KeyTtl, Lz4, Restored};
use keyschema_tests::generated::state::{CollectorStore, CtxContextKey};
use keyschema_tests::generated::DatasourceContext;
use keyschema_tests::{shared_cluster, shared_standalone, unique, RedisServer};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn context(i: usize) -> DatasourceContext {
    DatasourceContext {
        updated_ms: i as i64,
        prior: (0..8).map(|p| (format!("datapoint{p}"), (i * p) as f64)).collect(),
    }
}

fn id(run: &str, i: usize) -> CtxContextKey {
    CtxContextKey {
        datasource: format!("{run}.ds{i}"),
    }
}

async fn hundred_thousand(store: CollectorStore) {
    const ENTRIES: usize = 100_000;
    let run = unique("r");
    let tier = store.ctx_context_tier();
    for i in 0..ENTRIES {
        // Collection intervals of 1 to 4 minutes: TTLs of 3 to 12 minutes.
        tier.insert(id(&run, i), context(i), Duration::from_secs(60 * (1 + i as u64 % 4)));
    }
    let report = tier.backup_all().await.unwrap();
    assert_eq!(report.entries, ENTRIES as u64);
    assert!(tier.is_empty(), "the local copies are dropped once written");
    assert_eq!(tier.counts().backed_up, ENTRIES as u64);

    for i in [0, 1, 2, 3, 77_777] {
        let key = id(&run, i).to_key().unwrap();
        let expected = Duration::from_secs(3 * 60 * (1 + i as u64 % 4));
        match store.store().ttl(&key).await.unwrap() {
            KeyTtl::Expires(ttl) => assert!(
                ttl <= expected && ttl + Duration::from_secs(60) > expected,
                "{key}: {ttl:?}"
            ),
            other => panic!("{key}: {other:?}"),
        }
    }

    // Another instance restores them on its local misses, from many tasks at once as a service's
    // requests would (one at a time, 100,000 round trips in a debug build took a minute).
    let other = Arc::new(store.ctx_context_tier());
    let (tier, run_id) = (Arc::clone(&other), run.clone());
    each_on_tasks(ENTRIES, move |i| {
        let (tier, run_id) = (Arc::clone(&tier), run_id.clone());
        async move {
            assert_eq!(
                tier.get_or_restore(&id(&run_id, i)).await.unwrap(),
                Some(context(i)),
                "{i}"
            );
        }
    })
    .await;
    assert_eq!(other.counts().restored, ENTRIES as u64);
    assert_eq!(other.len(), ENTRIES);
    // Local hits from now on: no further restores.
    assert_eq!(other.get_or_restore(&id(&run, 5)).await.unwrap(), Some(context(5)));
    assert_eq!(other.counts().restored, ENTRIES as u64);
    let raw = store.store().clone();
    each_on_tasks(ENTRIES, move |i| {
        let (raw, key) = (raw.clone(), id(&run, i).to_key().unwrap());
        async move {
            raw.delete(&key).await.unwrap();
        }
    })
    .await;
}

/// Runs `op(i)` for every `i` below `count`, spread over 16 tasks.
async fn each_on_tasks<F, Fut>(count: usize, op: F)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    const TASKS: usize = 16;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let op = op.clone();
        tasks.spawn(async move {
            for i in (task..count).step_by(TASKS) {
                op(i).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_entries_are_backed_up_with_their_ttls_and_restored() {
    // What lands is checked here, not how fast: on two vCPUs shared with seven servers and the
    // rest of the suite, a batch of the backup once waited past the default one-second response
    // timeout (the store then keeps the batch locally, as it should, and the test failed).
    let patient = ConnectionOptions::default().response_timeout(Duration::from_secs(10));
    let standalone = CollectorStore::connect_with(&shared_standalone().url(), &patient).await;
    hundred_thousand(standalone.unwrap()).await;
    let cluster = CollectorStore::connect_cluster_with(&shared_cluster().urls(), &patient).await;
    hundred_thousand(cluster.unwrap()).await;
}

/// A backup in the envelope format, written `age` ago.
fn envelope(age: Duration, value: &DatasourceContext) -> Vec<u8> {
    let written = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() - age;
    let mut bytes = b"ks2".to_vec();
    bytes.extend_from_slice(&(written.as_millis() as u64).to_be_bytes());
    bytes.extend_from_slice(&60_000u64.to_be_bytes());
    bytes.extend_from_slice(&Lz4::<Json<DatasourceContext>>::encode(value).unwrap());
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_and_corrupt_backups_are_discarded_and_counted() {
    let store = CollectorStore::connect(&shared_standalone().url()).await.unwrap();
    let raw = store.store();
    let tier = store.ctx_context_tier();
    let run = unique("bad");
    let plant = |i: usize, bytes: Vec<u8>| {
        let key = id(&run, i).to_key().unwrap();
        let mut connection = raw.connection();
        async move {
            keyschema_store::redis::cmd("SET")
                .arg(&key)
                .arg(bytes)
                .arg("PX")
                .arg(60_000)
                .query_async::<()>(&mut connection)
                .await
                .unwrap();
        }
    };
    plant(0, envelope(Duration::from_secs(60), &context(0))).await; // fresh
    plant(1, envelope(Duration::from_secs(3 * 3600), &context(1))).await; // older than max_age 2h
    plant(2, b"ks2 but far too short".to_vec()).await;
    plant(3, b"plain text, no envelope at all".to_vec()).await;
    let mut corrupt_value = envelope(Duration::ZERO, &context(4));
    corrupt_value.truncate(corrupt_value.len() - 3);
    plant(4, corrupt_value).await;

    assert_eq!(tier.restore(&id(&run, 0)).await.unwrap(), Restored::Fresh(context(0)));
    assert!(
        matches!(tier.restore(&id(&run, 1)).await.unwrap(), Restored::Stale { age } if age > Duration::from_secs(3 * 3600 - 5))
    );
    for i in 2..5 {
        let found = tier.restore(&id(&run, i)).await.unwrap();
        assert!(matches!(found, Restored::Corrupt { .. }), "{i}: {found:?}");
    }
    assert_eq!(tier.restore(&id(&run, 5)).await.unwrap(), Restored::Missing);
    let counts = tier.counts();
    assert_eq!(
        (counts.restored, counts.stale, counts.corrupt, counts.missing),
        (1, 1, 3, 1)
    );
    // Discarded backups are deleted, so no instance restores them later.
    for i in 1..5 {
        assert_eq!(
            raw.ttl(&id(&run, i).to_key().unwrap()).await.unwrap(),
            KeyTtl::Missing,
            "{i}"
        );
    }
    assert_eq!(tier.len(), 1, "only the fresh one is kept");
    raw.delete(&id(&run, 0).to_key().unwrap()).await.unwrap();
}

/// A partition handover: only the revoked partitions' entries are backed up and dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_handover_backs_up_only_the_leaving_entries() {
    let store = CollectorStore::connect_cluster(&shared_cluster().urls()).await.unwrap();
    let tier = store.ctx_context_tier();
    let run = unique("hand");
    let partition = |key: &CtxContextKey| key.datasource.len() % 2;
    for i in 0..1_000 {
        tier.insert(id(&run, i), context(i), Duration::from_secs(60));
    }
    let leaving = (0..1_000).filter(|&i| partition(&id(&run, i)) == 1).count();
    let report = tier.backup_where(|key| partition(key) == 1).await.unwrap();
    assert_eq!(report.entries, leaving as u64);
    assert_eq!(tier.len(), 1_000 - leaving);
    for i in 0..1_000 {
        let key = id(&run, i);
        let backed_up = store.store().ttl(&key.to_key().unwrap()).await.unwrap() != KeyTtl::Missing;
        assert_eq!(backed_up, partition(&key) == 1, "{i}");
        assert_eq!(tier.get(&key).is_some(), partition(&key) == 0, "{i}");
        store.store().delete(&key.to_key().unwrap()).await.unwrap();
    }
}

/// Redis down during the shutdown backup: the backup fails and every entry is still in memory
/// (nothing lost); once Redis is back the same backup succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_that_cannot_be_written_keeps_every_entry() {
    let mut server = RedisServer::start();
    let options = keyschema_store::ConnectionOptions::default()
        .connection_timeout(Duration::from_millis(300))
        .response_timeout(Duration::from_millis(300));
    let store = CollectorStore::connect_with(&server.url(), &options).await.unwrap();
    let tier = store.ctx_context_tier();
    for i in 0..25_000 {
        tier.insert(id("down", i), context(i), Duration::from_secs(60));
    }
    server.stop();
    assert!(tier.backup_all().await.is_err());
    assert_eq!(tier.len(), 25_000, "nothing dropped");
    assert_eq!(tier.counts().backed_up, 0);
    server.restart();
    let started = std::time::Instant::now();
    let report = loop {
        match tier.backup_all().await {
            Ok(report) => break report,
            Err(error) => {
                assert!(started.elapsed() < Duration::from_secs(5), "{error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(report.entries, 25_000);
    assert!(tier.is_empty());
    assert_eq!(
        store.ctx_context_tier().restore(&id("down", 24_999)).await.unwrap(),
        Restored::Fresh(context(24_999))
    );
    server.stop();
}
