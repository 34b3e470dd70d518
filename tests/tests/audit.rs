//! `Store::audit` against real servers: a Cordum keyspace written the way the services write it
//! (through the generated store), plus planted violations of every kind the audit reports; the
//! audit finds exactly what was planted, on a standalone server and on the cluster (every primary
//! scanned, found from one node), and on a replica; `fix` sets the missing TTLs and removes the
//! dangling index members, and changes nothing unless asked; a sample stops early.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_store::ops::{self, AuditOptions, AuditReport, Problem};
use keyschema_store::uuid::Uuid;
use keyschema_store::{redis, ConnectionOptions, Store};
use keyschema_tests::generated::cordum::{self, CordumStore};
use keyschema_tests::generated::cordum::{JobId, State};
use keyschema_tests::generated::JobState;
use keyschema_tests::{shared_cluster, shared_standalone, RedisServer, ServerOptions};
use std::time::Duration;

const GOOD_JOBS: usize = 300;
const LOCKS: usize = 20;

/// What was planted, by kind.
const NO_TTL: usize = 7;
const WRONG_TYPE: usize = 4;
const TTL_TOO_LONG: usize = 3;
const TTL_WHERE_NONE: usize = 2;
const UNKNOWN: usize = 5;
const BAD_PARAM: usize = 6;
/// Members of each of the two indexes whose job is gone (one of them no job ID at all).
const DANGLING: usize = 4;

async fn raw(store: &Store, cmd: &mut redis::Cmd) {
    let _: redis::Value = cmd.query_async(&mut store.connection()).await.unwrap();
}

fn job_key(id: Uuid) -> String {
    format!("job:state:{id}")
}

/// Fills the keyspace and returns how many keys it holds.
async fn fill(store: &CordumStore) -> usize {
    let s = store.store();
    let active = store.job_tenant_active("acme").unwrap();
    let running = store.job_index(State::Running);
    let now = keyschema_store::chrono::Utc::now();
    for i in 0..GOOD_JOBS {
        let id = JobId::Simple(Uuid::new_v4());
        let job = store.job_state(id.clone()).unwrap();
        job.set(&JobState {
            state: "RUNNING".into(),
            attempt: u32::try_from(i % 3).unwrap(),
        })
        .await
        .unwrap();
        active.add(std::slice::from_ref(&id)).await.unwrap();
        running.add(&[(id, now)]).await.unwrap();
    }
    // Jobs that expired or were deleted without leaving their indexes.
    for _ in 0..DANGLING - 1 {
        let id = JobId::Simple(Uuid::new_v4());
        active.add(std::slice::from_ref(&id)).await.unwrap();
        running.add(&[(id, now)]).await.unwrap();
    }
    raw(s, redis::cmd("SADD").arg("job:tenant:active:acme").arg("not-a-job-id")).await;
    raw(
        s,
        redis::cmd("ZADD").arg("job:index:running").arg(1).arg("not-a-job-id"),
    )
    .await;
    for _ in 0..LOCKS {
        // A held lock that issued its fencing token leaves its key and the counter, each with its
        // TTL.
        let lock = store.cordum_scheduler_job(JobId::Simple(Uuid::new_v4())).unwrap();
        let guard = lock.try_acquire().await.unwrap().unwrap();
        guard.fence().await.unwrap();
        std::mem::forget(guard); // Held until its TTL: the audit sees both keys.
    }
    for _ in 0..NO_TTL {
        raw(s, redis::cmd("SET").arg(job_key(Uuid::new_v4())).arg("{}")).await;
    }
    for _ in 0..WRONG_TYPE {
        let key = job_key(Uuid::new_v4());
        raw(s, redis::cmd("RPUSH").arg(&key).arg("x")).await;
        raw(s, redis::cmd("PEXPIRE").arg(&key).arg(60_000)).await;
    }
    for _ in 0..TTL_TOO_LONG {
        // The schema's 7 days, plus an hour.
        raw(
            s,
            redis::cmd("SET")
                .arg(job_key(Uuid::new_v4()))
                .arg("{}")
                .arg("PX")
                .arg(608_400_000u64),
        )
        .await;
    }
    for i in 0..TTL_WHERE_NONE {
        raw(
            s,
            redis::cmd("SET")
                .arg(format!("wf:def:planted{i}"))
                .arg("{}")
                .arg("PX")
                .arg(60_000),
        )
        .await;
    }
    for i in 0..UNKNOWN {
        raw(s, redis::cmd("SET").arg(format!("legacy:thing:{i}")).arg("1")).await;
    }
    for i in 0..BAD_PARAM {
        raw(
            s,
            redis::cmd("SET")
                .arg(format!("job:state:not-a-uuid-{i}"))
                .arg("{}")
                .arg("PX")
                .arg(60_000),
        )
        .await;
    }
    GOOD_JOBS + 2 + 2 * LOCKS + NO_TTL + WRONG_TYPE + TTL_TOO_LONG + TTL_WHERE_NONE + UNKNOWN + BAD_PARAM
}

