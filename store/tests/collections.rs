//! Every Redis type through its accessor, on a standalone server and on a cluster: values read
//! back, caps hold, TTLs are on the server after every write.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

mod common;

use keyschema::Schema;
use keyschema_store::{
    field_error, HashKey, HashMapKey, HashRecord, Int, Json, KeyTtl, ListKey, RedisConnection, Result, SetKey, Store,
    StreamKey, StringKey, Text, ZsetKey,
};
use keyschema_tests::{shared_cluster, shared_standalone};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SCHEMA: &str = r#"
param id ident
timeline:{<id>}        list json(Event) cap 5 ttl 1h  "Capped timeline"
members:{<id>}         set text ttl 1h                "A set"
recent:{<id>}          zset member text score int cap 3 ttl 1h "Capped index"
events:{<id>}          stream json(Event) cap 100 ttl 1h "A stream"
meta:{<id>}            hash fields(tenant, attempts: int) ttl 1h "A record"
assets:{<id>}          hash member id json(Event) ttl 1h "A map"
once:{<id>}            string text ttl 1h             "Set once"
"#;

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
struct Event {
    n: u32,
}

#[derive(Debug, PartialEq, Clone)]
struct Meta {
    tenant: String,
    attempts: i64,
}

impl HashRecord for Meta {
    fn to_fields(&self, _key: &str) -> Result<Vec<(&'static str, Vec<u8>)>> {
        Ok(vec![
            ("tenant", self.tenant.clone().into_bytes()),
            ("attempts", self.attempts.to_string().into_bytes()),
        ])
    }

    fn from_fields(key: &str, fields: Vec<(String, Vec<u8>)>) -> Result<Self> {
        let mut meta = Self {
            tenant: String::new(),
            attempts: 0,
        };
        for (name, value) in fields {
            match name.as_str() {
                "tenant" => {
                    meta.tenant =
                        String::from_utf8(value).map_err(|e| field_error(key, "tenant", "text", e.to_string()))?
                }
                "attempts" => {
                    meta.attempts = String::from_utf8_lossy(&value)
                        .parse()
                        .map_err(|_| field_error(key, "attempts", "int", "not an integer"))?
                }
                _ => {}
            }
        }
        Ok(meta)
    }
}

fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{nanos}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

async fn expires(store: &Store, key: &str) -> bool {
    let ttl = store.ttl(key).await.unwrap();
    matches!(ttl, KeyTtl::Expires(d) if d > Duration::from_secs(3590) && d <= Duration::from_secs(3600))
}

async fn exercise(store: Store) {
    let id = unique("t");
    let timeline: ListKey<'_, Json<Event>> = ListKey::new(
        store.core(),
        keyschema_store::KeyId::new(0),
        format!("timeline:{{{id}}}"),
    );
    for n in 0..8 {
        timeline.push(&[Event { n }]).await.unwrap();
    }
    assert_eq!(timeline.len().await.unwrap(), 5, "the cap keeps 5");
    assert_eq!(
        timeline.range(0, -1).await.unwrap(),
        (3..8).map(|n| Event { n }).collect::<Vec<_>>(),
        "the newest"
    );
    assert!(expires(&store, timeline.key()).await);

    let members: SetKey<'_, Text> = SetKey::new(
        store.core(),
        keyschema_store::KeyId::new(1),
        format!("members:{{{id}}}"),
    );
    let many: Vec<String> = (0..500).map(|i| format!("m{i}")).collect();
    assert_eq!(members.add(&many).await.unwrap(), 500);
    assert!(members.contains(&"m42".to_string()).await.unwrap());
    assert_eq!(members.remove(&["m42".to_string()]).await.unwrap(), 1);
    let mut scanned = members.scan(50).await.unwrap();
    scanned.sort();
    scanned.dedup();
    assert_eq!(scanned.len(), 499);
    assert_eq!(members.members().await.unwrap().len(), 499);
    assert!(expires(&store, members.key()).await);

    let recent: ZsetKey<'_, Text, i64> =
        ZsetKey::new(store.core(), keyschema_store::KeyId::new(2), format!("recent:{{{id}}}"));
    for score in [5, 1, 9, 3, 7] {
        recent.add(&[(format!("s{score}"), score)]).await.unwrap();
    }
    assert_eq!(recent.len().await.unwrap(), 3, "the cap drops the lowest scores");
    assert_eq!(
        recent.range_by_rank(0, -1).await.unwrap(),
        vec![("s5".into(), 5), ("s7".into(), 7), ("s9".into(), 9)]
    );
    assert_eq!(recent.range_by_score(&6, &10).await.unwrap().len(), 2);
    assert_eq!(recent.count(&0, &5).await.unwrap(), 1);
    assert!(expires(&store, recent.key()).await);

    let events: StreamKey<'_, Json<Event>> =
        StreamKey::new(store.core(), keyschema_store::KeyId::new(3), format!("events:{{{id}}}"));
    let first = events.add(&Event { n: 1 }).await.unwrap();
    events.add(&Event { n: 2 }).await.unwrap();
    let read = events.range("-", "+").await.unwrap();
    assert_eq!(read[0], (first, Event { n: 1 }));
    assert_eq!(read.len(), 2);
    assert!(expires(&store, events.key()).await);

    let meta: HashKey<'_, Meta> = HashKey::new(store.core(), keyschema_store::KeyId::new(4), format!("meta:{{{id}}}"));
    assert_eq!(meta.get().await.unwrap(), None);
    let record = Meta {
        tenant: "acme".into(),
        attempts: 2,
    };
    meta.set(&record).await.unwrap();
    assert_eq!(meta.get().await.unwrap(), Some(record));
    meta.set_field::<Int>("attempts", &3).await.unwrap();
    assert_eq!(meta.get_field::<Int>("attempts").await.unwrap(), Some(3));
    assert!(expires(&store, meta.key()).await);

    let assets: HashMapKey<'_, Text, Json<Event>> =
        HashMapKey::new(store.core(), keyschema_store::KeyId::new(5), format!("assets:{{{id}}}"));
    assets.set(&"a.b".to_string(), &Event { n: 7 }).await.unwrap();
    assert_eq!(assets.get(&"a.b".to_string()).await.unwrap(), Some(Event { n: 7 }));
    assert_eq!(assets.len().await.unwrap(), 1);
    assert_eq!(
        assets.entries().await.unwrap(),
        vec![("a.b".to_string(), Event { n: 7 })]
    );
    assert!(assets.remove(&"a.b".to_string()).await.unwrap());

    let once: StringKey<'_, Text> =
        StringKey::new(store.core(), keyschema_store::KeyId::new(6), format!("once:{{{id}}}"));
    assert!(once.set_if_absent(&"first".to_string()).await.unwrap());
    assert!(!once.set_if_absent(&"second".to_string()).await.unwrap());
    assert!(expires(&store, once.key()).await);
    assert_eq!(once.get_and_delete().await.unwrap().as_deref(), Some("first"));
    assert_eq!(once.get().await.unwrap(), None);
}

