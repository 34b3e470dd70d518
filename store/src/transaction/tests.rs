//! The two scripts of a transaction do the same thing: every plan below runs through the script
//! made for its shape and through the general one, on a real server emptied before each, and
//! must answer the same and leave the same keys (types, values, whether a TTL is set).

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use super::plan::Plan;
use super::{general, shaped};
use crate::policy::KeyId;
use crate::write::{Arg, Write};
use crate::{RedisConnection, Store};
use keyschema_tests::RedisServer;
use std::sync::Arc;
use std::time::Duration;

const SCHEMA: &str = "param id int
item:{<id>} string text ttl 1h \"A value\"
plain:{<id>} string text \"A value without TTL\"
events:{<id>} list text cap 3 ttl 1h \"A capped list\"
members:{<id>} set text ttl 1h \"A set\"
ranked:{<id>} zset member text score int cap 2 ttl 1h \"A capped ranking\"
";

struct Case {
    name: &'static str,
    expectations: Vec<(String, Option<Vec<u8>>)>,
    fence: Option<(&'static str, u64)>,
    writes: Vec<Write>,
    /// Commands run before the transaction (the state it finds).
    before: Vec<Vec<&'static str>>,
}

fn cases(store: &Store) -> Vec<Case> {
    let policy = |name: &str| store.core().policy(KeyId::of(store.schema(), name).unwrap());
    let ttl = Some(Duration::from_secs(3600));
    let set = |key: &str, value: &str| Write::set(policy("item"), key, value.as_bytes().to_vec(), ttl);
    let everything = || {
        vec![
            set("item:{1}", "one"),
            Write::set(policy("plain"), "plain:{1}", b"two".to_vec(), None),
            Write::push(policy("events"), "events:{1}", vec![b"a".to_vec(), b"b".to_vec()], ttl),
            Write::push(policy("events"), "events:{1}", vec![b"c".to_vec(), b"d".to_vec()], ttl),
            Write::add(policy("members"), "members:{1}", vec![b"m".to_vec()], ttl),
            Write::add_scored(
                policy("ranked"),
                "ranked:{1}",
                vec![(1.0, b"x".to_vec()), (2.0, b"y".to_vec()), (3.0, b"z".to_vec())],
                ttl,
            ),
            Write::remove("SREM", "members:{1}", vec![b"absent".to_vec()]),
            Write::delete("item:{9}"),
            // Keywords the source can hold and one it cannot (a value in `ARGV`).
            Write::raw(
                b"ranked:{1}",
                "ZREMRANGEBYSCORE",
                vec![Arg::Word("-inf"), Arg::Word("(2")],
            ),
            Write::raw(b"members:{1}", "SADD", vec![Arg::Word("it's")]),
        ]
    };
    vec![
        Case {
            name: "writes of every kind",
            expectations: Vec::new(),
            fence: None,
            writes: everything(),
            before: vec![vec!["SET", "item:{9}", "gone"]],
        },
        Case {
            name: "an expected value that is there",
            expectations: vec![("item:{1}".into(), Some(b"old".to_vec()))],
            fence: None,
            writes: vec![set("item:{1}", "new")],
            before: vec![vec!["SET", "item:{1}", "old"]],
        },
        Case {
            name: "an expected value that changed",
            expectations: vec![("item:{1}".into(), Some(b"old".to_vec()))],
            fence: None,
            writes: vec![set("item:{1}", "new")],
            before: vec![vec!["SET", "item:{1}", "changed"]],
        },
        Case {
            name: "an expected absence that holds",
            expectations: vec![("item:{1}".into(), None)],
            fence: None,
            writes: vec![set("item:{1}", "new")],
            before: Vec::new(),
        },
        Case {
            name: "an expected absence that does not",
            expectations: vec![("item:{1}".into(), None)],
            fence: None,
            writes: vec![set("item:{1}", "new")],
            before: vec![vec!["SET", "item:{1}", "there"]],
        },
        Case {
            name: "a fence at the watermark",
            expectations: Vec::new(),
            fence: Some(("mark:{1}", 7)),
            writes: vec![set("item:{1}", "new"), set("mark:{1}", "7")],
            before: vec![vec!["SET", "mark:{1}", "7"]],
        },
        Case {
            name: "a stale fence",
            expectations: Vec::new(),
            fence: Some(("mark:{1}", 6)),
            writes: vec![set("item:{1}", "new"), set("mark:{1}", "6")],
            before: vec![vec!["SET", "mark:{1}", "7"]],
        },
        Case {
            name: "a first fence",
            expectations: vec![("plain:{1}".into(), None)],
            fence: Some(("mark:{1}", 1)),
            writes: vec![set("item:{1}", "new"), set("mark:{1}", "1")],
            before: Vec::new(),
        },
        Case {
            name: "a wrongly typed key",
            expectations: Vec::new(),
            fence: None,
            writes: everything(),
            before: vec![vec!["HSET", "members:{1}", "f", "v"]],
        },
        Case {
            name: "a wrongly typed fence key",
            expectations: Vec::new(),
            fence: Some(("mark:{1}", 1)),
            writes: vec![set("item:{1}", "new")],
            before: vec![vec!["LPUSH", "mark:{1}", "v"]],
        },
    ]
}

/// Every key of the test and what it holds: type, contents, whether it has a TTL.
async fn state(connection: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(connection).await.unwrap();
    keys.sort();
    let mut state = Vec::new();
    for key in keys {
        let redis_type: String = redis::cmd("TYPE").arg(&key).query_async(connection).await.unwrap();
        let read = match redis_type.as_str() {
            "string" => redis::cmd("GET").arg(&key).clone(),
            "list" => redis::cmd("LRANGE").arg(&key).arg(0).arg(-1).clone(),
            "set" => redis::cmd("SMEMBERS").arg(&key).clone(),
            "zset" => redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).arg("WITHSCORES").clone(),
            _ => redis::cmd("HGETALL").arg(&key).clone(),
        };
        let value: redis::Value = read.query_async(connection).await.unwrap();
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(connection).await.unwrap();
        state.push(format!("{key} {redis_type} {value:?} ttl:{}", ttl > 0));
    }
    state
}

