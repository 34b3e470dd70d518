//! The bundled schemas: the Cordum reference keyspace reproduces section 2 of the seed key for key,
//! lints with the seed's types and TTLs, and `check` finds the layout's real ambiguities.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic with the value is the clearest failure.

use keyschema::{
    examples, BreakerPolicy, Code, Codec, Companion, Fallback, LockHold, Millis, ParamType, ParamValue, Primitive,
    RateAlgorithm, RateLimitPolicy, RedisKind, RedisType, Schema,
};
use std::collections::BTreeSet;

const INVENTORY: &str = include_str!("fixtures/cordum-inventory.txt");

struct Row<'a> {
    pattern: &'a str,
    redis_type: &'a str,
    ttl: &'a str,
}

fn inventory() -> Vec<Row<'static>> {
    INVENTORY
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            Row {
                pattern: cells[0],
                redis_type: cells[1],
                ttl: cells[2],
            }
        })
        .collect()
}

fn seed_type(name: &str) -> &'static str {
    match name {
        "String" => "string",
        "Hash" => "hash",
        "List" => "list",
        "Set" => "set",
        "Sorted Set" => "zset",
        other => panic!("unknown seed type {other}"),
    }
}

fn seed_ttl_seconds(ttl: &str) -> Option<u64> {
    match ttl {
        "None" => None,
        // 2 × the default 5 s poll interval.
        "2×poll" => Some(10),
        other => Some(
            keyschema::Millis::parse(other)
                .unwrap_or_else(|| panic!("seed TTL {other}"))
                .as_secs(),
        ),
    }
}

/// A valid value of each parameter type, as a person writes it.
fn sample(ty: &ParamType) -> &'static str {
    match ty {
        ParamType::Text => "acme",
        ParamType::Ident => "step-1",
        ParamType::Int => "3",
        ParamType::Uuid => "0f8fad5b-d9cb-469f-a165-70867728950e",
        ParamType::Enum { .. } => "RUNNING",
        ParamType::UnixSeconds => "1700000000",
        ParamType::Ip => "10.0.0.1",
    }
}

fn sample_key(schema: &Schema, name: &str) -> String {
    let model = schema.model();
    let key = model.key(name).unwrap();
    let values: Vec<(&str, &str)> = key
        .pattern
        .params()
        .map(|p| {
            let param = &model.params[p];
            let value = match &param.ty {
                ParamType::Enum { variants, .. } if !variants.iter().any(|v| v == "RUNNING") => variants[0].as_str(),
                ty => sample(ty),
            };
            (param.name.as_str(), value)
        })
        .collect();
    schema.format_key(name, &values).unwrap()
}

#[test]
fn cordum_has_every_inventory_pattern_with_its_seed_type_and_ttl() {
    let schema = Schema::parse(examples::CORDUM, "cordum.keys").unwrap();
    let rows = inventory();
    assert_eq!(rows.len(), 53);
    for row in rows {
        let key = schema
            .model()
            .keys
            .iter()
            .find(|k| k.pattern.template == row.pattern)
            .unwrap_or_else(|| panic!("cordum.keys lacks `{}`", row.pattern));
        let text = sample_key(&schema, &key.name);
        let result = schema.lint(&text);
        assert!(result.problems.is_empty(), "{text}: {:?}", result.problems);
        assert_eq!(result.pattern.as_deref(), Some(row.pattern), "{text}");
        assert_eq!(
            result.redis_type.map(RedisKind::as_str),
            Some(seed_type(row.redis_type)),
            "{}",
            row.pattern
        );
        assert_eq!(result.ttl_seconds, seed_ttl_seconds(row.ttl), "{}", row.pattern);
        assert_eq!(result.slot, keyschema::key_slot(text.as_bytes()));
    }
}

#[test]
fn cordum_environment_variables_are_the_seeds() {
    let schema = Schema::parse(examples::CORDUM, "cordum.keys").unwrap();
    let vars: BTreeSet<&str> = schema.model().keys.iter().filter_map(|k| k.ttl.env_var()).collect();
    for var in [
        "JOB_META_TTL_SECONDS",
        "REDIS_DATA_TTL_SECONDS",
        "CORDUM_DLQ_ENTRY_TTL_DAYS",
    ] {
        assert!(vars.contains(var), "{var} missing from {vars:?}");
    }
    let dlq = schema.model().key("dlq_entry").unwrap();
    assert_eq!(
        dlq.ttl.resolve(|_| Some("2".into())).unwrap().unwrap().as_secs(),
        2 * 86_400,
        "CORDUM_DLQ_ENTRY_TTL_DAYS is in days"
    );
}

