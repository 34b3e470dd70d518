//! Every write goes through the store's one write path, which applies durability, size limits
//! and the retry rules to all of them alike:
//! - each kind of write (accessors, `GETDEL`, batches, transactions, scripts, cache loads,
//!   invalidation, shared cache counts, idempotency claims, the audit's fixes) answers
//!   `NotDurable` from a store asking for a replica of a server that has none, and succeeds
//!   against a server with one, its effect read back;
//! - a census of what the store sends (`MONITOR` on its own server, one call at a time with a read
//!   between calls) finds no write command that is not followed by a `WAIT` before the next read:
//!   a write sent around the path fails it, whatever feature sends it;
//! - a key over the size limit and a value over its key's `max` are refused with typed errors,
//!   nothing reaches the server (`INFO commandstats`), and the next call on the same connection
//!   works.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_store::ops::{self, AuditOptions, OpsError};
use keyschema_store::{redis, CacheKey, Error, IdempotencyKey, KeyId, ListKey, Lock, Store, StringKey, Text};
use keyschema_tests::{unique, RedisServer, Reply, ServerOptions};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const SCHEMA: &str = "\
keyspace w
param id ident
param s enum(A, B)
note:<id>              string text ttl 1h \"A note\"
small:<id>             string text ttl 1h max 1kb \"A small note\"
log:<id>               list text cap 10 ttl 1h \"A log\"
index w:by:<s>         set member id of note ttl 1h \"Notes by state\"
lock w:lock:<id>       ttl 10s \"A lock\"
idempotency w:once:<id> ttl 1h \"A claim\"
cache page:<id> text ttl 1m stats shared \"A cached page\"
";

fn schema() -> Arc<keyschema::KeySchema> {
    keyschema::Schema::parse(SCHEMA, "write_path.keys").unwrap().model_arc()
}

fn id(store: &Store, name: &str) -> KeyId {
    KeyId::of(store.schema(), name).unwrap_or_else(|| panic!("no key {name}"))
}

/// The `note` key `key`.
fn note_key(store: &Store, key: String) -> StringKey<'_, Text> {
    StringKey::new(store.core(), id(store, "note"), key)
}

fn not_durable<T: std::fmt::Debug>(what: &str, result: Result<T, Error>) {
    match result {
        Err(Error::NotDurable {
            acknowledged: 0,
            wanted: 1,
            ..
        }) => {}
        other => panic!("{what}: expected NotDurable, got {other:?}"),
    }
}

