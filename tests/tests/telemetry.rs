//! Telemetry by key pattern (the store's `telemetry` feature), against real servers: every kind of
//! call a generated store makes (accessors of each Redis type, a batch, a transaction, each
//! primitive's decision, a cache load, an audit page) is recorded as a span with OpenTelemetry's
//! database attributes and keyschema's own, and counted in metrics labelled by key name, pattern
//! and operation, on a standalone server and on a cluster. No parameter value the test used
//! appears in any recorded span field or metric label, and the metrics' label sets are bounded by
//! the schema's patterns.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_store::ops::{self, AuditOptions};
use keyschema_store::uuid::Uuid;
use keyschema_store::Delivery;
use keyschema_tests::generated::shapes::{self, ShapesStore};
use keyschema_tests::generated::{Labels, Thing};
use keyschema_tests::telemetry::{installed, Fields};
use keyschema_tests::{shared_cluster, shared_standalone, RedisCluster};
use std::collections::BTreeSet;
use std::time::Duration;

/// Every kind of call a generated store makes, with `marker` in every text parameter and `id`
/// as every uuid parameter.
async fn every_kind_of_call(store: &ShapesStore, marker: &str, id: Uuid) {
    let thing = Thing { state: "NEW".into() };
    // Strings: each accessor method.
    let s = store.s_json(marker).unwrap();
    s.set(&thing).await.unwrap();
    assert_eq!(s.get().await.unwrap(), Some(thing.clone()));
    assert!(!s.set_if_absent(&thing).await.unwrap());
    s.compare_and_set(Some(&thing), &thing).await.unwrap();
    assert!(matches!(s.ttl().await.unwrap(), keyschema_store::KeyTtl::Expires(_)));
    assert_eq!(s.get_and_delete().await.unwrap(), Some(thing.clone()));
    assert!(!s.delete().await.unwrap());
    // The other Redis types.
    let record = shapes::HRecordRecord {
        title: Some(marker.to_string()),
        count: Some(1),
        seen: None,
        tags: Some(Labels::new()),
    };
    store.h_record(id).set(&record).await.unwrap();
    assert!(store.h_record(id).get().await.unwrap().is_some());
    store
        .h_map(marker)
        .unwrap()
        .set(&marker.to_string(), &thing)
        .await
        .unwrap();
    assert_eq!(store.h_map(marker).unwrap().len().await.unwrap(), 1);
    store.l(id).push(std::slice::from_ref(&thing)).await.unwrap();
    assert_eq!(store.l(id).range(0, -1).await.unwrap().len(), 1);
    store.st(id).add(&[7]).await.unwrap();
    assert!(store.st(id).contains(&7).await.unwrap());
    store.z_int(id).add(&[("10.0.0.1".parse().unwrap(), 3)]).await.unwrap();
    assert_eq!(store.z_int(id).len().await.unwrap(), 1);
    store.x(id).add(&thing).await.unwrap();
    assert_eq!(store.x(id).range("-", "+").await.unwrap().len(), 1);
    // A batch and a transaction of a slot group.
    let mut batch = store.store().batch();
    batch.set(&store.s_json(format!("{marker}b")).unwrap(), &thing).unwrap();
    batch.send().await.unwrap();
    let mut tx = store.id_transaction(id);
    tx.set_o_state(&thing).unwrap();
    tx.push_o_lines(&[marker.to_string()]).unwrap();
    tx.execute().await.unwrap();
    // Each primitive.
    let lock = store.lk(marker).unwrap();
    let guard = lock.try_acquire().await.unwrap().unwrap();
    assert!(lock.try_acquire().await.unwrap().is_none());
    guard.fence().await.unwrap();
    assert!(guard.release().await.unwrap());
    let limit = store.rg(id);
    for _ in 0..12 {
        limit.hit().await.unwrap();
    }
    store.rw(marker).hit().await.unwrap();
    let breaker = store.br(marker).unwrap();
    let _ = breaker.call(|| async { Err::<(), _>("down") }).await;
    let _ = breaker.call(|| async { Ok::<_, &str>(()) }).await;
    assert!(!breaker.status().await.local);
    let once = store.ik(marker).unwrap();
    assert!(matches!(
        once.claim(&"working".to_string()).await.unwrap(),
        keyschema_store::Claim::First
    ));
    assert!(matches!(
        once.claim(&"again".to_string()).await.unwrap(),
        keyschema_store::Claim::Duplicate(_)
    ));
    let timers = store.tm_queue();
    let now = keyschema_store::chrono::Utc::now() - keyschema_store::chrono::Duration::seconds(1);
    timers.schedule(&id, &now).await.unwrap();
    let claimed = timers.claim_due(10, Delivery::AtLeastOnce).await.unwrap();
    for timer in &claimed {
        timers.ack(timer).await.unwrap();
    }
    let dead = store.dead();
    dead.push(&id, &now, &thing).await.unwrap();
    assert!(!dead.list(0, 10).await.unwrap().is_empty());
    dead.prune(10).await.unwrap();
    let replayed = dead.replay(&id, |_| async { Ok::<_, ()>(()) }).await.unwrap();
    assert_eq!(replayed, Some(Ok(())));
    let cache = store.c(marker, 5).unwrap();
    let loaded = cache
        .get_or_load(|| async { Ok::<_, std::io::Error>(thing.clone()) })
        .await;
    assert!(loaded.is_ok());
    let hit = cache
        .get_or_load(|| async { Ok::<_, std::io::Error>(thing.clone()) })
        .await;
    assert!(hit.is_ok());
    assert!(cache.invalidate().await.unwrap());
    store.invalidate_c(&[("slug", marker)]).await.unwrap();
    // Process state backed up, then restored.
    let tier = store.sv_tier();
    let sv = shapes::SvKey {
        slug: marker.to_string(),
    };
    tier.insert(sv.clone(), thing.clone(), Duration::from_secs(60));
    assert_eq!(tier.backup_all().await.unwrap().entries, 1);
    assert_eq!(tier.get_or_restore(&sv).await.unwrap(), Some(thing.clone()));
    // A call that fails: a key of another type than the schema says.
    let mut connection = store.store().connection();
    let wrong = store.l(Uuid::new_v4());
    let _: () = keyschema_store::redis::cmd("SET")
        .arg(wrong.key())
        .arg("x")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(wrong.range(0, -1).await.is_err());
    // A page of an audit (keyspace operations).
    let options = AuditOptions {
        sample: Some(50),
        indexes: false,
        ..AuditOptions::default()
    };
    ops::audit(store.store(), &options).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// The (key, operation) pairs every run must have recorded, with the decision when one is made.
const EXPECTED: &[(&str, &str, Option<&str>)] = &[
    ("s_json", "SET", None),
    ("s_json", "GET", None),
    ("s_json", "GETDEL", None),
    ("s_json", "DEL", None),
    ("s_json", "PTTL", None),
    ("h_record", "HSET", None),
    ("h_record", "HGETALL", None),
    ("h_map", "HSET", None),
    ("h_map", "HLEN", None),
    ("l", "RPUSH", None),
    ("l", "LRANGE", None),
    ("st", "SADD", None),
    ("st", "SISMEMBER", None),
    ("z_int", "ZADD", None),
    ("z_int", "ZCARD", None),
    ("x", "XADD", None),
    ("x", "XRANGE", None),
    ("(none)", "BATCH", None),
    ("o_state", "TRANSACTION", None),
    ("lk", "LOCK", Some("acquired")),
    ("lk", "LOCK", Some("busy")),
    ("lk", "FENCE", None),
    ("lk", "UNLOCK", Some("released")),
    ("rg", "RATELIMIT", Some("allowed")),
    ("rg", "RATELIMIT", Some("limited")),
    ("rw", "RATELIMIT", Some("allowed")),
    ("br", "BREAKER", Some("permitted")),
    ("br", "BREAKER", Some("failure")),
    ("ik", "CLAIM", Some("first")),
    ("ik", "CLAIM", Some("duplicate")),
    ("tm_queue", "ZADD", None),
    ("tm_queue", "TIMERS", Some("claimed")),
    ("dq_entry", "DLQ", None),
    ("dq_index", "DLQ", None),
    ("c", "CACHE", Some("load")),
    ("c", "CACHE", Some("hit")),
    ("c", "CACHE", Some("invalidated")),
    ("br", "BREAKER", Some("status")),
    ("dq_entry", "DLQ", Some("replayed")),
    ("sv", "STATE", Some("backed_up")),
    ("sv", "STATE", Some("restored")),
    ("(none)", "AUDIT", None),
];

/// What a run recorded: its spans (those of this store: the server's address), checked.
fn check_spans(spans: &[Fields], server: &str, slot_groups: bool) {
    let ours: Vec<&Fields> = spans
        .iter()
        .filter(|span| span.get("server.address").is_some_and(|a| a == server))
        .collect();
    assert!(ours.len() > EXPECTED.len(), "{} spans", ours.len());
    for span in &ours {
        // OpenTelemetry's database attributes, and keyschema's own, on every span.
        for field in [
            "otel.name",
            "otel.kind",
            "db.system.name",
            "db.operation.name",
            "db.query.summary",
            "db.namespace",
            "server.address",
            "server.port",
            "keyschema.key",
            "keyschema.pattern",
        ] {
            assert!(span.contains_key(field), "{field} missing from {span:?}");
        }
        assert_eq!(span["db.system.name"], "redis");
        assert_eq!(span["name"], "redis");
        assert_eq!(span["otel.kind"], "client");
        assert_eq!(span["otel.name"], span["db.query.summary"]);
    }
    for (key, operation, decision) in EXPECTED {
        assert!(
            ours.iter().any(|span| span["keyschema.key"] == *key
                && span["db.operation.name"] == *operation
                && decision.is_none_or(|d| span.get("keyschema.decision").is_some_and(|found| found == d))),
            "no span of {key} {operation} {decision:?}"
        );
    }
    // The query summary names the operation and the pattern, as a person reads it.
    assert!(ours.iter().any(|span| span["db.query.summary"] == "GET s:json:<name>"));
    // A failed call: its class on the span.
    assert!(ours
        .iter()
        .any(|span| span["keyschema.key"] == "l" && span.get("error.type").is_some_and(|e| e == "Command")));
    if slot_groups {
        assert!(ours.iter().any(|span| span["keyschema.key"] == "o_state"
            && span.get("keyschema.slot_group").is_some_and(|group| group == "{<id>}")));
    }
}

/// On a cluster, a span on one key names the node serving its slot (as `CLUSTER SLOTS` says),
/// and the spans of the run name several nodes.
async fn check_cluster_nodes(store: &ShapesStore, spans: &[Fields], s_json_key: &str) {
    let topology = store.store().connection().topology().await.unwrap();
    let ports: BTreeSet<String> = topology
        .shards
        .iter()
        .map(|shard| shard.primary.1.to_string())
        .collect();
    let slot = keyschema_store::keyschema::key_slot(s_json_key.as_bytes());
    let owner = topology
        .shards
        .iter()
        .find(|shard| shard.slots.iter().any(|&(first, last)| first <= slot && slot <= last))
        .unwrap()
        .primary
        .1
        .to_string();
    let on_cluster: Vec<&Fields> = spans
        .iter()
        .filter(|span| span.get("server.port").is_some_and(|port| ports.contains(port)))
        .collect();
    let s_json: Vec<&String> = on_cluster
        .iter()
        .filter(|span| span["keyschema.key"] == "s_json" && span["db.operation.name"] != "BATCH")
        .map(|span| &span["server.port"])
        .collect();
    assert!(s_json.len() >= 6, "{s_json:?}");
    assert!(
        s_json.iter().all(|port| **port == owner),
        "{s_json:?}, slot {slot} is on {owner}"
    );
    let named: BTreeSet<&String> = on_cluster.iter().map(|span| &span["server.port"]).collect();
    assert!(named.len() >= 2, "spans name one node only: {named:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_call_is_observed_by_pattern_and_never_by_value() {
    let (spans, recorder) = installed();
    let mut secrets = Vec::new();
    for (nodes, server) in [
        (Ok(shared_standalone().url()), shared_standalone().url()),
        (Err(shared_cluster().urls()), shared_cluster().urls()[0].clone()),
    ] {
        let store = match &nodes {
            Ok(url) => ShapesStore::connect(url).await.unwrap(),
            Err(nodes) => ShapesStore::connect_cluster(nodes).await.unwrap(),
        };
        let marker = format!("secret{}", Uuid::new_v4().simple());
        let id = Uuid::new_v4();
        every_kind_of_call(&store, &marker, id).await;
        let s_json_key = store.s_json(&marker).unwrap().key().to_string();
        secrets.extend([marker, id.to_string(), id.simple().to_string()]);
        let address = store.store().connection().endpoint().address.clone();
        assert!(server.contains(&address), "{server} {address}");
        let closed = spans.closed.lock().unwrap().clone();
        check_spans(&closed, &address, nodes.is_err());
        if nodes.is_err() {
            check_cluster_nodes(&store, &closed, &s_json_key).await;
        }
    }

    // No parameter value in any field of any span, nor in any metric's labels.
    let closed = spans.closed.lock().unwrap().clone();
    for span in &closed {
        for (field, value) in span {
            for secret in &secrets {
                assert!(
                    !value.contains(secret.as_str()),
                    "{field} = {value} holds a parameter value"
                );
            }
        }
    }
    let metrics = recorder.metrics.lock().unwrap();
    for metric in metrics.iter() {
        for (label, value) in &metric.labels {
            for secret in &secrets {
                assert!(!value.contains(secret.as_str()), "{} {label} = {value}", metric.name);
            }
        }
    }

    // Metrics: calls by outcome, the duration, bytes both ways and decisions, labelled by name,
    // pattern and operation.
    let value = |name: &str, labels: &[(&str, &str)]| -> u64 {
        metrics
            .iter()
            .filter(|m| {
                m.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| m.labels.iter().any(|(mk, mv)| mk == k && mv == v))
            })
            .map(|m| m.value.get())
            .sum()
    };
    let get = [("keyschema.key", "s_json"), ("db.operation.name", "GET")];
    assert!(value("keyschema.calls", &[get[0], get[1], ("keyschema.outcome", "ok")]) >= 2);
    assert!(value("db.client.operation.duration", &get) >= 2);
    assert!(value("keyschema.bytes.in", &get) > 0);
    assert!(
        value(
            "keyschema.bytes.out",
            &[("keyschema.key", "s_json"), ("db.operation.name", "SET")]
        ) > 0
    );
    // A batch's and a transaction's values are encoded when queued, and counted when sent: the
    // transaction of each run sends `Thing` as JSON and one line holding the marker.
    let thing = br#"{"state":"NEW"}"#.len() as u64;
    let marker = secrets[0].len() as u64;
    assert_eq!(
        value(
            "keyschema.bytes.out",
            &[("keyschema.key", "o_state"), ("db.operation.name", "TRANSACTION")]
        ),
        2 * (thing + marker)
    );
    assert!(
        value(
            "keyschema.bytes.out",
            &[("keyschema.key", "(none)"), ("db.operation.name", "BATCH")]
        ) >= 2 * thing
    );
    assert!(
        value(
            "keyschema.calls",
            &[("keyschema.key", "l"), ("keyschema.outcome", "Command")]
        ) >= 2
    );
    assert!(
        value(
            "keyschema.decisions",
            &[("keyschema.key", "rg"), ("keyschema.decision", "limited")]
        ) >= 2
    );
    assert!(
        value(
            "keyschema.decisions",
            &[("keyschema.key", "c"), ("keyschema.decision", "hit")]
        ) >= 2
    );

    // The label sets are the schema's: every key and pattern label names a definition (or
    // none), so their number is bounded by patterns times operations.
    let model = shapes::schema().model();
    let names: BTreeSet<&str> = model.keys.iter().map(|k| k.name.as_str()).chain(["(none)"]).collect();
    let patterns: BTreeSet<&str> = model
        .keys
        .iter()
        .map(|k| k.pattern.template.as_str())
        .chain(["*"])
        .collect();
    let mut operations = BTreeSet::new();
    for metric in metrics.iter() {
        for (label, value) in &metric.labels {
            match label.as_str() {
                "keyschema.key" => assert!(names.contains(value.as_str()), "{value}"),
                "keyschema.pattern" => assert!(patterns.contains(value.as_str()), "{value}"),
                "db.operation.name" => {
                    operations.insert(value.clone());
                }
                _ => {}
            }
        }
    }
    let series: BTreeSet<(&String, &Vec<(String, String)>)> = metrics.iter().map(|m| (&m.name, &m.labels)).collect();
    println!(
        "{} series over {} operations and {} patterns",
        series.len(),
        operations.len(),
        patterns.len()
    );
    // Operations come from a fixed vocabulary (docs/observability.md), so series are at most
    // key definitions x operations x the metrics per operation (calls by 6 outcomes, duration,
    // bytes in and out, and decisions).
    let vocabulary = documented_operations();
    assert!(vocabulary.len() >= 40, "{vocabulary:?}");
    for operation in &operations {
        assert!(
            vocabulary.contains(operation),
            "{operation} is not in the documented vocabulary"
        );
    }
    assert!(series.len() <= names.len() * vocabulary.len() * 12);
}

/// After a failover, spans name the promoted primary: the operation that Redis redirected
/// records its retries, the store drops its slot map, and the next span reads it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failover_spans_name_the_promoted_primary() {
    let (spans, _) = installed();
    let cluster = RedisCluster::start();
    let store = ShapesStore::connect_cluster(&cluster.urls()).await.unwrap();
    let thing = Thing { state: "NEW".into() };
    let access = store.s_json(format!("failover{}", Uuid::new_v4().simple())).unwrap();
    let slot = keyschema_store::keyschema::key_slot(access.key().as_bytes());
    let shard = cluster.shard_of(0, slot);
    let (old, new) = (shard.primary, shard.replicas[0]);
    let port = |node: usize| cluster.nodes()[node].port().to_string();
    // This test's spans: those of `s_json` naming one of the shard's two nodes.
    let named = |from: usize| -> Vec<(String, bool)> {
        spans.closed.lock().unwrap()[from..]
            .iter()
            .filter(|span| span["keyschema.key"] == "s_json" && [port(old), port(new)].contains(&span["server.port"]))
            .map(|span| (span["server.port"].clone(), span.contains_key("keyschema.retries")))
            .collect()
    };

    let before = spans.closed.lock().unwrap().len();
    access.set(&thing).await.unwrap();
    access.get().await.unwrap();
    assert_eq!(named(before), [(port(old), false), (port(old), false)]);

    // A graceful failover: the replica takes the slots over, the old primary follows it.
    cluster.fail_over_to(new);

    let after = spans.closed.lock().unwrap().len();
    for _ in 0..3 {
        assert_eq!(access.get().await.unwrap(), Some(thing.clone()));
    }
    let named = named(after);
    // The first read went to the old primary, was redirected and sent again; its span names the
    // node it was sent to first. The next ones name the promoted node.
    assert_eq!(named.len(), 3, "{named:?}");
    assert_eq!(named[0], (port(old), true), "{named:?}");
    assert_eq!(named[1..], [(port(new), false), (port(new), false)], "{named:?}");
}

/// The vocabulary of `db.operation.name` as docs/observability.md states it: every word in
/// backticks of its "Operations" paragraph that is written in capitals. Read from the doc, so an
/// operation the store names and the doc does not fails the test.
fn documented_operations() -> BTreeSet<String> {
    let doc = include_str!("../../docs/observability.md");
    let start = doc.find("Operations (`db.operation.name`)").unwrap();
    let paragraph = &doc[start..start + doc[start..].find("\n\n").unwrap()];
    paragraph
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|word| !word.is_empty() && word.chars().all(|c| c.is_ascii_uppercase()))
        .map(str::to_string)
        .collect()
}