#[test]
fn cordum_check_reports_the_real_ambiguities_with_witness_keys() {
    let diagnostics = Schema::check(examples::CORDUM);
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:#?}");
    let schema = Schema::parse(examples::CORDUM, "cordum.keys").unwrap();
    let mut found = BTreeSet::new();
    for diagnostic in diagnostics.iter().filter(|d| d.code == Code::AmbiguousPatterns) {
        // "`A` and `B` can match the same key: `witness`"
        let quoted: Vec<&str> = diagnostic.message.split('`').skip(1).step_by(2).collect();
        let (a, b, witness) = (quoted[0], quoted[1], quoted[2]);
        found.insert((a.min(b).to_string(), a.max(b).to_string()));
        let result = schema.lint(witness);
        assert!(result.problems.is_empty(), "witness {witness} must be a valid key");
        let mut matched: Vec<String> = result.also_matches.clone();
        matched.extend(result.pattern.clone());
        assert!(
            matched.contains(&a.to_string()) && matched.contains(&b.to_string()),
            "{witness} matches {matched:?}"
        );
    }
    let expected: BTreeSet<(String, String)> = [
        ("job:idempotency:<key>", "job:idempotency:<tenant>:<key>"),
        ("login:failed:<user>:<ip>", "login:failed:global:<user>"),
        ("user:<tenant>:<username>", "user:id:<userID>"),
        ("user:<tenant>:<username>", "user:tenant:<tenant>"),
        ("wf:runs:<workflowID>", "wf:runs:all"),
    ]
    .into_iter()
    .map(|(a, b)| (a.min(b).to_string(), a.max(b).to_string()))
    .collect();
    assert_eq!(found, expected);
}

#[test]
fn cordum_primitives_and_relations_are_declared() {
    let schema = Schema::parse(examples::CORDUM, "cordum.keys").unwrap();
    let model = schema.model();
    let primitive = |name: &str| model.key(name).unwrap().primitive.clone();
    let index = |name: &str| model.keys.iter().position(|k| k.name == name).unwrap();
    assert_eq!(
        primitive("cordum_reconciler_default"),
        Some(Primitive::Lock { hold: LockHold::Lease })
    );
    assert_eq!(
        primitive("cordum_scheduler_snapshot_writer"),
        Some(Primitive::Lock {
            hold: LockHold::Release
        })
    );
    assert_eq!(
        primitive("cordum_rl"),
        Some(Primitive::RateLimit(RateLimitPolicy {
            algorithm: RateAlgorithm::Window { limit: 100 },
            fallback: Fallback::Local
        }))
    );
    assert_eq!(
        primitive("cordum_cb_safety_failures"),
        Some(Primitive::Breaker(BreakerPolicy {
            threshold: 5,
            open_for: Millis(30_000),
            close_after: 1
        }))
    );
    assert_eq!(primitive("job_idempotency"), Some(Primitive::Idempotency));
    assert_eq!(
        primitive("cordum_wf_delay_timers"),
        Some(Primitive::Timers {
            visibility: Millis(30_000)
        })
    );
    assert!(matches!(primitive("dlq_entry"), Some(Primitive::DlqEntry { .. })));
    assert_eq!(
        primitive("dlq_index"),
        Some(Primitive::DlqIndex {
            queue: "dead_letters".into(),
            cleanup: Some(index("cordum_dlq_cleanup"))
        })
    );
    // Implicit keys: every lock's fence counter and every breaker's state, on the key's slot.
    let fence = model.key("cordum_reconciler_default_fence").unwrap();
    assert_eq!(fence.pattern.template, "{cordum:reconciler:default}:fence");
    assert_eq!(
        fence.primitive,
        Some(Primitive::Companion {
            of: index("cordum_reconciler_default"),
            role: Companion::Fence
        })
    );
    assert_eq!(
        keyschema::key_slot(b"{cordum:reconciler:default}:fence"),
        keyschema::key_slot(b"cordum:reconciler:default")
    );
    assert!(model.key("cordum_cb_safety_failures_state").is_some());
    let job_state = model.keys.iter().position(|k| k.name == "job_state").unwrap();
    assert_eq!(
        primitive("job_index"),
        Some(Primitive::Index {
            of: job_state,
            by: Some("state".into())
        })
    );
    assert!(matches!(
        &model.key("wf_run_timeline").unwrap().redis_type,
        RedisType::List { cap: Some(1000), .. }
    ));
    assert!(
        matches!(&model.key("job_state").unwrap().redis_type, RedisType::String { codec: Codec::Json(t) } if t == "JobState")
    );
    let gateway = model.services.iter().find(|s| s.name == "api-gateway").unwrap();
    assert!(gateway.writes.contains(&job_state));
    let context = model.services.iter().find(|s| s.name == "context-engine").unwrap();
    assert_eq!(context.reads.len(), 2);
}