fn schema() -> Arc<keyschema::KeySchema> {
    Schema::parse(SCHEMA, "collections.keys").unwrap().model_arc()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_on_a_standalone_server() {
    let store = Store::new(
        RedisConnection::standalone(&shared_standalone().url()).await.unwrap(),
        schema(),
    )
    .unwrap();
    exercise(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_on_a_cluster() {
    let store = Store::connect_cluster(&shared_cluster().urls(), schema())
        .await
        .unwrap();
    // Several ids: keys land on different slots and primaries.
    for _ in 0..4 {
        exercise(store.clone()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_keep_or_refresh_their_ttl_as_declared() {
    let source = "param id ident\nkept:{<id>} list text ttl 100s keepttl \"Kept\"\nrenewed:{<id>} set text ttl 100s \"Renewed\"\n";
    let schema = Schema::parse(source, "ttl.keys").unwrap().model_arc();
    let store = Store::new(
        RedisConnection::standalone(&shared_standalone().url()).await.unwrap(),
        schema,
    )
    .unwrap();
    let id = unique("ttl");
    let kept: ListKey<'_, Text> = ListKey::new(store.core(), keyschema_store::KeyId::new(0), format!("kept:{{{id}}}"));
    let renewed: SetKey<'_, Text> = SetKey::new(
        store.core(),
        keyschema_store::KeyId::new(1),
        format!("renewed:{{{id}}}"),
    );
    kept.push(&["a".to_string()]).await.unwrap();
    renewed.add(&["a".to_string()]).await.unwrap();
    for key in [kept.key(), renewed.key()] {
        let _: () = redis::cmd("PEXPIRE")
            .arg(key)
            .arg(10_000)
            .query_async(&mut store.connection())
            .await
            .unwrap();
    }
    kept.push(&["b".to_string()]).await.unwrap();
    renewed.add(&["b".to_string()]).await.unwrap();
    let left = |ttl: KeyTtl| match ttl {
        KeyTtl::Expires(d) => d,
        other => panic!("{other:?}"),
    };
    assert!(
        left(store.ttl(kept.key()).await.unwrap()) <= Duration::from_secs(10),
        "keepttl keeps the creation TTL (PEXPIRE NX)"
    );
    assert!(
        left(store.ttl(renewed.key()).await.unwrap()) > Duration::from_secs(90),
        "the default refreshes it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_index_with_a_ttl_drops_what_is_older_than_it_on_write() {
    type Time = keyschema_store::chrono::DateTime<keyschema_store::chrono::Utc>;
    let source = "param id ident\nseen:{<id>} zset text score time ttl 1h \"Seen in the last hour\"\n";
    let schema = Schema::parse(source, "window.keys").unwrap().model_arc();
    for store in common::standalone_and_cluster(&schema).await {
        let seen: ZsetKey<'_, Text, Time> = ZsetKey::new(
            store.core(),
            keyschema_store::KeyId::new(0),
            format!("seen:{{{}}}", unique("w")),
        );
        let seconds = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        let now = Time::from_timestamp(seconds, 0).unwrap();
        seen.add(&[("old".to_string(), now - keyschema_store::chrono::Duration::hours(2))])
            .await
            .unwrap();
        seen.add(&[("new".to_string(), now)]).await.unwrap();
        let members: Vec<String> = seen
            .range_by_rank(0, -1)
            .await
            .unwrap()
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        assert_eq!(members, ["new"], "the member older than the TTL is gone");
    }
}