/// Runs every kind of write on `store` (durable, asking for one replica), each checked by
/// `check`, which sees the write's name and its result as `Err(Error)` or `Ok(())`. A read
/// follows each, so that a write sent around the path shows in a census of the commands.
async fn every_write(store: &Store, check: impl Fn(&str, Result<(), Error>)) {
    let probe = format!("note:{}", unique("probe"));
    let check = |what: &str, result: Result<(), Error>| {
        check(what, result);
        store.get::<Text>(&probe)
    };
    let core = store.core();
    let n = unique("n");
    let note: StringKey<'_, Text> = StringKey::new(core, id(store, "note"), format!("note:{n}"));
    check("accessor SET", note.set(&"one".to_string()).await).await.unwrap();
    check("GETDEL", note.get_and_delete().await.map(drop)).await.unwrap();
    let log: ListKey<'_, Text> = ListKey::new(core, id(store, "log"), format!("log:{n}"));
    check("RPUSH with its trim", log.push(&["a".to_string()]).await.map(drop))
        .await
        .unwrap();

    let mut batch = store.batch();
    for i in 0..3 {
        batch
            .set(&note_key(store, format!("note:{n}-b{i}")), &"b".to_string())
            .unwrap();
    }
    check("Batch::send", batch.send().await).await.unwrap();
    // A batch of a read and a write: one pipeline ending with WAIT. The read is queued first, so
    // that the census below (which cannot see where a pipeline ends) finds no read between the
    // write and its WAIT.
    let mut batch = store.batch();
    let read = batch.get::<Text>(&format!("note:{n}-e"));
    batch
        .set(&note_key(store, format!("note:{n}-e")), &"e".to_string())
        .unwrap();
    check(
        "Batch::execute",
        batch.execute().await.map(|replies| drop(replies.get(&read))),
    )
    .await
    .unwrap();

    let mut tx = store.transaction();
    let note = StringKey::<Text>::new(core, id(store, "note"), format!("note:{n}-t"));
    tx.set(&note, &"t".to_string()).unwrap();
    check("transaction (script)", tx.execute().await).await.unwrap();

    let lock = Lock::new(core, id(store, "w_lock"), format!("w:lock:{n}"));
    check("lock (SET NX)", lock.try_acquire().await.map(drop))
        .await
        .unwrap();

    let once: IdempotencyKey<'_, Text> = IdempotencyKey::new(core, id(store, "w_once"), format!("w:once:{n}"));
    check("idempotency claim", once.claim(&"mine".to_string()).await.map(drop))
        .await
        .unwrap();

    let page: CacheKey<'_, Text> = CacheKey::new(core, id(store, "page"), format!("page:{n}"));
    check(
        "cache load",
        page.get_or_load(|| async { Ok::<_, std::io::Error>("loaded".to_string()) })
            .await
            .map(drop)
            .map_err(|error| match error {
                keyschema_store::CacheError::Store(error) => error,
                other => panic!("cache load: {other:?}"),
            }),
    )
    .await
    .unwrap();
    check(
        "invalidate (UNLINK per node)",
        store
            .invalidate(id(store, "page"), &[("id", n.as_str())])
            .await
            .map(drop),
    )
    .await
    .unwrap();
    check(
        "shared cache counts (HINCRBY)",
        store.cache_stats(id(store, "page")).await.map(drop),
    )
    .await
    .unwrap();
}

/// A note key written without its TTL and a member of `index` naming a note that does not exist,
/// written around the store: what an audit with `fix` repairs. The note's id, and the connection.
async fn plant_what_the_audit_fixes(store: &Store, index: &str) -> (String, keyschema_store::RedisConnection) {
    let n = unique("a");
    let mut raw = store.connection();
    let _: () = redis::cmd("SET")
        .arg(format!("note:{n}"))
        .arg("no ttl")
        .query_async(&mut raw)
        .await
        .unwrap();
    let _: () = redis::cmd("SADD")
        .arg(index)
        .arg(format!("{n}-gone"))
        .query_async(&mut raw)
        .await
        .unwrap();
    (n, raw)
}

/// A primary with a replica in sync, and a store on the primary waiting for the replica.
async fn replicated() -> (RedisServer, RedisServer, Store) {
    let primary = RedisServer::start();
    let replica = RedisServer::start_with(ServerOptions::replica_of(primary.port()));
    replica.wait_replica_synced();
    let store = Store::connect(&primary.url(), schema())
        .await
        .unwrap()
        .durable(1, Duration::from_secs(1));
    (primary, replica, store)
}

