//! `ops::migrate_verified` from `cordum.keys` on a standalone server to `cordum-cluster.keys`:
//! when nothing else touches the target, every key is accounted for by its slot's key count and
//! the target is asked only about the sample; keys lost from the target after the copy are found
//! by looking, key by key, in the slots whose counts no longer add up (on the cluster) or in the
//! whole target (a standalone one); and the one loss counting cannot see, a key lost where another
//! appeared in the same slot, is found by the key-by-key verification.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_store::ops::{self, MigrateOptions, MigrationReport, VerifyOptions, VerifyReport};
use keyschema_store::{ConnectionOptions, Store};
use keyschema_tests::{shared_cluster, RedisServer, Reply};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const JOBS: usize = 2_000;
/// Job state and event list per job.
const KEYS: usize = 2 * JOBS;

fn uuid(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i, i * 7919)
}

/// The source: each job's state and its event list, both with a TTL of about a day.
fn filled_source() -> RedisServer {
    let server = RedisServer::start();
    let mut redis = server.connect();
    for chunk in (0..JOBS).collect::<Vec<_>>().chunks(500) {
        let mut commands: Vec<Vec<String>> = Vec::new();
        for &i in chunk {
            let id = uuid(i);
            let ttl = (86_400_000 - i * 1000).to_string();
            commands.push(vec![
                "SET".into(),
                format!("job:state:{id}"),
                format!("{{\"state\":\"RUNNING\",\"attempt\":{i}}}"),
                "PX".into(),
                ttl.clone(),
            ]);
            commands.push(vec!["RPUSH".into(), format!("job:events:{id}"), "created".into()]);
            commands.push(vec!["PEXPIRE".into(), format!("job:events:{id}"), ttl]);
        }
        let borrowed: Vec<Vec<&[u8]>> = commands
            .iter()
            .map(|c| c.iter().map(String::as_bytes).collect())
            .collect();
        for reply in redis.pipeline(&borrowed).unwrap() {
            assert!(!matches!(reply, Reply::Error(_)), "{reply:?}");
        }
    }
    server
}

/// Every key's name on the target.
fn target_names() -> Vec<String> {
    (0..JOBS)
        .flat_map(|i| {
            let id = uuid(i);
            [format!("job:state:{{{id}}}"), format!("job:events:{{{id}}}")]
        })
        .collect()
}

async fn store(url: &str, schema: &str) -> Store {
    let path = format!("{}/../schema/examples/{schema}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let schema = keyschema::Schema::parse(&text, &path).unwrap().model_arc();
    Store::new(ops::connect(url, &ConnectionOptions::default()).await.unwrap(), schema).unwrap()
}

/// Runs `meddle` on the target once, when the copy's last page is done and before the
/// verification starts.
async fn migrate_then(
    source: &Store,
    target: &Store,
    verify: &VerifyOptions,
    meddle: impl Fn() + Send + Sync + 'static,
) -> (MigrationReport, VerifyReport) {
    let done = AtomicBool::new(false);
    let options = MigrateOptions {
        progress: Some(Arc::new(move |keys| {
            if keys >= KEYS as u64 && !done.swap(true, Ordering::SeqCst) {
                meddle();
            }
        })),
        ..MigrateOptions::default()
    };
    ops::migrate_verified(source, target, &options, verify).await.unwrap()
}

/// Runs `command` on the cluster node serving `key`.
fn on_cluster(key: &str, command: &[&str]) -> Reply {
    let cluster = shared_cluster();
    let shard = cluster.shards(0).into_iter().find(|shard| shard.serves(key)).unwrap();
    cluster.nodes()[shard.primary].connect().cmd(command).unwrap()
}

fn cluster_primaries() -> Vec<&'static RedisServer> {
    let cluster = shared_cluster();
    cluster
        .shards(0)
        .iter()
        .map(|shard| &cluster.nodes()[shard.primary])
        .collect()
}

fn flush_cluster() {
    for primary in cluster_primaries() {
        primary.connect().cmd(&["FLUSHALL"]).unwrap();
        primary.connect().cmd(&["CONFIG", "RESETSTAT"]).unwrap();
    }
}

fn cluster_calls(command: &str) -> u64 {
    cluster_primaries().iter().map(|primary| primary.calls(command)).sum()
}

