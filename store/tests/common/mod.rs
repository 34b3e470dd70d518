//! Helpers shared by the store's integration tests.

use keyschema_store::{RedisConnection, Store};
use keyschema_tests::{shared_cluster, shared_standalone};
use std::sync::Arc;

/// A store over `schema` on the shared standalone server, and one on the shared cluster: tests
/// that must hold on both run their body over this pair.
pub async fn standalone_and_cluster(schema: &Arc<keyschema::KeySchema>) -> [Store; 2] {
    [
        Store::new(
            RedisConnection::standalone(&shared_standalone().url()).await.unwrap(),
            Arc::clone(schema),
        )
        .unwrap(),
        Store::connect_cluster(&shared_cluster().urls(), Arc::clone(schema))
            .await
            .unwrap(),
    ]
}