fn fixing() -> AuditOptions {
    AuditOptions {
        fix: true,
        ..AuditOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_path_waits_for_a_replica_and_says_so_when_there_is_none() {
    let alone = RedisServer::start();
    let store = Store::connect(&alone.url(), schema())
        .await
        .unwrap()
        .durable(1, Duration::from_millis(20));
    every_write(&store, not_durable).await;
    // The writes are on the primary all the same.
    let plain = Store::connect(&alone.url(), schema()).await.unwrap();
    let notes = plain.connection();
    let count: u64 = redis::cmd("DBSIZE").query_async(&mut notes.clone()).await.unwrap();
    assert!(count >= 6, "the writes stayed on the primary: {count} keys");

    // The audit's fixes: a key without its TTL, and a dangling index member.
    let (n, mut raw) = plant_what_the_audit_fixes(&plain, "w:by:A").await;
    match ops::audit(&store, &fixing()).await {
        Err(OpsError::Store(Error::NotDurable { .. })) => {}
        other => panic!("audit --fix: expected NotDurable, got {other:?}"),
    }
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("note:{n}"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(ttl > 0, "the fix is on the primary all the same: PTTL {ttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_path_succeeds_with_a_replica_and_the_replica_has_it() {
    let (_primary, replica, store) = replicated().await;
    every_write(&store, |what, result| assert!(result.is_ok(), "{what}: {result:?}")).await;

    let (n, mut raw) = plant_what_the_audit_fixes(&store, "w:by:B").await;
    let fixed = ops::audit(&store, &fixing()).await.unwrap().fixed.unwrap();
    assert!(fixed.ttls_set >= 1 && fixed.members_removed >= 1, "{fixed:?}");
    // Acknowledged by the replica: read there, every write is.
    let on_replica = Store::connect(&replica.url(), schema()).await.unwrap();
    let mut replica_raw = on_replica.connection();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("note:{n}"))
        .query_async(&mut replica_raw)
        .await
        .unwrap();
    assert!(ttl > 0, "the replica has the fixed TTL: {ttl}");
    let member: bool = redis::cmd("SISMEMBER")
        .arg("w:by:B")
        .arg(format!("{n}-gone"))
        .query_async(&mut replica_raw)
        .await
        .unwrap();
    assert!(!member, "the replica has the removal");
    let primary_keys: u64 = redis::cmd("DBSIZE").query_async(&mut raw).await.unwrap();
    let replica_keys: u64 = redis::cmd("DBSIZE").query_async(&mut replica_raw).await.unwrap();
    assert_eq!(primary_keys, replica_keys);
}

/// `redis-cli monitor` on `server`, its lines collected until it is killed.
fn monitor(server: &RedisServer) -> Child {
    let child = Command::new("redis-cli")
        .args(["-p", &server.port().to_string(), "monitor"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli monitor");
    std::thread::sleep(Duration::from_millis(200));
    child
}

/// The commands of a `MONITOR` line: its client (`127.0.0.1:port`, or `lua` inside a script)
/// and the command's name, upper case.
fn parse_monitor(line: &str) -> Option<(String, String)> {
    let open = line.find('[')?;
    let close = line[open..].find(']')? + open;
    let client = line[open + 1..close].split_whitespace().nth(1)?.to_string();
    let name = line[close + 1..].trim().split('"').nth(1)?.to_ascii_uppercase();
    Some((client, name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_census_of_what_the_store_sends_finds_every_write_followed_by_its_wait() {
    let (primary, _replica, store) = replicated().await;
    // Which commands write, as the server says (COMMAND INFO flags).
    let mut raw = primary.connect();
    let mut monitor = monitor(&primary);
    every_write(&store, |what, result| assert!(result.is_ok(), "{what}: {result:?}")).await;
    let _ = raw.cmd(&["PING"]);
    std::thread::sleep(Duration::from_millis(300));
    monitor.kill().unwrap();
    let output = monitor.wait_with_output().unwrap();
    let lines = BufReader::new(output.stdout.as_slice()).lines().map_while(Result::ok);
    let mut writes_of: BTreeMap<String, bool> = BTreeMap::new();
    let mut is_write = |name: &str, raw: &mut keyschema_tests::Connection| -> bool {
        *writes_of.entry(name.to_string()).or_insert_with(|| {
            let info = raw
                .cmd(&["COMMAND", "INFO", name])
                .map(|r| format!("{r:?}"))
                .unwrap_or_default();
            info.contains("\"write\"")
        })
    };
    // Per client: the write commands sent since its last WAIT, cleared by a WAIT; a read seen
    // while some are pending means they were not in a pipeline that ended with WAIT.
    let mut pending: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut in_multi: BTreeMap<String, bool> = BTreeMap::new();
    let (mut writes, mut waits) = (0, 0);
    let mut bypassed = Vec::new();
    for line in lines {
        let Some((client, name)) = parse_monitor(&line) else {
            continue;
        };
        if client == "lua" {
            continue; // Commands a script runs: the script's EVAL is what the census counts.
        }
        match name.as_str() {
            "WAIT" => {
                waits += 1;
                pending.remove(&client);
            }
            "MULTI" => {
                in_multi.insert(client.clone(), true);
            }
            "EXEC" => {
                in_multi.insert(client.clone(), false);
            }
            "EVAL" | "EVALSHA" => {
                writes += 1;
                pending.entry(client.clone()).or_default().push(name.clone());
            }
            _ if is_write(&name, &mut raw) => {
                writes += 1;
                pending.entry(client.clone()).or_default().push(name.clone());
            }
            _ => {
                let inside = in_multi.get(&client).copied().unwrap_or(false);
                if !inside {
                    if let Some(unwaited) = pending.remove(&client) {
                        bypassed.push(format!("{client}: {unwaited:?} then {name} with no WAIT between"));
                    }
                }
            }
        }
    }
    bypassed.extend(
        pending
            .into_iter()
            .map(|(client, names)| format!("{client}: {names:?} never followed by WAIT")),
    );
    eprintln!(
        "census: {writes} write commands, {waits} WAITs, writes of {:?}",
        writes_of
            .iter()
            .filter(|(_, w)| **w)
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
    );
    assert!(
        writes >= 12 && waits >= 10,
        "the census saw the workload: {writes} writes, {waits} WAITs"
    );
    assert!(
        bypassed.is_empty(),
        "writes sent around the write path:\n{}",
        bypassed.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_keys_and_values_are_refused_before_anything_is_sent() {
    let server = RedisServer::start();
    let store = Store::connect(&server.url(), schema()).await.unwrap();
    let sets_before = server.calls("set");
    // A key over the limit: refused by the formatter of a generated key, and by the write path
    // for a key given as a string.
    let long = "x".repeat(70_000);
    let formatted = keyschema_store::__generated::format_key(
        &keyschema::Schema::parse(SCHEMA, "w.keys").unwrap(),
        id(&store, "note"),
        &[keyschema::ParamValue::Text(long.as_str().into())],
    );
    assert!(
        matches!(formatted, Err(keyschema::FormatError::KeyTooLong { len: 70_005, .. })),
        "{formatted:?}"
    );
    let error = note_key(&store, format!("note:{long}"))
        .set(&"v".to_string())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            Error::KeyTooLong {
                len: 70_005,
                max: 65_536,
                ..
            }
        ),
        "{error:?}"
    );
    // A value over the key's declared `max 1kb`: named with both sizes.
    let small: StringKey<'_, Text> = StringKey::new(store.core(), id(&store, "small"), "small:s".into());
    let error = small.set(&"y".repeat(2_000)).await.unwrap_err();
    match &error {
        Error::ValueTooLarge { key, size, max } => assert_eq!((key.as_str(), *size, *max), ("small:s", 2_000, 1_024)),
        other => panic!("expected ValueTooLarge, got {other:?}"),
    }
    assert!(error.to_string().contains("small:s") && error.to_string().contains("nothing was sent"));
    // The same through a batch and a transaction.
    let mut batch = store.batch();
    batch
        .set(
            &StringKey::<Text>::new(store.core(), id(&store, "small"), "small:b".into()),
            &"y".repeat(2_000),
        )
        .unwrap();
    assert!(matches!(batch.send().await, Err(Error::ValueTooLarge { .. })));
    let mut tx = store.transaction();
    let small = StringKey::<Text>::new(store.core(), id(&store, "small"), "small:t".into());
    tx.set(&small, &"y".repeat(2_000)).unwrap();
    assert!(matches!(tx.execute().await, Err(Error::ValueTooLarge { .. })));
    // A value over the server's 512 MB limit on a key with no `max`: refused, not sent.
    let huge = vec![b'z'; 512 * 1024 * 1024 + 1];
    let huge = String::from_utf8(huge).unwrap();
    let error = note_key(&store, "note:huge".into()).set(&huge).await.unwrap_err();
    assert!(matches!(error, Error::ValueTooLarge { size, max, .. } if size == huge.len() && max == 512 * 1024 * 1024));
    drop(huge);
    assert_eq!(server.calls("set"), sets_before, "nothing reached the server");
    assert_eq!(server.calls("evalsha") + server.calls("eval"), 0);
    // The connection is healthy: the next call works.
    small.set(&"fits".to_string()).await.unwrap();
    assert_eq!(small.get().await.unwrap().as_deref(), Some("fits"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_batches_and_invalidation_wait_on_every_node_they_write_to() {
    let cluster = keyschema_tests::shared_cluster();
    let store = Store::connect_cluster(&cluster.urls(), schema())
        .await
        .unwrap()
        .durable(1, Duration::from_secs(2));
    let n = unique("c");
    // Keys on many slots, so on every shard: one pipeline (and one WAIT) per slot.
    let keys: Vec<String> = (0..60).map(|i| format!("note:{n}-{i}")).collect();
    let mut batch = store.batch();
    for key in &keys {
        batch.set(&note_key(&store, key.clone()), &"v".to_string()).unwrap();
    }
    batch.send().await.unwrap();
    // Acknowledged by a replica: each key is there on its shard's replica.
    let shards = cluster.shards(0);
    let on_replica = |key: &str| {
        let shard = shards.iter().find(|shard| shard.serves(key)).unwrap();
        let mut replica = cluster.nodes()[shard.replicas[0]].connect();
        replica.cmd(&["READONLY"]).unwrap();
        replica.cmd(&["EXISTS", key]).unwrap()
    };
    let primaries: std::collections::BTreeSet<usize> = keys
        .iter()
        .map(|key| shards.iter().position(|shard| shard.serves(key)).unwrap())
        .collect();
    assert_eq!(primaries.len(), 3, "the keys reach every shard");
    for key in &keys {
        assert!(matches!(on_replica(key), Reply::Int(1)), "{key} on its replica");
    }
    // Invalidation's UNLINKs, one pipeline per node and page, wait the same way.
    let page: CacheKey<'_, Text> = CacheKey::new(store.core(), id(&store, "page"), format!("page:{n}"));
    page.get_or_load(|| async { Ok::<_, std::io::Error>("p".to_string()) })
        .await
        .unwrap();
    let removed = store
        .invalidate(id(&store, "page"), &[("id", n.as_str())])
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert!(
        matches!(on_replica(&format!("page:{n}")), Reply::Int(0)),
        "the removal on its replica"
    );

    // Each shard has one replica: asking for two, every pipeline's WAIT says one acknowledged.
    // A few keys: each WAIT that times out holds its node's connection for the timeout, rounded
    // up to the server's clock (100 ms at the default hz), and the calls queued behind it wait.
    let greedy = store.durable(2, Duration::from_millis(20));
    let mut batch = greedy.batch();
    for key in keys.iter().take(6) {
        batch.set(&note_key(&store, key.clone()), &"w".to_string()).unwrap();
    }
    match batch.send().await {
        Err(Error::NotDurable {
            acknowledged: 1,
            wanted: 2,
            ..
        }) => {}
        other => panic!("a batch on a cluster: expected NotDurable, got {other:?}"),
    }
    page.get_or_load(|| async { Ok::<_, std::io::Error>("p".to_string()) })
        .await
        .unwrap();
    match greedy.invalidate(id(&store, "page"), &[("id", n.as_str())]).await {
        Err(Error::NotDurable {
            acknowledged: 1,
            wanted: 2,
            ..
        }) => {}
        other => panic!("invalidation on a cluster: expected NotDurable, got {other:?}"),
    }
}
