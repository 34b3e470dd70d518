//! The ACL rules are the least the store needs. Every key of every example schema (and of
//! `tests/schemas/every_shape.keys`) gets a workload of every call the store offers for it, as
//! a service that only reads it and as one that writes it, on a real server; the commands the
//! server counted (`INFO commandstats`, which counts the commands scripts call too) must be
//! exactly what `ops::key_commands` grants the key. A command granted and never sent would be
//! unused; one sent and not granted breaks the call that sent it. Each service's printed rules
//! must then be the connection's commands and what its keys' calls sent: no more, no less.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema::{KeySchema, ParamType, Primitive};
use keyschema_store::ops::{acl_users, key_class, key_commands, KeyAccess, KeyClass, CONNECTION_COMMANDS};
use keyschema_store::{
    Breaker, Bytes, CacheKey, Claim, DeadLetterQueue, Delivery, HashKey, HashMapKey, HashRecord, IdempotencyKey,
    IndexedKey, KeyId, Lease, ListKey, Lock, RateLimit, RedisConnection, SetKey, Store, StreamKey, StringKey, Text,
    TimerQueue, TwoTier, ZsetKey,
};
use keyschema_tests::{RedisServer, Reply};
use std::collections::BTreeSet;
use std::time::Duration;

/// A hash record of one field, standing for any record: the commands do not depend on the
/// fields.
struct AnyRecord;

impl HashRecord for AnyRecord {
    fn to_fields(&self, _key: &str) -> keyschema_store::Result<Vec<(&'static str, Vec<u8>)>> {
        Ok(vec![("f", b"1".to_vec())])
    }
    fn from_fields(_key: &str, _fields: Vec<(String, Vec<u8>)>) -> keyschema_store::Result<Self> {
        Ok(Self)
    }
}

/// A value of the parameter as a person writes it: the first of a few candidates it takes.
fn example_value(schema: &KeySchema, param: usize, second: Option<i64>) -> String {
    let param = &schema.params[param];
    let candidates: Vec<String> = match &param.ty {
        ParamType::Text | ParamType::Ident => vec!["t1".into(), "t2".into()],
        ParamType::Int => vec!["1".into(), "2".into()],
        ParamType::Uuid => vec!["00000000-0000-4000-8000-000000000001".into()],
        ParamType::UnixSeconds => vec![second.unwrap_or(1_700_000_000).to_string()],
        ParamType::Ip => vec!["10.0.0.1".into()],
        ParamType::Enum { variants, .. } => variants.clone(),
    };
    candidates
        .into_iter()
        .find(|value| !param.except.iter().any(|e| e.eq_ignore_ascii_case(value)))
        .unwrap()
}

/// Key `index` formatted from example values (`second` for a `unix_seconds` parameter).
fn example_key(schema: &KeySchema, index: usize, second: Option<i64>) -> String {
    let key = &schema.keys[index];
    let values: Vec<(String, String)> = key
        .pattern
        .params()
        .map(|p| (schema.params[p].name.clone(), example_value(schema, p, second)))
        .collect();
    let borrowed: Vec<(&str, &str)> = values.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    schema.format_key_from_text(&key.name, &borrowed).unwrap()
}

/// The calls every data key has: its TTL, and its existence in a batch.
async fn probe(store: &Store, key: &str) {
    store.ttl(key).await.unwrap();
    let mut batch = store.batch();
    batch.exists(key);
    batch.execute().await.unwrap();
}

fn id_of(index: usize) -> KeyId {
    KeyId::new(u32::try_from(index).unwrap())
}

/// A JSON value naming, for every field an index reads from key `index`, a value the index
/// takes.
fn entity_value(schema: &KeySchema, index: usize) -> Vec<u8> {
    let mut fields = serde_json::Map::new();
    for other in &schema.keys {
        if let Some(Primitive::Index { of, by: Some(field) }) = &other.primitive {
            if *of == index {
                let param = other.pattern.params().next().unwrap();
                fields.insert(field.clone(), example_value(schema, param, None).into());
            }
        }
    }
    serde_json::to_vec(&fields).unwrap()
}

