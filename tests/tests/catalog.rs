//! The catalog seed's operations through the generated store, on a standalone server and on a
//! cluster: asset lookup by id, search by type, owner and namespace through set intersection,
//! the time index, and lineage up and down to a depth.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_tests::generated::catalog::CatalogStore;
use keyschema_tests::{shared_cluster, shared_standalone};
use serde_json::json;
use std::collections::{BTreeSet, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

type Time = keyschema_store::chrono::DateTime<keyschema_store::chrono::Utc>;

/// Registers an asset the way the discovery job does: the asset, its indexes, its time.
async fn register(store: &CatalogStore, id: &str, kind: &str, owner: &str, modified: i64) {
    let namespace = id.rsplit_once('.').map_or(id, |(ns, _)| ns).to_string();
    store
        .catalog_assets()
        .set(&id.to_string(), &json!({"asset_id": id, "type": kind, "owner": owner}))
        .await
        .unwrap();
    store
        .catalog_index_by_type(kind)
        .unwrap()
        .add(&[id.to_string()])
        .await
        .unwrap();
    store
        .catalog_index_by_owner(owner)
        .unwrap()
        .add(&[id.to_string()])
        .await
        .unwrap();
    store
        .catalog_index_by_namespace(namespace)
        .unwrap()
        .add(&[id.to_string()])
        .await
        .unwrap();
    store
        .catalog_index_by_modified()
        .add(&[(id.to_string(), Time::from_timestamp(modified, 0).unwrap())])
        .await
        .unwrap();
}

async fn link(store: &CatalogStore, upstream: &str, downstream: &str) {
    store
        .catalog_lineage_downstream(upstream)
        .unwrap()
        .add(&[downstream.to_string()])
        .await
        .unwrap();
    store
        .catalog_lineage_upstream(downstream)
        .unwrap()
        .add(&[upstream.to_string()])
        .await
        .unwrap();
}

/// Assets reachable from `start` within `depth` steps (the seed's `/api/lineage/:id?depth=N`).
async fn lineage(store: &CatalogStore, start: &str, depth: usize, downstream: bool) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([(start.to_string(), 0)]);
    while let Some((id, level)) = queue.pop_front() {
        if level == depth {
            continue;
        }
        let next = if downstream {
            store.catalog_lineage_downstream(id).unwrap().members().await.unwrap()
        } else {
            store.catalog_lineage_upstream(id).unwrap().members().await.unwrap()
        };
        for id in next {
            if seen.insert(id.clone()) {
                queue.push_back((id, level + 1));
            }
        }
    }
    seen
}

async fn exercise(store: CatalogStore) {
    let run = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let ns = format!("run{run}.tasks");
    let (a, b, c, d) = (
        format!("{ns}.queue"),
        format!("{ns}.completed"),
        format!("{ns}.archive"),
        format!("{ns}.report"),
    );
    let kind = format!("schema{run}");
    register(&store, &a, &kind, "platform", 1_734_838_800).await;
    register(&store, &b, &kind, "platform", 1_734_838_900).await;
    register(&store, &c, &kind, "coordinator-master", 1_734_839_000).await;
    register(&store, &d, "prompt", "platform", 1_734_839_100).await;

    // Lookup by id.
    let asset = store.catalog_assets().get(&a).await.unwrap().unwrap();
    assert_eq!(asset["owner"], "platform");

    // Search: type ∩ owner ∩ namespace.
    let (by_type, by_owner, by_ns) = (
        store.catalog_index_by_type(kind.as_str()).unwrap(),
        store.catalog_index_by_owner("platform").unwrap(),
        store.catalog_index_by_namespace(ns.as_str()).unwrap(),
    );
    let found: BTreeSet<String> = store
        .store()
        .intersect(&[&by_type, &by_owner, &by_ns])
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(found, BTreeSet::from([a.clone(), b.clone()]));

    // The time index: assets modified in a window.
    let modified = store.catalog_index_by_modified();
    let window = modified
        .range_by_score(
            &Time::from_timestamp(1_734_838_850, 0).unwrap(),
            &Time::from_timestamp(1_734_839_050, 0).unwrap(),
        )
        .await
        .unwrap();
    let ids: BTreeSet<String> = window
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| id.starts_with(&ns))
        .collect();
    assert_eq!(ids, BTreeSet::from([b.clone(), c.clone()]));

    // Lineage a → b → c → d, up and down, to a depth.
    link(&store, &a, &b).await;
    link(&store, &b, &c).await;
    link(&store, &c, &d).await;
    assert_eq!(
        lineage(&store, &a, 2, true).await,
        BTreeSet::from([b.clone(), c.clone()])
    );
    assert_eq!(
        lineage(&store, &a, 3, true).await,
        BTreeSet::from([b.clone(), c.clone(), d.clone()])
    );
    assert_eq!(lineage(&store, &d, 1, false).await, BTreeSet::from([c.clone()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_operations_on_a_standalone_server() {
    exercise(CatalogStore::connect(&shared_standalone().url()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_operations_on_a_cluster() {
    exercise(CatalogStore::connect_cluster(&shared_cluster().urls()).await.unwrap()).await;
}