// One test for the three cluster runs: they share the cluster and flush it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counted_verification_on_the_cluster_looks_only_where_counts_do_not_add_up() {
    let server = filled_source();
    let source = store(&server.url(), "cordum.keys").await;
    let target = store(&shared_cluster().urls()[0], "cordum-cluster.keys").await;
    let sample = VerifyOptions::default();

    // Untouched: every key accounted for by count, the target asked only about the sample.
    flush_cluster();
    let (copy, check) = migrate_then(&source, &target, &sample, || {}).await;
    assert_eq!(copy.copied, KEYS as u64);
    assert_eq!((check.checked, check.counted), (KEYS as u64, KEYS as u64), "{check:?}");
    assert_eq!(check.compared, (KEYS / 100) as u64);
    assert_eq!(check.problem_count(), 0, "{check:?}");
    assert_eq!(cluster_calls("pttl"), (KEYS / 100) as u64, "one PTTL per compared key");
    let state = check.patterns.iter().find(|p| p.name == "job_state").unwrap();
    assert_eq!((state.source_keys, state.on_target), (JOBS as u64, JOBS as u64));

    // Three keys lost after the copy: found by looking in their slots, and only there.
    flush_cluster();
    let lost: Vec<String> = [3, 700, 1999]
        .iter()
        .map(|i| format!("job:state:{{{}}}", uuid(*i)))
        .collect();
    let deleted = lost.clone();
    let (_, check) = migrate_then(&source, &target, &sample, move || {
        for key in &deleted {
            assert_eq!(on_cluster(key, &["DEL", key]).as_int(), Some(1));
        }
    })
    .await;
    assert_eq!(check.missing, 3, "{check:?}");
    let mut examples = check.examples.clone();
    examples.sort();
    let mut expected: Vec<String> = [3, 700, 1999]
        .iter()
        .map(|i| format!("job:state:{}", uuid(*i)))
        .collect();
    expected.sort();
    assert_eq!(examples, expected);
    let lost_slots: Vec<u16> = lost.iter().map(|key| keyschema::key_slot(key.as_bytes())).collect();
    let in_lost_slots = target_names()
        .iter()
        .filter(|name| lost_slots.contains(&keyschema::key_slot(name.as_bytes())))
        .count();
    assert_eq!(check.checked, KEYS as u64);
    // Looked for: the keys of the three slots, and those compared (one in 100, wherever they are).
    let looked_for = KEYS as u64 - check.counted;
    assert!(
        (in_lost_slots as u64..=(in_lost_slots + KEYS / 100) as u64).contains(&looked_for),
        "{check:?}"
    );
    assert_eq!(cluster_calls("pttl"), looked_for, "one PTTL per key looked for");
    let state = check.patterns.iter().find(|p| p.name == "job_state").unwrap();
    assert_eq!(state.on_target, (JOBS - 3) as u64);

    // The blind spot, as documented: a key lost in a slot where another key appeared. Counting
    // misses it; looking for every key finds it.
    flush_cluster();
    let id = uuid(42);
    let (_, check) = migrate_then(&source, &target, &sample, move || {
        let lost = format!("job:state:{{{id}}}");
        assert_eq!(on_cluster(&lost, &["DEL", &lost]).as_int(), Some(1));
        let stranger = format!("stranger:{{{id}}}");
        on_cluster(&stranger, &["SET", &stranger, "1"]);
    })
    .await;
    assert_eq!(check.missing, 0, "{check:?}");
    let per_key = VerifyOptions {
        count_slots: false,
        ..VerifyOptions::default()
    };
    let check = ops::verify(&source, &target, &per_key).await.unwrap();
    assert_eq!((check.missing, check.counted), (1, 0), "{check:?}");
    assert_eq!(check.examples, [format!("job:state:{}", uuid(42))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_standalone_target_one_count_covers_all_keys() {
    let server = filled_source();
    let target_server = RedisServer::start();
    let source = store(&server.url(), "cordum.keys").await;
    let target = store(&target_server.url(), "cordum-cluster.keys").await;

    let (_, check) = migrate_then(&source, &target, &VerifyOptions::default(), || {}).await;
    assert_eq!((check.counted, check.missing), (KEYS as u64, 0), "{check:?}");

    // Two keys lost: the one count no longer adds up, so every key is looked for.
    target_server.connect().cmd(&["FLUSHALL"]).unwrap();
    let port = target_server.port();
    let (_, check) = migrate_then(&source, &target, &VerifyOptions::default(), move || {
        let mut target = keyschema_tests::Connection::connect(port).unwrap();
        for i in [5, 6] {
            let key = format!("job:events:{{{}}}", uuid(i));
            assert_eq!(target.cmd(&["DEL", &key]).unwrap().as_int(), Some(1));
        }
    })
    .await;
    assert_eq!(
        (check.checked, check.counted, check.missing),
        (KEYS as u64, 0, 2),
        "{check:?}"
    );
    // The source is only read.
    assert_eq!(server.connect().cmd(&["DBSIZE"]).unwrap().as_int(), Some(KEYS as i64));
}