/// Every call the store offers on key `index`: its reads, and with `write` its writes too.
/// Each must succeed: a failure here is a call the store cannot make.
async fn workload(store: &Store, index: usize, write: bool) {
    let schema = store.schema().clone();
    let core = store.core();
    let id = id_of(index);
    let key = example_key(&schema, index, None);
    let value = entity_value(&schema, index);
    match key_class(&schema, id) {
        KeyClass::Companion => {}
        KeyClass::Data {
            kind,
            record,
            transaction,
            indexed_by,
            ..
        } => {
            probe(store, &key).await;
            match (kind, record) {
                (keyschema::RedisKind::String, _) => {
                    let handle = StringKey::<Bytes>::new(core, id, key.clone());
                    handle.get().await.unwrap();
                    store.get::<Bytes>(&key).await.unwrap();
                    let mut batch = store.batch();
                    batch.get::<Bytes>(&key);
                    batch.execute().await.unwrap();
                    if write {
                        handle.set(&value).await.unwrap();
                        handle.set_if_absent(&value).await.unwrap();
                        handle.compare_and_set(Some(&value), &value).await.unwrap();
                        handle.get_and_delete().await.unwrap();
                        let mut batch = store.batch();
                        batch.set(&handle, &value).unwrap();
                        batch.send().await.unwrap();
                        handle.delete().await.unwrap();
                        store.delete(&key).await.unwrap();
                        if transaction {
                            let mut tx = store.transaction();
                            tx.set(&handle, &value).unwrap();
                            tx.execute().await.unwrap();
                            let mut tx = store.transaction();
                            tx.expect(&handle, Some(&value)).unwrap().delete(&key).unwrap();
                            tx.execute().await.unwrap();
                        }
                    }
                    if let Some(_index_kind) = indexed_by {
                        let (index_id, member) = index_of(&schema, index);
                        let entity = StringKey::<Bytes>::new(core, id, key.clone());
                        let indexed = IndexedKey::new::<Text>(entity, index_id, &member).unwrap();
                        indexed.get().await.unwrap();
                        if write {
                            indexed.set(&value).await.unwrap();
                            indexed.repair().await.unwrap();
                        }
                    }
                }
                (keyschema::RedisKind::Hash, true) => {
                    let handle = HashKey::<AnyRecord>::new(core, id, key.clone());
                    handle.get().await.unwrap();
                    handle.get_field::<Bytes>("f").await.unwrap();
                    if write {
                        handle.set(&AnyRecord).await.unwrap();
                        handle.set_field::<Bytes>("f", &b"2".to_vec()).await.unwrap();
                        handle.delete().await.unwrap();
                        if transaction {
                            let mut tx = store.transaction();
                            tx.set_record(&handle, &AnyRecord).unwrap();
                            tx.execute().await.unwrap();
                        }
                    }
                }
                (keyschema::RedisKind::Hash, false) => {
                    let handle = HashMapKey::<Bytes, Bytes>::new(core, id, key.clone());
                    let field = b"f".to_vec();
                    handle.get(&field).await.unwrap();
                    handle.entries().await.unwrap();
                    handle.len().await.unwrap();
                    if write {
                        handle.set(&field, &field).await.unwrap();
                        handle.remove(&field).await.unwrap();
                        handle.delete().await.unwrap();
                    }
                }
                (keyschema::RedisKind::List, _) => {
                    let handle = ListKey::<Bytes>::new(core, id, key.clone());
                    handle.range(0, -1).await.unwrap();
                    handle.len().await.unwrap();
                    if write {
                        handle.push(&[value.clone(), value.clone()]).await.unwrap();
                        handle.delete().await.unwrap();
                        if transaction {
                            let mut tx = store.transaction();
                            tx.push(&handle, std::slice::from_ref(&value)).unwrap();
                            tx.execute().await.unwrap();
                        }
                    }
                }
                (keyschema::RedisKind::Set, _) => {
                    let handle = SetKey::<Bytes>::new(core, id, key.clone());
                    handle.contains(&value).await.unwrap();
                    handle.members().await.unwrap();
                    handle.scan(10).await.unwrap();
                    handle.len().await.unwrap();
                    store.intersect(&[&handle, &handle]).await.unwrap();
                    if write {
                        handle.add(std::slice::from_ref(&value)).await.unwrap();
                        handle.remove(std::slice::from_ref(&value)).await.unwrap();
                        handle.delete().await.unwrap();
                        if transaction {
                            let mut tx = store.transaction();
                            tx.add(&handle, std::slice::from_ref(&value))
                                .unwrap()
                                .remove(&handle, std::slice::from_ref(&value))
                                .unwrap();
                            tx.execute().await.unwrap();
                        }
                    }
                }
                (keyschema::RedisKind::Zset, _) => {
                    let handle = ZsetKey::<Bytes, f64>::new(core, id, key.clone());
                    handle.range_by_score(&0.0, &f64::MAX).await.unwrap();
                    handle.range_by_rank(0, -1).await.unwrap();
                    handle.count(&0.0, &f64::MAX).await.unwrap();
                    handle.len().await.unwrap();
                    if write {
                        let now = keyschema_store::chrono::Utc::now().timestamp() as f64;
                        handle.add(&[(value.clone(), now)]).await.unwrap();
                        handle.move_from(None, &value, now).await.unwrap();
                        handle.remove(std::slice::from_ref(&value)).await.unwrap();
                        handle.delete().await.unwrap();
                        if transaction {
                            let mut tx = store.transaction();
                            tx.add_scored(&handle, &[(value.clone(), now)]).unwrap();
                            tx.remove_scored(&handle, std::slice::from_ref(&value)).unwrap();
                            tx.execute().await.unwrap();
                        }
                    }
                }
                (keyschema::RedisKind::Stream, _) => {
                    let handle = StreamKey::<Bytes>::new(core, id, key.clone());
                    handle.range("-", "+").await.unwrap();
                    if write {
                        handle.add(&value).await.unwrap();
                        handle.delete().await.unwrap();
                    }
                }
            }
        }
        KeyClass::Lock => {
            if !write {
                return;
            }
            match &schema.keys[index].primitive {
                Some(Primitive::Lock {
                    hold: keyschema::LockHold::Lease,
                }) => {
                    let lease = Lease::new(core, id, key).try_acquire().await.unwrap().unwrap();
                    lease.fence().await.unwrap();
                    lease.step_down().await.unwrap();
                }
                _ => {
                    let lock = Lock::new(core, id, key);
                    let guard = lock.try_acquire().await.unwrap().unwrap();
                    guard.fence().await.unwrap();
                    guard.release().await.unwrap();
                    lock.with_lock(Duration::from_secs(1), |_| async {}).await.unwrap();
                }
            }
        }
        KeyClass::RateWindow | KeyClass::RateGcra => {
            if !write {
                return;
            }
            let per_second = schema.keys[index]
                .pattern
                .params()
                .any(|p| schema.params[p].ty == ParamType::UnixSeconds);
            let limit = if per_second {
                let schema = schema.clone();
                RateLimit::per_second(core, id, move |second| {
                    let key = example_key(&schema, index, Some(second));
                    Ok(key)
                })
            } else {
                RateLimit::new(core, id, key)
            };
            limit.hit().await.unwrap();
            limit.hit_n(2).await.unwrap();
            limit.reset().await.unwrap();
        }
        KeyClass::Breaker => {
            let breaker = Breaker::new(core, id, key);
            breaker.status().await;
            if write {
                breaker.permit().await.unwrap().unwrap().failure().await.unwrap();
                if let Ok(permit) = breaker.permit().await.unwrap() {
                    permit.success().await.unwrap();
                }
                let _ = breaker.call(|| async { Ok::<_, ()>(()) }).await;
            }
        }
        KeyClass::Idempotency => {
            let handle = IdempotencyKey::<Bytes>::new(core, id, key);
            handle.get().await.unwrap();
            if write {
                assert!(matches!(handle.claim(&value).await.unwrap(), Claim::First));
                handle.complete(&value).await.unwrap();
            }
        }
        KeyClass::Timers => {
            let timers = TimerQueue::<Bytes, f64>::new(core, id, key);
            timers.len().await.unwrap();
            if write {
                timers.schedule(&value, &0.0).await.unwrap();
                let claimed = timers.claim_due(10, Delivery::AtLeastOnce).await.unwrap();
                timers.ack(&claimed[0]).await.unwrap();
                timers.schedule(&value, &0.0).await.unwrap();
                timers.claim_due(10, Delivery::AtMostOnce).await.unwrap();
                timers.schedule(&value, &f64::MAX).await.unwrap();
                timers.cancel(&value).await.unwrap();
            }
        }
        KeyClass::Cache { shared_stats, .. } => {
            let cache = CacheKey::<Bytes>::new(core, id, key);
            cache.get().await.unwrap();
            if write {
                cache
                    .get_or_load(|| async { Ok::<_, ()>(b"v".to_vec()) })
                    .await
                    .unwrap();
                cache
                    .get_or_load(|| async { Ok::<_, ()>(b"v".to_vec()) })
                    .await
                    .unwrap();
                cache.invalidate().await.unwrap();
                store.invalidate(id, &[]).await.unwrap();
                if shared_stats {
                    store.cache_stats(id).await.unwrap();
                }
            }
        }
        KeyClass::State => {
            let tier = TwoTier::<String, Bytes>::new(core, id, |key| Ok(key.clone())).unwrap();
            tier.restore(&key).await.unwrap();
            if write {
                tier.insert(key.clone(), value, Duration::from_secs(60));
                tier.backup(std::slice::from_ref(&key)).await.unwrap();
                tier.get_or_restore(&key).await.unwrap();
            }
        }
        KeyClass::DeadLetters => {
            let (entry, index_id, cleanup) = dead_letters(&schema, index);
            let cleanup = cleanup.map(|lock| Lock::new(core, id_of(lock), example_key(&schema, lock, None)));
            // Ids are the entry keys themselves: the commands do not depend on the form.
            let queue = DeadLetterQueue::<Text, Bytes, f64>::new(
                core,
                id_of(entry),
                |id: &String| Ok(id.clone()),
                id_of(index_id),
                example_key(&schema, index_id, None),
                cleanup,
            );
            let letter = example_key(&schema, entry, None);
            queue.get(&letter).await.unwrap();
            queue.list(0, 10).await.unwrap();
            if write {
                queue.push(&letter, &1.0, &value).await.unwrap();
                queue.replay(&letter, |_| async { Ok::<_, ()>(()) }).await.unwrap();
                queue.push(&letter, &1.0, &value).await.unwrap();
                queue.remove(&letter).await.unwrap();
                queue.prune(10).await.unwrap();
            }
        }
    }
}

