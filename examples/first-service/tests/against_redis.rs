//! The first service's own test, as a service writes one: throwaway Redis servers from
//! `keyschema-testing` (a standalone server, and a 3+3 cluster), the service's calls against each,
//! and what Redis then holds.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use first_service::app::AppStore;
use keyschema_testing::{RedisCluster, RedisServer, Reply};

#[tokio::test]
async fn the_service_works_on_a_throwaway_server_and_cluster() {
    let server = RedisServer::start();
    let report = first_service::run(&server.url()).await.unwrap();
    assert_eq!(report.failed_logins_allowed, 5);
    let ttl = server.connect().cmd(&["PTTL", &report.session_key]).unwrap();
    assert!(matches!(ttl, Reply::Int(ms) if ms > 1_790_000), "{ttl:?}");

    let cluster = RedisCluster::start();
    let store = AppStore::connect_cluster(&cluster.urls()).await.unwrap();
    let report = first_service::run_with(&store).await.unwrap();
    assert_eq!(report.failed_logins_allowed, 5);
    assert_eq!(report.session.unwrap().changes, 1);
    let shard = cluster
        .shards(0)
        .into_iter()
        .find(|shard| shard.serves(&report.session_key))
        .unwrap();
    let ttl = cluster.nodes()[shard.primary]
        .connect()
        .cmd(&["PTTL", &report.session_key])
        .unwrap();
    assert!(matches!(ttl, Reply::Int(ms) if ms > 1_790_000), "{ttl:?}");
}
