//! Batches: hundreds of typed operations in one round trip per node, on a standalone server and
//! on a cluster (split by slot, so no CROSSSLOT), values read back and TTLs applied.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema::Schema;
use keyschema_store::{Json, KeyId, KeyTtl, RedisConnection, Store, StringKey, Text};
use keyschema_tests::{shared_cluster, shared_standalone};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SCHEMA: &str =
    "param id ident\nitem:<id> string json(Item) ttl 1h \"An item\"\nkept:<id> string ttl 1h keepttl \"Kept\"\n";

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
struct Item {
    n: u32,
}

async fn exercise(store: Store) {
    let run = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let keys: Vec<String> = (0..300).map(|i| format!("item:b{run}-{i}")).collect();
    let mut batch = store.batch();
    for (n, key) in keys.iter().enumerate() {
        batch
            .set(
                &StringKey::<Json<Item>>::new(store.core(), KeyId::new(0), key.clone()),
                &Item { n: n as u32 },
            )
            .unwrap();
    }
    assert_eq!(batch.len(), 300);
    batch.execute().await.unwrap();

    let mut batch = store.batch();
    let tickets: Vec<_> = keys.iter().map(|key| batch.get::<Json<Item>>(key)).collect();
    let missing = batch.get::<Json<Item>>("item:never-written");
    let replies = batch.execute().await.unwrap();
    for (n, ticket) in tickets.iter().enumerate() {
        assert_eq!(replies.get(ticket).unwrap(), Some(Item { n: n as u32 }));
    }
    assert_eq!(replies.get(&missing).unwrap(), None);
    assert!(matches!(store.ttl(&keys[7]).await.unwrap(), KeyTtl::Expires(_)));

    // A `keepttl` key in a batch: SET KEEPTTL and PEXPIRE NX go together (MULTI/EXEC inside the
    // pipeline), so a new key gets the TTL and an existing one keeps its own, beside plain writes
    // and reads whose replies stay in order.
    let kept = format!("kept:b{run}");
    let kept_ticket;
    let plain = format!("item:b{run}-after");
    {
        let mut batch = store.batch();
        batch
            .set(
                &StringKey::<Text>::new(store.core(), KeyId::new(1), kept.clone()),
                &"v1".to_string(),
            )
            .unwrap();
        batch
            .set(
                &StringKey::<Json<Item>>::new(store.core(), KeyId::new(0), plain.clone()),
                &Item { n: 1 },
            )
            .unwrap();
        kept_ticket = batch.get::<Text>(&kept);
        let replies = batch.execute().await.unwrap();
        assert_eq!(replies.get(&kept_ticket).unwrap().as_deref(), Some("v1"));
    }
    let _: () = redis::cmd("PEXPIRE")
        .arg(&kept)
        .arg(10_000)
        .query_async(&mut store.connection())
        .await
        .unwrap();
    let mut batch = store.batch();
    batch
        .set(
            &StringKey::<Text>::new(store.core(), KeyId::new(1), kept.clone()),
            &"v2".to_string(),
        )
        .unwrap();
    let read = batch.get::<Text>(&kept);
    let replies = batch.execute().await.unwrap();
    assert_eq!(replies.get(&read).unwrap().as_deref(), Some("v2"));
    assert!(
        matches!(store.ttl(&kept).await.unwrap(), KeyTtl::Expires(d) if d <= Duration::from_secs(10)),
        "keepttl kept the shorter TTL"
    );
    assert!(matches!(store.ttl(&plain).await.unwrap(), KeyTtl::Expires(d) if d > Duration::from_secs(3500)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_on_a_standalone_server() {
    let schema = Schema::parse(SCHEMA, "batch.keys").unwrap().model_arc();
    exercise(
        Store::new(
            RedisConnection::standalone(&shared_standalone().url()).await.unwrap(),
            schema,
        )
        .unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_on_a_cluster_are_split_by_slot() {
    let schema = Schema::parse(SCHEMA, "batch.keys").unwrap().model_arc();
    exercise(Store::connect_cluster(&shared_cluster().urls(), schema).await.unwrap()).await;
}
