//! The stores generated from the example schemas, against real servers: every key of the Cordum
//! inventory written and read back through its typed accessor, with the TTL on the server
//! checked against the policy, on a standalone server and on a cluster; key types that format
//! and parse themselves; an environment override of a TTL.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema_store::{
    BreakerState, Claim, Codec, HashKey, HashRecord, IdempotencyKey, KeyPolicies, KeyTtl, Lease, ListKey, Lock,
    RateLimit, Score, SetKey, StringKey, ZsetKey,
};
use keyschema_tests::generated::{catalog, cordum, cordum_cluster, JobEvent, JobState, Labels};
use keyschema_tests::{shared_cluster, shared_standalone};
use serde_json::json;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type Uuid = keyschema_store::uuid::Uuid;
type Time = keyschema_store::chrono::DateTime<keyschema_store::chrono::Utc>;

fn uuid() -> Uuid {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    Uuid::from_u64_pair(
        nanos ^ u64::from(std::process::id()),
        COUNTER.fetch_add(1, Ordering::Relaxed),
    )
}

fn word() -> String {
    format!("t{}", uuid().simple())
}

/// Now, to the second (time indexes with a TTL trim what is older than it).
fn now() -> Time {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    Time::from_timestamp(seconds, 0).unwrap()
}

/// PTTL on the server agrees with the resolved policy (within the test's own run time).
async fn assert_ttl(store: &keyschema_store::Store, key: &str, def: keyschema_store::KeyId) {
    let actual = store.ttl(key).await.unwrap();
    match store.ttl_of(def) {
        None => assert_eq!(actual, KeyTtl::Persistent, "{key} must not expire"),
        Some(expected) => assert!(
            matches!(actual, KeyTtl::Expires(left) if left <= expected && left + Duration::from_secs(10) > expected),
            "{key}: PTTL {actual:?}, policy {expected:?}"
        ),
    }
}

async fn string<C: Codec>(
    store: &keyschema_store::Store,
    def: keyschema_store::KeyId,
    access: StringKey<'_, C>,
    value: C::Value,
) where
    C::Value: PartialEq + Debug,
{
    access.set(&value).await.unwrap();
    assert_eq!(access.get().await.unwrap().as_ref(), Some(&value), "{}", access.key());
    assert_ttl(store, access.key(), def).await;
    assert!(access.delete().await.unwrap());
}

async fn set<C: Codec>(
    store: &keyschema_store::Store,
    def: keyschema_store::KeyId,
    access: SetKey<'_, C>,
    member: C::Value,
) where
    C::Value: PartialEq + Debug,
{
    assert_eq!(access.add(std::slice::from_ref(&member)).await.unwrap(), 1);
    assert!(access.contains(&member).await.unwrap());
    assert_eq!(access.members().await.unwrap(), vec![member]);
    assert_ttl(store, access.key(), def).await;
    access.delete().await.unwrap();
}

async fn zset<C: Codec, S: Score + PartialEq + Debug + Clone>(
    store: &keyschema_store::Store,
    def: keyschema_store::KeyId,
    access: ZsetKey<'_, C, S>,
    member: C::Value,
    score: S,
) where
    C::Value: PartialEq + Debug + Clone,
{
    access.add(&[(member.clone(), score.clone())]).await.unwrap();
    // Other tests may index other members at the same second: look for ours.
    let read = access.range_by_score(&score, &score).await.unwrap();
    assert!(
        read.iter().any(|(m, s)| *m == member && *s == score),
        "{}: {read:?}",
        access.key()
    );
    assert_ttl(store, access.key(), def).await;
    access.remove(&[member]).await.unwrap();
}

async fn list<C: Codec>(
    store: &keyschema_store::Store,
    def: keyschema_store::KeyId,
    access: ListKey<'_, C>,
    value: C::Value,
) where
    C::Value: PartialEq + Debug + Clone,
{
    access.push(&[value.clone(), value.clone()]).await.unwrap();
    assert_eq!(access.range(0, -1).await.unwrap(), vec![value.clone(), value]);
    assert_ttl(store, access.key(), def).await;
    access.delete().await.unwrap();
}