/// The `by` index of entity `index` and the entity's member in it (its parameter's value).
fn index_of(schema: &KeySchema, index: usize) -> (KeyId, String) {
    let entity = &schema.keys[index];
    for (other, key) in schema.keys.iter().enumerate() {
        if let Some(Primitive::Index { of, by: Some(_) }) = &key.primitive {
            if *of == index {
                let member = entity
                    .pattern
                    .params()
                    .next()
                    .map(|p| example_value(schema, p, None))
                    .unwrap();
                return (id_of(other), member);
            }
        }
    }
    panic!("`{}` has no index by a field", entity.name);
}

/// The entry, index and cleanup lock of the dead-letter queue key `index` belongs to.
fn dead_letters(schema: &KeySchema, index: usize) -> (usize, usize, Option<usize>) {
    let queue = match &schema.keys[index].primitive {
        Some(Primitive::DlqEntry { queue } | Primitive::DlqIndex { queue, .. }) => queue.clone(),
        _ => unreachable!("a dead-letter key"),
    };
    let mut found = (None, None, None);
    for (i, key) in schema.keys.iter().enumerate() {
        match &key.primitive {
            Some(Primitive::DlqEntry { queue: q }) if *q == queue => found.0 = Some(i),
            Some(Primitive::DlqIndex { queue: q, cleanup }) if *q == queue => {
                found.1 = Some(i);
                found.2 = *cleanup;
            }
            _ => {}
        }
    }
    (found.0.unwrap(), found.1.unwrap(), found.2)
}