#[test]
fn cordum_decodes_step_job_ids_and_lowercase_states() {
    let schema = Schema::parse(examples::CORDUM, "cordum.keys").unwrap();
    let step = schema.lint("job:events:0f8fad5b-d9cb-469f-a165-70867728950e:build@2");
    assert_eq!(step.name.as_deref(), Some("job_events"));
    let json = serde_json::to_value(&step).unwrap();
    assert_eq!(json["params"]["jobID"]["stepID"], "build");
    assert_eq!(json["params"]["jobID"]["attempt"], 2);
    let index = schema.lint("job:index:running");
    assert_eq!(serde_json::to_value(&index).unwrap()["params"]["state"], "RUNNING");
    assert_eq!(schema.lint("job:index:RUNNING").problems[0].code.as_str(), "K002");
}

#[test]
fn cluster_variant_puts_each_job_and_each_run_in_one_slot_group() {
    let schema = Schema::parse(examples::CORDUM_CLUSTER, "cordum-cluster.keys").unwrap();
    let model = schema.model();
    let groups = model.slot_groups();
    let job = groups
        .iter()
        .find(|g| g.template == "<jobID>")
        .expect("a {<jobID>} slot group");
    let names: BTreeSet<&str> = job.keys.iter().map(|&k| model.keys[k].name.as_str()).collect();
    for name in [
        "job_state",
        "job_meta",
        "job_events",
        "job_output_decision",
        "ctx",
        "res",
        "dlq_entry",
        "cordum_scheduler_job",
    ] {
        assert!(names.contains(name), "{name} not in {names:?}");
    }
    let run = groups
        .iter()
        .find(|g| g.template == "<runID>")
        .expect("a {<runID>} slot group");
    // The run, its timeline, its operation lock and that lock's fence counter.
    let run_keys: BTreeSet<&str> = run.keys.iter().map(|&k| model.keys[k].name.as_str()).collect();
    assert_eq!(
        run_keys,
        BTreeSet::from([
            "wf_run",
            "wf_run_timeline",
            "cordum_wf_run_lock",
            "cordum_wf_run_lock_fence"
        ])
    );
    // Same job, same slot, whatever the key.
    let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let slots: BTreeSet<u16> = ["job_state", "job_meta", "ctx", "dlq_entry"]
        .iter()
        .map(|name| schema.lint(&schema.format_key(name, &[("jobID", id)]).unwrap()).slot)
        .collect();
    assert_eq!(slots.len(), 1);
    // The cluster variant keeps every key of the reference schema.
    let reference = Schema::parse(examples::CORDUM, "cordum.keys").unwrap();
    let names = |s: &Schema| s.model().keys.iter().map(|k| k.name.clone()).collect::<BTreeSet<_>>();
    assert_eq!(names(&schema), names(&reference));
}

#[test]
fn catalog_describes_the_seed_operations() {
    let schema = Schema::parse(examples::CATALOG, "catalog.keys").unwrap();
    let assets = schema.lint("catalog:assets");
    assert_eq!(assets.redis_type, Some(RedisKind::Hash));
    let by_type = schema.lint("catalog:index:by_type:schema");
    assert_eq!(by_type.name.as_deref(), Some("catalog_index_by_type"));
    let lineage = schema.lint("catalog:lineage:downstream:coordination.tasks.task_queue");
    assert_eq!(lineage.problems, vec![]);
    assert_eq!(
        schema.lint("catalog:index:by_modified").redis_type,
        Some(RedisKind::Zset)
    );
    let value = schema
        .model()
        .parse_text_value(&schema.model().params[0], "coordination.tasks")
        .unwrap();
    assert_eq!(value, ParamValue::Text("coordination.tasks".into()));
}
