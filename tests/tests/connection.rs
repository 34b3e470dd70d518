//! Connection settings against real servers: a stopped or hung server costs a caller at most the
//! configured deadline, the store recovers by itself when the server returns, and reads go to
//! replicas (standalone replicas and a cluster's) with writes on the primary.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_store::{ConnectionOptions, Error, KeyId, Store, StringKey, Text};
use keyschema_tests::{shared_cluster, RedisServer, ServerOptions};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SCHEMA: &str = "param id ident\nitem:<id> string text ttl 1h \"An item\"\n";
const ITEM: KeyId = KeyId::new(0);

/// The `item` key `key`.
fn item<'s>(store: &'s Store, key: &str) -> StringKey<'s, Text> {
    StringKey::new(store.core(), ITEM, key.to_string())
}

fn schema() -> Arc<keyschema::KeySchema> {
    keyschema::Schema::parse(SCHEMA, "connection.keys").unwrap().model_arc()
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("item:{prefix}-{nanos}")
}

/// Short timeouts, so the test measures them rather than waits on them.
fn fast() -> ConnectionOptions {
    ConnectionOptions::default()
        .connection_timeout(Duration::from_millis(300))
        .response_timeout(Duration::from_millis(300))
}

/// A generous margin over the deadline for a loaded 2-core machine.
const MARGIN: Duration = Duration::from_millis(700);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_costs_at_most_the_deadline_and_the_store_recovers_by_itself() {
    let mut server = RedisServer::start();
    let port = server.port();
    let options = fast();
    let store = Store::connect_with(&server.url(), schema(), &options).await.unwrap();
    let key = unique("down");
    item(&store, &key).set(&"before".to_string()).await.unwrap();

    server.stop();
    // Every call while the server is down fails, each within the deadline.
    for attempt in 0..5 {
        let started = Instant::now();
        let error = store.get::<Text>(&key).await.unwrap_err();
        let took = started.elapsed();
        assert!(
            took < options.deadline() + MARGIN,
            "call {attempt} took {took:?} (deadline {:?}): {error}",
            options.deadline()
        );
        assert!(
            matches!(error, Error::Unavailable { .. } | Error::OutcomeUnknown { .. }),
            "{error}"
        );
    }
    // A new connection to a stopped server fails as fast.
    let started = Instant::now();
    assert!(Store::connect_with(&server.url(), schema(), &options).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "connect took {:?}",
        started.elapsed()
    );

    // The server comes back (empty: no persistence); the same store works again by itself.
    let restarted = RedisServer::start_with(ServerOptions::on_port(port));
    let back = Instant::now();
    loop {
        match item(&store, &key).set(&"after".to_string()).await {
            Ok(()) => break,
            Err(error) => {
                assert!(
                    back.elapsed() < Duration::from_secs(5),
                    "not recovered after 5 s: {error}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let recovered = back.elapsed();
    assert_eq!(store.get::<Text>(&key).await.unwrap().as_deref(), Some("after"));
    eprintln!("recovered {recovered:?} after the server was back");
    drop(restarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_costs_at_most_the_deadline() {
    let server = RedisServer::start();
    let options = fast();
    let store = Store::connect_with(&server.url(), schema(), &options).await.unwrap();
    let key = unique("hung");
    item(&store, &key).set(&"v".to_string()).await.unwrap();

    server.signal("STOP");
    let started = Instant::now();
    let error = store.get::<Text>(&key).await;
    let took = started.elapsed();
    server.signal("CONT");
    let error = error.unwrap_err();
    assert!(took < options.deadline() + MARGIN, "took {took:?}: {error}");
    assert!(
        took >= options.response_timeout,
        "failed before the timeout: {took:?}: {error}"
    );

    // Resumed, the server answers again on the same store.
    let resumed = Instant::now();
    loop {
        match store.get::<Text>(&key).await {
            Ok(value) => {
                assert_eq!(value.as_deref(), Some("v"));
                break;
            }
            Err(error) => {
                assert!(resumed.elapsed() < Duration::from_secs(5), "not recovered: {error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_reads_go_to_the_replicas_and_fall_back_to_the_primary() {
    let primary = RedisServer::start();
    let replicas: Vec<RedisServer> = (0..2)
        .map(|_| RedisServer::start_with(ServerOptions::replica_of(primary.port())))
        .collect();
    for replica in &replicas {
        replica.wait_replica_synced();
    }
    let options = fast().replicas(replicas.iter().map(RedisServer::url));
    let store = Store::connect_with(&primary.url(), schema(), &options).await.unwrap();

    let keys: Vec<String> = (0..20).map(|i| unique(&format!("r{i}"))).collect();
    let sets_before = primary.calls("set");
    for key in &keys {
        item(&store, key).set(key).await.unwrap();
    }
    // Writes land on the primary (a replica would answer READONLY).
    assert_eq!(primary.calls("set") - sets_before, keys.len() as u64);
    // Let replication catch up before reading from the replicas (EXISTS, not GET: it does not
    // count as a read below).
    for replica in &replicas {
        let mut connection = replica.connect();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut exists: Vec<&str> = vec!["EXISTS"];
        exists.extend(keys.iter().map(String::as_str));
        while connection.cmd(&exists).unwrap().as_int() != Some(keys.len() as i64) {
            assert!(
                Instant::now() < deadline,
                "replica on {} did not catch up",
                replica.port()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    let gets = |server: &RedisServer| server.calls("get");
    let before: Vec<u64> = replicas.iter().map(gets).collect();
    let primary_before = gets(&primary);
    for key in &keys {
        assert_eq!(store.get::<Text>(key).await.unwrap().as_deref(), Some(key.as_str()));
    }
    let served: Vec<u64> = replicas.iter().zip(&before).map(|(r, b)| gets(r) - b).collect();
    assert_eq!(
        served.iter().sum::<u64>(),
        keys.len() as u64,
        "replicas served {served:?}"
    );
    assert!(
        served.iter().all(|&n| n >= 5),
        "reads spread over both replicas: {served:?}"
    );
    assert_eq!(gets(&primary), primary_before, "no read went to the primary");

    // Both replicas down: reads still answer, from the primary, each within the deadline.
    drop(replicas);
    let primary_before = gets(&primary);
    for key in &keys {
        let started = Instant::now();
        assert_eq!(store.get::<Text>(key).await.unwrap().as_deref(), Some(key.as_str()));
        assert!(
            started.elapsed() < options.deadline() + MARGIN,
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(gets(&primary) - primary_before, keys.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_reads_go_to_the_replicas_when_asked() {
    let cluster = shared_cluster();
    let options = ConnectionOptions::default().read_from_replicas(true);
    let store = Store::connect_cluster_with(&cluster.urls(), schema(), &options)
        .await
        .unwrap();
    let replicas: Vec<_> = cluster
        .nodes()
        .iter()
        .filter(|node| node.info("replication").contains("role:slave"))
        .collect();
    assert_eq!(replicas.len(), 3);
    let keys: Vec<String> = (0..30).map(|i| unique(&format!("c{i}"))).collect();
    for key in &keys {
        item(&store, key).set(key).await.unwrap();
    }
    let before: u64 = replicas.iter().map(|r| r.calls("get")).sum();
    let mut reads = 0u64;
    for key in &keys {
        // A replica may lag the write by a moment (replication is asynchronous).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            reads += 1;
            match store.get::<Text>(key).await.unwrap() {
                Some(value) => {
                    assert_eq!(&value, key);
                    break;
                }
                None => {
                    assert!(Instant::now() < deadline, "{key} never reached its replica");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
    // Other tests share this cluster but never read from its replicas.
    let served: u64 = replicas.iter().map(|r| r.calls("get")).sum::<u64>() - before;
    assert_eq!(served, reads, "every read was served by a replica");
}
