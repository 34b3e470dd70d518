//! `ops::acl_users` against a real server: each service's rules loaded with `ACL SETUSER`, the
//! store connected as that service's user; the keys and primitives it declares work, every other
//! key is refused with NOPERM, and a key it only reads cannot be written.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema::Schema;
use keyschema_store::ops::acl_users;
use keyschema_store::uuid::Uuid;
use keyschema_store::{redis, Error};
use keyschema_tests::generated::cordum::{self, CordumStore, JobId};
use keyschema_tests::generated::{AuthContext, JobState};
use keyschema_tests::{RedisServer, Reply};

/// Loads `schema`'s users into `server`, each with the password `pw-<name>`.
fn load_users(server: &RedisServer, schema: &keyschema::KeySchema) {
    let mut admin = server.connect();
    for user in acl_users(schema, None).unwrap() {
        let rules = user.rules();
        let mut words = vec!["ACL", "SETUSER", user.name.as_str()];
        words.extend(rules.split(' '));
        let password = format!(">pw-{}", user.name);
        words.push(&password);
        assert_eq!(admin.cmd(&words).unwrap(), Reply::Status("OK".into()), "{rules}");
    }
}

fn url_as(server: &RedisServer, user: &str) -> String {
    format!("redis://{user}:pw-{user}@127.0.0.1:{}", server.port())
}

fn refused<T: std::fmt::Debug>(result: Result<T, Error>) {
    let error = result.unwrap_err();
    let text = format!("{error:?}");
    assert!(text.contains("NoPerm") || text.contains("NOPERM"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_reaches_its_keys_and_primitives_and_nothing_else() {
    let server = RedisServer::start();
    load_users(&server, cordum::schema().model());

    let scheduler = CordumStore::connect(&url_as(&server, "scheduler")).await.unwrap();
    let id = JobId::Simple(Uuid::new_v4());
    let job = scheduler.job_state(id.clone()).unwrap();
    let state = JobState {
        state: "RUNNING".into(),
        attempt: 1,
    };
    job.set(&state).await.unwrap();
    assert_eq!(job.get().await.unwrap(), Some(state));
    // A lock: its script, its fencing counter (a companion key), its release.
    let lock = scheduler.cordum_scheduler_job(id.clone()).unwrap();
    let guard = lock.try_acquire().await.unwrap().unwrap();
    let first = guard.fence().await.unwrap().token();
    assert!(guard.release().await.unwrap(), "released by its owner");
    let guard = lock.try_acquire().await.unwrap().unwrap();
    assert!(guard.fence().await.unwrap().token() > first, "the fencing counter grew");
    guard.release().await.unwrap();
    // Sessions and job contexts are not the scheduler's.
    refused(scheduler.session("t1").unwrap().set(&AuthContext::default()).await);
    refused(scheduler.ctx(id.clone()).unwrap().get().await);

    let context = CordumStore::connect(&url_as(&server, "context-engine")).await.unwrap();
    let ctx = context.ctx(id.clone()).unwrap();
    ctx.set(&b"window".to_vec()).await.unwrap();
    assert_eq!(ctx.get().await.unwrap(), Some(b"window".to_vec()));
    refused(context.job_state(id).unwrap().get().await);
}

#[test]
fn a_key_a_service_only_reads_cannot_be_written() {
    let schema = Schema::parse(
        "param id int\n\
         report:<id> string \"A report\"\n\
         draft:<id> string \"A draft\"\n\
         service reader \"Reads reports\" {\n  reads report\n}\n\
         service writer \"Writes reports\" {\n  writes report\n}\n",
        "acl.keys",
    )
    .unwrap();
    let server = RedisServer::start();
    load_users(&server, schema.model());
    let mut writer = redis::Client::open(url_as(&server, "writer"))
        .unwrap()
        .get_connection()
        .unwrap();
    let mut reader = redis::Client::open(url_as(&server, "reader"))
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("SET").arg("report:1").arg("x").query(&mut writer).unwrap();
    let read: String = redis::cmd("GET").arg("report:1").query(&mut reader).unwrap();
    assert_eq!(read, "x");
    let denied = redis::cmd("SET")
        .arg("report:1")
        .arg("y")
        .query::<()>(&mut reader)
        .unwrap_err();
    assert_eq!(denied.code(), Some("NOPERM"), "{denied}");
    let denied = redis::cmd("SET")
        .arg("draft:1")
        .arg("y")
        .query::<()>(&mut writer)
        .unwrap_err();
    assert_eq!(denied.code(), Some("NOPERM"), "{denied}");
    // Commands outside what the store sends are refused whatever the key.
    let denied = redis::cmd("FLUSHALL").query::<()>(&mut writer).unwrap_err();
    assert_eq!(denied.code(), Some("NOPERM"), "{denied}");
    let denied = redis::cmd("KEYS").arg("*").query::<()>(&mut writer).unwrap_err();
    assert_eq!(denied.code(), Some("NOPERM"), "{denied}");
}

#[test]
fn a_read_only_service_gets_no_scripting_and_no_write_command() {
    let catalog = Schema::parse(keyschema::examples::CATALOG, "catalog.keys").unwrap();
    let users = acl_users(catalog.model(), None).unwrap();
    let api = users.iter().find(|user| user.name == "catalog-api").unwrap();
    assert!(api.write_globs.is_empty(), "{:?}", api.write_globs);
    for command in [
        "eval",
        "evalsha",
        "script|load",
        "set",
        "del",
        "hset",
        "sadd",
        "zadd",
        "unlink",
    ] {
        assert!(
            !api.commands.contains(&command),
            "catalog-api may not {command}: {}",
            api.rules()
        );
    }
    // Its writer has the write commands of its keys' types, and no scripting: indexes are written
    // with plain commands.
    let discovery = users.iter().find(|user| user.name == "catalog-discovery").unwrap();
    assert!(discovery.commands.contains(&"hset") && discovery.commands.contains(&"sadd"));
    assert!(!discovery.commands.contains(&"eval"), "{}", discovery.rules());

    // On a server: the read-only user cannot run a script, even one that touches no key.
    let server = RedisServer::start();
    load_users(&server, catalog.model());
    let mut api = redis::Client::open(url_as(&server, "catalog-api"))
        .unwrap()
        .get_connection()
        .unwrap();
    let denied = redis::cmd("EVAL")
        .arg("return 1")
        .arg(0)
        .query::<i64>(&mut api)
        .unwrap_err();
    assert_eq!(denied.code(), Some("NOPERM"), "{denied}");
}

/// The Cordum users, reviewed: each service's groups as read-write globs, lock and breaker
/// companions beside their keys, scripting only where a primitive is used.
#[test]
fn the_cordum_rules_are_as_reviewed() {
    let users = acl_users(cordum::schema().model(), None).unwrap();
    let text: Vec<String> = users
        .iter()
        .map(|user| format!("user {} {}", user.name, user.rules().replace(' ', "\n  ")))
        .collect();
    insta::assert_snapshot!(text.join("\n"));
}