async fn run(store: &Store, server: &RedisServer, case: &Case, made_for_shape: bool) -> (String, Vec<String>) {
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut connection).await.unwrap();
    for command in &case.before {
        let _: redis::Value = redis::cmd(command[0])
            .arg(&command[1..])
            .query_async(&mut connection)
            .await
            .unwrap();
    }
    let plan = Plan::new(&case.expectations, case.fence, &case.writes);
    let first = plan.keys[0];
    let answer = if made_for_shape {
        let script = shaped::script(&plan).expect("a short transaction has a script of its own");
        store
            .core()
            .apply_scripted(&shaped::call(&script, &plan), first, &case.writes)
            .await
    } else {
        store
            .core()
            .apply_scripted(&general::call(&plan), first, &case.writes)
            .await
    };
    (format!("{answer:?}"), state(&mut connection).await)
}

#[tokio::test]
async fn the_script_made_for_a_shape_does_what_the_general_script_does() {
    let server = RedisServer::start();
    let schema = keyschema::Schema::parse(SCHEMA, "shapes.keys").unwrap().model_arc();
    let connection = RedisConnection::standalone(&server.url()).await.unwrap();
    let store = Store::new(connection, Arc::clone(&schema)).unwrap();
    let mut answers = Vec::new();
    for case in cases(&store) {
        let shaped = run(&store, &server, &case, true).await;
        let general = run(&store, &server, &case, false).await;
        assert_eq!(shaped, general, "{}", case.name);
        answers.push(format!("{}: {}", case.name, shaped.0));
    }
    // The answers themselves, so that the two cannot agree on doing nothing.
    assert_eq!(
        answers,
        [
            "writes of every kind: Ok(int(1))",
            "an expected value that is there: Ok(int(1))",
            "an expected value that changed: Ok(int(0))",
            "an expected absence that holds: Ok(int(1))",
            "an expected absence that does not: Ok(int(0))",
            "a fence at the watermark: Ok(int(1))",
            "a stale fence: Ok(array([int(0), bulk-string('\"7\"')]))",
            "a first fence: Ok(int(1))",
            "a wrongly typed key: Ok(array([int(4), bulk-string('\"hash\"')]))",
            "a wrongly typed fence key: Ok(array([int(1), bulk-string('\"list\"')]))",
        ]
    );
}

#[test]
fn a_fenced_write_is_the_script_one_would_write_by_hand() {
    let schema = keyschema::Schema::parse(SCHEMA, "shapes.keys").unwrap().model_arc();
    let policies = crate::policy::KeyPolicies::from_env(&schema).unwrap();
    let policy = policies.get(KeyId::of(&schema, "item").unwrap());
    let ttl = Some(Duration::from_secs(3600));
    let writes = [
        Write::set(policy, "item:{1}", b"new".to_vec(), ttl),
        Write::set(policy, "mark:{1}", b"7".to_vec(), ttl),
    ];
    let plan = Plan::new(&[], Some(("mark:{1}", 7)), &writes);
    let script = shaped::script(&plan).unwrap();
    assert_eq!(
        script.source,
        "-- keyschema: a transaction's checks and writes, made for its shape
local found
found = redis.call('TYPE', KEYS[1])['ok']
if found ~= 'none' and found ~= 'string' then return {1, found} end
found = redis.call('GET', KEYS[1])
if (tonumber(found) or 0) > tonumber(ARGV[1]) then return {0, found} end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
return 1
"
    );
}

#[test]
fn shapes_are_bounded_in_number_and_length() {
    let schema = keyschema::Schema::parse(SCHEMA, "shapes.keys").unwrap().model_arc();
    let policies = crate::policy::KeyPolicies::from_env(&schema).unwrap();
    let policy = policies.get(KeyId::of(&schema, "item").unwrap());
    let writes = |n: usize| -> Vec<Write> {
        (0..n)
            .map(|i| Write::set(policy, &format!("item:{{{i}}}"), b"v".to_vec(), None))
            .collect()
    };
    let shapes = shaped::Shapes::new(3);
    for n in 1..=3 {
        let writes = writes(n);
        assert!(shapes.script(&Plan::new(&[], None, &writes)).is_some(), "{n} writes");
    }
    // Known shapes keep their script; a fourth is refused (the general script runs it).
    let (two, four) = (writes(2), writes(4));
    let known = shapes.script(&Plan::new(&[], None, &two)).unwrap();
    assert!(Arc::ptr_eq(
        &known,
        &shapes.script(&Plan::new(&[], None, &two)).unwrap()
    ));
    assert!(shapes.script(&Plan::new(&[], None, &four)).is_none());
    assert_eq!(shapes.len(), 3);
    // Values and keys are not the shape: other values and keys, the same script.
    let other = vec![
        Write::set(policy, "item:{7}", b"other".to_vec(), None),
        Write::set(policy, "item:{8}", b"values".to_vec(), None),
    ];
    assert!(Arc::ptr_eq(
        &known,
        &shapes.script(&Plan::new(&[], None, &other)).unwrap()
    ));
    // Too long for a script of its own, whatever the room.
    let long = writes(shaped::MAX_COMMANDS + 1);
    assert!(shaped::Shapes::new(10).script(&Plan::new(&[], None, &long)).is_none());
}
