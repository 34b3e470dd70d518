//! `Store::audit` against real servers: a Cordum keyspace written the way the services write it
//! (through the generated store), plus planted violations of every kind the audit reports; the
//! audit finds exactly what was planted, on a standalone server and on the cluster (every primary
//! scanned, found from one node).

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_store::ops::{self, AuditOptions, AuditReport, Problem};
use keyschema_store::uuid::Uuid;
use keyschema_store::{redis, ConnectionOptions, Store};
use keyschema_tests::generated::cordum::JobId;
use keyschema_tests::generated::cordum::{self, CordumStore};
use keyschema_tests::generated::JobState;
use keyschema_tests::{shared_cluster, shared_standalone};

const GOOD_JOBS: usize = 300;
const LOCKS: usize = 20;

/// What was planted, by kind.
const NO_TTL: usize = 7;
const WRONG_TYPE: usize = 4;
const TTL_TOO_LONG: usize = 3;
const TTL_WHERE_NONE: usize = 2;
const UNKNOWN: usize = 5;
const BAD_PARAM: usize = 6;

async fn raw(store: &Store, cmd: &mut redis::Cmd) {
    let _: redis::Value = cmd.query_async(&mut store.connection()).await.unwrap();
}

fn job_key(id: Uuid) -> String {
    format!("job:state:{id}")
}

/// Fills the keyspace and returns how many keys it holds.
async fn fill(store: &CordumStore) -> usize {
    let s = store.store();
    for i in 0..GOOD_JOBS {
        let job = store.job_state(JobId::Simple(Uuid::new_v4())).unwrap();
        job.set(&JobState {
            state: "RUNNING".into(),
            attempt: u32::try_from(i % 3).unwrap(),
        })
        .await
        .unwrap();
    }
    for _ in 0..LOCKS {
        // A held lock leaves its key and its fencing counter, each with its TTL.
        let lock = store.cordum_scheduler_job(JobId::Simple(Uuid::new_v4())).unwrap();
        let guard = lock.try_acquire().await.unwrap().unwrap();
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
    GOOD_JOBS + 2 * LOCKS + NO_TTL + WRONG_TYPE + TTL_TOO_LONG + TTL_WHERE_NONE + UNKNOWN + BAD_PARAM
}

fn problem(report: &AuditReport, name: &str, problem: Problem) -> u64 {
    let pattern = report.pattern(name).unwrap();
    pattern
        .problems
        .iter()
        .find(|p| p.problem == problem)
        .map_or(0, |p| p.count)
}

async fn audit_finds_what_was_planted(store: CordumStore, url: &str, primaries: usize) {
    let total = fill(&store).await;
    // One address: the audit finds the deployment, and on a cluster every primary.
    let connection = ops::connect(url, &ConnectionOptions::default()).await.unwrap();
    assert_eq!(connection.is_cluster(), primaries > 1);
    let auditor = Store::new(connection, cordum::schema().model_arc()).unwrap();
    let options = AuditOptions {
        scan_count: 100,
        ..AuditOptions::default()
    };
    let report = auditor.audit(&options).await.unwrap();

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
    let planted = NO_TTL + WRONG_TYPE + TTL_TOO_LONG + TTL_WHERE_NONE + UNKNOWN + BAD_PARAM;
    assert_eq!(report.problem_count(), planted as u64);

    // Unknown keys: grouped, never guessed into a pattern.
    assert_eq!(report.unknown_count(), (UNKNOWN + BAD_PARAM) as u64);
    let legacy = report
        .unknown
        .iter()
        .find(|u| u.prefix.as_deref() == Some("legacy"))
        .unwrap();
    assert_eq!((legacy.code, legacy.count), ("K001", UNKNOWN as u64));
    let bad = report
        .unknown
        .iter()
        .find(|u| u.nearest.as_deref() == Some("job_state"))
        .unwrap();
    assert_eq!((bad.code, bad.count), ("K002", BAD_PARAM as u64));
    assert!(bad.reason.contains("not a uuid"), "{}", bad.reason);
    assert_eq!(bad.examples.len(), options.examples);

    // Every key is counted on the node that holds it, and in its slot.
    assert_eq!(report.nodes.len(), primaries);
    assert_eq!(report.nodes.iter().map(|n| n.keys).sum::<u64>(), total as u64);
    assert!(report.hottest_slots.windows(2).all(|w| w[0].keys >= w[1].keys));
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
    audit_finds_what_was_planted(store, &cluster.urls()[0], 3).await;
}