async fn record<R: HashRecord + PartialEq + Debug>(
    store: &keyschema_store::Store,
    def: keyschema_store::KeyId,
    access: HashKey<'_, R>,
    value: R,
) {
    access.set(&value).await.unwrap();
    assert_eq!(access.get().await.unwrap(), Some(value));
    assert_ttl(store, access.key(), def).await;
    access.delete().await.unwrap();
}

async fn idempotency<C: Codec>(
    store: &keyschema_store::Store,
    def: keyschema_store::KeyId,
    access: IdempotencyKey<'_, C>,
    value: C::Value,
) where
    C::Value: PartialEq + Debug,
{
    assert_eq!(access.claim(&value).await.unwrap(), Claim::First);
    assert_eq!(access.claim(&value).await.unwrap(), Claim::Duplicate(value));
    assert_ttl(store, access.key(), def).await;
    access.delete().await.unwrap();
}

/// A lock of the schema: taken once, refused while held, its TTL and fence counter on the server.
async fn lock(store: &keyschema_store::Store, def: keyschema_store::KeyId, lock: Lock<'_>) {
    let guard = lock.try_acquire().await.unwrap().expect("a free lock is taken");
    assert!(lock.try_acquire().await.unwrap().is_none(), "{} is held", lock.key());
    assert_ttl(store, lock.key(), def).await;
    let counter: Option<u64> = store
        .get::<keyschema_store::Int>(guard.fence().await.unwrap().counter_key())
        .await
        .unwrap()
        .map(|n| n as u64);
    assert_eq!(counter, Some(guard.fence().await.unwrap().token()));
    assert!(guard.release().await.unwrap());
    assert!(lock
        .try_acquire()
        .await
        .unwrap()
        .expect("released")
        .release()
        .await
        .unwrap());
}

async fn lease(store: &keyschema_store::Store, def: keyschema_store::KeyId, lease: Lease<'_>) {
    let held = lease.try_acquire().await.unwrap().expect("a free lease is taken");
    assert!(lease.try_acquire().await.unwrap().is_none());
    assert_ttl(store, lease.key(), def).await;
    assert!(held.step_down().await.unwrap());
}

async fn rate_limit(store: &keyschema_store::Store, def: keyschema_store::KeyId, limit: RateLimit<'_>) {
    let decision = limit.hit().await.unwrap();
    assert!(decision.allowed);
    assert_eq!(decision.remaining, limit.limit() - 1);
    let key = limit.current_key().unwrap();
    // The window of a per-second key may have turned; its TTL is checked when it still exists.
    if store.ttl(&key).await.unwrap() != KeyTtl::Missing {
        assert_ttl(store, &key, def).await;
    }
    limit.reset().await.unwrap();
}

