//! The store core through a generated store (`schema/examples/state.keys`): the generation
//! contract checked at connect, LZ4-compressed values and a codec of the service's own read back
//! (and a corrupt value as a typed error naming the key), TTLs chosen per write within the
//! declared bound (PTTL checked on the server), and a TTL of zero refused at start-up.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_store::{redis, Error, KeyPolicies, KeyTtl, Store};
use keyschema_tests::generated::state::{CollectorStore, GENERATED};
use keyschema_tests::generated::{cordum, DatasourceContext};
use keyschema_tests::{shared_cluster, shared_standalone};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{nanos}")
}

fn context(points: usize) -> DatasourceContext {
    DatasourceContext {
        updated_ms: 1_700_000_000_000,
        prior: (0..points)
            .map(|i| (format!("datapoint.{i}"), i as f64 * 0.5))
            .collect(),
    }
}

async fn raw<T: redis::FromRedisValue>(store: &Store, cmd: &mut redis::Cmd) -> T {
    cmd.query_async(&mut store.connection()).await.unwrap()
}

fn within(ttl: KeyTtl, low: Duration, high: Duration) -> bool {
    matches!(ttl, KeyTtl::Expires(d) if d > low && d <= high)
}

async fn exercise(store: CollectorStore) {
    let datasource = unique("ds");
    // LZ4: the value reads back, and what the server holds is the compressed form.
    let state = store.ctx_state(datasource.clone()).unwrap();
    let value = context(200);
    state.set(&value).await.unwrap();
    assert_eq!(state.get().await.unwrap(), Some(value.clone()));
    let stored: Vec<u8> = raw(store.store(), redis::cmd("GET").arg(state.key())).await;
    let json = serde_json::to_vec(&value).unwrap();
    assert!(
        stored.len() * 2 < json.len(),
        "{} bytes stored for {} bytes of JSON",
        stored.len(),
        json.len()
    );
    // A write that chooses no TTL gets the bound (6h by default).
    let six_hours = Duration::from_secs(6 * 3600);
    assert!(within(
        state.ttl().await.unwrap(),
        six_hours - Duration::from_secs(5),
        six_hours
    ));

    // A TTL chosen per write (the datasource's collection interval times a factor).
    let chosen = store
        .ctx_state(datasource.clone())
        .unwrap()
        .with_ttl(Duration::from_secs(90))
        .unwrap();
    chosen.set(&value).await.unwrap();
    assert!(within(
        chosen.ttl().await.unwrap(),
        Duration::from_secs(85),
        Duration::from_secs(90)
    ));
    let version = store
        .ctx_version(datasource.clone())
        .unwrap()
        .with_ttl(Duration::from_secs(90))
        .unwrap();
    version.set(&7).await.unwrap();
    assert!(within(
        version.ttl().await.unwrap(),
        Duration::from_secs(85),
        Duration::from_secs(90)
    ));
    // Over the bound, or zero: refused before anything is sent.
    let over = store
        .ctx_state(datasource.clone())
        .unwrap()
        .with_ttl(Duration::from_secs(7 * 3600));
    assert!(matches!(over, Err(Error::TtlNotAllowed { .. })));
    let zero = store.ctx_state(datasource.clone()).unwrap().with_ttl(Duration::ZERO);
    assert!(matches!(zero, Err(Error::TtlNotAllowed { .. })));
    // A key with a declared TTL does not choose one.
    let fixed = store.ctx_partition_offset(3).with_ttl(Duration::from_secs(5));
    let error = fixed.err().unwrap().to_string();
    assert!(error.contains("declares its TTL"), "{error}");

    // A corrupt compressed value: a decode error naming the key and the codec.
    let _: () = raw(
        store.store(),
        redis::cmd("SET").arg(state.key()).arg(b"\xff\xff\xff\x7fgarbage"),
    )
    .await;
    match state.get().await {
        Err(Error::Decode { key, codec, reason }) => {
            assert_eq!(key, state.key());
            assert_eq!(codec, "lz4(json(DatasourceContext))");
            assert!(reason.contains("corrupt LZ4 value"), "{reason}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    // Valid LZ4 of something that is not the JSON type: the inner codec's error.
    let not_json = lz4_compress(b"not json!");
    let _: () = raw(store.store(), redis::cmd("SET").arg(state.key()).arg(not_json)).await;
    assert!(matches!(state.get().await, Err(Error::Decode { .. })));

    // The service's own codec: 8 big-endian bytes.
    let partition = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() % 1_000_000) as i64;
    let offset = store.ctx_partition_offset(partition);
    offset.set(&123_456_789).await.unwrap();
    assert_eq!(offset.get().await.unwrap(), Some(123_456_789));
    let stored: Vec<u8> = raw(store.store(), redis::cmd("GET").arg(offset.key())).await;
    assert_eq!(stored, 123_456_789u64.to_be_bytes());
    let _: () = raw(store.store(), redis::cmd("SET").arg(offset.key()).arg("short")).await;
    let error = offset.get().await.unwrap_err().to_string();
    assert!(
        error.contains(offset.key()) && error.contains("an offset is 8 bytes, not 5"),
        "{error}"
    );
}

/// LZ4 in the store's layout (4-byte little-endian length, then the block), made independently.
fn lz4_compress(plain: &[u8]) -> Vec<u8> {
    // Literal-only LZ4 block: a token with the literal count, then the literals.
    assert!(plain.len() < 15);
    let mut out = (plain.len() as u32).to_le_bytes().to_vec();
    out.push((plain.len() as u8) << 4);
    out.extend_from_slice(plain);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_values_service_codecs_and_chosen_ttls_on_a_standalone_server() {
    exercise(CollectorStore::connect(&shared_standalone().url()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_values_service_codecs_and_chosen_ttls_on_a_cluster() {
    exercise(CollectorStore::connect_cluster(&shared_cluster().urls()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_write_without_enough_replicas_is_reported_and_kept_on_the_primary() {
    // The shared standalone server has no replica: WAIT 1 answers 0 after its timeout.
    let store = CollectorStore::connect(&shared_standalone().url())
        .await
        .unwrap()
        .durable(1, Duration::from_millis(50));
    let state = store.ctx_version(unique("durable")).unwrap();
    match state.set(&3).await {
        Err(Error::NotDurable {
            acknowledged, wanted, ..
        }) => assert_eq!((acknowledged, wanted), (0, 1)),
        other => panic!("expected NotDurable, got {other:?}"),
    }
    assert_eq!(state.get().await.unwrap(), Some(3), "the write is on the primary");
    // A transaction (a script) waits the same way.
    let mut tx = store.store().transaction();
    tx.set(&state, &4).unwrap();
    assert!(matches!(tx.execute().await, Err(Error::NotDurable { .. })));
    assert_eq!(state.get().await.unwrap(), Some(4));
}

#[test]
fn the_generated_contract_builds_the_model_without_parsing_and_matches_this_runtime() {
    let schema = GENERATED.schema().unwrap();
    assert_eq!(schema.model().keyspace, "collector");
    assert_eq!(
        keyschema::model_fingerprint(schema.model(), keyschema::CONTRACT_TAG),
        GENERATED.fingerprint()
    );
    // The ambiguities the checker found ride along, so lint notes still name them.
    let cordum = cordum::GENERATED.schema().unwrap();
    assert!(!cordum.ambiguities().is_empty());
    let parsed = keyschema::Schema::parse(keyschema::examples::CORDUM, "cordum.keys").unwrap();
    assert_eq!(cordum.ambiguities(), parsed.ambiguities());
    // The model built from constructors is the parsed one, but for declaration positions.
    assert_eq!(
        serde_json::to_string(cordum.model()).unwrap(),
        serde_json::to_string(parsed.model()).unwrap()
    );
    // And it matches keys as the parsed schema does, ambiguity notes included.
    let key = "wf:runs:all";
    assert_eq!(cordum.lint(key), parsed.lint(key));
}

#[test]
fn a_zero_ttl_from_the_environment_is_refused_at_start_up() {
    let schema = GENERATED.schema().unwrap().model_arc();
    let error = KeyPolicies::from_lookup(&schema, |var| (var == "CONTEXT_MAX_TTL_SECONDS").then(|| "0".into()))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("CONTEXT_MAX_TTL_SECONDS") && error.contains("TTL of zero"),
        "{error}"
    );
    let cordum = cordum::GENERATED.schema().unwrap().model_arc();
    let error =
        KeyPolicies::from_lookup(&cordum, |var| (var == "JOB_META_TTL_SECONDS").then(|| "0".into())).unwrap_err();
    assert!(matches!(error, Error::Ttl { .. }), "{error}");
    let policies =
        KeyPolicies::from_lookup(&schema, |var| (var == "CONTEXT_MAX_TTL_SECONDS").then(|| "60".into())).unwrap();
    assert_eq!(
        policies.ttl(keyschema_tests::generated::state::CtxStateKey::ID),
        Some(Duration::from_secs(60))
    );
}

/// A batch over keys of many slots: written with `send` (no replies kept), read back with
/// `execute`, each key with its TTL; on a cluster the batch is one pipeline per slot.
async fn batch_across_slots(store: CollectorStore) {
    use keyschema_tests::generated::state::CtxVersionKey;
    const KEYS: i64 = 500;
    let run = unique("batch");
    let keys: Vec<String> = (0..KEYS)
        .map(|i| store.ctx_version(format!("{run}.{i}")).unwrap().key().to_string())
        .collect();
    let mut writes = store.store().batch();
    for (i, key) in (0..).zip(&keys) {
        let version = keyschema_store::StringKey::<keyschema_store::Int>::new(
            store.store().core(),
            CtxVersionKey::ID,
            key.clone(),
        );
        writes.set(&version, &i).unwrap();
    }
    writes.send().await.unwrap();

    let mut reads = store.store().batch();
    let tickets: Vec<_> = keys.iter().map(|key| reads.get::<keyschema_store::Int>(key)).collect();
    let replies = reads.execute().await.unwrap();
    for (i, ticket) in (0..).zip(&tickets) {
        assert_eq!(replies.get(ticket).unwrap(), Some(i));
    }
    // The group's `per_write(max = 6h)`: a write that chooses no TTL gets the bound.
    let six_hours = Duration::from_secs(6 * 3600);
    for key in [&keys[0], &keys[250], &keys[499]] {
        let ttl = store.store().ttl(key).await.unwrap();
        assert!(
            within(ttl, six_hours - Duration::from_secs(5), six_hours),
            "{key}: {ttl:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_written_without_replies_reads_back_on_a_standalone_server_and_a_cluster() {
    batch_across_slots(CollectorStore::connect(&shared_standalone().url()).await.unwrap()).await;
    batch_across_slots(CollectorStore::connect_cluster(&shared_cluster().urls()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_store_matches_scanned_keys_with_its_modules_compiled_schema() {
    // Invalidation matches every key it scans; a store from the generated module uses the
    // module's compiled schema (one matcher per process) to do so.
    let store = CollectorStore::connect(&shared_standalone().url()).await.unwrap();
    let datasource = unique("inv");
    store.ctx_version(datasource.clone()).unwrap().set(&1).await.unwrap();
    store
        .ctx_version(format!("{datasource}-other"))
        .unwrap()
        .set(&2)
        .await
        .unwrap();
    let id = keyschema_tests::generated::state::CtxVersionKey::ID;
    let removed = store
        .store()
        .invalidate(id, &[("datasource", datasource.as_str())])
        .await
        .unwrap();
    assert_eq!(removed, 1, "only the selected datasource's key");
    assert_eq!(
        store.ctx_version(datasource.clone()).unwrap().get().await.unwrap(),
        None
    );
    assert_eq!(
        store
            .ctx_version(format!("{datasource}-other"))
            .unwrap()
            .get()
            .await
            .unwrap(),
        Some(2)
    );
}