/// The commands the server ran since the last reset, lowercase, as ACL rules name them
/// (`script|load`), without the ones this test's own connection sent.
fn commands_run(admin: &mut keyschema_tests::Connection) -> BTreeSet<String> {
    let Reply::Bulk(Some(info)) = admin.cmd(&["INFO", "commandstats"]).unwrap() else {
        panic!("INFO commandstats");
    };
    String::from_utf8(info)
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_prefix("cmdstat_"))
        .filter_map(|line| line.split(':').next())
        .filter(|name| !matches!(*name, "info" | "config|resetstat" | "script|flush" | "flushall"))
        .map(str::to_string)
        .collect()
}

/// The example schemas and the shapes schema, by name.
fn schemas() -> Vec<(&'static str, &'static keyschema::Schema)> {
    use keyschema_tests::generated::{catalog, cordum, cordum_cluster, opensensor, shapes, state};
    vec![
        ("cordum", cordum::schema()),
        ("cordum-cluster", cordum_cluster::schema()),
        ("catalog", catalog::schema()),
        ("state", state::schema()),
        ("opensensor", opensensor::schema()),
        ("every_shape", shapes::schema()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_grants_are_exactly_what_the_stores_calls_send() {
    let server = RedisServer::start();
    let mut admin = server.connect();
    let mut wrong = Vec::new();
    let mut keys_measured = 0;
    for (name, schema) in schemas() {
        let connection = RedisConnection::standalone(&server.url()).await.unwrap();
        let store = Store::new(connection, schema.model_arc()).unwrap();
        let model = schema.model();
        let mut sent = vec![[BTreeSet::new(), BTreeSet::new()]; model.keys.len()];
        for (index, key) in model.keys.iter().enumerate() {
            for access in [KeyAccess::Read, KeyAccess::Write] {
                // Each run starts on an empty server with no script cached, as a service's
                // first call does.
                admin.cmd(&["FLUSHALL"]).unwrap();
                admin.cmd(&["SCRIPT", "FLUSH"]).unwrap();
                admin.cmd(&["CONFIG", "RESETSTAT"]).unwrap();
                workload(&store, index, access == KeyAccess::Write).await;
                let run = commands_run(&mut admin);
                let granted: BTreeSet<String> = key_commands(model, id_of(index), access)
                    .iter()
                    .map(|c| c.to_string())
                    .collect();
                let missing: Vec<&String> = run.difference(&granted).collect();
                let unused: Vec<&String> = granted.difference(&run).collect();
                if !missing.is_empty() || !unused.is_empty() {
                    wrong.push(format!(
                        "{name} `{}` ({access:?}, {:?}): sent, not granted: {missing:?}; granted, never sent: {unused:?}",
                        key.name,
                        key_class(model, id_of(index))
                    ));
                }
                sent[index][usize::from(access == KeyAccess::Write)] = run;
            }
            keys_measured += 1;
        }
        // Each service: the connection's commands and what its keys' calls sent.
        for user in acl_users(model, None).unwrap() {
            let service = model.services.iter().find(|s| s.name == user.name).unwrap();
            let mut expected: BTreeSet<String> = CONNECTION_COMMANDS.iter().map(|c| c.to_string()).collect();
            for &key in &service.reads {
                expected.extend(sent[key][0].iter().cloned());
            }
            for &key in &service.writes {
                expected.extend(sent[key][1].iter().cloned());
            }
            let granted: BTreeSet<String> = user.commands.iter().map(|c| c.to_string()).collect();
            if granted != expected {
                wrong.push(format!(
                    "{name} service `{}`: granted, never sent: {:?}; sent, not granted: {:?}",
                    user.name,
                    granted.difference(&expected).collect::<Vec<_>>(),
                    expected.difference(&granted).collect::<Vec<_>>()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{} problems:\n{}", wrong.len(), wrong.join("\n"));
    // Every key of six schemas (204 when this was written), companions included.
    assert!(keys_measured >= 200, "{keys_measured} keys measured");
}