/// Every key of a generated Cordum store (both variants have the same accessors).
macro_rules! every_cordum_key {
    ($m:ident, $s:expr) => {{
        use $m::*;
        let s = &$s;
        let st = s.store();
        let job = JobId::Simple(uuid());
        let step = JobId::Layout1 { run_id: uuid(), step_id: "build".into(), attempt: 2 };
        let (run, user_id) = (uuid(), uuid());
        let json = json!({"any": "document"});
        string(st, JobStateKey::ID, s.job_state(job.clone()).unwrap(), JobState { state: "RUNNING".into(), attempt: 1 }).await;
        string(st, JobStateKey::ID, s.job_state(step.clone()).unwrap(), JobState { state: "PENDING".into(), attempt: 2 }).await;
        let labels: Labels = [("team".to_string(), "core".to_string())].into();
        record(st, JobMetaKey::ID, s.job_meta(job.clone()).unwrap(), JobMetaRecord { tenant: Some("acme".into()), principal: Some("bob".into()), topic: None, labels: Some(labels) }).await;
        string(st, JobReqKey::ID, s.job_req(job.clone()).unwrap(), json.clone()).await;
        string(st, JobResultPtrKey::ID, s.job_result_ptr(job.clone()).unwrap(), "mem://1".to_string()).await;
        list(st, JobEventsKey::ID, s.job_events(step.clone()).unwrap(), JobEvent { seq: 1 }).await;
        list(st, JobDecisionsKey::ID, s.job_decisions(job.clone()).unwrap(), json.clone()).await;
        string(st, JobOutputDecisionKey::ID, s.job_output_decision(job.clone()).unwrap(), json.clone()).await;
        idempotency(st, JobIdempotencyKey::ID, s.job_idempotency("tenant:a", word()).unwrap(), keyschema_store::__generated::KeyParam::to_text(&job)).await;
        idempotency(st, JobIdempotencyUntenantedKey::ID, s.job_idempotency_untenanted(word()).unwrap(), "x".to_string()).await;
        zset(st, JobRecentKey::ID, s.job_recent(), job.clone(), now()).await;
        zset(st, JobDeadlineKey::ID, s.job_deadline(), step.clone(), now()).await;
        zset(st, JobIndexKey::ID, s.job_index(State::Running), job.clone(), now()).await;
        set(st, JobTenantActiveKey::ID, s.job_tenant_active(word()).unwrap(), step.clone()).await;
        set(st, TraceKey::ID, s.trace(word()).unwrap(), job.clone()).await;
        let workflow = format!("wf {{{}}}", word());
        string(st, WfDefKey::ID, s.wf_def(workflow.clone()).unwrap(), json.clone()).await;
        zset(st, WfIndexOrgKey::ID, s.wf_index_org(word()).unwrap(), workflow.clone(), now()).await;
        zset(st, WfIndexAllKey::ID, s.wf_index_all(), word(), now()).await;
        string(st, WfRunKey::ID, s.wf_run(run), json.clone()).await;
        zset(st, WfRunsKey::ID, s.wf_runs(workflow.clone()).unwrap(), run, now()).await;
        zset(st, WfRunsAllKey::ID, s.wf_runs_all(), uuid(), now()).await;
        zset(st, WfRunsStatusKey::ID, s.wf_runs_status(Status::TimedOut), run, now()).await;
        set(st, WfRunsActiveKey::ID, s.wf_runs_active(word()).unwrap(), run).await;
        list(st, WfRunTimelineKey::ID, s.wf_run_timeline(run), json.clone()).await;
        idempotency(st, WfRunIdempotencyKey::ID, s.wf_run_idempotency(word()).unwrap(), run.to_string()).await;
        string(st, CfgSystemKey::ID, s.cfg_system(word()).unwrap(), json.clone()).await;
        string(st, CfgOrgKey::ID, s.cfg_org(word()).unwrap(), json.clone()).await;
        string(st, CfgTeamKey::ID, s.cfg_team(word()).unwrap(), json.clone()).await;
        string(st, CfgWorkflowKey::ID, s.cfg_workflow(workflow.clone()).unwrap(), json.clone()).await;
        string(st, CfgStepKey::ID, s.cfg_step(word()).unwrap(), json.clone()).await;
        let key_id = word();
        string(st, AuthKey::ID, s.auth(key_id.clone()).unwrap(), json.clone()).await;
        set(st, AuthPrefixKey::ID, s.auth_prefix("ck_12345678").unwrap(), key_id.clone()).await;
        set(st, AuthTenantKey::ID, s.auth_tenant(word()).unwrap(), key_id.clone()).await;
        rate_limit(st, LoginFailedKey::ID, s.login_failed(word(), "2001:db8::1".parse().unwrap()).unwrap()).await;
        rate_limit(st, LoginFailedGlobalKey::ID, s.login_failed_global(word()).unwrap()).await;
        string(st, UserKey::ID, s.user(word(), "bob:smith").unwrap(), json.clone()).await;
        string(st, UserIdKey::ID, s.user_id(user_id), "acme:bob".to_string()).await;
        string(st, UserEmailKey::ID, s.user_email(word(), "bob@example.com").unwrap(), "bob".to_string()).await;
        set(st, UserTenantKey::ID, s.user_tenant(word()).unwrap(), user_id).await;
        string(st, SessionKey::ID, s.session(word()).unwrap(), json.clone()).await;
        string(st, CtxKey::ID, s.ctx(job.clone()).unwrap(), vec![0u8, 159, 146, 150]).await;
        string(st, ResKey::ID, s.res(step.clone()).unwrap(), b"result".to_vec()).await;
        string(st, DlqEntryKey::ID, s.dlq_entry(job.clone()).unwrap(), json.clone()).await;
        zset(st, DlqIndexKey::ID, s.dlq_index(), job.clone(), now()).await;
        lock(st, CordumSchedulerJobKey::ID, s.cordum_scheduler_job(job.clone()).unwrap()).await;
        lease(st, CordumReconcilerDefaultKey::ID, s.cordum_reconciler_default()).await;
        lock(st, CordumWfRunLockKey::ID, s.cordum_wf_run_lock(run)).await;
        lease(st, CordumWorkflowEngineReconcilerDefaultKey::ID, s.cordum_workflow_engine_reconciler_default()).await;
        lock(st, CordumSchedulerSnapshotWriterKey::ID, s.cordum_scheduler_snapshot_writer()).await;
        lock(st, CordumDlqCleanupKey::ID, s.cordum_dlq_cleanup()).await;
        let timers = s.cordum_wf_delay_timers();
        timers.schedule(&run, &now()).await.unwrap();
        assert!(timers.cancel(&run).await.unwrap());
        rate_limit(st, CordumRlKey::ID, s.cordum_rl(word())).await;
        assert_eq!(s.cordum_cb_safety_failures().status().await.state, BreakerState::Closed);
        assert_eq!(s.cordum_cb_safety_output_failures().status().await.state, BreakerState::Closed);
        string(st, SysWorkersSnapshotKey::ID, s.sys_workers_snapshot(), json).await;
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cordum_key_on_a_standalone_server() {
    let store = cordum::CordumStore::connect(&shared_standalone().url()).await.unwrap();
    every_cordum_key!(cordum, store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cordum_key_on_a_cluster_in_both_layouts() {
    let store = cordum::CordumStore::connect_cluster(&shared_cluster().urls())
        .await
        .unwrap();
    every_cordum_key!(cordum, store);
    let tagged = cordum_cluster::CordumStore::connect_cluster(&shared_cluster().urls())
        .await
        .unwrap();
    every_cordum_key!(cordum_cluster, tagged);
}

#[test]
fn key_types_format_and_parse_themselves() {
    use cordum::*;
    let id = Uuid::parse_str("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap();
    let simple = JobStateKey {
        job_id: JobId::Simple(id),
    };
    assert_eq!(
        simple.to_key().unwrap(),
        "job:state:0f8fad5b-d9cb-469f-a165-70867728950e"
    );
    assert_eq!(JobStateKey::parse(&simple.to_key().unwrap()).unwrap(), simple);
    let step = JobEventsKey {
        job_id: JobId::Layout1 {
            run_id: id,
            step_id: "build".into(),
            attempt: 2,
        },
    };
    assert_eq!(
        step.to_key().unwrap(),
        "job:events:0f8fad5b-d9cb-469f-a165-70867728950e:build@2"
    );
    assert_eq!(JobEventsKey::parse(&step.to_key().unwrap()).unwrap(), step);
    let index = JobIndexKey { state: State::Running };
    assert_eq!(index.to_key(), "job:index:running");
    assert_eq!(JobIndexKey::parse("job:index:running").unwrap(), index);
    let hostile = JobIdempotencyKey {
        tenant: "a:b".into(),
        key: "c{d}".into(),
    };
    assert_eq!(hostile.to_key().unwrap(), "job:idempotency:a%3Ab:c%7Bd%7D");
    assert_eq!(JobIdempotencyKey::parse(&hostile.to_key().unwrap()).unwrap(), hostile);
    assert!(matches!(
        JobStateKey::parse("job:meta:0f8fad5b-d9cb-469f-a165-70867728950e"),
        Err(keyschema_store::KeyParseError::OtherPattern { .. })
    ));
    assert!(JobStateKey::parse("job:state:nope").is_err());
    assert!(
        JobIdempotencyKey {
            tenant: String::new(),
            key: "k".into()
        }
        .to_key()
        .is_err(),
        "empty values are refused"
    );
    // The cluster layout tags each job's keys: one slot for all of them.
    let tagged = cordum_cluster::JobStateKey {
        job_id: cordum_cluster::JobId::Simple(id),
    }
    .to_key()
    .unwrap();
    assert_eq!(tagged, "job:state:{0f8fad5b-d9cb-469f-a165-70867728950e}");
    let meta = cordum_cluster::JobMetaKey {
        job_id: cordum_cluster::JobId::Simple(id),
    }
    .to_key()
    .unwrap();
    assert_eq!(
        keyschema::key_slot(tagged.as_bytes()),
        keyschema::key_slot(meta.as_bytes())
    );
    assert_eq!(
        catalog::CatalogIndexByTypeKey {
            asset_type: "schema".into()
        }
        .to_key()
        .unwrap(),
        "catalog:index:by_type:schema"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_override_reaches_the_server() {
    let schema = cordum::schema().model_arc();
    let ttls = KeyPolicies::from_lookup(&schema, |var| {
        (var == "JOB_META_TTL_SECONDS").then(|| "120".to_string())
    })
    .unwrap();
    let connection = keyschema_store::RedisConnection::standalone(&shared_standalone().url())
        .await
        .unwrap();
    let store =
        cordum::CordumStore::from_store(keyschema_store::Store::with_policies(connection, schema, ttls)).unwrap();
    let access = store.job_state(cordum::JobId::Simple(uuid())).unwrap();
    access
        .set(&JobState {
            state: "RUNNING".into(),
            attempt: 1,
        })
        .await
        .unwrap();
    assert!(
        matches!(access.ttl().await.unwrap(), KeyTtl::Expires(left) if left <= Duration::from_secs(120) && left > Duration::from_secs(110))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_refuses_a_store_of_another_schema() {
    // Its accessors would format keys by one schema and apply another's TTLs and types.
    let connection = keyschema_store::RedisConnection::standalone(&shared_standalone().url())
        .await
        .unwrap();
    let other = keyschema_store::Store::new(connection, catalog::schema().model_arc()).unwrap();
    let Err(error) = cordum::CordumStore::from_store(other) else {
        panic!("the cordum module adopted the catalog's store");
    };
    let message = error.to_string();
    assert!(matches!(error, keyschema_store::Error::Contract { .. }), "{message}");
    assert!(
        message.contains("keyspace `catalog`") || message.contains("is not this module's"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_group_transactions_write_a_job_atomically_on_a_cluster() {
    use cordum_cluster::*;
    let store = CordumStore::connect_cluster(&shared_cluster().urls()).await.unwrap();
    let job = JobId::Simple(uuid());
    let state = JobState {
        state: "RUNNING".into(),
        attempt: 1,
    };
    let mut tx = store.job_id_transaction(job.clone());
    tx.set_job_state(&state).unwrap();
    tx.set_job_meta(&JobMetaRecord {
        tenant: Some("acme".into()),
        ..JobMetaRecord::default()
    })
    .unwrap();
    tx.push_job_events(&[JobEvent { seq: 1 }, JobEvent { seq: 2 }]).unwrap();
    tx.set_ctx(&b"context".to_vec()).unwrap();
    tx.execute().await.unwrap();
    assert_eq!(store.job_state(job.clone()).unwrap().get().await.unwrap(), Some(state));
    assert_eq!(
        store
            .job_meta(job.clone())
            .unwrap()
            .get()
            .await
            .unwrap()
            .unwrap()
            .tenant
            .as_deref(),
        Some("acme")
    );
    assert_eq!(store.job_events(job.clone()).unwrap().len().await.unwrap(), 2);
    assert_eq!(
        store.ctx(job.clone()).unwrap().get().await.unwrap(),
        Some(b"context".to_vec())
    );
    let st = store.store();
    assert_ttl(
        st,
        &JobEventsKey { job_id: job.clone() }.to_key().unwrap(),
        JobEventsKey::ID,
    )
    .await;
    assert_ttl(
        st,
        &JobStateKey { job_id: job.clone() }.to_key().unwrap(),
        JobStateKey::ID,
    )
    .await;

    let run = uuid();
    let mut tx = store.run_id_transaction(run);
    tx.set_wf_run(&json!({"status": "running"}))
        .unwrap()
        .push_wf_run_timeline(&[json!({"step": 1})])
        .unwrap();
    tx.execute().await.unwrap();
    assert_eq!(store.wf_run_timeline(run).len().await.unwrap(), 1);

    // A hand-built transaction over two slot groups is refused before anything is sent.
    let first = WfRunKey { run_id: uuid() }.to_key();
    let other = std::iter::repeat_with(|| WfRunKey { run_id: uuid() }.to_key())
        .find(|k| keyschema::key_slot(k.as_bytes()) != keyschema::key_slot(first.as_bytes()))
        .unwrap();
    let mut mixed = st.transaction();
    mixed.delete(&first).unwrap();
    let error = mixed.delete(&other);
    assert!(matches!(error, Err(keyschema_store::Error::CrossSlot { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_change_moves_the_job_between_index_keys() {
    use cordum::*;
    for store in [
        CordumStore::connect(&shared_standalone().url()).await.unwrap(),
        CordumStore::connect_cluster(&shared_cluster().urls()).await.unwrap(),
    ] {
        let job = JobId::Simple(uuid());
        let indexed = |state: State| {
            let (store, job) = (&store, &job);
            async move {
                let members = store
                    .job_index(state)
                    .range_by_score(&now_min(), &now_max())
                    .await
                    .unwrap();
                members.iter().filter(|(j, _)| j == job).count()
            }
        };
        store.move_job_index(&job, None, State::Pending, now()).await.unwrap();
        assert_eq!(indexed(State::Pending).await, 1);
        store
            .move_job_index(&job, Some(State::Pending), State::Running, now())
            .await
            .unwrap();
        assert_eq!(indexed(State::Pending).await, 0, "removed from the old state's index");
        assert_eq!(indexed(State::Running).await, 1, "added to the new one");
        assert_ttl(
            store.store(),
            &JobIndexKey { state: State::Running }.to_key(),
            JobIndexKey::ID,
        )
        .await;

        // `index ... of job_state by state`: writing the state moves the entry in one call.
        let job = JobId::Simple(uuid());
        let indexed_job = store.job_state_indexed(job.clone()).unwrap();
        let state = |state: &str| JobState {
            state: state.into(),
            attempt: 1,
        };
        indexed_job.set(&state("PENDING")).await.unwrap();
        indexed_job.set(&state("RUNNING")).await.unwrap();
        let mut placed = Vec::new();
        for candidate in [State::Pending, State::Running, State::Succeeded] {
            let members = store
                .job_index(candidate)
                .range_by_score(&now_min(), &now_max())
                .await
                .unwrap();
            if members.iter().any(|(j, _)| *j == job) {
                placed.push(candidate);
            }
        }
        assert_eq!(placed, [State::Running]);
        assert_eq!(
            store.job_state(job).unwrap().get().await.unwrap(),
            Some(state("RUNNING"))
        );
    }
}

fn now_min() -> Time {
    now() - keyschema_store::chrono::Duration::days(1)
}

fn now_max() -> Time {
    now() + keyschema_store::chrono::Duration::days(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioned_updates_of_a_job_lose_nothing_under_contention() {
    use cordum_cluster::*;
    let store = CordumStore::connect_cluster(&shared_cluster().urls()).await.unwrap();
    let job = JobId::Simple(uuid());
    let conflicts = std::sync::Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, job, conflicts) = (store.clone(), job.clone(), std::sync::Arc::clone(&conflicts));
            tokio::spawn(async move {
                for _ in 0..5 {
                    loop {
                        // Read, decide, write the state and its event together, if nobody else did.
                        let current = store.job_state(job.clone()).unwrap().get().await.unwrap();
                        let attempt = current.as_ref().map_or(0, |s| s.attempt) + 1;
                        let next = JobState {
                            state: "RUNNING".into(),
                            attempt,
                        };
                        let mut tx = store.job_id_transaction(job.clone());
                        tx.expect_job_state(current.as_ref()).unwrap();
                        tx.set_job_state(&next)
                            .unwrap()
                            .push_job_events(&[JobEvent { seq: attempt }])
                            .unwrap();
                        match tx.execute().await {
                            Ok(()) => break,
                            Err(keyschema_store::Error::Conflict { .. }) => {
                                conflicts.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(other) => panic!("{other}"),
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let state = store.job_state(job.clone()).unwrap().get().await.unwrap().unwrap();
    assert_eq!(state.attempt, 40, "every update applied once");
    let events = store.job_events(job.clone()).unwrap().range(0, -1).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>(),
        "events in order, none twice"
    );
    assert!(conflicts.load(Ordering::Relaxed) > 0, "8 writers must have collided");
    assert_ttl(
        store.store(),
        &JobStateKey { job_id: job.clone() }.to_key().unwrap(),
        JobStateKey::ID,
    )
    .await;
    assert_ttl(
        store.store(),
        &JobEventsKey { job_id: job }.to_key().unwrap(),
        JobEventsKey::ID,
    )
    .await;
}

/// The generated cache handles of `opensensor.keys`: get_or_load caches with the declared TTL,
/// a second call is a hit, shared stats count both, invalidation by a fixed parameter removes
/// only those keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_caches_load_count_and_invalidate() {
    use keyschema_tests::generated::{opensensor::OpensensorStore, DeviceInfo};
    for store in [
        OpensensorStore::connect(&shared_standalone().url()).await.unwrap(),
        OpensensorStore::connect_cluster(&shared_cluster().urls())
            .await
            .unwrap(),
    ] {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let device = format!("dev-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let info = DeviceInfo {
            device_id: device.clone(),
            api_keys: vec!["k1".into()],
        };
        let before = store.stats_get_device_info_cached().await.unwrap();
        for _ in 0..2 {
            let got = store
                .get_device_info_cached(device.clone())
                .unwrap()
                .get_or_load(|| async { Ok::<_, std::io::Error>(info.clone()) })
                .await
                .unwrap();
            assert_eq!(got, info);
        }
        let cache = store.get_device_info_cached(device.clone()).unwrap();
        match store.store().ttl(cache.key()).await.unwrap() {
            KeyTtl::Expires(ttl) => assert!(ttl > Duration::from_secs(290), "{ttl:?}"),
            other => panic!("{}: {other:?}", cache.key()),
        }
        let after = store.stats_get_device_info_cached().await.unwrap();
        assert_eq!(
            (
                after.misses - before.misses,
                after.hits - before.hits,
                after.loads - before.loads
            ),
            (1, 1, 1)
        );

        for hours in [1, 24] {
            store
                .get_collection_data_cached("temperature", device.clone(), hours)
                .unwrap()
                .get_or_load(|| async { Ok::<_, std::io::Error>(vec![21.5, 22.0]) })
                .await
                .unwrap();
        }
        let removed = store
            .invalidate_get_collection_data_cached(&[("deviceID", device.as_str()), ("hours", "24")])
            .await
            .unwrap();
        assert_eq!(removed, 1);
        let left = store
            .get_collection_data_cached("temperature", device.clone(), 1)
            .unwrap();
        assert_eq!(left.get().await.unwrap(), Some(vec![21.5, 22.0]));
        assert_eq!(
            store
                .invalidate_get_device_info_cached(&[("deviceID", device.as_str())])
                .await
                .unwrap(),
            1
        );
        assert!(left.invalidate().await.unwrap());
    }
}

/// The generated slot-group transactions take a fence: a run's lock guards a job's state on
/// another slot (checked against the lock's watermark there) and the run's own keys (checked
/// against its counter). After the lock passes to a new holder who wrote the job, the old
/// holder's writes to both are refused and the job keeps the new holder's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_transactions_are_fenced_on_any_slot() {
    use cordum_cluster::*;
    let store = CordumStore::connect_cluster(&shared_cluster().urls()).await.unwrap();
    let run = uuid();
    let lock = store.cordum_wf_run_lock(run);
    let job = JobId::Simple(uuid());
    let job_key = JobStateKey { job_id: job.clone() }.to_key().unwrap();
    assert_ne!(
        keyschema::key_slot(job_key.as_bytes()),
        keyschema::key_slot(lock.key().as_bytes())
    );
    let write_job = |fence: keyschema_store::Fence, state: &'static str| {
        let (store, job) = (store.clone(), job.clone());
        async move {
            let mut tx = store.job_id_transaction(job);
            tx.fenced(&fence)?.set_job_state(&JobState {
                state: state.into(),
                attempt: 1,
            })?;
            tx.execute().await
        }
    };
    let old = lock.try_acquire().await.unwrap().unwrap();
    let old_fence = old.fence().await.unwrap().clone();
    write_job(old_fence.clone(), "OLD").await.unwrap();
    // The old holder's lock expires while it is paused; a new holder writes the job.
    let _: () = keyschema_store::redis::cmd("DEL")
        .arg(lock.key())
        .query_async(&mut store.store().connection())
        .await
        .unwrap();
    let new = lock.try_acquire().await.unwrap().expect("the lock is free");
    let new_fence = new.fence().await.unwrap().clone();
    write_job(new_fence.clone(), "NEW").await.unwrap();
    // The old holder wakes: refused on the job's slot (watermark) and on its run's (counter).
    let refused = write_job(old_fence.clone(), "STALE").await.unwrap_err();
    assert!(
        matches!(&refused, keyschema_store::Error::Fenced { token, current, .. } if *token == old_fence.token() && *current == new_fence.token()),
        "{refused}"
    );
    let mut run_tx = store.run_id_transaction(run);
    run_tx.fenced(&old_fence).unwrap().delete_wf_run().unwrap();
    let refused = run_tx.execute().await.unwrap_err();
    assert!(
        matches!(&refused, keyschema_store::Error::Fenced { counter, .. } if counter == old_fence.counter_key()),
        "{refused}"
    );
    let state = store.job_state(job).unwrap().get().await.unwrap().unwrap();
    assert_eq!(state.state, "NEW");
    assert!(new.release().await.unwrap());
    drop(old);
}

/// Generated parameter enums read and write the schema's spelling everywhere: `Display`,
/// `FromStr` (also taking the key form; an unknown name is an error listing the valid ones) and serde, so a service's own
/// document can hold the enum instead of a string and a hand-written adapter.
#[test]
fn parameter_enums_read_and_write_the_schemas_spelling() {
    use cordum::{State, Status};
    assert_eq!(State::Running.to_string(), "RUNNING");
    assert_eq!(Status::TimedOut.to_string(), "timed_out");
    assert_eq!("TIMEOUT".parse::<State>(), Ok(State::Timeout));
    assert_eq!("timed_out".parse::<Status>(), Ok(Status::TimedOut));
    // `state` is written lowercase in keys (`case lower`): that form parses too, since a parsed
    // key hands it back.
    assert_eq!(State::Running.key_form(), "running");
    assert_eq!("running".parse::<State>(), Ok(State::Running));
    let unknown = "Running".parse::<State>().unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "`Running` is not a `state` (one of: PENDING, APPROVAL_REQUIRED, SCHEDULED, DISPATCHED, \
         RUNNING, SUCCEEDED, FAILED, CANCELLED, TIMEOUT, DENIED)"
    );

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Job {
        state: State,
        history: Vec<Status>,
    }
    let job = Job {
        state: State::Running,
        history: vec![Status::Pending, Status::Running],
    };
    let text = serde_json::to_string(&job).unwrap();
    assert_eq!(text, r#"{"state":"RUNNING","history":["pending","running"]}"#);
    assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), job);
    let refused = serde_json::from_str::<Job>(r#"{"state":"Running","history":[]}"#).unwrap_err();
    assert!(refused.to_string().contains("`Running` is not a `state`"), "{refused}");
    let not_text = serde_json::from_str::<Job>(r#"{"state":3,"history":[]}"#).unwrap_err();
    assert!(not_text.to_string().contains("a variant's name"), "{not_text}");
}
