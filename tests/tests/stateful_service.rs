//! The two-tier example (`examples/stateful-service`) against a real server: a partition
//! handover backs up exactly the revoked partitions' contexts, which another instance then
//! continues from; a real SIGTERM to this process runs the shutdown hook, which backs up every
//! context with its TTL.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_tests::{shared_standalone, Reply};
use stateful_service::metrics::{CtxContextKey, MetricsStore};
use stateful_service::{partition_of, terminated, Processor};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const INTERVAL: Duration = Duration::from_secs(60);

fn datasources(prefix: &str, n: usize) -> Vec<String> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    (0..n).map(|i| format!("{prefix}-{nanos}-{i}")).collect()
}

fn key(datasource: &str) -> String {
    CtxContextKey {
        datasource: datasource.to_string(),
    }
    .to_key()
    .unwrap()
}

/// The key's PTTL, checked to be the interval times the schema's `ttl_factor 3`.
fn assert_backed_up(redis: &mut keyschema_tests::Connection, datasource: &str) {
    let Reply::Int(pttl) = redis.cmd(&["PTTL", &key(datasource)]).unwrap() else {
        panic!("PTTL answers an integer");
    };
    assert!((170_000..=180_000).contains(&pttl), "{datasource}: PTTL {pttl}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_handover_moves_exactly_the_revoked_contexts_to_the_next_instance() {
    let server = shared_standalone();
    let store = MetricsStore::connect(&server.url()).await.unwrap();
    let (leaving, staying) = (Processor::new(&store), Processor::new(&store));
    let all = datasources("handover", 240);
    for round in 0..3 {
        for datasource in &all {
            leaving.process(datasource, f64::from(round), INTERVAL).await.unwrap();
        }
    }
    let revoked = [0, 1, 2, 3];
    let moving: Vec<&String> = all.iter().filter(|d| revoked.contains(&partition_of(d))).collect();
    assert!(!moving.is_empty() && moving.len() < all.len());

    let report = leaving.on_partitions_revoked(&revoked).await.unwrap();
    assert_eq!(report.entries, moving.len() as u64);
    assert_eq!(leaving.len(), all.len() - moving.len(), "the others stay in memory");
    let mut redis = server.connect();
    for datasource in &all {
        let expected = i64::from(revoked.contains(&partition_of(datasource)));
        assert_eq!(redis.cmd(&["EXISTS", &key(datasource)]).unwrap(), Reply::Int(expected));
    }
    assert_backed_up(&mut redis, moving[0]);

    // The next owner continues each moved context: the delta to the last value, the count of
    // points seen by either instance.
    for datasource in &moving {
        assert!(leaving.context(datasource).is_none());
        let delta = staying.process(datasource, 10.0, INTERVAL).await.unwrap();
        assert_eq!(delta, Some(8.0), "{datasource}: continued from the last value, 2");
        assert_eq!(staying.context(datasource).unwrap().points, 4);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_runs_the_shutdown_hook_and_every_context_is_backed_up() {
    let server = shared_standalone();
    let store = MetricsStore::connect(&server.url()).await.unwrap();
    let processor = Processor::new(&store);
    let all = datasources("sigterm", 500);
    for datasource in &all {
        processor.process(datasource, 1.0, INTERVAL).await.unwrap();
    }

    let stop = terminated().unwrap();
    // The handler is installed: SIGTERM no longer ends this process, it completes `stop`.
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    tokio::time::timeout(Duration::from_secs(5), stop)
        .await
        .expect("SIGTERM arrives");

    let report = processor.shutdown().await.unwrap();
    assert_eq!(report.entries, all.len() as u64);
    assert!(processor.is_empty());
    let mut redis = server.connect();
    for datasource in &all {
        assert_eq!(redis.cmd(&["EXISTS", &key(datasource)]).unwrap(), Reply::Int(1));
    }
    assert_backed_up(&mut redis, &all[0]);
    assert_backed_up(&mut redis, &all[499]);

    // A restarted instance continues where this one stopped.
    let restarted = Processor::new(&store);
    assert_eq!(restarted.process(&all[3], 4.0, INTERVAL).await.unwrap(), Some(3.0));
}
