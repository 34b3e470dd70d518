//! String keys through the store, against real servers: values read back, TTLs checked with PTTL
//! on the server, environment overrides, `keepttl`, decode errors, a cluster, and a server that
//! goes away and comes back.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

mod common;

use keyschema::{examples, Schema};
use keyschema_store::{Error, Int, Json, KeyPolicies, KeyTtl, RedisConnection, Store, StringKey, Text};
use keyschema_tests::{shared_cluster, shared_standalone, RedisServer, ServerOptions};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
struct JobState {
    state: String,
    attempt: u32,
}

fn cordum() -> Arc<keyschema::KeySchema> {
    Schema::parse(examples::CORDUM, "cordum.keys").unwrap().model_arc()
}

/// A UUID unique to this test run, so tests sharing a server keep apart.
fn unique_uuid(salt: u64) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let a = nanos ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(std::process::id());
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        salt & 0xfff,
        a & 0xffff_ffff_ffff
    )
}

fn key_index(schema: &keyschema::KeySchema, name: &str) -> keyschema_store::KeyId {
    keyschema_store::KeyId::of(schema, name).unwrap()
}

fn expires_within(ttl: KeyTtl, low: Duration, high: Duration) -> bool {
    matches!(ttl, KeyTtl::Expires(d) if d > low && d <= high)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_values_read_back_with_the_declared_ttl() {
    let schema = cordum();
    let store = Store::with_policies(
        RedisConnection::standalone(&shared_standalone().url()).await.unwrap(),
        Arc::clone(&schema),
        KeyPolicies::from_lookup(&schema, |_| None).unwrap(),
    );
    let def = key_index(&schema, "job_state");
    let key = format!("job:state:{}", unique_uuid(1));
    let value = JobState {
        state: "RUNNING".into(),
        attempt: 2,
    };
    StringKey::<Json<JobState>>::new(store.core(), def, key.clone())
        .set(&value)
        .await
        .unwrap();
    assert_eq!(store.get::<Json<JobState>>(&key).await.unwrap(), Some(value));
    let week = Duration::from_secs(7 * 86_400);
    assert!(expires_within(
        store.ttl(&key).await.unwrap(),
        week - Duration::from_secs(5),
        week
    ));
    // A key without TTL in the schema is written without one.
    let config = format!("cfg:org:{}", unique_uuid(2));
    StringKey::<Text>::new(store.core(), key_index(&schema, "cfg_org"), config.clone())
        .set(&"{}".to_string())
        .await
        .unwrap();
    assert_eq!(store.ttl(&config).await.unwrap(), KeyTtl::Persistent);
    assert!(store.delete(&key).await.unwrap());
    assert_eq!(store.get::<Json<JobState>>(&key).await.unwrap(), None);
    assert_eq!(store.ttl(&key).await.unwrap(), KeyTtl::Missing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_overrides_apply_and_bad_values_fail_at_start_up() {
    let schema = cordum();
    let ttls =
        KeyPolicies::from_lookup(&schema, |var| (var == "JOB_META_TTL_SECONDS").then(|| "60".to_string())).unwrap();
    let store = Store::with_policies(
        RedisConnection::standalone(&shared_standalone().url()).await.unwrap(),
        Arc::clone(&schema),
        ttls,
    );
    let key = format!("job:state:{}", unique_uuid(3));
    StringKey::<Json<JobState>>::new(store.core(), key_index(&schema, "job_state"), key.clone())
        .set(&JobState {
            state: "PENDING".into(),
            attempt: 0,
        })
        .await
        .unwrap();
    assert!(expires_within(
        store.ttl(&key).await.unwrap(),
        Duration::from_secs(55),
        Duration::from_secs(60)
    ));
    // CORDUM_DLQ_ENTRY_TTL_DAYS is in days.
    let ttls = KeyPolicies::from_lookup(&schema, |var| {
        (var == "CORDUM_DLQ_ENTRY_TTL_DAYS").then(|| "2".to_string())
    })
    .unwrap();
    assert_eq!(
        ttls.ttl(key_index(&schema, "dlq_entry")),
        Some(Duration::from_secs(2 * 86_400))
    );
    let error =
        KeyPolicies::from_lookup(&schema, |var| (var == "JOB_META_TTL_SECONDS").then(|| "7d".to_string())).unwrap_err();
    assert!(matches!(error, Error::Ttl { .. }));
    assert!(
        error
            .to_string()
            .contains("JOB_META_TTL_SECONDS=\"7d\" is not a whole number of seconds"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepttl_keeps_the_creation_ttl_and_refresh_renews_it() {
    let source =
        "param id ident\nsession:<id> string ttl 100s keepttl \"Kept\"\nrefresh:<id> string ttl 100s \"Refreshed\"\n";
    let schema = Schema::parse(source, "ttl.keys").unwrap().model_arc();
    let store = Store::new(
        RedisConnection::standalone(&shared_standalone().url()).await.unwrap(),
        Arc::clone(&schema),
    )
    .unwrap();
    let id = unique_uuid(4);
    for (def, key, renewed) in [(0, format!("session:{id}"), false), (1, format!("refresh:{id}"), true)] {
        let def = keyschema_store::KeyId::new(def);
        StringKey::<Text>::new(store.core(), def, key.clone())
            .set(&"first".to_string())
            .await
            .unwrap();
        assert!(expires_within(
            store.ttl(&key).await.unwrap(),
            Duration::from_secs(95),
            Duration::from_secs(100)
        ));
        // Time passes: the key has 10 s left when it is written again.
        let _: () = redis::cmd("PEXPIRE")
            .arg(&key)
            .arg(10_000)
            .query_async(&mut store.connection())
            .await
            .unwrap();
        StringKey::<Text>::new(store.core(), def, key.clone())
            .set(&"second".to_string())
            .await
            .unwrap();
        assert_eq!(store.get::<Text>(&key).await.unwrap().as_deref(), Some("second"));
        let ttl = store.ttl(&key).await.unwrap();
        if renewed {
            assert!(
                expires_within(ttl, Duration::from_secs(95), Duration::from_secs(100)),
                "{key}: {ttl:?}"
            );
        } else {
            assert!(
                expires_within(ttl, Duration::from_secs(5), Duration::from_secs(10)),
                "{key}: {ttl:?}"
            );
        }
    }
}

/// One `keepttl` behaviour on every path: a key that exists without a TTL (written before the
/// schema said so) gets the declared TTL, and one that has a TTL keeps it, whether written by
/// `set`, `compare_and_set`, a batch or a transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepttl_is_one_behaviour_on_every_write_path() {
    let source = "param id ident\nsession:{<id>} string ttl 100s keepttl \"Kept\"\n";
    let schema = Schema::parse(source, "keep.keys").unwrap().model_arc();
    let store = Store::new(
        RedisConnection::standalone(&shared_standalone().url()).await.unwrap(),
        Arc::clone(&schema),
    )
    .unwrap();
    let session = keyschema_store::KeyId::new(0);
    let paths = ["set", "compare_and_set", "batch", "transaction"];
    for (n, path) in paths.iter().enumerate() {
        for had_ttl in [false, true] {
            let key = format!("session:{{{}-{n}-{had_ttl}}}", unique_uuid(40 + n as u64));
            // The key exists: persistent, or with 10 s left.
            let mut seed = redis::cmd("SET");
            seed.arg(&key).arg("old");
            if had_ttl {
                seed.arg("PX").arg(10_000);
            }
            let _: () = seed.query_async(&mut store.connection()).await.unwrap();
            let value = "new".to_string();
            match *path {
                "set" => StringKey::<Text>::new(store.core(), session, key.clone())
                    .set(&value)
                    .await
                    .unwrap(),
                "compare_and_set" => keyschema_store::StringKey::<Text>::new(store.core(), session, key.clone())
                    .compare_and_set(Some(&"old".to_string()), &value)
                    .await
                    .unwrap(),
                "batch" => {
                    let mut batch = store.batch();
                    batch
                        .set(&StringKey::<Text>::new(store.core(), session, key.clone()), &value)
                        .unwrap();
                    batch.execute().await.unwrap();
                }
                _ => {
                    let mut tx = store.transaction();
                    let handle = keyschema_store::StringKey::<Text>::new(store.core(), session, key.clone());
                    tx.set(&handle, &value).unwrap();
                    tx.execute().await.unwrap();
                }
            }
            assert_eq!(store.get::<Text>(&key).await.unwrap().as_deref(), Some("new"), "{path}");
            let ttl = store.ttl(&key).await.unwrap();
            let (low, high) = if had_ttl { (5, 10) } else { (95, 100) };
            assert!(
                expires_within(ttl, Duration::from_secs(low), Duration::from_secs(high)),
                "{path}, had a TTL: {had_ttl}: {ttl:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_value_is_a_decode_error_naming_key_and_codec() {
    let schema = cordum();
    let store = Store::new(
        RedisConnection::standalone(&shared_standalone().url()).await.unwrap(),
        schema,
    )
    .unwrap();
    let key = format!("job:state:{}", unique_uuid(5));
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("{not json")
        .query_async(&mut store.connection())
        .await
        .unwrap();
    let error = store.get::<Json<JobState>>(&key).await.unwrap_err();
    assert!(
        matches!(&error, Error::Decode { key: k, codec, .. } if *k == key && codec == "json(JobState)"),
        "{error}"
    );
    assert!(error
        .to_string()
        .starts_with(&format!("failed to decode value of {key} as json(JobState)")));
    let counter = format!("cordum:rl:acme:{}", 1_700_000_000);
    let _: () = redis::cmd("SET")
        .arg(&counter)
        .arg("x1")
        .query_async(&mut store.connection())
        .await
        .unwrap();
    assert!(matches!(store.get::<Int>(&counter).await, Err(Error::Decode { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_operations_work_on_a_cluster() {
    let schema = cordum();
    let store = Store::connect_cluster(&shared_cluster().urls(), Arc::clone(&schema))
        .await
        .unwrap();
    let def = key_index(&schema, "job_state");
    // Keys over many slots: the cluster connection routes each to its primary.
    for i in 0..50 {
        let key = format!("job:state:{}", unique_uuid(100 + i));
        let value = JobState {
            state: "SCHEDULED".into(),
            attempt: i as u32,
        };
        StringKey::<Json<JobState>>::new(store.core(), def, key.clone())
            .set(&value)
            .await
            .unwrap();
        assert_eq!(store.get::<Json<JobState>>(&key).await.unwrap(), Some(value));
        assert!(matches!(store.ttl(&key).await.unwrap(), KeyTtl::Expires(_)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_gives_errors_while_down_and_works_again_after() {
    let mut server = RedisServer::start();
    let port = server.port();
    let schema = cordum();
    let store = Store::connect(&server.url(), Arc::clone(&schema)).await.unwrap();
    let key = format!("job:state:{}", unique_uuid(6));
    let def = key_index(&schema, "job_state");
    let value = JobState {
        state: "RUNNING".into(),
        attempt: 1,
    };
    StringKey::<Json<JobState>>::new(store.core(), def, key.clone())
        .set(&value)
        .await
        .unwrap();

    server.stop();
    let down = tokio::time::timeout(Duration::from_secs(10), store.get::<Json<JobState>>(&key))
        .await
        .unwrap();
    // Sent on a connection that just died (outcome unknown), or refused (did not run).
    assert!(down.as_ref().is_err_and(Error::is_unavailable), "{down:?}");

    let _restarted = RedisServer::start_with(ServerOptions::on_port(port));
    // No new client: the connection manager reconnects by itself. The data is gone (no persistence).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match StringKey::<Json<JobState>>::new(store.core(), def, key.clone())
            .set(&value)
            .await
        {
            Ok(()) => break,
            Err(error) if tokio::time::Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("the store did not recover: {error}"),
        }
    }
    assert_eq!(store.get::<Json<JobState>>(&key).await.unwrap(), Some(value));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_set_detects_conflicts_and_loses_no_update() {
    let source = "param id ident\ncounter:{<id>} string json(Counter) ttl 1h \"A counter\"\n";
    let schema = Schema::parse(source, "cas.keys").unwrap().model_arc();
    for store in common::standalone_and_cluster(&schema).await {
        let key = format!("counter:{{{}}}", unique_uuid(7));
        let conflicts = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (store, key, conflicts) = (store.clone(), key.clone(), Arc::clone(&conflicts));
                tokio::spawn(async move {
                    let access: keyschema_store::StringKey<'_, Json<Counter>> =
                        keyschema_store::StringKey::new(store.core(), keyschema_store::KeyId::new(0), key);
                    for _ in 0..10 {
                        loop {
                            let current = access.get().await.unwrap();
                            let next = Counter {
                                n: current.as_ref().map_or(0, |c| c.n) + 1,
                            };
                            match access.compare_and_set(current.as_ref(), &next).await {
                                Ok(()) => break,
                                Err(Error::Conflict { .. }) => {
                                    conflicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                                Err(other) => panic!("{other}"),
                            }
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let access: keyschema_store::StringKey<'_, Json<Counter>> =
            keyschema_store::StringKey::new(store.core(), keyschema_store::KeyId::new(0), key.clone());
        assert_eq!(access.get().await.unwrap(), Some(Counter { n: 200 }), "no update lost");
        assert!(
            conflicts.load(std::sync::atomic::Ordering::Relaxed) > 0,
            "20 writers must have collided"
        );
        assert!(matches!(store.ttl(&key).await.unwrap(), KeyTtl::Expires(_)));
    }
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
struct Counter {
    n: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct JobRequest {
    #[prost(string, tag = "1")]
    topic: String,
    #[prost(uint32, tag = "2")]
    priority: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_values_round_trip_and_corrupt_ones_fail_typed() {
    let source = "param id ident\nreq:<id> string proto(JobRequest) ttl 1h \"A request\"\n";
    let schema = Schema::parse(source, "proto.keys").unwrap().model_arc();
    let store = Store::new(
        RedisConnection::standalone(&shared_standalone().url()).await.unwrap(),
        schema,
    )
    .unwrap();
    let key = format!("req:{}", unique_uuid(8));
    let access: keyschema_store::StringKey<'_, keyschema_store::Proto<JobRequest>> =
        keyschema_store::StringKey::new(store.core(), keyschema_store::KeyId::new(0), key.clone());
    let request = JobRequest {
        topic: "jobs.default".into(),
        priority: 7,
    };
    access.set(&request).await.unwrap();
    assert_eq!(access.get().await.unwrap(), Some(request));
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(b"\xff\xff\xff\xff".as_slice())
        .query_async(&mut store.connection())
        .await
        .unwrap();
    let error = access.get().await.unwrap_err();
    assert!(
        matches!(&error, Error::Decode { codec, .. } if codec == "proto(JobRequest)"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_ca() {
    let server = RedisServer::start_with(ServerOptions::tls());
    let url = format!("rediss://127.0.0.1:{}", server.tls_port().unwrap());
    let connection = RedisConnection::standalone_tls(&url, &server.ca_pem()).await.unwrap();
    let store = Store::new(connection, cordum()).unwrap();
    let key = format!("job:state:{}", unique_uuid(9));
    let value = JobState {
        state: "RUNNING".into(),
        attempt: 3,
    };
    StringKey::<Json<JobState>>::new(store.core(), keyschema_store::KeyId::new(0), key.clone())
        .set(&value)
        .await
        .unwrap();
    assert_eq!(store.get::<Json<JobState>>(&key).await.unwrap(), Some(value));
    // The system's trust store does not know the private CA: the connection is refused.
    assert!(matches!(
        RedisConnection::standalone(&url).await,
        Err(Error::Connect { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_and_password_urls() {
    let server = RedisServer::start();
    let mut admin = server.connect();
    let reply = admin
        .cmd(&["ACL", "SETUSER", "app", "on", ">s3cret", "~*", "+@all"])
        .unwrap();
    assert_eq!(reply, keyschema_tests::Reply::Status("OK".into()));
    let url = format!("redis://app:s3cret@127.0.0.1:{}", server.port());
    let store = Store::connect(&url, cordum()).await.unwrap();
    let key = format!("job:state:{}", unique_uuid(10));
    StringKey::<Json<JobState>>::new(store.core(), keyschema_store::KeyId::new(0), key.clone())
        .set(&JobState {
            state: "PENDING".into(),
            attempt: 0,
        })
        .await
        .unwrap();
    assert!(store.get::<Json<JobState>>(&key).await.unwrap().is_some());
    let wrong = format!("redis://app:wrong@127.0.0.1:{}", server.port());
    assert!(matches!(
        Store::connect(&wrong, cordum()).await,
        Err(Error::Connect { .. })
    ));
}