fn problem(report: &AuditReport, name: &str, problem: Problem) -> u64 {
    let pattern = report.pattern(name).unwrap();
    pattern
        .problems
        .iter()
        .find(|p| p.problem == problem)
        .map_or(0, |p| p.count)
}

async fn audit_finds_what_was_planted(store: CordumStore, url: &str, primaries: usize) -> AuditReport {
    let total = fill(&store).await;
    // One address: the audit finds the deployment, and on a cluster every primary.
    let connection = ops::connect(url, &ConnectionOptions::default()).await.unwrap();
    assert_eq!(connection.is_cluster(), primaries > 1);
    let auditor = Store::new(connection, cordum::schema().model_arc()).unwrap();
    let options = AuditOptions {
        scan_count: 100,
        ..AuditOptions::default()
    };
    let report = ops::audit(&auditor, &options).await.unwrap();

    assert_eq!(report.keys, total as u64);
    let job_state = report.pattern("job_state").unwrap();
    assert_eq!(job_state.keys, (GOOD_JOBS + NO_TTL + WRONG_TYPE + TTL_TOO_LONG) as u64);
    assert_eq!(problem(&report, "job_state", Problem::TtlMissing), NO_TTL as u64);
    assert_eq!(problem(&report, "job_state", Problem::WrongType), WRONG_TYPE as u64);
    assert_eq!(problem(&report, "job_state", Problem::TtlTooLong), TTL_TOO_LONG as u64);
    assert_eq!(
        problem(&report, "wf_def", Problem::TtlUnexpected),
        TTL_WHERE_NONE as u64
    );
    assert_eq!(report.pattern("cordum_scheduler_job").unwrap().keys, LOCKS as u64);
    assert_eq!(report.pattern("cordum_scheduler_job_fence").unwrap().keys, LOCKS as u64);
    // Nothing else has a problem: what the store wrote is what the schema says.
    let planted = NO_TTL + WRONG_TYPE + TTL_TOO_LONG + TTL_WHERE_NONE + UNKNOWN + BAD_PARAM + 2 * DANGLING;
    assert_eq!(report.problem_count(), planted as u64);

    // Index members: every one read, exactly the planted ones dangling.
    for name in ["job_tenant_active", "job_index"] {
        let index = report.pattern(name).unwrap().index.as_ref().unwrap();
        assert_eq!(index.of, "job_state");
        assert_eq!(index.unchecked, None);
        assert_eq!(
            (index.members, index.dangling),
            ((GOOD_JOBS + DANGLING) as u64, DANGLING as u64),
            "{name}"
        );
        let invalid = index.examples.iter().find(|d| d.member == "not-a-job-id").unwrap();
        assert_eq!(invalid.key, None, "a member that is no job ID names no key");
        assert!(index
            .examples
            .iter()
            .filter_map(|d| d.key.as_deref())
            .all(|key| key.starts_with("job:state:")));
    }
    assert_eq!(report.dangling_count(), 2 * DANGLING as u64);

    // Unknown keys: grouped, never guessed into a pattern.
    assert_eq!(report.unknown_count(), (UNKNOWN + BAD_PARAM) as u64);
    let legacy = report
        .unknown
        .iter()
        .find(|u| u.prefix.as_deref() == Some("legacy"))
        .unwrap();
    assert_eq!((legacy.code.as_str(), legacy.count), ("K001", UNKNOWN as u64));
    let bad = report
        .unknown
        .iter()
        .find(|u| u.nearest.as_deref() == Some("job_state"))
        .unwrap();
    assert_eq!((bad.code.as_str(), bad.count), ("K002", BAD_PARAM as u64));
    assert!(bad.reason.contains("not a uuid"), "{}", bad.reason);
    assert_eq!(bad.examples.len(), options.examples);

    // Every key is counted on the node that holds it, and in its slot.
    assert_eq!(report.nodes.len(), primaries);
    assert_eq!(report.nodes.iter().map(|n| n.keys).sum::<u64>(), total as u64);
    assert!(report.hottest_slots.windows(2).all(|w| w[0].keys >= w[1].keys));
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_finds_exactly_the_planted_violations_on_a_standalone_server() {
    let server = shared_standalone();
    let store = CordumStore::connect(&server.url()).await.unwrap();
    audit_finds_what_was_planted(store, &server.url(), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_finds_exactly_the_planted_violations_on_the_cluster() {
    let cluster = shared_cluster();
    let store = CordumStore::connect_cluster(&cluster.urls()).await.unwrap();
    let from_primaries = audit_finds_what_was_planted(store, &cluster.urls()[0], 3).await;

    // Then from the replicas, once they have every write: the same findings, and the primaries
    // serve none of it (no TYPE, PTTL, SCAN or SSCAN reaches them).
    let shards = cluster.shards(0);
    let nodes = cluster.nodes();
    for shard in &shards {
        let mut primary = nodes[shard.primary].connect();
        let synced = primary.cmd(&["WAIT", "1", "10000"]).unwrap().as_int().unwrap();
        assert_eq!(
            synced,
            1,
            "the replica of {} has every write",
            nodes[shard.primary].port()
        );
    }
    let read_commands = ["scan", "type", "pttl", "sscan", "zscan", "exists"];
    let calls = |node: usize| read_commands.map(|command| nodes[node].calls(command));
    let primaries_before: Vec<_> = shards.iter().map(|shard| calls(shard.primary)).collect();
    let connection = ops::connect(
        &cluster.urls()[0],
        &ConnectionOptions::default().read_from_replicas(true),
    )
    .await
    .unwrap();
    let auditor = Store::new(connection, cordum::schema().model_arc()).unwrap();
    let on_replicas = AuditOptions {
        scan_count: 100,
        replicas: true,
        ..AuditOptions::default()
    };
    let from_replicas = ops::audit(&auditor, &on_replicas).await.unwrap();
    assert_eq!(from_replicas.keys, from_primaries.keys);
    assert_eq!(from_replicas.problem_count(), from_primaries.problem_count());
    assert_eq!(from_replicas.dangling_count(), from_primaries.dangling_count());
    assert_eq!(from_replicas.unknown_count(), from_primaries.unknown_count());
    for (pattern, expected) in from_replicas.patterns.iter().zip(&from_primaries.patterns) {
        assert_eq!((&pattern.name, pattern.keys), (&expected.name, expected.keys));
    }
    let mut replica_names: Vec<String> = shards
        .iter()
        .map(|shard| format!("127.0.0.1:{}", nodes[shard.replicas[0]].port()))
        .collect();
    let mut scanned: Vec<String> = from_replicas.nodes.iter().map(|node| node.node.clone()).collect();
    replica_names.sort();
    scanned.sort();
    assert_eq!(scanned, replica_names, "one replica of each shard scanned");
    for (shard, before) in shards.iter().zip(primaries_before) {
        assert_eq!(calls(shard.primary), before, "primary {}", nodes[shard.primary].port());
    }
    // Every key's TTL, and the type of every key that matched a pattern, read on the replicas.
    let timed: u64 = shards.iter().map(|shard| nodes[shard.replicas[0]].calls("pttl")).sum();
    assert!(timed >= from_replicas.keys, "{timed} PTTL calls on the replicas");
    let typed: u64 = shards.iter().map(|shard| nodes[shard.replicas[0]].calls("type")).sum();
    let matched = from_replicas.keys - from_replicas.unknown_count();
    assert!(
        typed >= matched,
        "{typed} TYPE calls on the replicas, {matched} keys matched"
    );

    // Fixing needs the primaries: refused before anything is read.
    let fixing = AuditOptions {
        fix: true,
        ..on_replicas
    };
    assert!(matches!(
        ops::audit(&auditor, &fixing).await,
        Err(ops::OpsError::FixOnReplicas)
    ));
}

/// A fresh server filled like the others, with its auditor.
async fn filled_server() -> (RedisServer, Store, usize) {
    let server = RedisServer::start();
    let store = CordumStore::connect(&server.url()).await.unwrap();
    let total = fill(&store).await;
    let auditor = Store::new(
        ops::connect(&server.url(), &ConnectionOptions::default())
            .await
            .unwrap(),
        cordum::schema().model_arc(),
    )
    .unwrap();
    (server, auditor, total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_sets_missing_ttls_and_removes_dangling_members_only_when_asked() {
    let (server, auditor, total) = filled_server().await;
    let before = ops::audit(&auditor, &AuditOptions::default()).await.unwrap();
    assert_eq!(before.fixed, None);
    // The dry run changed nothing: a second audit finds the same.
    let again = ops::audit(&auditor, &AuditOptions::default()).await.unwrap();
    assert_eq!(again.problem_count(), before.problem_count());

    let fixing = AuditOptions {
        fix: true,
        ..AuditOptions::default()
    };
    let fixed = ops::audit(&auditor, &fixing).await.unwrap().fixed.unwrap();
    assert_eq!(fixed.ttls_set, NO_TTL as u64);
    assert_eq!(fixed.members_removed, 2 * DANGLING as u64);

    let after = ops::audit(&auditor, &AuditOptions::default()).await.unwrap();
    assert_eq!(after.keys, total as u64, "fixing removed no key");
    assert_eq!(problem(&after, "job_state", Problem::TtlMissing), 0);
    assert_eq!(after.dangling_count(), 0);
    assert_eq!(
        after.problem_count(),
        before.problem_count() - (NO_TTL + 2 * DANGLING) as u64
    );
    // The TTLs set are the declared 7 days, on the server's clock.
    let mut connection = server.connect();
    let mut longest = 0;
    for example in &problem_examples(&before, "job_state", Problem::TtlMissing) {
        let pttl = connection.cmd(&["PTTL", example]).unwrap().as_int().unwrap();
        assert!(pttl > 604_700_000 && pttl <= 604_800_000, "{example}: {pttl}");
        longest = longest.max(pttl);
    }
    assert!(longest > 0);
}

fn problem_examples(report: &AuditReport, name: &str, problem: Problem) -> Vec<String> {
    let pattern = report.pattern(name).unwrap();
    pattern
        .problems
        .iter()
        .find(|p| p.problem == problem)
        .map(|p| p.examples.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_gives_the_same_audit_and_a_sample_stops_early() {
    let (primary, auditor, total) = filled_server().await;
    let replica = RedisServer::start_with(ServerOptions::replica_of(primary.port()));
    replica.wait_replica_synced();
    let on_replica = Store::new(
        ops::connect(&replica.url(), &ConnectionOptions::default())
            .await
            .unwrap(),
        cordum::schema().model_arc(),
    )
    .unwrap();
    let from_primary = ops::audit(&auditor, &AuditOptions::default()).await.unwrap();
    let from_replica = ops::audit(&on_replica, &AuditOptions::default()).await.unwrap();
    assert_eq!(from_replica.keys, total as u64);
    assert_eq!(from_replica.problem_count(), from_primary.problem_count());
    assert_eq!(from_replica.dangling_count(), from_primary.dangling_count());

    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let progress = std::sync::Arc::clone(&seen);
    let sample = AuditOptions {
        scan_count: 50,
        sample: Some(100),
        progress: Some(std::sync::Arc::new(move |keys| {
            progress.store(keys, std::sync::atomic::Ordering::Relaxed);
        })),
        ..AuditOptions::default()
    };
    let sampled = ops::audit(&auditor, &sample).await.unwrap();
    assert!(sampled.sampled);
    // Whole pages: at least the sample, far from everything.
    assert!(sampled.keys >= 100 && sampled.keys < 200, "{}", sampled.keys);
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), sampled.keys);
    assert_eq!(ops::key_count(&auditor).await.unwrap(), total as u64);
}

/// An audit over `url` (standalone or cluster, found from the address) with small pages.
async fn audit_small_pages(url: &str) -> AuditReport {
    let connection = ops::connect(url, &ConnectionOptions::default()).await.unwrap();
    let auditor = Store::new(connection, cordum::schema().model_arc()).unwrap();
    let options = AuditOptions {
        scan_count: 10,
        ..AuditOptions::default()
    };
    ops::audit(&auditor, &options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_that_come_back_empty_are_audited_as_nothing() {
    // An empty server: its one page holds no key.
    let empty = RedisServer::start();
    let report = audit_small_pages(&empty.url()).await;
    assert_eq!((report.keys, report.problem_count()), (0, 0));
    let store = Store::connect(&empty.url(), cordum::schema().model_arc())
        .await
        .unwrap();
    assert_eq!(ops::key_count(&store).await.unwrap(), 0);

    // A server holding only keys that expired and were not reclaimed (active expiry stopped):
    // SCAN leaves expired keys out, so its pages come back empty while its cursor goes on.
    let expired = RedisServer::start_with(ServerOptions::debug());
    let mut redis = expired.connect();
    redis.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]).unwrap();
    for _ in 0..200 {
        let key = format!("job:state:{}", Uuid::new_v4());
        redis.cmd(&["SET", &key, "{}", "PX", "1"]).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(
        format!("{:?}", redis.cmd(&["DBSIZE"]).unwrap()),
        "Int(200)",
        "the expired keys are still counted, not reclaimed"
    );
    let report = audit_small_pages(&expired.url()).await;
    assert_eq!((report.keys, report.problem_count()), (0, 0));

    // A cluster whose keys all sit on one slot: two of its three shards are empty.
    let cluster = keyschema_tests::RedisCluster::start();
    let owner = cluster
        .shards(0)
        .into_iter()
        .find(|shard| shard.serves("{pinned}"))
        .unwrap();
    let mut redis = cluster.nodes()[owner.primary].connect();
    for i in 0..5 {
        redis.cmd(&["SET", &format!("{{pinned}}:legacy:{i}"), "1"]).unwrap();
    }
    let report = audit_small_pages(&cluster.urls()[0]).await;
    assert_eq!(report.keys, 5, "{report:?}");
    assert_eq!(report.unknown.iter().map(|group| group.count).sum::<u64>(), 5);
}

/// The wait of `--replicas` for a connected replica to be listed is bounded: with the replicas'
/// first sync held back 4 s and a wait of 1 s, the audit stops with `ReplicaNotListed` naming the
/// primary, within about that second, having scanned nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_for_an_unlisted_replica_is_bounded() {
    let mut cluster = keyschema_tests::RedisCluster::primaries_only(Duration::from_secs(4));
    cluster.add_replicas();
    let connection = keyschema_store::RedisConnection::cluster_with(
        &cluster.urls(),
        &ConnectionOptions::default().read_from_replicas(true),
    )
    .await
    .unwrap();
    let store = Store::new(connection, cordum::GENERATED.schema().unwrap().model_arc()).unwrap();
    let options = AuditOptions {
        replicas: true,
        replica_wait: Duration::from_secs(1),
        ..AuditOptions::default()
    };
    let started = std::time::Instant::now();
    let error = ops::audit(&store, &options).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&error, ops::OpsError::ReplicaNotListed { primary, waited } if primary.starts_with("127.0.0.1:") && *waited == Duration::from_secs(1)),
        "{error}"
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

/// The audit's cost per key: every key's `PTTL`, but `TYPE` only for keys that matched a pattern
/// (a key matching none is counted as unknown whatever its type), counted by the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_keys_that_match_a_pattern_have_their_type_read() {
    let server = RedisServer::start();
    let mut redis = server.connect();
    for i in 0..10 {
        let key = job_key(Uuid::from_u128(i + 1));
        redis
            .cmd(&["SET", &key, "{\"state\":\"RUNNING\"}", "EX", "600"])
            .unwrap();
    }
    for i in 0..5 {
        redis.cmd(&["SET", &format!("legacy:thing:{i}"), "x"]).unwrap();
    }
    let store = CordumStore::connect(&server.url()).await.unwrap();
    let (types, ttls) = (server.calls("type"), server.calls("pttl"));
    let report = ops::audit(store.store(), &AuditOptions::default()).await.unwrap();
    assert_eq!((report.keys, report.unknown_count()), (15, 5));
    assert_eq!(server.calls("type") - types, 10, "TYPE of the matched keys only");
    assert_eq!(server.calls("pttl") - ttls, 15, "PTTL of every key");
}

/// The Cordum schema, as `keyschema audit --previous` reads it.
fn cordum_schema() -> std::sync::Arc<keyschema::Schema> {
    let source = include_str!("../../schema/examples/cordum.keys");
    std::sync::Arc::new(keyschema::Schema::parse(source, "cordum.keys").unwrap())
}

/// Writes `keys` (key, optional TTL in seconds) through `store`'s connection (routed by slot on
/// a cluster).
async fn write_raw(store: &Store, keys: &[(String, Option<u64>)]) {
    let mut connection = store.connection();
    for (key, ttl) in keys {
        let mut set = redis::cmd("SET");
        set.arg(key).arg("{\"state\":\"RUNNING\"}");
        if let Some(ttl) = ttl {
            set.arg("EX").arg(ttl);
        }
        let _: () = set.query_async(&mut connection).await.unwrap();
    }
}

/// An audit during the move to the hash-tagged layout (`--previous cordum.keys`, auditing against
/// `cordum-cluster.keys`): keys still in the old layout are counted per old pattern with how long
/// they last, not as unknown; a new key whose old twin still exists is counted as a stale twin,
/// found on whichever node owns the twin's slot.
async fn rollout_progress(url_or_nodes: Result<String, Vec<String>>) {
    let (current, previous) = (keyschema_tests::generated::cordum_cluster::schema(), cordum_schema());
    let connection = match &url_or_nodes {
        Ok(url) => keyschema_store::RedisConnection::standalone(url).await.unwrap(),
        Err(nodes) => keyschema_store::RedisConnection::cluster(nodes).await.unwrap(),
    };
    let store = Store::new(connection, current.model_arc()).unwrap();
    let ids: Vec<Uuid> = (0..7).map(|_| Uuid::new_v4()).collect();
    let old = |id: &Uuid| format!("job:state:{id}");
    let new = |id: &Uuid| format!("job:state:{{{id}}}");
    // Three old keys with a TTL of at most an hour, one without: the rollout has not finished.
    let mut keys: Vec<(String, Option<u64>)> = ids[..3].iter().map(|id| (old(id), Some(3600))).collect();
    keys.push((old(&ids[3]), None));
    // Two keys already moved, and one moved whose old twin was left behind.
    keys.extend(ids[4..7].iter().map(|id| (new(id), Some(3600))));
    keys.push((old(&ids[6]), Some(60)));
    write_raw(&store, &keys).await;

    let options = AuditOptions {
        previous: Some(previous),
        indexes: false,
        ..AuditOptions::default()
    };
    let report = ops::audit(&store, &options).await.unwrap();
    let layout = report.previous.as_ref().unwrap();
    let job_state = layout.patterns.iter().find(|p| p.name == "job_state").unwrap();
    // Other tests' keys may share a server: count only what is ours.
    let ours = |examples: &[String]| {
        examples
            .iter()
            .filter(|e| ids.iter().any(|id| e.contains(&id.to_string())))
            .count()
    };
    assert!(job_state.keys >= 5, "{job_state:?}");
    assert!(job_state.without_ttl >= 1, "{job_state:?}");
    assert!(
        job_state.longest_ttl_ms.is_some_and(|ms| ms <= 3_600_000),
        "{job_state:?}"
    );
    assert!(ours(&job_state.examples) >= 1, "{job_state:?}");
    let twins = layout.twins.iter().find(|t| t.name == "job_state").unwrap();
    assert!(twins.examples.iter().any(|e| *e == new(&ids[6])), "{twins:?}");
    // None of the old-layout keys is unknown.
    assert!(
        report.unknown.iter().all(|group| ours(&group.examples) == 0),
        "{:?}",
        report.unknown
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_during_a_rollout_counts_the_old_layout_and_stale_twins() {
    let server = RedisServer::start();
    rollout_progress(Ok(server.url())).await;
    // Exactly, on a server of its own: 5 old keys (1 without TTL), 1 stale twin.
    let store = Store::new(
        keyschema_store::RedisConnection::standalone(&server.url())
            .await
            .unwrap(),
        keyschema_tests::generated::cordum_cluster::schema().model_arc(),
    )
    .unwrap();
    let options = AuditOptions {
        previous: Some(cordum_schema()),
        ..AuditOptions::default()
    };
    let report = ops::audit(&store, &options).await.unwrap();
    let layout = report.previous.as_ref().unwrap();
    assert_eq!((layout.old_keys(), layout.twin_count()), (5, 1));
    assert_eq!(report.unknown_count(), 0);
    // An empty server: nothing in either layout, the rollout is done.
    let empty = RedisServer::start();
    let store = Store::new(
        keyschema_store::RedisConnection::standalone(&empty.url())
            .await
            .unwrap(),
        keyschema_tests::generated::cordum_cluster::schema().model_arc(),
    )
    .unwrap();
    let report = ops::audit(&store, &options).await.unwrap();
    let layout = report.previous.as_ref().unwrap();
    assert_eq!((report.keys, layout.old_keys(), layout.twin_count()), (0, 0, 0));
    assert!(layout.patterns.is_empty() && layout.twins.is_empty(), "{layout:?}");
    // A cluster of its own: the planted-violations test counts every key of the shared one.
    let cluster = keyschema_tests::RedisCluster::start();
    rollout_progress(Err(cluster.urls())).await;
}
